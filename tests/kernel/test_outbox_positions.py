"""The outbox relay's and the audit sealer's read positions, against the real
PostgreSQL and broker (certseal/storage/idcursor.py): a row whose transaction commits
after a later id was read is still published and sealed, a rolled-back id is passed
over, a relay that starts to lead mid-gap reads it again, a connection lost between
the broker's ack and the log loses nothing, and a partition whose send failed is sent
again before its later rows."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

import pytest

from certseal.audit import AuditEntry, chain_hash
from certseal.events import OutboxRecord
from certseal.metrics import Metrics
from certseal.storage.audit import AuditSealer, verify_chain, write_audit
from certseal.storage.outbox import republish_all, unpublished_rows, write_outbox
from certseal.storage.pool import connect
from tests.conftest import EventWatcher
from tests.kernel.test_outbox_relay import fresh_database, fresh_topic, keys_on, relay


async def insert(conn, topic: str, key: bytes) -> int:
    """One outbox row in ``conn``'s open transaction; its id."""
    await write_outbox(conn, [OutboxRecord(topic, key, b"v-" + key, {"ce_id": "x"})])
    return await conn.fetchval("select max(id) from outbox")


async def committed(dsn: str, topic: str, key: bytes) -> int:
    conn = await connect(dsn)
    try:
        async with conn.transaction():
            return await insert(conn, topic, key)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def leading(stack, config):
    """A fresh database and topic, and a relay leading on a connection of its own:
    (dsn, topic, relay, connection)."""
    dsn = await fresh_database(config)
    topic = await fresh_topic(stack)
    worker = relay(stack, dsn)
    conn = await connect(dsn)
    try:
        await worker.on_leader(conn)
        yield dsn, topic, worker, conn
    finally:
        await conn.close()
        await worker.close()


async def position(conn) -> int:
    return await conn.fetchval("select next_id from outbox_relay")


async def test_a_row_committed_after_a_later_one_was_read_is_published(stack, config):
    async with leading(stack, config) as (dsn, topic, worker, conn):
        slow = await connect(dsn)
        async with EventWatcher(stack, topic) as watcher:
            held = slow.transaction()
            await held.start()
            early = await insert(slow, topic, b"early")  # taken first, commits last
            late = await committed(dsn, topic, b"late")
            assert early < late
            assert await worker.work_once(conn) == 1
            await watcher.wait_for(lambda rs: keys_on(rs, b"late") == [b"late"])
            for _ in range(3):  # rounds while it is open: its id stays to be read
                await worker.work_once(conn)
            assert worker._cursor.next_id == early
            await held.commit()
            assert await worker.work_once(conn) == 1
            records = await watcher.wait_for(lambda rs: keys_on(rs, b"early"))
            assert keys_on(records, b"early") == [b"early"]
            await worker.flush(conn)  # logs them, stores the position past both
            assert await position(conn) == late + 1
            assert await unpublished_rows(conn) == 0
        await slow.close()


async def test_a_rolled_back_id_is_passed_over_and_a_new_leader_reads_an_open_one(
    stack, config
):
    dsn = await fresh_database(config)
    topic = await fresh_topic(stack)
    first = relay(stack, dsn)
    conn, slow = await connect(dsn), await connect(dsn)
    try:
        await first.on_leader(conn)
        async with EventWatcher(stack, topic) as watcher:
            dropped = slow.transaction()
            await dropped.start()
            gone = await insert(slow, topic, b"gone")
            await dropped.rollback()
            kept_open = slow.transaction()
            await kept_open.start()
            held = await insert(slow, topic, b"held")
            after = await committed(dsn, topic, b"after")
            assert gone < held < after
            assert await first.work_once(conn) == 1
            # neither id settles while a transaction that could hold it is open
            await first.work_once(conn)
            assert first._cursor.next_id == gone
            await first.on_stop(conn)
            assert await position(conn) == gone
            # another relay leads from the stored position while the row is open
            second = relay(stack, dsn)
            await second.on_leader(conn)
            assert await second.work_once(conn) == 1  # "after" again: a duplicate
            await kept_open.commit()
            assert await second.work_once(conn) == 1
            records = await watcher.wait_for(lambda rs: keys_on(rs, b"held"))
            assert keys_on(records, b"held") == [b"held"]
            assert keys_on(records, b"gone") == []
            assert keys_on(records, b"after") == [b"after", b"after"]
            await second.on_stop(conn)
            assert await position(conn) == after + 1
            await second.close()
    finally:
        await conn.close()
        await slow.close()
        await first.close()


async def test_a_row_whose_transaction_took_its_id_after_the_last_completed_one(
    stack, config
):
    """The transaction holding a gap may have taken its transaction id after every
    completed one: above the snapshot's xmax, in no list of running ones. The
    horizon is the reading statement's own transaction id, so the gap is not taken
    for settled while that transaction runs (found by a run of concurrent writers,
    whose rows this once lost)."""
    dsn = await fresh_database(config)
    topic = await fresh_topic(stack)
    worker = relay(stack, dsn)
    sealer = AuditSealer(dsn=dsn, metrics=Metrics(families=frozenset({"audit"})))
    conn, early, late = await connect(dsn), await connect(dsn), await connect(dsn)
    try:
        await worker.on_leader(conn)
        await sealer.on_leader(conn)
        async with EventWatcher(stack, topic) as watcher:
            later = late.transaction()
            await later.start()
            await late.fetchval("select pg_current_xact_id()")  # its xid first
            held = early.transaction()
            await held.start()
            gap = await insert(early, topic, b"held")  # a later xid, a lower id
            await write_audit(early, [entry("held")])
            assert await insert(late, topic, b"above") > gap
            await write_audit(late, [entry("above")])
            await later.commit()  # the last completed: the held one runs above it
            assert await worker.work_once(conn) == 1
            assert await sealer.work_once(conn) == 1
            for _ in range(3):
                await worker.work_once(conn)
                await sealer.work_once(conn)
            assert worker._cursor.next_id == gap
            await held.commit()
            assert await worker.work_once(conn) == 1
            assert await sealer.work_once(conn) == 1
            records = await watcher.wait_for(lambda rs: keys_on(rs, b"held"))
            assert keys_on(records, b"held") == [b"held"]
        report = await verify_chain(conn)
        assert report.ok and report.rows_checked == 2 and report.unsealed == 0
    finally:
        for c in (conn, early, late):
            await c.close()
        await worker.close()


class FailingPartitions:
    """A real producer whose sends to ``partitions`` fail (the broker's refusal),
    while ``fail`` holds them."""

    def __init__(self, producer, partitions: set[int]):
        self._producer, self.fail = producer, partitions

    def __getattr__(self, name):
        return getattr(self._producer, name)

    async def send_batch(self, batch, topic, partition):
        if partition in self.fail:
            future = asyncio.get_running_loop().create_future()
            future.set_exception(RuntimeError("broker refused"))
            return future
        return await self._producer.send_batch(batch, topic, partition=partition)


async def test_a_failed_partition_is_sent_again_and_a_lost_session_loses_nothing(
    stack, config
):
    dsn = await fresh_database(config)
    topic = await fresh_topic(stack)
    worker = relay(stack, dsn)
    real = worker._producer_factory
    failing = {1}

    def factory():
        return FailingPartitions(real(), failing)

    worker._producer_factory = factory
    conn = await connect(dsn)
    try:
        await worker.on_leader(conn)
        keys = [b"k-%d" % i for i in range(30)]
        for key in keys:
            await committed(dsn, topic, key)
        async with EventWatcher(stack, topic) as watcher:
            with pytest.raises(RuntimeError, match="publish failed"):
                await worker.work_once(conn)
            on = await watcher.wait_for(lambda rs: len(keys_on(rs, b"k-")) > 0)
            assert {r.partition for r in on} <= {0, 2}
            await worker.on_error()
            failing.clear()
            assert await worker.work_once(conn) > 0  # partition 1's rows, in order
            records = await watcher.wait_for(lambda rs: len(keys_on(rs, b"k-")) == 30)
            for part in {r.partition for r in records}:
                got = [r.key for r in records if r.partition == part]
                assert got == sorted(got, key=keys.index)
            # acknowledged, not yet flushed: that session is lost first
            await conn.close()
            conn = await connect(dsn)
            assert await unpublished_rows(conn) > 0
            await worker.on_leader(conn)  # the new session starts where it stored
            while await worker.work_once(conn):
                pass
            await worker.flush(conn)
            assert await unpublished_rows(conn) == 0
            assert sorted(set(keys_on(watcher.records, b"k-"))) == sorted(keys)
    finally:
        await conn.close()
        await worker.close()


async def test_republish_all_moves_a_leading_relay_back(stack, config):
    async with leading(stack, config) as (dsn, topic, worker, conn):
        for key in (b"r-1", b"r-2"):
            await committed(dsn, topic, key)
        async with EventWatcher(stack, topic) as watcher:
            while await worker.work_once(conn):
                pass
            assert await republish_all(conn) == 2
            assert await worker.work_once(conn) == 1  # it starts over from there
            assert worker.more_to_do(1)  # at once, not at the next poll
            while await worker.work_once(conn):
                pass
            records = await watcher.wait_for(lambda rs: len(keys_on(rs, b"r-")) == 4)
            assert keys_on(records, b"r-") == [b"r-1", b"r-2", b"r-1", b"r-2"]
        # the rows sent again are counted apart: their age since commit is no delay
        # of the relay's (trial51); a row committed after the republish is observed
        await worker.flush(conn)
        await committed(dsn, topic, b"r-3")
        while await worker.work_once(conn):
            pass
        assert _sample(worker, "certseal_outbox_published_events_total") == 5
        assert _sample(worker, "certseal_outbox_republished_events_total") == 2
        assert _sample(worker, "certseal_outbox_commit_to_publish_seconds_count") == 3
        # a second republish, the position back at the oldest row again: every row
        # published by then is counted apart, r-3 too; the stored bound is the
        # stored position's (the relay also counts what it published since)
        await worker.flush(conn)
        assert await republish_all(conn) == 3
        while await worker.work_once(conn):
            pass
        assert await conn.fetchval("select republished_to from outbox_relay") == (
            await conn.fetchval("select max(id) from outbox")
        )
        assert _sample(worker, "certseal_outbox_republished_events_total") == 5
        assert _sample(worker, "certseal_outbox_commit_to_publish_seconds_count") == 3


async def test_rows_republished_above_an_open_gap_are_counted_apart(stack, config):
    """atk54: the bound of the rows sent again was the position, below which every
    row is published; a transaction left open holds it back while later rows are
    published, and those, sent again after a republish, were observed in
    commit_to_publish with their age since commit (trial51's delay). The relay
    counts apart every row its own position had published; the open one, which
    commits after the republish, is a first publication."""
    async with leading(stack, config) as (dsn, topic, worker, conn):
        slow = await connect(dsn)
        try:
            await committed(dsn, topic, b"g-1")
            held = slow.transaction()
            await held.start()
            early = await insert(slow, topic, b"g-open")  # open across the republish
            for key in (b"g-2", b"g-3"):
                await committed(dsn, topic, key)
            async with EventWatcher(stack, topic) as watcher:
                while await worker.work_once(conn):
                    pass
                assert worker._cursor.next_id == early  # held back by the open row
                await worker.flush(conn)
                assert _sample(worker, "certseal_outbox_published_events_total") == 3
                await republish_all(conn)
                while await worker.work_once(conn):
                    pass
                await held.commit()
                while await worker.work_once(conn):
                    pass
                records = await watcher.wait_for(
                    lambda rs: len(keys_on(rs, b"g-")) == 7
                )
            assert sorted(keys_on(records, b"g-")) == sorted(
                [b"g-1", b"g-1", b"g-2", b"g-2", b"g-3", b"g-3", b"g-open"]
            )
        finally:
            await slow.close()
        assert _sample(worker, "certseal_outbox_published_events_total") == 7
        assert _sample(worker, "certseal_outbox_republished_events_total") == 3
        # g-1, g-2 and g-3 when first published, and g-open
        assert _sample(worker, "certseal_outbox_commit_to_publish_seconds_count") == 4


def _sample(worker, name: str) -> float:
    """The value of the relay metric sample ``name``."""
    registry = worker._metrics.registry
    value = registry.get_sample_value(name)
    assert value is not None, name
    return value


async def test_an_id_is_taken_only_with_a_transaction_id(config):
    """The outbox's and the audit log's id default gives the transaction its id
    first (kernel migration 0007): what settles a gap safely."""
    conn = await connect(await fresh_database(config))
    try:
        for table in ("outbox", "audit_log"):
            async with conn.transaction():
                assert (
                    await conn.fetchval("select pg_current_xact_id_if_assigned()")
                    is None
                )
                await conn.fetchval(
                    f"select nextval_after_xid(pg_get_serial_sequence('{table}', 'id'))"
                )
                assert await conn.fetchval("select pg_current_xact_id_if_assigned()")
            default = await conn.fetchval(
                "select pg_get_expr(adbin, adrelid) from pg_attrdef d join pg_attribute a"
                " on a.attrelid = d.adrelid and a.attnum = d.adnum"
                " where adrelid = $1::regclass and attname = 'id'",
                table,
            )
            assert default.startswith("nextval_after_xid(")
    finally:
        await conn.close()


def entry(action: str) -> AuditEntry:
    return AuditEntry(
        occurred_at=dt.datetime(2026, 12, 7, tzinfo=dt.UTC),
        actor="operator:test",
        action=action,
        subject="s",
        outcome="ok",
    )


async def test_the_sealer_seals_a_row_committed_after_a_later_one(config):
    dsn = await fresh_database(config)
    sealer = AuditSealer(dsn=dsn, metrics=Metrics(families=frozenset({"audit"})))
    conn, slow = await connect(dsn), await connect(dsn)
    try:
        await sealer.on_leader(conn)
        held = slow.transaction()
        await held.start()
        await write_audit(slow, [entry("early")])
        await write_audit(conn, [entry("late")])
        assert await sealer.work_once(conn) == 1
        await sealer.work_once(conn)
        await held.commit()
        assert await sealer.work_once(conn) == 1
        report = await verify_chain(conn)
        assert report.ok and report.rows_checked == 2 and report.unsealed == 0
        # a batch not full: the next poll seals what commits meanwhile
        assert not sealer.more_to_do(1) and sealer.more_to_do(sealer._batch_size)
        # a new leader starts where the head says: nothing to seal again
        again = AuditSealer(dsn=dsn, metrics=Metrics(families=frozenset({"audit"})))
        await again.on_leader(conn)
        assert await again.work_once(conn) == 0
        assert await conn.fetchval("select unsealed_from from audit_head") == 3
    finally:
        await conn.close()
        await slow.close()


async def test_a_previous_mains_outbox_and_audit_log_upgrade_in_place(
    stack, config, tmp_path
):
    """A database of the previous main (kernel migrations to 0006): rows it marked
    published are not sent again, its unpublished rows are, and its unsealed audit
    rows join its chain."""
    from certseal.storage.pool import KERNEL_MIGRATIONS, migrate
    from tests.tlog.test_queue import kernel_database

    topic = await fresh_topic(stack)
    async with kernel_database(config, tmp_path, 6) as pool:
        for key, published in ((b"u-1", True), (b"u-2", False), (b"u-3", True)):
            await pool.execute(
                """insert into outbox (topic, key, value, headers, published_at)
                   values ($1, $2, $3, '{"ce_id": "x"}'::jsonb,
                           case when $4 then now() end)""",
                topic,
                key,
                b"v",
                published,
            )
        await write_audit(pool, [entry("before-1"), entry("before-2")])
        prev = bytes(32)  # sealed as the previous main's sealer sealed them
        for row in await pool.fetch("select * from audit_log order by id"):
            digest = chain_hash(prev, dict(row.items()), row["id"])
            await pool.execute(
                "update audit_log set seq = $1, prev_hash = $2, hash = $3 where id = $1",
                row["id"],
                prev,
                digest,
            )
            prev = digest
        await pool.execute(
            "insert into audit_head (singleton, seq, hash) values (true, 2, $1)", prev
        )
        await write_audit(pool, [entry("before-3")])
        name = await pool.fetchval("select current_database()")
        dsn = config.database.dsn().replace("/certseal?", f"/{name}?")
        await migrate(pool, [("kernel", KERNEL_MIGRATIONS)])
        async with pool.acquire() as conn:
            assert await position(conn) == 2  # the first row not marked
            assert await conn.fetchval("select unsealed_from from audit_head") == 3
            worker = relay(stack, dsn)
            sealer = AuditSealer(dsn=dsn, metrics=Metrics(families=frozenset()))
            try:
                await worker.on_leader(conn)
                await sealer.on_leader(conn)
                async with EventWatcher(stack, topic) as watcher:
                    assert await worker.work_once(conn) == 1
                    await committed(dsn, topic, b"u-4")
                    while await worker.work_once(conn):
                        pass
                    records = await watcher.wait_for(
                        lambda rs: len(keys_on(rs, b"u-")) == 2
                    )
                    assert keys_on(records, b"u-") == [b"u-2", b"u-4"]
                assert await sealer.work_once(conn) == 1
                await write_audit(conn, [entry("after")])
                assert await sealer.work_once(conn) == 1
                report = await verify_chain(conn)
                assert report.ok and report.rows_checked == 4
            finally:
                await worker.close()


async def test_a_database_at_kernel_0007_upgrades_and_a_re_seed_migrates_it_first(
    stack, config, tmp_path
):
    """The previous main's database (kernel migrations to 0007): ``make run``
    re-seeds a new embedded broker before any service started, so the re-seed
    applies 0008 itself (republished_to) and the relay then reads from the oldest
    row; what it sends again is counted apart."""
    from certseal.storage.outbox import republish_retained
    from certseal.storage.pool import KERNEL_MIGRATIONS, migrate
    from tests.tlog.test_queue import kernel_database

    topic = await fresh_topic(stack)
    async with kernel_database(config, tmp_path, 7) as pool:
        name = await pool.fetchval("select current_database()")
        dsn = config.database.dsn().replace("/certseal?", f"/{name}?")
        for key in (b"k7-1", b"k7-2"):
            await committed(dsn, topic, key)
        await pool.execute("update outbox_relay set next_id = 3, read_to = 2")
        assert (
            await pool.fetchval(
                """select count(*) from information_schema.columns
               where table_name = 'outbox_relay' and column_name = 'republished_to'"""
            )
            == 0
        )
        assert await republish_retained(dsn) == 2
        assert await migrate(pool, [("kernel", KERNEL_MIGRATIONS)]) == []  # done
        row = await pool.fetchrow("select * from outbox_relay")
        assert (row["next_id"], row["epoch"], row["republished_to"]) == (1, 1, 2)
        worker = relay(stack, dsn)
        async with pool.acquire() as conn:
            try:
                await worker.on_leader(conn)
                async with EventWatcher(stack, topic) as watcher:
                    while await worker.work_once(conn):
                        pass
                    records = await watcher.wait_for(
                        lambda rs: len(keys_on(rs, b"k7-")) == 2
                    )
                assert sorted(keys_on(records, b"k7-")) == [b"k7-1", b"k7-2"]
                assert _sample(worker, "certseal_outbox_republished_events_total") == 2
                assert (
                    _sample(worker, "certseal_outbox_commit_to_publish_seconds_count")
                    == 0
                )
            finally:
                await worker.close()


async def test_a_flush_logs_when_each_row_was_published(stack, config):
    async with leading(stack, config) as (dsn, topic, worker, conn):
        first = await committed(dsn, topic, b"l-1")
        assert await worker.work_once(conn) == 1
        assert not worker.more_to_do(1)  # it took every row: idle until a NOTIFY
        assert await conn.fetchval("select count(*) from outbox_published") == 0
        await worker.flush(conn)
        row = await conn.fetchrow(
            """select u.id, u.at >= o.created_at as after_commit
               from outbox_published p, unnest(p.ids, p.published_at) u(id, at)
               join outbox o on o.id = u.id"""
        )
        assert (row["id"], row["after_commit"]) == (first, True)
        await worker.flush(conn)  # nothing new: nothing logged
        assert await conn.fetchval("select count(*) from outbox_published") == 1


async def test_the_readers_plan_once_and_never_scan_a_whole_table(stack, config):
    """A plan the relay or the sealer made while its table was empty must not scan
    it whole at every round as it grows: their sessions plan once, with sequential
    scans off."""
    dsn = await fresh_database(config)
    worker = relay(stack, dsn)
    sealer = AuditSealer(dsn=dsn, metrics=Metrics(families=frozenset({"audit"})))
    for leader in (worker, sealer):
        conn = await connect(dsn)
        try:
            await leader.on_leader(conn)
            assert await conn.fetchval("show enable_seqscan") == "off"
            assert await conn.fetchval("show plan_cache_mode") == "force_generic_plan"
        finally:
            await conn.close()
    await worker.close()


async def test_a_sequence_with_a_cache_is_refused_saying_how_to_mend_it(stack, config):
    """With a cache, each session takes a block of ids: a row committed later may
    hold an id below one already read and settled. Neither reader leads then."""
    dsn = await fresh_database(config)
    conn = await connect(dsn)
    try:
        for table, leader in (
            ("outbox", relay(stack, dsn)),
            ("audit_log", AuditSealer(dsn=dsn, metrics=Metrics(families=frozenset()))),
        ):
            await conn.execute(f"alter sequence {table}_id_seq cache 20")
            with pytest.raises(RuntimeError, match=f"alter sequence {table}_id_seq"):
                await leader.on_leader(conn)
            await conn.execute(f"alter sequence {table}_id_seq cache 1")
            await leader.on_leader(conn)
    finally:
        await conn.close()
