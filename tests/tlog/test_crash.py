"""kill -9 of the log process while events are committed and appended: no gap, no fork.

The log runs as its own process (``python -m services.tlog``) over a database of its
own (created for this test on the session's PostgreSQL), while this test commits outbox
rows of logged topics (marked published, so the process's relay sends nothing to the
session's broker). The process is killed with SIGKILL mid-stream, started again, and
drains the queue; then every committed event is a leaf exactly once, the leaves are
contiguous, and the stored tree, the head and every signed checkpoint agree.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
import signal
import sys

import asyncpg
import pytest

from certseal.checkpoints import NoteVerifier, open_checkpoint
from certseal.config import dump_config
from certseal.merkle import leaf_hash, reference_root
from certseal.storage.pool import create_pool
from services.devstack import free_port
from services.tlog.domain import LogEntry, fold, frontier_nodes
from services.tlog.storage import migrate_all

pytestmark = pytest.mark.fault

TOPIC = "certseal.licence-events.v1"


@pytest.fixture
async def own_database(stack, config, tmp_path):
    """A fresh database on the session's server, migrated for the log; its config."""
    name = f"tlog_crash_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(config.database.dsn())
    await admin.execute(f'create database "{name}"')
    await admin.close()
    dsn = config.database.dsn().replace("/certseal?", f"/{name}?")
    assert name in dsn
    dsn_file = tmp_path / "crash.dsn"
    dsn_file.write_text(dsn)
    cfg = copy.deepcopy(config)
    cfg.database.dsn_file = str(dsn_file)
    cfg.tlog.listen = f"127.0.0.1:{free_port()}"
    cfg.tlog.metrics_listen = ""
    cfg.tlog.batch_size = 50
    cfg.tlog.poll_interval_s = 0.05
    pool = await create_pool(dsn, min_size=1, max_size=4)
    await migrate_all(pool)
    yield cfg, pool
    await pool.close()
    admin = await asyncpg.connect(config.database.dsn())
    await admin.execute(f'drop database "{name}" with (force)')
    await admin.close()


async def _start(cfg, tmp_path):
    config_file = tmp_path / f"tlog-{secrets.token_hex(3)}.toml"
    config_file.write_text(dump_config(cfg))
    log = (tmp_path / "tlog.log").open("ab")
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *(
            "-m",
            "services.tlog",
            "--config",
            str(config_file),
            "--log-level",
            "WARNING",
        ),
        stdout=log,
        stderr=log,
    )


async def _commit_events(pool, count: int, start: int) -> None:
    """Commit ``count`` outbox rows of a logged topic, already marked published."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.executemany(
            """insert into outbox (topic, key, value, headers, published_at)
               values ($1, $2, $3, $4::jsonb, now())""",
            [
                (
                    TOPIC,
                    f"lineage-{i}".encode(),
                    f"value-{i}".encode(),
                    {
                        "ce_id": f"event-{i}",
                        "ce_type": "cn.gov.certseal.licence.issued",
                        "ce_subject": f"lineage-{i}",
                        "ce_time": "2026-11-30T10:00:00Z",
                    },
                )
                for i in range(start, start + count)
            ],
        )


async def _wait_for(pool, predicate, within: float = 60.0) -> int:
    async with asyncio.timeout(within):
        while True:
            size = await pool.fetchval("select size from tlog_head")
            if predicate(size):
                return size
            await asyncio.sleep(0.02)  # another process appends: poll its head


async def test_kill_9_during_appends_leaves_no_gap_and_no_fork(own_database, tmp_path):
    cfg, pool = own_database
    await _commit_events(pool, 500, 0)
    process = await _start(cfg, tmp_path)
    committed = 500
    try:
        await _wait_for(pool, lambda size: size > 0)
        # keep committing while the log appends, and kill it mid-stream
        for _ in range(10):
            await _commit_events(pool, 100, committed)
            committed += 100
        process.send_signal(signal.SIGKILL)
        await process.wait()
        size_at_kill = await pool.fetchval("select size from tlog_head")
        assert 0 < size_at_kill < committed  # it died with events still to append
        await _check_tree(pool, cfg, complete=False, committed=committed)

        await _commit_events(pool, 100, committed)  # committed while the log was down
        committed += 100
        process = await _start(cfg, tmp_path)
        await _wait_for(pool, lambda size: size == committed)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await process.wait()
    await _check_tree(pool, cfg, complete=True, committed=committed)


async def _check_tree(pool, cfg, *, complete: bool, committed: int) -> None:
    size = await pool.fetchval("select size from tlog_head")
    leaves = await pool.fetch(
        "select leaf_index, data from tlog_leaves order by leaf_index"
    )
    queued = await pool.fetchval("select count(*) from tlog_queue")
    # no gap: leaves 0..size-1 exactly, and every committed event is a leaf or queued
    assert [r["leaf_index"] for r in leaves] == list(range(size))
    assert size + queued == committed
    events = [LogEntry.decode(bytes(r["data"])).event for r in leaves]
    assert len(set(events)) == len(events)  # each at most once
    if complete:
        assert queued == 0
        assert sorted(events) == sorted(f"event-{i}" for i in range(committed))
    # no fork: the stored nodes, the leaves and the head's signed checkpoint agree
    hashes = [leaf_hash(bytes(r["data"])) for r in leaves]
    stored = {
        (r["level"], r["idx"]): bytes(r["hash"])
        for r in await pool.fetch("select level, idx, hash from tlog_nodes")
    }
    assert fold([stored[n] for n in frontier_nodes(size)]) == reference_root(hashes)
    assert max((idx for lvl, idx in stored if lvl == 0), default=-1) == size - 1
    verifier = NoteVerifier.parse(cfg.cli.log_key)
    for row in await pool.fetch("select size, root_hash, note from tlog_checkpoints"):
        cp = open_checkpoint(row["note"], verifier)
        assert cp.size == row["size"] <= size
        assert cp.root_hash == reference_root(hashes[: cp.size])
    assert await pool.fetchval("select max(size) from tlog_checkpoints") == size
