"""``make run`` as a newcomer meets it: one run per data folder, a stable broker port,
a banner that lists every topic and every metrics endpoint, and processes that export
only their own metrics."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys

import pytest
from prometheus_client import generate_latest

from certseal.devstack import AlreadyRunning, RunLock
from certseal.events import default_topics
from certseal.metrics import Metrics
from services.config import Config
from services.devstack import DevStack, free_port
from services.issuer.app import IssuerApp
from services.run import VERIFIER_METRICS, metrics_endpoints, topic_lines
from services.seal.app import SealApp


@pytest.mark.parametrize("slash", ["", "/"])
async def test_a_second_run_stops_at_once_and_touches_nothing(slash, tmp_path):
    """Said as the CLI says bad input, about the option that chose the data folder
    (``--home``): ``error: home: ...``, exit 2 (it was a line of its own and 1)."""
    home = tmp_path / "data"
    running = RunLock(home)
    running.acquire()  # stands for the run that is up
    try:
        before = sorted(p.name for p in home.iterdir())
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "services", "run", "--home", f"{home}{slash}"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert (process.returncode, err.decode()) == (
            2,
            f"error: home: certseal is already running (pid {os.getpid()}, "
            f"data {home}/); stop it first: Ctrl-C in its terminal\n",
        )
        assert out == b""
        assert sorted(p.name for p in home.iterdir()) == before == ["run.lock"]
        assert (home / "run.lock").read_text() == f"{os.getpid()}\n"
    finally:
        running.release()


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    (tmp_path / "run.lock").write_text("999999999\n")  # no such process holds it
    lock = RunLock(tmp_path)
    lock.acquire()
    try:
        assert (tmp_path / "run.lock").read_text() == f"{os.getpid()}\n"
        other = RunLock(tmp_path)
        try:
            other.acquire()
            raise AssertionError("a second lock was granted")
        except AlreadyRunning as exc:
            assert exc.pid == os.getpid()
            assert str(exc) == (
                f"certseal is already running (pid {os.getpid()}, data {tmp_path}/)"
            )
    finally:
        lock.release()


def test_a_lock_held_before_its_pid_is_written_says_pid_unknown(tmp_path):
    """RunLock.acquire takes the lock, then writes its pid: a second run in between
    (or a lock file with no pid) is told ``pid unknown``, never ``pid None``."""
    import fcntl

    fd = os.open(tmp_path / "run.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held, its pid not yet written
    try:
        with pytest.raises(AlreadyRunning) as caught:
            RunLock(tmp_path).acquire()
        assert caught.value.pid is None
        assert str(caught.value) == (
            f"certseal is already running (pid unknown, data {tmp_path}/)"
        )
    finally:
        os.close(fd)


def test_the_broker_port_is_stable_and_falls_back_only_when_taken(tmp_path):
    port = free_port()
    stack = DevStack(tmp_path / "a", broker_port=port)
    assert stack._choose_broker_port() == port and not stack.broker_port_taken
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        taken = DevStack(tmp_path / "b", broker_port=port)
        other = taken._choose_broker_port()
        assert other != port and taken.broker_port_taken
    # tests never ask for a port: any free one, never 9092
    assert DevStack(tmp_path / "c").broker_port is None
    # make run BROKER_PORT=0: any free port, not a broker listening on port 0
    assert DevStack(tmp_path / "d", broker_port=0)._choose_broker_port() > 0


def test_the_banner_lists_every_topic_and_every_metrics_endpoint():
    lines = topic_lines()
    for topic in default_topics():
        assert topic.name in lines
    endpoints = metrics_endpoints(Config(), VERIFIER_METRICS)
    assert sorted(endpoints) == sorted(
        [
            "issuer",
            "verifier dept-demo",
            "verifier region-demo",
            "seal",
            "feed",
            "tlog",
            "console",
        ]
    )
    assert len(set(endpoints.values())) == 7  # seven processes, seven ports


def test_the_banner_lists_the_issuer_workers_and_relay_metrics_ports():
    cfg = Config()
    cfg.issuer.metrics_listen = "127.0.0.1:9464"
    cfg.issuer.workers = 2
    endpoints = metrics_endpoints(cfg, VERIFIER_METRICS)
    # the supervisor keeps its port; serving processes port + 1.., the relay after them
    assert endpoints["issuer"] == "127.0.0.1:9464"
    assert endpoints["issuer worker 0"] == "127.0.0.1:9465"
    assert endpoints["issuer worker 1"] == "127.0.0.1:9466"
    assert endpoints["issuer relay"] == "127.0.0.1:9467"
    assert len(set(endpoints.values())) == len(endpoints)
    cfg.issuer.metrics_listen = ""
    assert cfg.issuer.child_metrics_listen(0) == ""


def test_the_banner_reads_issuer_workers_from_the_local_overlay(tmp_path):
    from certseal.config import dump_config
    from services.run import LOCAL_OVERLAY
    from services.run_layers import _as_services_read_it

    cfg = Config()
    config_file = tmp_path / "config.toml"
    config_file.write_text(dump_config(cfg))
    assert _as_services_read_it(cfg, tmp_path, str(config_file)).issuer.workers == 0
    (tmp_path / LOCAL_OVERLAY).write_text("[issuer]\nworkers = 2\n")
    layered = _as_services_read_it(cfg, tmp_path, str(config_file))
    assert "issuer relay" in metrics_endpoints(layered, VERIFIER_METRICS)
    (tmp_path / LOCAL_OVERLAY).write_text("[issuer]\nworkers = 'many'\n")
    assert _as_services_read_it(cfg, tmp_path, str(config_file)) is cfg


def test_each_process_exports_only_its_own_metric_families():
    def exported(metrics: Metrics) -> str:
        return generate_latest(metrics.registry).decode()

    issuer = exported(Metrics(families=IssuerApp.metric_families))
    assert "certseal_outbox_backlog" in issuer
    assert "certseal_licences_expired" in issuer
    assert "index_lag" not in issuer
    seal = exported(Metrics(families=SealApp.metric_families))
    assert "certseal_outbox_backlog" in seal
    assert "certseal_licences_expired" not in seal and "index_lag" not in seal
    verifier = exported(Metrics(families=frozenset({"rpc", "index"})))
    assert "certseal_verifier_index_lag_events" in verifier
    assert "certseal_outbox" not in verifier and "certseal_audit" not in verifier


def test_the_shutdown_prints_one_line_per_service_and_stopped_alone(capsys):
    """Ctrl-C: each service is stopped once, named on its own line; ``stopped.`` ends
    the output on a line of its own (the terminal's ``^C`` has no newline)."""
    from services.run_processes import shut_down, start_service

    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    services = {"issuer": start_service(sleeper), "verifier": start_service(sleeper)}
    # each in a session of its own: a terminal's SIGINT never reaches them
    assert all(os.getsid(p.pid) == p.pid != os.getsid(0) for p in services.values())
    stopped = []
    print("^C", end="")
    shut_down(services, lambda: stopped.append(True), grace_s=10)
    assert stopped == [True]
    assert all(p.returncode is not None for p in services.values())
    assert capsys.readouterr().out.splitlines() == [
        "^C",
        "stopping issuer",
        "stopping verifier",
        "stopping PostgreSQL and the broker",
        "stopped.",
    ]


def test_a_service_the_shutdown_had_to_kill_is_named(capsys):
    """trial53: verifiers that could not stop without their broker were killed at the
    grace's end, and the run said only ``stopped.``: one that does not stop within
    the grace is named as killed; one that stops is not."""
    from services.run_processes import shut_down

    def child(code: str) -> subprocess.Popen[bytes]:
        """A service in a session of its own that says "ready" once set up."""
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"{code}; print('ready', flush=True); import time; time.sleep(60)",
            ],
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"
        return process

    deaf = child("import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)")
    services = {"dept-demo": deaf, "feed": child("pass")}
    shut_down(services, lambda: None, grace_s=1)
    assert deaf.returncode == -signal.SIGKILL
    assert services["feed"].returncode == -signal.SIGTERM
    assert capsys.readouterr().out.splitlines() == [
        "",
        "stopping dept-demo",
        "stopping feed",
        "dept-demo did not stop within 1 s: killed",
        "stopping PostgreSQL and the broker",
        "stopped.",
    ]


def test_a_service_that_exits_is_named_with_its_code():
    """A service that dies at start is ``EXITED (code N; …)`` in the banner, not
    ``NOT READY``; and the run that one dead service ends names it on stderr."""
    from services.run import exited_lines, service_state
    from services.run_processes import start_service

    dead = start_service([sys.executable, "-c", "raise SystemExit(2)"])
    alive = start_service([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead.wait(30)
        assert service_state(False, dead).startswith("EXITED (code 2;")
        assert service_state(False, alive) == "NOT READY"
        assert service_state(True, alive) == "SERVING"
        assert exited_lines({"seal": dead, "feed": alive}) == [
            "error: seal: exited with code 2; the rest are stopped"
        ]
    finally:
        alive.kill()
        alive.wait()


def test_a_run_whose_broker_died_names_it_and_its_log(tmp_path):
    """nu21: the embedded broker killed, every service stayed NOT_SERVING and the run
    said nothing; it is watched as the services are."""
    from services.run import broker_of, exited_lines, run_status
    from services.run_processes import start_service

    stack = DevStack(tmp_path)
    assert broker_of(stack) == {}  # not started
    stack.broker = start_service([sys.executable, "-c", "import time; time.sleep(60)"])
    stack.broker.kill()
    stack.broker.wait(30)
    watched = broker_of(stack)
    log = tmp_path / "broker.log"
    assert exited_lines(watched) == [
        f"error: the embedded broker (its log: {log}): killed by SIGKILL; the rest "
        "are stopped"
    ]
    assert run_status(watched) == 1


def test_a_run_with_a_dead_service_says_so_instead_of_the_walk_through(tmp_path):
    from services.run import not_started

    text = not_started({"issuer": 2, "seal": 1}, tmp_path / "local.toml")
    assert text.startswith(
        "Not every service started:\n  issuer: code 2; its error is above\n"
        "  seal: code 1; its error is above\n"
    )
    assert str(tmp_path / "local.toml") in text and "certseal stops now" in text
    assert "Try, in another terminal" not in text
    # a setting's error is not only a busy port (nu15): the banner says where to look
    assert "services.<name>: error: <setting>: <problem>" in text


def test_services_that_said_no_error_are_not_said_to_have_one(tmp_path):
    """trial50: an issuer sent SIGINT alone while the run started it, and the banner
    said "each one's error is above", where there was none; a service stopped by a
    SIGTERM sent to it alone (code 0) was said to have exited "with code 0". Real
    processes, ended each way."""
    from services.run import exited_lines, not_started, service_state

    def child(handler: str) -> subprocess.Popen[bytes]:
        """A process that says "ready" once its handler is set, then waits."""
        code = f"import signal, sys, time; {handler}; print('ready', flush=True); "
        process = subprocess.Popen(
            [sys.executable, "-c", code + "time.sleep(60)"], stdout=subprocess.PIPE
        )
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"
        return process

    interrupted = child("signal.signal(signal.SIGINT, signal.SIG_DFL)")
    stopped = child("signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))")
    interrupted.send_signal(signal.SIGINT)
    stopped.send_signal(signal.SIGTERM)
    codes = {"issuer": interrupted.wait(30), "seal": stopped.wait(30)}
    assert codes == {"issuer": -signal.SIGINT, "seal": 0}
    text = not_started(codes, tmp_path / "local.toml")
    assert text.startswith(
        "Not every service started:\n  issuer: killed by SIGINT\n"
        "  seal: stopped, code 0: asked to stop, not by this run\n"
        "None of them said an error"
    ), text
    assert "error is above" not in text and "local.toml" not in text
    assert service_state(True, stopped) == (
        "EXITED (stopped, code 0: asked to stop, not by this run)"
    )
    assert exited_lines({"seal": stopped}) == [
        "seal: stopped, code 0: asked to stop, not by this run; the rest are stopped"
    ]
    # one that said an error among them: where errors are and where settings go
    mixed = not_started({**codes, "feed": 2}, tmp_path / "local.toml")
    assert "  feed: code 2; its error is above\n" in mixed
    assert str(tmp_path / "local.toml") in mixed


def test_a_listen_moved_in_the_local_overlay_is_followed_by_its_callers(tmp_path):
    """nu11: moving [issuer] listen in local.toml left the CLI, the readiness wait and
    the other services calling the old port (a 12-minute silent wait, then "is
    running" beside NOT READY), and [verifier] metrics_listen did not move at all."""
    from certseal.config import dump_config
    from services.devstack import DevStack
    from services.run import LOCAL_OVERLAY
    from services.run_layers import follow_local_listens, region_metrics

    cfg = DevStack(tmp_path).config
    cfg.issuer.seal_target = cfg.seal.listen
    cfg.console.verifier_targets = [cfg.verifier.listen, "127.0.0.1:50055"]
    cfg.cli.verifier_groups = {
        "dept-demo": cfg.verifier.listen,
        "region-demo": "127.0.0.1:50055",
    }
    cfg.verifier.metrics_listen = "127.0.0.1:9494"
    cfg.console.metrics_sources = ["verifier=http://127.0.0.1:9494/metrics"]
    config_file = tmp_path / "config.toml"
    config_file.write_text(dump_config(cfg))
    assert follow_local_listens(cfg, tmp_path, config_file).cli.issuer_target == (
        cfg.cli.issuer_target
    )  # no overlay: nothing moves
    (tmp_path / LOCAL_OVERLAY).write_text(
        '[issuer]\nlisten = "0.0.0.0:50061"\n'
        '[seal]\nlisten = "127.0.0.1:50063"\n'
        '[verifier]\nmetrics_listen = "127.0.0.1:9600"\n'
        '[cli.verifier_groups]\n"dept-demo" = "127.0.0.1:50052"\n'
        '"region-demo" = "127.0.0.1:50065"\n'
    )
    moved = follow_local_listens(cfg, tmp_path, config_file)
    assert moved.issuer.listen == "0.0.0.0:50061"  # as the issuer reads it
    assert moved.cli.issuer_target == "127.0.0.1:50061"  # where a client finds it
    assert (moved.cli.seal_target, moved.issuer.seal_target) == ("127.0.0.1:50063",) * 2
    assert moved.console.verifier_targets == [cfg.verifier.listen, "127.0.0.1:50065"]
    assert moved.console.metrics_sources == ["verifier=http://127.0.0.1:9600/metrics"]
    assert region_metrics(moved.verifier.metrics_listen) == {
        "dept-demo": "127.0.0.1:9600",
        "region-demo": "127.0.0.1:9601",
    }
    # a dept-demo moved just below another service's metrics port: region-demo
    # takes the first port above it that no service listens on
    assert region_metrics("127.0.0.1:9463", cfg)["region-demo"] == "127.0.0.1:9465"
    assert "127.0.0.1:50051" not in config_file.read_text()  # what the CLI reads too


def test_the_usage_publishers_stop_first_and_the_issuer_after_it_read_them(capsys):
    """``make run``'s Ctrl-C: the verifier groups (and the console) stop first, which
    hands their last gathered uses to the broker; ``between`` (usage_read: the
    issuer's usage consumer reads them) runs once they have exited and before the
    issuer is signalled. nu13 lost the last verifications of a clean Ctrl-C: every
    service stopped at once and the in-memory broker went with the unread records."""
    from services.run_processes import shut_down, start_service

    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    services = {
        name: start_service(sleeper) for name in ("issuer", "dept-demo", "console")
    }
    seen = []

    def between() -> None:
        seen.append({name: p.poll() is not None for name, p in services.items()})

    shut_down(
        services,
        lambda: None,
        grace_s=10,
        first=("console", "dept-demo", "region-demo"),
        between=between,
    )
    assert seen == [{"issuer": False, "dept-demo": True, "console": True}]
    assert all(p.returncode is not None for p in services.values())
    assert capsys.readouterr().out.splitlines()[1:4] == [
        "stopping dept-demo",
        "stopping console",
        "stopping issuer",
    ]


async def test_usage_read_waits_for_the_issuers_usage_consumer(issuer, config):
    """usage_read is True once the issuer's usage consumer group has committed the
    usage topic to its end (a usage record just published, of a licence no issuer
    holds: read and stored nowhere), and False, within its bound, for a group that
    never read it. The record is a valid one with a purpose of its own: the topic is
    the session's, which other tests read from its beginning (a value that was not a
    usage record failed seven of them in CI)."""
    import copy
    import datetime as dt
    import secrets

    from certseal.identifiers import LicenceId
    from certseal.v1 import events_pb2
    from services.run_layers import usage_read
    from services.verifier.events import kafka_headers, usage_record

    licence = LicenceId("9" * 21, "9" * 18, f"{secrets.randbelow(10**16):016d}", 1)
    record = usage_record(
        [events_pb2.LicenceUse(lineage=licence.lineage, identifier=str(licence))],
        counter="dept:11440300RUNTEST01",
        purpose=f"usage-read-{secrets.token_hex(3)}",
        group="run-test",
        now=dt.datetime.now(dt.UTC),
    )
    producer = config.kafka.settings("certseal-tests").producer()
    await producer.start()
    try:
        await producer.send_and_wait(
            record.topic,
            record.value,
            key=record.key,
            headers=kafka_headers(record),
        )
    finally:
        await producer.stop()
    assert await asyncio.to_thread(usage_read, config, 30.0)
    unread = copy.deepcopy(config)
    unread.issuer.usage_consumer_group = f"never-read-{secrets.token_hex(3)}"
    assert not await asyncio.to_thread(usage_read, unread, 0.5)


def test_a_stop_whose_usage_wait_ends_unread_says_so(config, capsys):
    """trial: ``make run``'s wait for the issuer to read the last usage records ended
    in silence when it timed out. It says so, in one line, and what becomes of them
    (the embedded broker keeps them in memory only: lost with it)."""
    import copy
    import secrets

    from services.run_layers import settle_usage
    from services.run_processes import start_service

    unread = copy.deepcopy(config)  # a group that never reads: the wait times out
    unread.issuer.usage_consumer_group = f"never-read-{secrets.token_hex(3)}"
    issuer = start_service([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert not settle_usage(unread, issuer, within_s=0.5)
    finally:
        issuer.kill()
        issuer.wait()
    said = capsys.readouterr().out.splitlines()
    assert said[0] == "waiting for the issuer to read the last usage records"
    assert len(said) == 2, said
    assert said[1].startswith(
        "the issuer had not read the last usage records within 0.5 s"
    ), said
    assert "lost with the broker" in said[1], said
    # an issuer that has exited is not waited for, and nothing more is said
    assert not settle_usage(unread, issuer, within_s=0.5)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("crash", [signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS])
def test_a_service_that_crashed_is_not_said_stopped_from_outside(tmp_path, crash):
    """atk55: a service ended by a signal of its own fault (a segfault in a C
    extension, an abort) was said "None of them said an error: a signal from outside
    the run, or a stop sent to it alone, ended it. Nothing needs changing"."""
    from services.run import not_started

    text = not_started({"issuer": -crash}, tmp_path / "local.toml")
    assert f"  issuer: killed by {crash.name}\n" in text
    assert "None of them said an error" not in text and "sent to it" not in text
    assert "crashed" in text and text.endswith("certseal stops now.\n")
    # with one that said an error, that error's hint stays
    mixed = not_started({"issuer": -crash, "seal": 2}, tmp_path / "local.toml")
    assert "crashed" in mixed and str(tmp_path / "local.toml") in mixed
