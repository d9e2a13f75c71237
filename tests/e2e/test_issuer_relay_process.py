"""With ``[issuer] workers`` > 0 the supervisor gives the outbox relay a process of its
own (commit -> topic no longer waits on an event loop shared with the audit sealer and
the usage consumer, docs/architecture.md §2b): a row committed to the outbox reaches
the topic; after a kill -9 of that process the relay's leader lock passes to a new
session (the killed process held it, not the supervisor) and the process the
supervisor starts in its place publishes what is committed next, after the first.

The issuer runs as ``python -m services.issuer`` over a database of its own (the
session issuer's relay leads the session database)."""

from __future__ import annotations

import asyncio
import copy
import secrets
import signal
import socket
import sys
import urllib.request

import psutil
from aiokafka.admin import NewTopic

from certseal.config import dump_config
from certseal.events import OutboxRecord
from certseal.storage.outbox import OutboxRelay, write_outbox
from certseal.storage.pool import connect
from services.devstack import free_port
from tests.conftest import EventWatcher, migrated_database


async def _topic(stack) -> str:
    name = f"relay-process-{secrets.token_hex(4)}"
    admin = stack.config.kafka.settings("certseal-tests").admin()
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 3, 1)])
    finally:
        await admin.close()
    return name


async def _commit(dsn: str, topic: str, key: bytes) -> None:
    conn = await connect(dsn)
    try:
        async with conn.transaction():
            await write_outbox(conn, [OutboxRecord(topic, key, b"v", {})])
    finally:
        await conn.close()


async def _relay_child(supervisor: psutil.Process, other_than: int = 0) -> int:
    """The pid of the supervisor's ``--role relay`` child (not ``other_than``)."""
    async with asyncio.timeout(60):
        while True:
            for child in supervisor.children():
                try:
                    argv = child.cmdline()
                except psutil.NoSuchProcess:
                    continue
                if "relay" in argv and child.pid != other_than:
                    return child.pid
            await asyncio.sleep(0.1)  # a process starting: nothing to await yet


async def _leader_session(dsn: str, other_than: int = 0) -> int:
    """The backend pid of the session holding the relay's leader lock (not
    ``other_than``)."""
    high, low = OutboxRelay.lock_id >> 32, OutboxRelay.lock_id & 0xFFFFFFFF
    conn = await connect(dsn)
    try:
        async with asyncio.timeout(60):
            while True:
                # this database's holder only: the session's other services hold
                # the same lock id in theirs (pg_locks shows every database's)
                backend = await conn.fetchval(
                    """select pid from pg_locks where locktype = 'advisory'
                       and granted and classid = $1 and objid = $2
                       and database = (select oid from pg_database
                                        where datname = current_database())""",
                    high,
                    low,
                )
                if backend is not None and backend != other_than:
                    return int(backend)
                await asyncio.sleep(0.1)  # the relay is connecting
    finally:
        await conn.close()


async def test_the_relay_runs_in_its_own_process_and_is_restarted_after_a_kill(
    stack, config, tmp_path
):
    dsn = await migrated_database(config, "relayproc")
    dsn_file = tmp_path / "database.dsn"
    dsn_file.write_text(dsn)
    cfg = copy.deepcopy(config)
    cfg.database.dsn_file = str(dsn_file)
    cfg.issuer.listen = f"127.0.0.1:{free_port()}"
    cfg.issuer.metrics_listen = ""
    cfg.issuer.workers = 1
    config_file = tmp_path / "issuer.toml"
    config_file.write_text(dump_config(cfg))
    topic = await _topic(stack)
    with (tmp_path / "issuer.log").open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "services.issuer", "--config", str(config_file)),
            *("--log-level", "WARNING"),
            stdout=out,
            stderr=out,
        )
    supervisor = psutil.Process(process.pid)
    try:
        relay = await _relay_child(supervisor)
        leader = await _leader_session(dsn)
        async with EventWatcher(stack, topic) as watcher:
            await _commit(dsn, topic, b"before-kill")
            await watcher.wait_for(
                lambda rs: [r.key for r in rs] == [b"before-kill"], within=30
            )
            psutil.Process(relay).send_signal(signal.SIGKILL)
            await _relay_child(supervisor, other_than=relay)
            # the lock went with the killed process's session: it led the relay
            await _leader_session(dsn, other_than=leader)
            await _commit(dsn, topic, b"after-kill")
            records = await watcher.wait_for(
                lambda rs: b"after-kill" in [r.key for r in rs], within=60
            )
            assert records[0].key == b"before-kill"
        assert process.returncode is None
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


def _port_before_a_taken_one() -> tuple[int, socket.socket]:
    """A port P with P and P + 1 free, and a socket listening on P + 2 (the relay
    process's metrics port with one serving worker: P + 1 + workers)."""
    for _ in range(200):
        port = free_port()
        held: list[socket.socket] = []
        try:
            for offset in (0, 1, 2):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port + offset))
        except OSError:
            for s in held:
                s.close()
            continue
        for s in held[:2]:
            s.close()
        taken = held[2]
        taken.listen()
        return port, taken
    raise RuntimeError("no three consecutive free ports found")


async def test_a_relay_whose_metrics_port_is_taken_still_publishes(
    stack, config, tmp_path
):
    """The relay process's metrics port (``metrics_listen`` + 1 + workers) taken by
    something else on the host: the relay works without its metrics (logged), not in
    a crash loop that publishes nothing (atk8); the supervisor's backlog gauge, which
    the console scrapes, is served."""
    dsn = await migrated_database(config, "relaytaken")
    dsn_file = tmp_path / "database.dsn"
    dsn_file.write_text(dsn)
    metrics_port, taken = _port_before_a_taken_one()
    cfg = copy.deepcopy(config)
    cfg.database.dsn_file = str(dsn_file)
    cfg.issuer.listen = f"127.0.0.1:{free_port()}"
    cfg.issuer.metrics_listen = f"127.0.0.1:{metrics_port}"
    cfg.issuer.workers = 1
    config_file = tmp_path / "issuer.toml"
    config_file.write_text(dump_config(cfg))
    topic = await _topic(stack)
    log_file = tmp_path / "issuer.log"
    with log_file.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "services.issuer", "--config", str(config_file)),
            *("--log-level", "WARNING"),
            stdout=out,
            stderr=out,
        )
    try:
        await _relay_child(psutil.Process(process.pid))
        async with EventWatcher(stack, topic) as watcher:
            await _commit(dsn, topic, b"committed")
            await watcher.wait_for(
                lambda rs: [r.key for r in rs] == [b"committed"], within=60
            )
        text = log_file.read_text(errors="replace")
        assert "metrics not served" in text and "exited with" not in text, text
        assert process.returncode is None
        exported = await asyncio.to_thread(
            lambda: (
                urllib.request.urlopen(
                    f"http://127.0.0.1:{metrics_port}/metrics", timeout=5
                )
                .read()
                .decode()
            )
        )
        assert "certseal_outbox_backlog " in exported
    finally:
        taken.close()
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
