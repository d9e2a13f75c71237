"""A verifier worker notes the signal that asked it to stop, also one that arrives
after its event loop closed (services/verifier/worker.py): then ``main()`` exits
instead of starting the worker again to rebuild its index. uvloop leaves its handler
installed when its loop closes and drops the signal there; a worker crashing on its
damaged index (the stop's last steps, then ``os.execv``) ran on after a SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A Faust worker whose one service crashes as it starts (the app is never started:
# no broker is needed), then what main() does after the worker returned: a SIGTERM
# from then on (before its os.execv) must be noted, not dropped.
SCRIPT = """
import asyncio, os, signal, sys

import faust
import uvloop
from mode import Service

from services.verifier.worker import VerifierWorker


class CrashesAtStart(Service):
    async def on_started(self):
        if sys.argv[1] == "while-running":
            os.kill(os.getpid(), signal.SIGTERM)
            await self.sleep(30)  # the signal stops the worker
        raise RuntimeError("crashed")


asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
app = faust.App("worker-stop-test", broker="kafka://127.0.0.1:1", web_enabled=False)
worker = VerifierWorker(app, CrashesAtStart(), loglevel="WARNING", quiet=True,
                        redirect_stdouts=False)
worker.spinner = None
print("before", worker.stop_signal, flush=True)
try:
    worker.execute_from_commandline()
except SystemExit:
    pass
print("stopped by", worker.stop_signal, flush=True)
if sys.argv[1] == "after-the-loop":
    os.kill(os.getpid(), signal.SIGTERM)
    print("noted", worker.stop_signal, flush=True)
"""


def run(when: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, when],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [line for line in done.stdout.splitlines() if line]
    assert done.returncode == 0, (done.stdout, done.stderr[-3000:])
    return lines


def test_a_signal_after_the_loop_closed_is_noted_not_dropped():
    assert run("after-the-loop") == [
        "before None",
        "stopped by None",  # a crash, not a signal, stopped it
        "noted 15",  # SIGTERM (Signals prints as its number)
    ]


def test_a_signal_while_the_worker_runs_is_noted():
    assert run("while-running") == ["before None", "stopped by 15"]


async def _stop_that_hangs_in_the_consumer_stop() -> None:
    await asyncio.Event().wait()  # never set: where the stop hangs


def test_a_stop_that_hangs_after_a_signal_says_where_then_ends_the_process(
    monkeypatch, caplog
):
    """A stop asked for by a signal that does not end within STOP_WITHIN_S exits at
    once (os._exit(1)), saying so: a worker's stop after a crash on its damaged index
    hung in Faust's consumer stop under load (CI), and the signal changed nothing.
    Past SLOW_STOP_S, and as it exits, it says where the stop waits (the stop task's
    awaits, read on its event loop): a stop that hung in CI had left no trace of
    where (CI, 2026-12-06)."""
    from services.verifier import worker

    exited = threading.Event()
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        exited.set()

    monkeypatch.setattr(worker, "SLOW_STOP_S", 0.05)
    monkeypatch.setattr(worker, "STOP_WITHIN_S", 0.3)
    monkeypatch.setattr(worker.os, "_exit", fake_exit)
    monkeypatch.setattr(worker.logging, "shutdown", lambda: None)  # pytest's own
    loop = asyncio.new_event_loop()
    stop = loop.create_task(_stop_that_hangs_in_the_consumer_stop())
    serving = threading.Thread(target=loop.run_forever, daemon=True)
    serving.start()
    try:
        noted = worker.VerifierWorker.__new__(worker.VerifierWorker)
        noted.loop, noted._stop_task = loop, stop
        with caplog.at_level(logging.WARNING, logger=worker.__name__):
            noted._note(signal.SIGTERM)
            noted._note(signal.SIGINT)  # the first signal counts; one deadline
            assert exited.wait(5) and codes == [1]
    finally:
        loop.call_soon_threadsafe(stop.cancel)
        loop.call_soon_threadsafe(loop.stop)
        serving.join(5)
        loop.close()
    assert noted.stop_signal is signal.SIGTERM
    slow, overdue = (r.getMessage() for r in caplog.records)
    assert slow.startswith("asked to stop (SIGTERM): the stop has taken 0 s")
    assert overdue.startswith("asked to stop (SIGTERM): the stop did not end")
    for said in (slow, overdue):
        assert "_stop_that_hangs_in_the_consumer_stop" in said, said
