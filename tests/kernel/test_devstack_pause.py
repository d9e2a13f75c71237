"""``EmbeddedStack.pause_broker``: when it returns, the broker runs no more.

``os.kill(pid, SIGSTOP)`` returns once the signal is queued; the kernel wakes one
thread of the broker to take it, and the others keep serving until that thread has
run. Under load that took up to half a second, and the fault tests saw a revocation
published, delivered and applied "while the broker was paused"
(tests/e2e/test_verifier.py::test_broker_pause_delays_but_never_corrupts).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from certseal.devstack import _await_stopped

#: thread states of a task that runs no user code: stopped (T), traced (t), or a
#: thread that has exited and awaits reaping (Z, X)
HALTED = frozenset("tTZX")


def thread_states(pid: int) -> dict[int, str]:
    """Each thread of ``pid`` and its state letter (proc(5), /proc/pid/task/tid/stat)."""
    states = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        states[int(tid)] = stat[stat.rindex(")") + 2]
    return states


@pytest.mark.fault
def test_every_thread_of_the_broker_is_stopped_when_pause_returns(stack):
    pid = stack.broker_pid
    assert len(thread_states(pid)) > 1  # the case at hand: a multi-threaded broker
    for attempt in range(100):
        stack.pause_broker()
        try:
            states = thread_states(pid)
            running = {tid: s for tid, s in states.items() if s not in HALTED}
            assert not running, f"attempt {attempt}: threads still running {running}"
        finally:
            stack.resume_broker()


@pytest.fixture
def child():
    """A child process that sleeps until killed."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)"],
    )
    yield process
    os.kill(process.pid, signal.SIGCONT)
    process.kill()
    process.wait()


def test_a_stopped_child_is_reported_and_can_be_stopped_again(child, tmp_path):
    for _ in range(3):  # each pause waits for its own stop, not an earlier report
        os.kill(child.pid, signal.SIGSTOP)
        _await_stopped(child, 30, tmp_path / "log")
        assert set(thread_states(child.pid).values()) <= HALTED
        os.kill(child.pid, signal.SIGCONT)
    assert child.poll() is None  # the report was left for Popen, not collected


def test_a_child_that_does_not_stop_is_an_error_not_a_hang(child, tmp_path):
    with pytest.raises(RuntimeError, match=re.escape("did not stop within 0.2 s")):
        _await_stopped(child, 0.2, tmp_path / "log")


def test_a_child_that_exited_is_an_error_naming_its_log(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    log = tmp_path / "broker.log"
    with pytest.raises(
        RuntimeError, match=re.escape(f"exited instead of stopping; see {log}")
    ):
        _await_stopped(process, 30, log)
    assert process.wait() == 0  # WNOWAIT left the exit for Popen to collect
