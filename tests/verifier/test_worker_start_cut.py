"""A verifier whose start a stop signal cuts short ends quietly: Faust's start then
failed in its own code (mode's ``stampede`` setting the result of a future the stop had
cancelled, ``InvalidStateError``: CI, 2026-12-05), and Faust's worker logged the
traceback and exited with status 1 (tests/e2e/test_interrupted_start.py saw it)."""

from __future__ import annotations

import asyncio
import logging
import signal
from unittest import mock

import pytest
from faust.worker import Worker

from services.verifier.worker import VerifierWorker


def _worker(stop_signal: signal.Signals | None) -> VerifierWorker:
    worker = VerifierWorker.__new__(VerifierWorker)  # no app: only start is tried
    worker.stop_signal = stop_signal
    return worker


async def test_a_start_failing_after_a_stop_signal_ends_as_cancelled(caplog):
    failing = mock.AsyncMock(side_effect=asyncio.InvalidStateError("invalid state"))
    with (
        mock.patch.object(Worker, "start", failing),
        caplog.at_level(logging.WARNING),
        pytest.raises(asyncio.CancelledError),
    ):
        await _worker(signal.SIGINT).start()
    [record] = caplog.records
    assert record.getMessage() == "start cut short by SIGINT: invalid state"
    assert record.exc_info is None  # one line, no traceback


async def test_a_start_failing_with_no_stop_asked_for_fails_as_before():
    failing = mock.AsyncMock(side_effect=RuntimeError("broker away"))
    with (
        mock.patch.object(Worker, "start", failing),
        pytest.raises(RuntimeError, match="broker away"),
    ):
        await _worker(None).start()


async def test_a_start_that_succeeds_is_unchanged():
    started = mock.AsyncMock(return_value=None)
    with mock.patch.object(Worker, "start", started):
        await _worker(signal.SIGTERM).start()
    started.assert_awaited_once()
