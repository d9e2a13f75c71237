"""The trust and directory tables read through to where their topics ended at the
worker's start (services/verifier/tables.py), on the real broker: which partitions a
worker's consumer group has left to read and to which offset, and the wait for its
agents to have applied them. End to end: tests/e2e/test_verifier_start_tables.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets

from aiokafka.structs import TopicPartition

from certseal.events import TopicSpec
from certseal.kafka import ensure_topics
from services.verifier import tables
from services.verifier.index import Freshness
from services.verifier.tables import applied_through, ends_to_read


async def test_the_ends_to_read_are_of_the_partitions_the_group_has_not_committed(
    stack,
):
    kafka = stack.config.kafka.settings("tables-start-test")
    topic = f"tables-start-{secrets.token_hex(4)}"
    await ensure_topics(kafka.admin, [TopicSpec(topic, 3)])
    producer = kafka.producer()
    await producer.start()
    try:
        for partition, count in ((0, 3), (1, 2)):  # partition 2 stays empty
            for n in range(count):
                await producer.send_and_wait(topic, b"%d" % n, partition=partition)
    finally:
        await producer.stop()
    group = f"tables-start-group-{secrets.token_hex(4)}"
    # a worker that never ran reads every partition holding records, to its end
    assert await ends_to_read(kafka, group, [topic]) == {(topic, 0): 3, (topic, 1): 2}
    committer = kafka.consumer(group_id=group, enable_auto_commit=False)
    await committer.start()
    try:
        done, half = TopicPartition(topic, 0), TopicPartition(topic, 1)
        committer.assign([done, half])
        await committer.commit({done: 3, half: 1})  # partition 0 read to its end
    finally:
        await committer.stop()
    resumed: dict = {}
    assert await ends_to_read(kafka, group, [topic], resumed) == {(topic, 1): 2}
    # where the agents resume: each partition's lag counts from there (atk21)
    assert resumed == {(topic, 0): 3, (topic, 1): 1, (topic, 2): 0}
    assert await ends_to_read(kafka, group, ["no-such-topic-" + group]) == {}


async def test_a_partition_resumed_at_its_end_counts_what_comes_after(monkeypatch):
    """atk21: a trust partition the group had committed to its end has nothing to
    read at the start, so nothing noted it: one key.revoked published after the
    start, not applied yet, counted as none behind ('0 events behind', VALID). Its
    lag now counts from where its agent resumed."""

    async def committed_to_the_end(kafka, group, topics, resumed=None):
        resumed[("trust", 0)] = 11  # applied through offset 10
        return {}

    monkeypatch.setattr(tables, "ends_to_read", committed_to_the_end)
    freshness = Freshness()
    freshness.recovered.set()
    await asyncio.wait_for(
        tables.read_through_start(None, "g", ("trust",), freshness),  # type: ignore[arg-type]
        5,
    )
    freshness.confirm_ends({("trust", 0): 12}, dt.datetime.now(dt.UTC), 0.0)
    freshness.measure_lag({("trust", 0): 11})  # a fetched high water, stale
    assert (freshness.lag_events, freshness.table_lag_events) == (1, 1)
    freshness.note("trust", 0, 11, 0.0)  # the revocation applied
    freshness.measure_lag({("trust", 0): 12})
    assert freshness.lag_events == 0


async def test_applied_through_returns_once_every_partition_reached_its_end():
    freshness = Freshness()
    ends = {("trust", 0): 2, ("directory", 0): 1}
    waiting = asyncio.create_task(applied_through(freshness, ends))
    for topic, partition, offset in (("trust", 0, 0), ("directory", 0, 0)):
        freshness.note(topic, partition, offset, 0.0)
        for _ in range(5):
            await asyncio.sleep(0)  # let it look
        assert not waiting.done()  # trust/0 holds offset 1 still to apply
    freshness.note("trust", 0, 1, 0.0)
    await asyncio.wait_for(waiting, 5)
    await asyncio.wait_for(applied_through(freshness, {}), 5)  # nothing to read


async def test_the_tables_are_read_only_once_faust_has_recovered_them(monkeypatch):
    """nu19: with nothing to read on its topics the gate opened at once, before Faust
    had recovered the tables; a resuming worker then answered UNKNOWN_LICENCE, "0
    events behind", for licences issued while it was down."""

    async def nothing(*_args, **_kw):
        return {}

    monkeypatch.setattr(tables, "ends_to_read", nothing)
    freshness = Freshness()
    gate = asyncio.create_task(
        tables.read_through_start(None, "g", ("t",), freshness)  # type: ignore[arg-type]
    )
    for _ in range(5):
        await asyncio.sleep(0)  # let it get as far as it can
    assert not gate.done() and not freshness.tables_read.is_set()
    freshness.recovered.set()
    await asyncio.wait_for(gate, 5)
    assert freshness.tables_read.is_set()
