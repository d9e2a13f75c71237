"""atk36: what a Ctrl-C still does against the promise of certseal.interrupt (commit
633f495): the ``certseal`` command ends with status 130 and nothing on stderr
whatever point a Ctrl-C lands at, and a program that merely imports
``services.cli`` keeps its own Ctrl-C behaviour (interrupt_exits_quietly's
docstring: "a process that imports the module and catches KeyboardInterrupt itself
(pytest) is unchanged")."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc and pipe sizes"
)


def _env() -> dict[str, str]:
    # as a user's shell has it: stdout to a pipe is block-buffered
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONUNBUFFERED", None)
    return env


def _python(*args: str, given: bytes | None = None) -> subprocess.CompletedProcess:
    """A program (``python ARGS``) that imports services.cli, run to its end."""
    return subprocess.run(
        [sys.executable, *args],
        input=given,
        env=_env(),
        capture_output=True,
        timeout=60,
    )


def _full_pipe() -> tuple[int, int]:
    """A pipe whose buffer is already full: a write to it blocks until it is read
    (a pager showing its first page, a reader busy with what it has)."""
    read, write = os.pipe()
    fcntl.fcntl(write, fcntl.F_SETFL, os.O_NONBLOCK)
    try:
        while True:
            os.write(write, b"x" * 4096)
    except BlockingIOError:
        pass
    fcntl.fcntl(write, fcntl.F_SETFL, 0)
    return read, write


def _blocked_writing_stdout(pid: int) -> bool:
    """The process is in write(1, ...) (x86_64 and aarch64 syscall numbers)."""
    try:
        call = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return False
    return len(call) > 1 and call[0] in {"1", "64"} and call[1] == "0x1"


def _sleeps(pid: int) -> int:
    """How many times the process's main thread has blocked so far."""
    for line in Path(f"/proc/{pid}/task/{pid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches")


def _wait_for(check, child: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 60
    while not check():
        if child.poll() is not None:
            return
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def test_two_ctrl_c_while_the_output_waits_on_a_full_pipe_exit_130_quietly(tmp_path):
    read, write = _full_pipe()
    child = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "verify", "--help"],
        cwd=tmp_path,
        env=_env(),
        stdout=write,
        stderr=subprocess.PIPE,
    )
    os.close(write)
    drained = threading.Event()

    def drain() -> None:  # only once both keys are pressed: never a hang
        drained.wait()
        with os.fdopen(read, "rb") as out:
            while out.read(65536):
                pass

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        # its help is in stdout's buffer; the flush at exit is its first write
        _wait_for(lambda: _blocked_writing_stdout(child.pid), child, "first write")
        before = _sleeps(child.pid)
        child.send_signal(signal.SIGINT)  # the first Ctrl-C
        # woken by it, it blocks again on the same pipe (130 not reached)
        _wait_for(
            lambda: _sleeps(child.pid) > before and _blocked_writing_stdout(child.pid),
            child,
            "blocked again",
        )
        if child.poll() is None:
            child.send_signal(signal.SIGINT)  # the second
    finally:
        drained.set()
    _, err = child.communicate(timeout=60)
    reader.join(timeout=60)
    assert (child.returncode, err.decode()) == (130, "")


def test_a_program_importing_the_cli_still_reports_an_error_after_a_ctrl_c_it_caught():
    script = (
        "import os, signal, time\n"
        "import services.cli\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    time.sleep(30)\n"
        "except KeyboardInterrupt:\n"
        "    print('cancelled; carrying on', flush=True)\n"
        "raise ValueError('a genuine bug')\n"
    )
    done = _python("-c", script)
    assert done.stdout == b"cancelled; carrying on\n"
    assert done.returncode == 1
    assert done.stderr.decode().splitlines()[-1] == "ValueError: a genuine bug"


def test_a_ctrl_c_at_the_interactive_prompt_after_importing_the_cli_stops_only_the_statement():
    lines = (
        "import os, signal, time, services.cli\n"
        "os.kill(os.getpid(), signal.SIGINT); time.sleep(30)\n"
        "print('prompt still here')\n"
    )
    done = _python("-i", "-q", given=lines.encode())
    assert (done.returncode, b"prompt still here" in done.stdout) == (0, True)
    assert b"KeyboardInterrupt" in done.stderr


def test_a_program_importing_the_cli_runs_its_atexit_clean_up_on_ctrl_c():
    script = (
        "import atexit, os, signal, time\n"
        "import services.cli\n"
        "atexit.register(lambda: print('clean-up ran', flush=True))\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "time.sleep(30)\n"
    )
    done = _python("-c", script)
    assert done.stdout == b"clean-up ran\n"
