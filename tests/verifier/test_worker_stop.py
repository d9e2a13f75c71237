"""A verifier worker notes the signal that asked it to stop, also one that arrives
after its event loop closed (services/verifier/worker.py): then ``main()`` exits
instead of starting the worker again to rebuild its index. uvloop leaves its handler
installed when its loop closes and drops the signal there; a worker crashing on its
damaged index (the stop's last steps, then ``os.execv``) ran on after a SIGTERM."""

from __future__ import annotations

import subprocess
import sys
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


def test_a_stop_that_hangs_after_a_signal_ends_the_process(monkeypatch):
    """A stop asked for by a signal that does not end within STOP_WITHIN_S exits at
    once (os._exit(1)), saying so: a worker's stop after a crash on its damaged index
    hung in Faust's consumer stop under load (CI), and the signal changed nothing."""
    import signal as signals
    import threading

    from services.verifier import worker

    exited = threading.Event()
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        exited.set()

    monkeypatch.setattr(worker, "STOP_WITHIN_S", 0.05)
    monkeypatch.setattr(worker.os, "_exit", fake_exit)
    monkeypatch.setattr(worker.logging, "shutdown", lambda: None)  # pytest's own
    noted = worker.VerifierWorker.__new__(worker.VerifierWorker)
    noted._note(signals.SIGTERM)
    noted._note(signals.SIGINT)  # the first signal counts; one deadline
    assert exited.wait(5) and codes == [1]
    assert noted.stop_signal is signals.SIGTERM
