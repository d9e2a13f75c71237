"""A ``certseal run`` killed with SIGKILL (a new user's ``kill -9``): its services,
their children and PostgreSQL ran on, the next ``make run`` told the user to move 14
ports, pgserver's list of holders kept the dead run's pid so that every later Ctrl-C
said "stopped." and left PostgreSQL running, and a mistyped ``--home`` made a whole
data folder. Each test failed before services/run_keeper.py and
certseal/devstack_pg.py."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from certseal.devstack import free_port
from certseal.devstack_pg import HOLDERS, process_alive, prune_holders, server_pid
from services.run_keeper import RUN_TAG, end_leftovers, started_from

REPO = Path(__file__).resolve().parents[2]
BANNER = "certseal is running"


def _two_free() -> int:
    """A free port whose next port is free too (region-demo's metrics take it)."""
    while True:
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port


def _run_home(home: Path) -> Path:
    """A data folder whose local.toml moves every port make run binds to a free one."""
    home.mkdir(parents=True)

    def a() -> str:
        return f'"127.0.0.1:{free_port()}"'

    verifier = a()
    (home / "local.toml").write_text(
        f"[issuer]\nlisten = {a()}\nmetrics_listen = {a()}\n"
        f'[verifier]\nlisten = {verifier}\nmetrics_listen = "127.0.0.1:{_two_free()}"\n'
        f"[seal]\nlisten = {a()}\nmetrics_listen = {a()}\ntsa_listen = {a()}\n"
        f"[feed]\nlisten = {a()}\nmetrics_listen = {a()}\n"
        f"[tlog]\nlisten = {a()}\nmetrics_listen = {a()}\n"
        f"[console]\nlisten = {a()}\nmetrics_listen = {a()}\n"
        f'[cli.verifier_groups]\n"dept-demo" = {verifier}\n"region-demo" = {a()}\n'
    )
    return home


class Run:
    """``certseal run --home HOME --broker-port 0``, its stdout read line by line."""

    def __init__(self, home: Path):
        self.err = home.parent / f"{home.name}-{time.monotonic_ns()}.stderr"
        with self.err.open("w") as err:  # a file: the services inherit it
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "services",
                    "run",
                    "--home",
                    str(home),
                    "--broker-port",
                    "0",
                ],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def read_until(self, marker: str, within_s: float = 90.0) -> list[str]:
        seen: list[str] = []
        end = time.monotonic() + within_s
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {marker!r} in {within_s} s: {seen}") from None
            if line is None:
                raise AssertionError(
                    f"ended before {marker!r}: {seen}; {self.err.read_text()}"
                )
            seen.append(line)
            if marker in line:
                return seen


def _home_processes(home: Path) -> list[int]:
    """Every live process whose command line names ``home`` (the run, its keeper,
    its services, PostgreSQL), or whose environment tags it as the run's."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            text = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if str(home).encode() in text and process_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _await(condition: Callable[[], bool], within_s: float) -> bool:
    end = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture
def home(tmp_path):
    home = _run_home(tmp_path / "data")
    yield home
    for pid in _home_processes(home):  # whatever a failed test left
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_a_killed_run_leaves_nothing_running_and_the_next_one_stops_postgres(home):
    first = Run(home)
    first.read_until(BANNER)
    postgres = server_pid(home / "pg")
    assert postgres is not None
    assert len(_home_processes(home)) >= 10  # run, keeper, 7 services, PostgreSQL
    first.process.kill()  # kill -9
    first.process.wait(10)
    # the services (SIGTERM from the kernel), what they started, and PostgreSQL
    # (the keeper) are gone: nothing holds a port or the data folder
    assert _await(lambda: not _home_processes(home), 40), [
        Path(f"/proc/{p}/cmdline").read_bytes()[:120] for p in _home_processes(home)
    ]
    assert json.loads((home / "pg" / HOLDERS).read_text()) == []
    # a holder killed where no keeper stops PostgreSQL: a dead pid in pgserver's list
    (home / "pg" / HOLDERS).write_text(json.dumps([first.process.pid]))

    second = Run(home)  # starts normally: no port is said to be in use
    second.read_until(BANNER)
    # the banner says where each log is (trial50), and each is there
    logs = second.read_until("PostgreSQL's in")[-2:]
    assert logs[0].startswith("  Logs         the services' in this terminal;"), logs
    broker_log = logs[0].split("the broker's in ")[1].rstrip(";")
    pg_log = logs[1].split("PostgreSQL's in ")[1]
    assert Path(broker_log).is_file() and Path(pg_log).is_file(), logs
    assert server_pid(home / "pg") is not None
    second.process.send_signal(signal.SIGINT)
    said = second.read_until("stopped", within_s=60)
    assert said[-1] == "stopped.", said
    # each service's lines name it and its process in the terminal they share
    # (trial51: an "audit-sealer: leader" line could have been three processes')
    named = re.compile(r"\d\d:\d\d:\d\d [A-Z]+ +([a-z-]+)\[(\d+)\] \S+: ")
    leaders = [
        named.match(line)
        for line in second.err.read_text().splitlines()
        if line.endswith(("outbox-relay: leader", "audit-sealer: leader"))
    ]
    assert len(leaders) >= 2 and all(leaders), second.err.read_text()[-3000:]
    services = {"issuer", "dept-demo", "region-demo", "seal", "feed", "tlog", "console"}
    assert {m[1] for m in leaders if m} <= services, leaders
    assert second.process.wait(30) == 0
    assert _await(lambda: server_pid(home / "pg") is None, 10), "PostgreSQL runs on"
    assert _await(lambda: not _home_processes(home), 10)


TAGGED = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
time.sleep(60)
"""


def test_a_killed_runs_leftovers_are_ended_by_the_next_run(tmp_path):
    """What a run killed with its keeper left (a service in a session of its own and
    the child it started, both tagged with the run's pid and home): ended, the
    service with SIGTERM first; another home's are left alone."""
    home, other = tmp_path / "data", tmp_path / "other"
    started = []
    for where in (home, other):
        env = {**os.environ, RUN_TAG: f"999999999:{where.resolve()}"}
        service = subprocess.Popen(
            [sys.executable, "-c", TAGGED],
            env=env,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert service.stdout is not None
        started.append((service, int(service.stdout.readline())))
    try:
        (service, child), (elsewhere, elsewhere_child) = started
        assert end_leftovers(home, 5.0, signal_leaders=True) == sorted(
            [service.pid, child]
        )
        assert service.wait(5) == -signal.SIGTERM
        assert _await(lambda: not process_alive(child), 5)
        assert elsewhere.poll() is None and process_alive(elsewhere_child)
    finally:
        for process, pid in started:
            for each in (process.pid, pid):
                if process_alive(each):
                    os.kill(each, signal.SIGKILL)
            process.wait()


def test_processes_of_a_run_from_before_the_tags_are_named_not_their_ports(tmp_path):
    """Said in one line naming them, instead of a 'move it in local.toml' per port."""
    from services.run_keeper import leftover_problem

    config = tmp_path / "config.toml"
    old = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "--config", str(config)]
    )
    try:
        assert _await(lambda: started_from(config) == [old.pid], 5)
        line = leftover_problem(tmp_path, [old.pid])
        assert line.startswith(
            f"error: home: processes of an earlier run of {tmp_path}"
        )
        assert f"(pids {old.pid})" in line and "local.toml" not in line
    finally:
        old.kill()
        old.wait()


def test_dead_holders_are_pruned_from_pgservers_list(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / HOLDERS).write_text(json.dumps([gone.pid, os.getpid()]))
    assert prune_holders(tmp_path) == [os.getpid()]
    assert prune_holders(tmp_path, drop=(os.getpid(),)) == []
    assert json.loads((tmp_path / HOLDERS).read_text()) == []


@pytest.mark.parametrize("typo", ["nonexistent/x", "file"])
def test_a_home_that_cannot_be_a_data_folder_is_refused_creating_nothing(
    tmp_path, typo
):
    (tmp_path / "file").write_text("")
    home = tmp_path / typo
    done = subprocess.run(
        [sys.executable, "-m", "services", "run", "--home", str(home)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: home: {home} "), done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
