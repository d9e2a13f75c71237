"""atk10: ``certseal run``'s lines about a service that exited, and what the run does
with its services when it is stopped or dies, attacked with services.run's own
functions and real processes (tests/e2e/atk10_run_child.py: ``certseal run`` on the
dev stack's configuration without PostgreSQL or a broker).

Each test states the behaviour a user needs; each failed on main at e159689 (atk10's
findings F1 to F6) until services/run.py was mended."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from services.run import exited_lines, service_state
from services.run_processes import shut_down, start_service

REPO = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _wait_gone(pids: list[int], within_s: float) -> list[int]:
    """The pids still alive after ``within_s`` seconds (polled: they are not ours to
    wait for, the run's child is their parent)."""
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        left = [p for p in pids if _alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


#: a "started NAME PID" line of the run's harness, anywhere in a line
STARTED = re.compile(r"started \S+ (\d+)")


class Run:
    """``certseal run`` (the harness) with each service behaving as ``plan`` says."""

    def __init__(self, home: Path, plan: dict[str, str], *, tee: bool = False):
        # a file, not a pipe: the services inherit the run's stderr and outlive it
        self.stderr_file = home.parent / f"{home.name}.stderr"
        with self.stderr_file.open("w") as stderr:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    *("-m", "tests.e2e.atk10_run_child", str(home), json.dumps(plan)),
                ],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        out = self.process.stdout
        assert out is not None
        #: ``certseal run | tee``: the run's stdout read by another process (cat)
        self.tee: subprocess.Popen[str] | None = None
        if tee:
            self.tee = subprocess.Popen(
                ["cat"], stdin=out, stdout=subprocess.PIPE, text=True
            )
            out.close()  # the tee holds the pipe's only reading end
            assert self.tee.stdout is not None
            out = self.tee.stdout
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.pids: list[int] = []
        self.stderr = ""

        def pump() -> None:
            for line in out:
                self.lines.put(line.rstrip("\n"))
            self.lines.put(None)

        self.reader = threading.Thread(target=pump, daemon=True)
        self.reader.start()

    def read_until(self, marker: str, within_s: float = 60.0) -> list[str]:
        seen: list[str] = []
        end = time.monotonic() + within_s
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no {marker!r} within {within_s} s: {seen}"
                ) from None
            if line is None:
                raise AssertionError(
                    f"the run ended before {marker!r}: {seen}; its stderr: "
                    f"{self.stderr_file.read_text()}"
                )
            seen.append(line)
            # every "started NAME PID" in the line: a service's own write can land
            # between the run's text and its newline (CI: "started x 19306started y 1")
            self.pids += [int(pid) for pid in STARTED.findall(line)]
            if marker in line:
                return seen

    def wait(self, within_s: float) -> int | None:
        try:
            code = self.process.wait(within_s)
        except subprocess.TimeoutExpired:
            return None
        self.stderr = self.stderr_file.read_text()
        return code

    def clean_up(self) -> None:
        """End what this test started, by pid: the run, then its services."""
        for process in (self.process, self.tee):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        for pid in self.pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def certseal_run(tmp_path):
    runs: list[Run] = []

    def start(plan: dict[str, str], tee: bool = False) -> Run:
        run = Run(tmp_path / f"data{len(runs)}", plan, tee=tee)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.clean_up()


# --- the banner and the stderr lines ------------------------------------------------


def test_atk10_a_service_that_died_after_its_readiness_wait_is_not_serving_in_the_banner():
    """The banner is printed after every wait; a service found SERVING by an early wait
    (the issuer's) and dead by the time the banner is printed is shown SERVING, and the
    very next line on stderr says it exited."""
    dead = start_service([sys.executable, "-c", "raise SystemExit(1)"])
    dead.wait(30)
    assert service_state(True, dead).startswith("EXITED (code 1;")


def test_atk10_a_service_killed_by_a_signal_is_named_by_its_signal():
    """A service the OOM killer (or anyone) SIGKILLs has no error above and no exit
    code: 'EXITED (code -9; its error is above)' and 'exited with code -9' are both
    wrong for it."""
    killed = start_service([sys.executable, "-c", "import time; time.sleep(60)"])
    killed.kill()
    killed.wait(30)
    state = service_state(False, killed)
    assert "SIGKILL" in state and "its error is above" not in state, state
    [line] = exited_lines({"seal": killed})
    assert line.startswith("error: seal: ") and "SIGKILL" in line, line
    assert "code -9" not in line, line


def test_atk10_two_services_that_exit_together_are_both_named():
    """Held: two services dead at once are both named, each with its code."""
    one = start_service([sys.executable, "-c", "raise SystemExit(2)"])
    two = start_service([sys.executable, "-c", "raise SystemExit(5)"])
    one.wait(30)
    two.wait(30)
    assert exited_lines({"feed": one, "tlog": two}) == [
        "error: feed: exited with code 2; the rest are stopped",
        "error: tlog: exited with code 5; the rest are stopped",
    ]


# --- the run's life: Ctrl-C, a dead service, a closed terminal, a closed pipe --------


def test_atk10_ctrl_c_during_the_readiness_wait_stops_the_run(certseal_run):
    """Services that never answer SERVING (a hung start): Ctrl-C while the run waits for
    them must stop it. The run's SIGINT handler only sets a flag that the readiness
    waits never read, so the run keeps waiting, up to 600 polls for each of six gRPC
    services and 300 for the console, minutes with Ctrl-C doing nothing."""
    run = certseal_run({"*": "hang"})
    run.read_until("waiting 127.0.0.1:50051")
    run.process.send_signal(signal.SIGINT)
    code = run.wait(15)
    assert code is not None, "certseal run still waiting 15 s after Ctrl-C"
    assert _wait_gone(run.pids, 10) == []


def test_atk10_a_service_that_dies_while_others_start_ends_the_run_promptly(
    certseal_run,
):
    """The issuer exits with code 3 at once; the others are slow to start. The run is
    over (its main loop stops at the first dead service), yet it first waits out every
    other service's readiness, minutes, before it names the dead one."""
    run = certseal_run({"issuer": "exit3", "*": "hang"})
    run.read_until("waiting 127.0.0.1:50051")
    code = run.wait(15)
    assert code is not None, "certseal run still waiting 15 s after the issuer died"
    assert code == 1
    assert "error: issuer: exited with code 3" in run.stderr


def test_a_service_whose_wait_another_s_end_cut_short_is_not_said_not_ready(
    certseal_run,
):
    """trial53: tlog ended while the run waited for the issuer, which was listening;
    the banner said the issuer was NOT READY and the platform seal "not set up: the
    seal service or the issuer did not start". A wait the run cut short is NOT
    CHECKED, and the platform line says why it is not set up."""
    run = certseal_run({"tlog": "exit3", "*": "hang"})
    seen = run.read_until("Platform")
    issuer = next(line for line in seen if line.lstrip().startswith("Issuer gRPC"))
    assert issuer.endswith("NOT CHECKED"), issuer
    assert seen[-1].split(None, 1)[1] == "not set up: not every service started"
    assert run.wait(15) == 1
    assert "error: tlog: exited with code 3" in run.stderr


def test_a_service_whose_start_was_refused_over_a_setting_ends_the_run_with_2(
    certseal_run,
):
    """A service that exits 2 (a wrong setting, which it names) makes ``certseal
    run`` exit 2, as a configuration that does not load does; any other exit 1."""
    run = certseal_run({"seal": "exit2", "*": "hang"})
    run.read_until("waiting 127.0.0.1:50051")
    code = run.wait(60)
    assert code == 2, run.stderr
    assert "error: seal: exited with code 2" in run.stderr


def test_atk10_a_closed_terminal_stops_the_services(certseal_run):
    """Closing the terminal sends SIGHUP to certseal run; the services are in sessions
    of their own (start_service), so they get nothing. The run has no SIGHUP handler:
    it dies at once and leaves every service (and PostgreSQL) running."""
    run = certseal_run({"*": "serve"})
    run.read_until("Ctrl-C stops everything")
    run.process.send_signal(signal.SIGHUP)
    run.wait(15)
    assert _wait_gone(run.pids, 10) == [], "services left running after SIGHUP"


def test_atk10_ctrl_c_with_the_output_piped_into_tee_stops_the_services(certseal_run):
    """`make run | tee run.log` then Ctrl-C: the terminal's SIGINT ends tee too, so the
    shutdown's first line ("stopping issuer") meets a closed pipe; the BrokenPipeError
    leaves shut_down before any service is signalled or the stack stopped (the CLI
    then exits 0)."""
    run = certseal_run({"*": "serve"}, tee=True)
    run.read_until("Ctrl-C stops everything")
    assert run.tee is not None
    run.tee.send_signal(signal.SIGINT)  # the terminal's Ctrl-C reaches both
    run.tee.wait(30)
    run.process.send_signal(signal.SIGINT)
    run.wait(15)
    assert _wait_gone(run.pids, 10) == [], "services left running after Ctrl-C"


def test_atk10_shut_down_stops_every_service_when_stdout_is_gone(monkeypatch):
    """The same as the test above, at the function: shut_down with stdout a pipe whose
    reader has exited."""
    read, write = os.pipe()
    os.close(read)
    gone = os.fdopen(write, "w")
    monkeypatch.setattr(sys, "stdout", gone)
    services = {
        name: start_service([sys.executable, "-c", "import time; time.sleep(60)"])
        for name in ("issuer", "seal")
    }
    stopped: list[bool] = []
    try:
        with contextlib.suppress(BrokenPipeError):
            shut_down(services, lambda: stopped.append(True), grace_s=10)
        running = [n for n, p in services.items() if p.poll() is None]
        assert running == [], f"left running: {running}"
        assert stopped == [True], "the stack was not stopped"
    finally:
        for process in services.values():
            if process.poll() is None:
                process.kill()
            process.wait()
        with contextlib.suppress(BrokenPipeError):
            gone.close()
