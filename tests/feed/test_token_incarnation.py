"""Position tokens name the topic's incarnation, not only the cluster: a feed topic
deleted and recreated on the same broker and refilled past a token's offsets is
detected on resume (FAILED_PRECONDITION saying what to do) instead of resuming
mid-partition; within one incarnation a token still resumes with exactly the following
events, also a version-2 token (offsets only). On a broker of its own, so deleting a
topic touches no other test."""

import base64
import copy
import json

import grpc
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from certseal.events import LICENCE_EVENTS, default_topics
from certseal.kafka import ensure_topics
from certseal.v1 import feed_pb2 as pb
from services.devstack import DevStack
from services.feed.app import FeedApp
from tests.feed.test_service import collect, entitle
from tests.feed.test_tokens import DEPT, _channel_as, _publish

WHO = "integrator:incarnation"


@pytest.fixture(scope="module")
async def own_broker(stack, config, tmp_path_factory):
    """A feed on a new embedded broker of its own; the broker's bootstrap address."""
    other = DevStack(tmp_path_factory.mktemp("incarnation"), copy.deepcopy(config))
    other.topic_partitions = stack.topic_partitions
    bootstrap = await other.start_broker()
    feed = FeedApp(other.config, listen="127.0.0.1:0")
    await feed.start()
    yield feed, bootstrap, other.topic_partitions
    await feed.stop(grace=1)
    other.stop()


def _admin(bootstrap: str) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap)


async def _recreate(bootstrap: str, partitions: int) -> None:
    """Delete the licence topic and create it again (certseal's topic creation)."""
    admin = _admin(bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([LICENCE_EVENTS])
    finally:
        await admin.close()
    specs = [t for t in default_topics(partitions) if t.name == LICENCE_EVENTS]
    assert await ensure_topics(lambda: _admin(bootstrap), specs) == [LICENCE_EVENTS]


def _data(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def _as_version_2(token: str) -> str:
    """The same positions as a version-2 token (offsets only, before fingerprints)."""
    data = _data(token)
    data["v"] = 2
    data["p"] = [entry[:3] for entry in data["p"]]
    raw = json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_a_token_of_a_recreated_topic_is_refused_and_one_incarnation_resumes(
    stack, own_broker
):
    feed, bootstrap, partitions = own_broker
    on = _channel_as(stack, feed)
    await entitle(on, WHO, [DEPT], ["licence.*"])
    first = await _publish(bootstrap, 3)
    received = await collect(on, WHO, 3)
    assert [e.id for e in received] == first
    token = received[-1].token
    # the partition read carries the fingerprint of the record the token follows
    (entry,) = [e for e in _data(token)["p"] if e[2]]
    assert _data(token)["v"] == 3 and entry[2] == 3 and len(entry[3]) == 11

    # one incarnation: exactly the following events, from a v3 and from a v2 token
    more = await _publish(bootstrap, 2)
    resumed = await collect(on, WHO, 2, pb.SubscribeRequest(token=token))
    assert [e.id for e in resumed] == more
    again = await collect(on, WHO, 1, pb.SubscribeRequest(token=_as_version_2(token)))
    assert [e.id for e in again] == more[:1]
    assert _data(again[0].token)["v"] == 3  # and the tokens it gives are version 3
    latest = resumed[-1].token

    # deleted, recreated on the same cluster, refilled past both tokens' offsets
    await _recreate(bootstrap, partitions)
    new = await _publish(bootstrap, 7)
    for old in (token, latest):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await collect(on, WHO, 1, pb.SubscribeRequest(token=old), within=20)
        assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        details = err.value.details()
        assert "deleted and recreated" in details
        assert "subscribe again from earliest" in details
        assert "drop events whose id you already hold" in details

    # what the message says to do: earliest, dropping the ids already held
    held = {e.id for e in received + resumed}
    replayed = await collect(on, WHO, 7, pb.SubscribeRequest(earliest=True))
    assert [e.id for e in replayed if e.id not in held] == new
    # and a token of the new incarnation resumes in it with exactly what follows
    newer = await _publish(bootstrap, 2)
    after = await collect(
        on, WHO, 2, pb.SubscribeRequest(token=replayed[3].token), within=20
    )
    assert [e.id for e in after] == new[4:6]
    rest = await collect(on, WHO, 2, pb.SubscribeRequest(token=replayed[-1].token))
    assert [e.id for e in rest] == newer
