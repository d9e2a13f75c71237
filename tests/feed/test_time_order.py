"""``certseal events tail --since earliest`` (a subscription from the earliest kept
events) delivered topic by topic: every kept licence event of a department, then its
key events, although a key was rotated between two issuances. It now delivers one
stream in the events' time order across the topics (services/feed/merge.py), on the
real broker."""

from __future__ import annotations

import asyncio

from certseal.v1 import feed_pb2 as pb
from certseal.v1 import feed_pb2_grpc
from certseal.v1 import issuer_pb2 as ipb
from tests.conftest import issue_request, make_department
from tests.feed.test_service import channel_as, feed_app  # noqa: F401 (fixtures)


async def test_earliest_events_of_several_topics_come_in_time_order(
    operator,
    connect,
    channel_as,  # noqa: F811
):
    dept = await make_department(operator, connect)  # key 1: a trust event
    first = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    await operator.admin.RotateSigningKey(
        ipb.RotateSigningKeyRequest(department_code=dept.code, suite="es256")
    )
    second = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    # the department's events: key activated, licence issued, key activated and the
    # first retired (the rotation), licence issued
    wanted = 5

    async def kept() -> list[pb.FeedEvent]:
        events = []
        async with channel_as("operator:admin") as channel:
            stream = feed_pb2_grpc.EventFeedStub(channel).Subscribe(
                pb.SubscribeRequest(earliest=True, departments=[dept.code])
            )
            async with asyncio.timeout(60):
                async for event in stream:
                    events.append(event)
                    if len(events) == wanted:
                        break
            stream.cancel()
        return events

    # the outbox relay publishes after each commit: a subscription can only order
    # what is on the topics when it starts, so the first reading waits for all five
    await kept()
    events = await kept()
    shown = [(e.type.rsplit(".", 2)[-2:], e.time.ToDatetime()) for e in events]
    times = [e.time.ToDatetime() for e in events]
    assert times == sorted(times), shown
    kinds = [e.type.rsplit(".", 2)[-2] for e in events]  # key, licence
    # key, licence, key (the rotation), licence: interleaved, as they happened
    assert kinds.index("licence") < len(kinds) - 1 - kinds[::-1].index("key"), shown
    assert {e.subject for e in events} >= {first.lineage, second.lineage}
