"""``certseal events tail --since earliest`` (a subscription from the earliest kept
events) delivered partition by partition, topic by topic: every kept licence event,
then the key events, although a key was rotated between two issuances. It now
delivers one stream in the events' time across partitions and topics
(services/feed/merge.py), on the real broker.

On a broker of its own, with the events' times chosen: on the shared test broker other
tests publish into the same partitions, and a partition keeps its own offset order (a
token names a position per partition), so their events' times would decide the order
too."""

import datetime as dt
from typing import Any

from aiokafka import AIOKafkaProducer

from certseal.events import LICENCE_EVENTS, TRUST_EVENTS, cloudevent, new_event_id
from certseal.v1 import events_pb2
from tests.feed.test_latest_start import own_broker  # noqa: F401 (fixture)
from tests.feed.test_service import collect, entitle
from tests.feed.test_tokens import DEPT, _channel_as

WHO = "integrator:in-time"
T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


def _event(topic: str, event_type: str, key: str, at: int) -> tuple[str, Any]:
    """A DEPT event of ``event_type`` on ``topic`` whose time is T0 + ``at`` s."""
    event_id = new_event_id()
    if topic == LICENCE_EVENTS:
        message: Any = events_pb2.LicenceEvent(
            event_id=event_id, type=event_type, lineage=key
        )
    else:
        message = events_pb2.TrustEvent(
            event_id=event_id, type=event_type, department_code=DEPT
        )
    return event_id, cloudevent(
        topic=topic,
        key=key,
        message=message,
        event_id=event_id,
        event_type=event_type,
        source=DEPT,
        time=T0 + dt.timedelta(seconds=at),
    )


def _licence(at: int) -> tuple[str, Any]:
    lineage = f"1.2.156.3.2.1.T001.{DEPT}.{at:06d}"
    return _event(LICENCE_EVENTS, "licence.issued", lineage, at)


def _key(at: int) -> tuple[str, Any]:
    return _event(TRUST_EVENTS, "key.activated", f"{DEPT}/es256-{at}", at)


async def test_earliest_events_of_several_partitions_and_topics_come_in_time_order(
    stack,
    own_broker,  # noqa: F811
):
    feed, bootstrap = own_broker
    on = _channel_as(stack, feed)
    await entitle(on, WHO, [DEPT], ["licence.*", "key.*"])
    # written partition by partition, topic by topic, as a consumer would fetch them:
    # licence partition 0 at 1, 4, 7 s; licence partition 1 at 2, 5 s; keys at 3, 6 s
    plan = [(_licence, 0, [1, 4, 7]), (_licence, 1, [2, 5]), (_key, 0, [3, 6])]
    at_time: dict[str, int] = {}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for make, partition, times in plan:
            for at in times:
                event_id, record = make(at)
                await producer.send_and_wait(
                    record.topic,
                    key=record.key,
                    value=record.value,
                    partition=partition,
                    headers=[(k, v.encode()) for k, v in record.headers.items()],
                )
                at_time[event_id] = at
    finally:
        await producer.stop()
    events = await collect(on, WHO, len(at_time))
    assert [at_time[e.id] for e in events] == [1, 2, 3, 4, 5, 6, 7], [
        (e.type, at_time.get(e.id)) for e in events
    ]
