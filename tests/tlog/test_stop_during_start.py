"""A stop signal that comes while a service starts (trial56: ``issuer listening``
printed after ``stopping issuer``): the start does not say it listens, it says the
stop came, and the signal sets the process's stop (certseal.startfail.stop_on_signals)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import pytest

from certseal.startfail import StopSignals, stop_on_signals
from services.tlog.app import TlogApp


@pytest.mark.parametrize("signalled", [False, True])
async def test_a_start_says_it_listens_only_when_no_stop_came(
    signalled, config, issuer, monkeypatch, caplog
):
    monkeypatch.setattr(StopSignals, "came", signalled)
    monkeypatch.setattr(config.tlog, "metrics_listen", "")
    app = TlogApp(config, listen="127.0.0.1:0", background=False)
    with caplog.at_level(logging.INFO, logger="certseal.process"):
        await app.start()
        await app.stop(grace=1)
    said = caplog.text
    assert ("tlog listening on port" in said) is not signalled, said
    assert ("tlog: a stop came while it started; stopping" in said) is signalled, said


async def test_sigterm_sets_the_stop_and_marks_the_process_stopping(monkeypatch):
    monkeypatch.setattr(StopSignals, "came", False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    stop_on_signals(stop)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        async with asyncio.timeout(10):
            await stop.wait()
        assert StopSignals.came
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        loop.remove_signal_handler(signal.SIGINT)
