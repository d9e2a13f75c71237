"""trial49 (low): a Ctrl-C landing after a command had printed its answer, as its
process ended, made it exit 130: ``licence issue`` printed the new licence and
exited 130, so a script would have issued again. A command that has ended
(certseal.interrupt.command_ended) exits with its own status, its output written;
one interrupted before it ends still exits 130.

The command runs as the ``certseal`` script does (services.cli as ``__main__``); an
exit handler registered first runs last, as the process ends, and waits there, so
the Ctrl-C lands after the command's answer, deterministically."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kernel.test_identifiers_ascii import GOOD

ROOT = Path(__file__).resolve().parents[2]

_COMMAND = (
    "import atexit, runpy, sys, time\n"
    "def wait():\n"
    "    sys.stderr.write('exiting\\n'); sys.stderr.flush()\n"
    "    time.sleep(60)\n"
    "atexit.register(wait)\n"
    'runpy.run_module("services.cli", run_name="__main__", alter_sys=True)\n'
)


def _ended_by_ctrl_c(tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", _COMMAND, *argv],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stderr is not None
    said = []
    for line in child.stderr:  # what the command said, then: it has returned
        if line == b"exiting\n":
            break
        said.append(line)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    return child.returncode, out.decode(), b"".join([*said, err]).decode()


@pytest.mark.parametrize(
    ("text", "status"),
    [(GOOD, 0), (GOOD[:-1] + "F", 1), ("not-an-identifier", 2)],
)
def test_a_ctrl_c_after_the_command_ended_keeps_its_status(tmp_path, text, status):
    code, out, err = _ended_by_ctrl_c(tmp_path, "id", "check", text)
    assert code == status, (out, err)
    if status == 0:
        assert "91350100M000100Y43" in out, out  # its answer, written
    else:
        assert err.startswith("error: "), err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
