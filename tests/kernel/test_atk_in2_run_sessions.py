"""Outside attack "atk-in2" on ``certseal run``'s service sessions (6f16f27): a service
is killed with every process of its session, but only while the service itself is
still running. A service that exits on SIGTERM, or dies on its own, before what it
started (a pool's workers, multiprocessing's resource tracker) left those running
after the run had said ``stopped.``: the run must end every process of a service's
session, whether the service is still there or not."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from services.run_processes import kill_session, shut_down, start_service

#: a service that starts a worker in its session, says its pid, and exits at once on
#: SIGTERM, leaving the worker (which ignores nothing: SIGTERM never reaches it)
LEAVER = """
import signal, subprocess, sys, time
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open(sys.argv[1], "w").write(str(worker.pid))
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
time.sleep(60)
"""


def _leaver(tmp_path: Path, name: str):
    pid_file = tmp_path / f"{name}.pid"
    process = start_service([sys.executable, "-c", LEAVER, str(pid_file)])
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the service never started its worker"
        time.sleep(0.05)
    return process, int(pid_file.read_text())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (its parent not waiting) is gone all the same
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rpartition(")")[2].split()[0] != "Z"


def _gone(pid: int, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def _cleanup(pid: int) -> None:
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


def test_atk_in2_the_shutdown_ends_what_a_stopped_service_left(tmp_path, capsys):
    service, worker = _leaver(tmp_path, "issuer")
    try:
        shut_down({"issuer": service}, lambda: None, grace_s=10)
        assert service.returncode == 0
        assert _gone(worker), "the service's worker outlived the run"
    finally:
        _cleanup(worker)


def test_atk_in2_a_dead_service_is_killed_with_its_session(tmp_path):
    service, worker = _leaver(tmp_path, "verifier")
    try:
        service.send_signal(signal.SIGTERM)  # it dies on its own
        service.wait(30)
        kill_session(service)  # the second Ctrl-C, or a run ended by a dead service
        assert _gone(worker), "the dead service's worker was not killed"
    finally:
        _cleanup(worker)
