"""Attacks on the read positions (certseal/storage/idcursor.py) against the real
PostgreSQL and broker: what the relay and the sealer do with many gaps, with
republish_all, with purges and with the backlog gauges."""

from __future__ import annotations

import asyncio

import pytest

from certseal.storage import idcursor
from certseal.storage.outbox import republish_all
from certseal.storage.pool import connect
from tests.conftest import EventWatcher
from tests.kernel.test_outbox_positions import (
    FailingPartitions,
    committed,
    insert,
    leading,
)
from tests.kernel.test_outbox_relay import fresh_database, fresh_topic, keys_on, relay


async def rolled_back(dsn: str, topic: str, key: bytes) -> int:
    """An outbox id taken by a transaction that rolls back; the id."""
    conn = await connect(dsn)
    try:
        tx = conn.transaction()
        await tx.start()
        taken = await insert(conn, topic, key)
        await tx.rollback()
        return taken
    finally:
        await conn.close()


async def test_rows_inside_joined_gaps_are_not_sent_at_every_round(
    stack, config, monkeypatch
):
    """Past MAX_GAPS the closest gaps are joined, and a read of a joined gap
    returned the rows between its parts again: the relay resent them at every poll
    and NOTIFY while the gaps stayed open (a transaction with an id left open
    anywhere on the server, and rolled-back writers), and spun without pause once
    they filled a batch. It now marks them published as it joins them."""
    monkeypatch.setattr(idcursor, "MAX_GAPS", 2)
    async with leading(stack, config) as (dsn, topic, worker, conn):
        long = await connect(dsn)
        held = long.transaction()
        await held.start()
        await long.fetchval("select pg_current_xact_id()")  # holds every gap open
        for i in range(4):
            await rolled_back(dsn, topic, b"gone-%d" % i)
            await committed(dsn, topic, b"kept-%d" % i)
        assert await worker.work_once(conn) == 4
        assert len(worker._cursor.gaps) == 2  # four gaps joined into two
        again = [await worker.work_once(conn) for _ in range(4)]
        assert again == [0, 0, 0, 0]
        await held.rollback()
        await long.close()


async def test_a_failed_send_inside_a_joined_gap_loses_no_row(
    stack, config, monkeypatch
):
    """A round whose gaps were joined over rows it read, and whose sends then
    failed, kept those rows to read again as gaps of their own inside the joined
    one; joining the overlapping gaps then cut the joined gap short, and an id
    held by a transaction still open fell out of every gap: its row, once
    committed, was never published."""
    monkeypatch.setattr(idcursor, "MAX_GAPS", 2)
    async with leading(stack, config) as (dsn, topic, worker, conn):
        real = worker._producer_factory
        failing = {0, 1, 2}
        worker._producer_factory = lambda: FailingPartitions(real(), failing)
        slow = await connect(dsn)
        await rolled_back(dsn, topic, b"gone-0")
        await committed(dsn, topic, b"kept-0")
        await rolled_back(dsn, topic, b"gone-1")
        await committed(dsn, topic, b"kept-1")
        held = slow.transaction()
        await held.start()
        await insert(slow, topic, b"held")  # open: it holds every gap open
        await committed(dsn, topic, b"kept-2")
        await rolled_back(dsn, topic, b"gone-2")
        await committed(dsn, topic, b"kept-3")
        with pytest.raises(RuntimeError, match="publish failed"):
            await worker.work_once(conn)
        await worker.on_error()
        failing.clear()
        async with EventWatcher(stack, topic) as watcher:
            assert await worker.work_once(conn) == 4
            await held.commit()
            assert await worker.work_once(conn) == 1
            records = await watcher.wait_for(lambda rs: keys_on(rs, b"held"))
            assert keys_on(records, b"held") == [b"held"]
            assert sorted(keys_on(records, b"kept-")) == [
                b"kept-%d" % i for i in range(4)
            ]
        await slow.close()


async def test_republish_all_wakes_an_idle_relay(stack, config):
    """republish_all moved the position back without a NOTIFY, and the round that
    saw the new epoch started over and then went idle: an idle relay sent nothing
    again until two polls later (here a poll of an hour)."""
    dsn = await fresh_database(config)
    topic = await fresh_topic(stack)
    worker = relay(stack, dsn)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    conn = await connect(dsn)
    try:
        async with EventWatcher(stack, topic) as watcher:
            await committed(dsn, topic, b"w-1")
            await watcher.wait_for(lambda rs: keys_on(rs, b"w-") == [b"w-1"])
            await republish_all(conn)
            records = await watcher.wait_for(lambda rs: len(keys_on(rs, b"w-")) == 2)
            assert keys_on(records, b"w-") == [b"w-1", b"w-1"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await conn.close()
        await worker.close()
