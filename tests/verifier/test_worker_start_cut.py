"""A verifier whose start a stop signal cuts short ends quietly: Faust's start then
failed in its own code (mode's ``stampede`` setting the result of a future the stop had
cancelled, ``InvalidStateError``: CI, 2026-12-05), and Faust's worker logged the
traceback and exited with status 1 (tests/e2e/test_interrupted_start.py saw it)."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from faust.worker import Worker

from services.verifier.worker import VerifierWorker

ROOT = Path(__file__).resolve().parents[2]


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


# A worker whose one service is still starting when SIGINT comes (or has started, and
# the worker runs), without a broker: the app never starts. What each step did, in
# order, and how the process ended.
SCRIPT = """
import asyncio, os, signal, sys

import faust
import uvloop
from mode import Service

from services.verifier.worker import VerifierWorker

said = []


class Interrupted(Service):
    async def on_start(self):
        said.append("starting")
        if sys.argv[1] == "while-starting":
            os.kill(os.getpid(), signal.SIGINT)
            try:
                await asyncio.sleep(5)  # a start step the stop meets
            except asyncio.CancelledError:
                said.append("start cut")
                raise
            said.append("start went on")

    async def on_started(self):
        if sys.argv[1] == "running":
            said.append("running")
            os.kill(os.getpid(), signal.SIGINT)

    async def on_stop(self):
        said.append("stopped")


asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
app = faust.App("worker-cut-test", broker="kafka://127.0.0.1:1", web_enabled=False)
worker = VerifierWorker(app, Interrupted(), loglevel="WARNING", quiet=True,
                        redirect_stdouts=False)
worker.spinner = None
try:
    worker.execute_from_commandline()
except SystemExit as exc:
    said.append(f"exit {exc.code}")
print(",".join(said), flush=True)
"""


def _run(when: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, when],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, (done.stdout, done.stderr[-3000:])
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done.stdout.strip()


def test_a_stop_asked_for_while_starting_cuts_the_start_before_it_stops():
    """mode stopped the services beside the start still going, and cancelled the
    start only after the stop: the start went on against what was stopped (CI,
    2026-12-06: Faust's app started its tasks after its stop, NotReady)."""
    assert _run("while-starting") == "starting,start cut,stopped,exit 0"


def test_a_stop_asked_for_once_started_is_the_stop_as_before():
    assert _run("running") == "starting,running,stopped,exit 0"
