"""A subscription from ``latest`` starts at the real end of every partition: after a
partition's last write was a batch of several records (the embedded broker then reports
the end one batch short, README "Measured behaviour of the embedded broker"), it gets
exactly the events published after it opened, none of the batch (a restarted `make
run`'s `certseal events tail` replayed old events). A token taken at the end of such a
batch still resumes. On a broker of its own, so its partitions' last writes are this
test's."""

import asyncio
import copy
import datetime as dt
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from certseal.events import LICENCE_EVENTS, cloudevent, new_event_id
from certseal.v1 import events_pb2, feed_pb2_grpc
from certseal.v1 import feed_pb2 as pb
from services.devstack import DevStack
from services.feed.app import FeedApp
from tests.feed.test_service import collect, entitle
from tests.feed.test_tokens import DEPT, _channel_as, _publish

WHO = "integrator:from-now"


@pytest.fixture(scope="module")
async def own_broker(stack, config, tmp_path_factory):
    """A feed on a new embedded broker of its own; the broker's bootstrap address."""
    other = DevStack(tmp_path_factory.mktemp("latest"), copy.deepcopy(config))
    other.topic_partitions = stack.topic_partitions
    bootstrap = await other.start_broker()
    feed = FeedApp(other.config, listen="127.0.0.1:0")
    await feed.start()
    yield feed, bootstrap
    await feed.stop(grace=1)
    other.stop()


def _record(lineage: str) -> tuple[str, Any]:
    event_id = new_event_id()
    return event_id, cloudevent(
        topic=LICENCE_EVENTS,
        key=lineage,
        message=events_pb2.LicenceEvent(
            event_id=event_id, type="licence.issued", lineage=lineage
        ),
        event_id=event_id,
        event_type="licence.issued",
        source=DEPT,
        time=dt.datetime.now(dt.UTC),
    )


async def _publish_batch(bootstrap: str, count: int) -> list[str]:
    """One licence event of DEPT, then ``count`` more written as ONE batch to the
    same partition (the one :func:`_publish` writes DEPT's events to); their ids."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    lineage = f"1.2.156.3.2.1.T001.{DEPT}.000001"
    try:
        first_id, first = _record(lineage)
        sent = await producer.send_and_wait(
            first.topic,
            key=first.key,
            value=first.value,
            headers=[(k, v.encode()) for k, v in first.headers.items()],
        )
        ids = [first_id]
        batch = producer.create_batch()
        for _ in range(count):
            event_id, record = _record(lineage)
            assert batch.append(
                key=record.key,
                value=record.value,
                timestamp=None,
                headers=[(k, v.encode()) for k, v in record.headers.items()],
            )
            ids.append(event_id)
        batch.close()
        await (
            await producer.send_batch(batch, LICENCE_EVENTS, partition=sent.partition)
        )
    finally:
        await producer.stop()
    return ids


async def test_latest_starts_after_a_several_record_batch_and_tokens_resume(
    stack, own_broker
):
    feed, bootstrap = own_broker
    on = _channel_as(stack, feed)
    await entitle(on, WHO, [DEPT], ["licence.*"])
    published = await _publish_batch(bootstrap, 3)
    everything = await collect(on, WHO, 4)
    assert [e.id for e in everything] == published

    async with on(WHO) as channel:
        stream = feed_pb2_grpc.EventFeedStub(channel).Subscribe(
            pb.SubscribeRequest(latest=True)
        )
        await stream.initial_metadata()  # it stands at its start
        (after,) = await _publish(bootstrap, 1)
        async with asyncio.timeout(30):
            first = await stream.read()
        stream.cancel()
    assert first.id == after, "latest replayed an event published before it opened"

    # a token taken at the batch's last record resumes with what followed it
    resumed = await collect(on, WHO, 1, pb.SubscribeRequest(token=everything[-1].token))
    assert [e.id for e in resumed] == [after]
