"""atk70: ``certseal run``'s Ctrl-C handler after 8efab7f8 (the stop marked before
anything is said), signalled twice in quick succession at different phases, with
tests/e2e/atk10b_run_child.py's fake services and tests/e2e/atk70_run_child.py."""

from __future__ import annotations

import signal
import time

import pytest

from tests.e2e.test_atk10_run import STARTED, _wait_gone
from tests.e2e.test_atk10b_run import Run, certseal_run

__all__ = ["certseal_run"]


def _twice(run: Run, gap_s: float) -> None:
    run.process.send_signal(signal.SIGINT)
    time.sleep(gap_s)
    run.process.send_signal(signal.SIGINT)


def test_two_quick_ctrl_cs_while_the_stack_starts(certseal_run):
    run = certseal_run({"*": "serve"}, "slow-stack")
    run.read_until("stack starting")
    _twice(run, 0.002)
    code = run.wait(15)
    assert code is not None, "certseal run still starting 15 s after two Ctrl-Cs"
    said = run.rest(5)
    assert "stack stopped" in said, said
    assert "Traceback" not in run.stderr_file.read_text(), run.stderr_file.read_text()


def test_two_quick_ctrl_cs_while_running_kill_at_once(certseal_run):
    run = certseal_run({"*": "serve"}, "deaf")
    run.read_until("deaf", count=7)
    run.read_until("Ctrl-C stops everything; running again reuses the data.")
    _twice(run, 0.05)
    code = run.wait(10)
    assert code is not None, "certseal run still stopping 10 s after a second Ctrl-C"
    assert _wait_gone(run.pids, 10) == []


def test_two_quick_ctrl_cs_during_its_own_stop_kill_at_once(certseal_run):
    run = certseal_run({"issuer": "exit3", "*": "serve"}, "deaf")
    run.read_until("stopping console")
    _twice(run, 0.05)
    code = run.wait(10)
    assert code is not None, "certseal run still stopping 10 s after a second Ctrl-C"
    said = run.rest(5)
    assert any("a second Ctrl-C: killing" in line for line in said), said


@pytest.mark.parametrize("gap_s", [0.05, 0.5])
def test_a_second_ctrl_c_while_the_services_start_kills_at_once(tmp_path, gap_s):
    """The stack is up and the run is starting its seven services (each start 0.4 s
    here; forks on a loaded machine). Ctrl-C, then a second: every service must be
    killed within seconds, as a second Ctrl-C promises. The run goes on starting
    the rest after the first Ctrl-C, and those started after the second are not
    killed: the shutdown waits its 15 s grace for them."""
    # atk70_run_child: each service's start takes 0.4 s more
    run = Run(tmp_path / "data", {"*": "serve"}, "0.4", "tests.e2e.atk70_run_child")
    try:
        run.read_until("started issuer")
        _twice(run, gap_s)
        code = run.wait(12)
        assert code is not None, (
            f"certseal run still stopping 12 s after a second Ctrl-C: {run.rest(1)}"
        )
        assert _wait_gone(run.pids, 10) == [], run.rest(1)
    finally:
        run.rest(1)
        run.pids += [int(p) for line in run.seen for p in STARTED.findall(line)]
        run.clean_up()
