"""atk47: a Ctrl-C the command caught (certseal.interrupt.interrupted, commit
99f8826) and what the process does after it, as it exits: the promise is status
130 and nothing on stderr, whatever point a Ctrl-C lands at.

The command is ``certseal verify`` against an address that takes no connection
(it waits in its event loop); the script's first line leaves a partial result in
standard output's buffer, as a command that printed part of its output before the
Ctrl-C has (block-buffered: standard output is a pipe)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from certseal.devpki import DevCA
from tests.kernel.test_atk36_interrupts import _full_pipe
from tests.kernel.test_cli_edges import write_config

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc and pipe sizes"
)

_COMMAND = (
    "import runpy, sys\n"
    "sys.stdout.write('partial result\\n')\n"
    'runpy.run_module("services.cli", run_name="__main__", alter_sys=True)\n'
)

#: the main thread waits in epoll (x86_64: epoll_wait, epoll_pwait; aarch64)
_EPOLL = {"232", "281", "441", "22"}


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("atk47-interrupts")
    return write_config(folder, DevCA(folder / "ca"))


def _syscall(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return []


def _until(check, child: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 60
    while not check():
        assert child.poll() is None, (what, child.returncode)
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def _in_the_call(config: Path, stdout: int) -> subprocess.Popen:
    """The command, started and waiting in its call (its event loop)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONUNBUFFERED", None)
    args = ["--verifier", "10.255.255.1:50052", "--purpose", "p", "LC1:A"]
    child = subprocess.Popen(
        [sys.executable, "-c", _COMMAND, "--config", str(config), "verify", *args],
        cwd=config.parent,
        env=env,
        stdout=stdout,
        stderr=subprocess.PIPE,
    )
    _until(lambda: _syscall(child.pid)[:1] in ([s] for s in _EPOLL), child, "call")
    time.sleep(0.2)
    return child


def test_a_second_ctrl_c_while_the_exit_waits_on_a_full_pipe_exits_130(config):
    """The first Ctrl-C ends the call (the command returns 130); the flush of its
    partial output at exit then waits on a pipe its reader does not read (a pager
    showing a page). The second Ctrl-C was ignored (the unraisable hook returned on
    ``ended`` before looking for KeyboardInterrupt): the process went on waiting,
    and exited 120 once the pipe was read, or died of a third. Before 99f8826 the
    second ended it with 130."""
    read, write = _full_pipe()
    child = _in_the_call(config, write)
    os.close(write)
    try:
        child.send_signal(signal.SIGINT)  # the first: the call ends
        _until(lambda: _syscall(child.pid)[:2] == ["1", "0x1"], child, "flush")
        child.send_signal(signal.SIGINT)  # the second, as the exit waits
        try:
            code = child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = None
    finally:
        os.close(read)  # never a hang: the flush then fails
        _, err = child.communicate(timeout=60)
    assert (code, err.decode()) == (130, "")


def test_a_ctrl_c_that_also_ended_the_reader_exits_130(config):
    """``certseal ... | less``: the terminal's Ctrl-C goes to the whole pipeline,
    and the reader is gone when the command's partial output is flushed at exit
    (EPIPE; Python ignores SIGPIPE). It exited 120 (Python's status for a failed
    flush at exit), with nothing said since 99f8826."""
    read, write = os.pipe()
    child = _in_the_call(config, write)
    os.close(write)
    os.close(read)  # the reader, ended by the same Ctrl-C
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert (child.returncode, err.decode()) == (130, "")
