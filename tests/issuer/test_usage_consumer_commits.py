"""The usage record's consumer on the real broker: a batch whose transaction failed is
read again (nothing was committed), and once a batch is stored its offsets are
committed, so a restarted consumer of the group does not read it again."""

from __future__ import annotations

import asyncio
import copy
import secrets
import time
import uuid

from certseal.events import LICENCE_USAGE
from certseal.timestamps import ts, utcnow
from certseal.v1 import events_pb2
from services.devstack import DevStack
from services.issuer.usage_consumer import UsageConsumer
from tests.conftest import log_lines


class FlakyRecord:
    """Stands in for UsageRecord: fails the first batch holding ``failing``."""

    def __init__(self, failing: str):
        self.failing = failing
        self.failed = False
        self.stored: list[str] = []

    async def record(self, entries) -> int:
        ids = [e.entry_id for e in entries]
        if not self.failed and self.failing in ids:
            self.failed = True
            raise RuntimeError("PostgreSQL went away")
        self.stored.extend(ids)
        return len(ids)

    async def backfill(self) -> int:
        """No authorisation events in an outbox here."""
        return 0


def used(purpose: str) -> events_pb2.LicenceUsedEvent:
    return events_pb2.LicenceUsedEvent(
        event_id=str(uuid.uuid4()),
        type="licence.used",
        lineage=f"1.2.156.3005.2.TEST.{secrets.token_hex(4).upper()}.1",
        identifier="x",
        verdict="VALID",
        counter="dept:11440300MA5F00000X",
        purpose=purpose,
        occurred_at=ts(utcnow()),
    )


async def until_stored(consumer, record, entry_id, within=30.0) -> None:
    async with asyncio.timeout(within):
        while entry_id not in record.stored:
            await consumer.next_commit().wait()


async def test_a_failed_batch_is_read_again_and_a_stored_one_is_not(stack, issuer):
    kafka = stack.config.kafka.settings("usage-commit-test")
    group = f"usage-commit-{secrets.token_hex(4)}"
    first, marker = used("first"), used("marker")
    target, after = f"{first.event_id}/1", f"{marker.event_id}/1"
    producer = kafka.producer()
    await producer.start()
    try:
        await producer.send_and_wait(LICENCE_USAGE, first.SerializeToString())
        record = FlakyRecord(target)
        consumer = UsageConsumer(
            kafka=kafka, usage=record, group_id=group, retry_s=0.05
        )
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        await until_stored(consumer, record, target)
        assert record.failed  # the first attempt failed, the batch came again
        assert record.stored.count(target) == 1
        stop.set()
        await task

        # a new member of the group starts after the committed offsets
        again = FlakyRecord("none")
        restarted = UsageConsumer(kafka=kafka, usage=again, group_id=group)
        stop = asyncio.Event()
        task = asyncio.create_task(restarted.run(stop))
        await producer.send_and_wait(LICENCE_USAGE, marker.SerializeToString())
        await until_stored(restarted, again, after)
        assert target not in again.stored
        stop.set()
        await task
    finally:
        await producer.stop()


async def test_batches_without_entries_are_committed_later_not_lost(stack, issuer):
    """Records that bring no entry (a usage record without a use) do not cost an
    offset commit each: they are committed once idle_commit_s has passed, so a
    restarted member starts after them, and the next record with an entry is
    stored."""
    kafka = stack.config.kafka.settings("usage-idle-commit-test")
    group = f"usage-idle-{secrets.token_hex(4)}"
    producer = kafka.producer()
    await producer.start()
    try:
        no_use = events_pb2.LicenceUsedEvent(
            event_id=str(uuid.uuid4()), type="licence.used", counter="dept:x"
        )
        await producer.send_and_wait(LICENCE_USAGE, no_use.SerializeToString())
        record = FlakyRecord("none")
        consumer = UsageConsumer(
            kafka=kafka, usage=record, group_id=group, idle_commit_s=0.2
        )
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        async with asyncio.timeout(30):
            while consumer.batches == 0:  # the idle commit
                await consumer.next_commit().wait()
        marker = used("after the idle commit")
        await producer.send_and_wait(LICENCE_USAGE, marker.SerializeToString())
        await until_stored(consumer, record, f"{marker.event_id}/1")
        stop.set()
        await task

        # a new member starts after both: nothing of them comes again
        again = FlakyRecord("none")
        restarted = UsageConsumer(kafka=kafka, usage=again, group_id=group)
        stop = asyncio.Event()
        task = asyncio.create_task(restarted.run(stop))
        last = used("last")
        await producer.send_and_wait(LICENCE_USAGE, last.SerializeToString())
        await until_stored(restarted, again, f"{last.event_id}/1")
        assert f"{marker.event_id}/1" not in again.stored
        stop.set()
        await task
    finally:
        await producer.stop()


async def test_a_consumer_whose_broker_hangs_stops_within_seconds(
    stack, config, tmp_path
):
    """trial55: with the broker stopped, the issuer's stop waited 10 s for this task
    (an offset commit, or its consumer's stop, waits for a broker that does not
    answer) and then cut it; it now ends within seconds of the stop, what it had not
    committed read again by the next member. On a broker of its own: paused long
    enough to mark a coordinator dead, the session's broker left the session issuer's
    own usage consumer rejoining into the next test (CI, 2026-12-07)."""
    cluster = DevStack(tmp_path / "cluster", topic_partitions=2)
    cfg = copy.deepcopy(config)
    cfg.kafka.bootstrap_servers = await cluster.start_broker()
    cfg.kafka.topic_partitions = 2
    try:
        await _stops_within_seconds(cluster, cfg.kafka.settings("usage-hang-test"))
    finally:
        cluster.stop()


async def _stops_within_seconds(cluster, kafka) -> None:
    group = f"usage-hang-{secrets.token_hex(4)}"
    producer = kafka.producer()
    await producer.start()
    try:
        first = used("before the broker hangs")
        await producer.send_and_wait(LICENCE_USAGE, first.SerializeToString())
    finally:
        await producer.stop()
    record = FlakyRecord("none")
    consumer = UsageConsumer(kafka=kafka, usage=record, group_id=group)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await until_stored(consumer, record, f"{first.event_id}/1")
        cluster.pause_broker()
        try:
            # its heartbeat times out (the request timeout, 15 s): the coordinator
            # is dead, and the consumer's stop waits for a new one
            with log_lines("aiokafka.consumer.group_coordinator") as said:
                async with asyncio.timeout(60):
                    await said.line_with("coordinator dead")
            stop.set()
            started = time.monotonic()
            await asyncio.wait_for(task, 30)
            took = time.monotonic() - started
        finally:
            cluster.resume_broker()
    finally:
        task.cancel()
    assert took < 4.0, took  # its consumer's stop bounded (1 s, then cancelled)
