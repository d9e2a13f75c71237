"""Holes in the offsets of the session's real broker (certseal/holes.py):
producers appending to one partition at once while a replay guard's feed tails it.
The embedded broker can hand a reader a record before an earlier one is readable
(measured: 2 holes in 12,000 records from four producers); the feed must still
store every claim, and a claims reader must never decide past a hole (CI lost a
race of two groups on one code to it: the later claim won)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time

from aiokafka.admin import NewTopic
from aiokafka.structs import TopicPartition

from certseal.kafka import read_to_end
from services.verifier.diskindex import DiskIndex
from services.verifier.feed import LicenceFeed
from services.verifier.index import Freshness
from tests.verifier.test_diskindex import event
from tests.verifier.test_replay import feed_on, record, until, use

PRODUCERS = 6
EACH = 800


async def one_partition_topic(stack, prefix: str) -> str:
    """A new topic of one partition, named ``<prefix>-<time>``."""
    topic = f"{prefix}-{dt.datetime.now().strftime('%H%M%S%f')}"
    admin = stack.config.kafka.settings("certseal-tests").admin()
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    return topic


async def test_every_claim_appended_at_once_by_many_producers_is_stored(
    stack, tmp_path
):
    topic = await one_partition_topic(stack, "usage-holes")
    settings = stack.config.kafka.settings("certseal-tests")
    feed = feed_on(stack, topic, tmp_path / "guard", {})
    feed.start()
    producers = [settings.producer() for _ in range(PRODUCERS)]
    await asyncio.gather(*(p.start() for p in producers))
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=600)
    nonces: list[str] = []
    last = -1

    async def append(i: int, producer) -> None:
        nonlocal last
        for j in range(EACH):
            nonce = f"{i:04x}{j:060x}"
            nonces.append(nonce)
            rec = record(use(i * EACH + j, nonce=nonce, expires=expires))
            sent = await (await producer.send(topic, rec.value, key=b"one"))
            last = max(last, sent.offset)

    try:
        await until(feed.caught_up.is_set)
        await asyncio.gather(*(append(i, p) for i, p in enumerate(producers)))
        await until(lambda: feed.applied.get(0, -1) >= last, within=60)
        missing = [n for n in nonces if not feed.store.seen(n)]
        assert len(nonces) == PRODUCERS * EACH
        assert missing == [], f"{len(missing)} claims never stored"
        assert feed.holes.gone_past == 0  # every hole filled: none gone past
    finally:
        await asyncio.gather(*(p.stop() for p in producers))
        await asyncio.to_thread(feed.stop)


async def appended_with_holes(stack, offsets: list[int], timestamp_ms: int) -> str:
    """A new topic of one partition holding one batch whose records are at
    ``offsets`` (the others hold no record, as compaction or a transaction marker
    leaves them), appended with ``timestamp_ms``; its name."""
    topic = await one_partition_topic(stack, "holes")
    producer = stack.config.kafka.settings("certseal-tests").producer()
    await producer.start()
    try:
        batch = producer.create_batch()
        for offset in offsets:
            batch._relative_offset = offset  # the broker keeps a batch's offsets
            batch.append(key=b"k%d" % offset, value=b"v", timestamp=timestamp_ms)
        await (await producer.send_batch(batch, topic, partition=0))
    finally:
        await producer.stop()
    return topic


async def listed(stack, topic: str) -> list[int]:
    """The offsets :func:`read_to_end` lists of ``topic`` (the parked listing's way)."""
    consumer = stack.config.kafka.settings("certseal-tests").consumer(
        group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        return [
            r.offset
            for r in await read_to_end(consumer, [TopicPartition(topic, 0)], "t")
        ]
    finally:
        await consumer.stop()


async def test_a_listing_reads_on_past_a_hole_that_stays(stack, caplog):
    """read_to_end sought back to a hole, and its next fetch waited for the one
    already asking past the last record (500 ms): the listing took that empty
    fetch for the end and returned only the records before the hole."""
    topic = await appended_with_holes(stack, [0, 2, 3, 4], int(time.time() * 1000))
    with caplog.at_level(logging.WARNING, logger="certseal.holes"):
        assert await listed(stack, topic) == [0, 2, 3, 4]
    [warning] = [
        r.getMessage() for r in caplog.records if "no record" in r.getMessage()
    ]
    assert "offsets 1..1 of partition" in warning


HOLES = 8


async def test_holes_an_hour_old_near_the_head_are_gone_past_at_once(stack, caplog):
    """Compaction (the licence, trust and directory topics on Apache Kafka) leaves
    holes that never fill in a topic's closed segments: within the head window of a
    small topic, and before records appended long ago. A reader waited 1 s for each
    (a directory topic of a few hundred compacted names: minutes before a verifier's
    agents caught up). Made here as compaction leaves them, read as the parked
    listing reads."""
    an_hour_ago_ms = int((time.time() - 3600) * 1000)
    every_other = list(range(0, 2 * HOLES + 1, 2))
    topic = await appended_with_holes(stack, every_other, an_hour_ago_ms)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="certseal.holes"):
        assert await listed(stack, topic) == every_other
    assert not [r for r in caplog.records if "no record" in r.getMessage()]
    assert time.monotonic() - started < HOLES / 2  # not a settle time per hole


async def test_a_hole_where_the_licence_index_resumes_is_waited_for(stack, tmp_path):
    """The licence index noted the offset it resumes each partition from under the
    partition's number, but the fetch is cut by TopicPartition: the first fetch
    forgot it and took a record past a hole at that very offset (a caught-up index
    started while two producers race at the head) without waiting."""
    lineage = "L-hole-at-start"
    topic = await appended_with_holes(stack, [1, 2], int(time.time() * 1000))
    producer = stack.config.kafka.settings("certseal-tests").producer()
    await producer.start()
    try:  # offsets 1 and 2 hold keys the index can read: the same lineage twice
        for version in (1, 2):
            await (
                await producer.send(
                    topic, event(lineage, version), key=lineage.encode()
                )
            )
    finally:
        await producer.stop()
    index = DiskIndex(tmp_path / "ix", topic=topic)
    feed = LicenceFeed(
        index,
        consumer_factory=lambda **kw: stack.config.kafka.settings(
            "certseal-tests"
        ).consumer(**kw),
        freshness=Freshness(),
        dead_letter=lambda record, problem: asyncio.sleep(0),
    )
    await feed.start()
    running = asyncio.create_task(feed.run())
    try:
        await until(lambda: feed.applied_events >= 4, within=20)
        assert feed.holes.met == 1  # offset 0: waited for, then gone past
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await feed.stop()
        index.close()
