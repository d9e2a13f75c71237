"""Forged position tokens are refused with INVALID_ARGUMENT on ``start``, never waited
on: partitions the topic does not have (9999), negative or out-of-range partitions and
offsets (-1, 2**70), no entries, more entries than the topics have partitions, and a
token nested 100,000 arrays deep (which made the decoder recurse: INTERNAL)."""

import base64
import json

import grpc
import pytest

from certseal.events import LICENCE_EVENTS
from certseal.v1 import feed_pb2 as pb
from tests.feed.test_service import channel_as, collect, entitle, feed_app

__all__ = ["channel_as", "feed_app"]  # the fixtures this module uses

DEPT = "91350100M000100Y43"


def _token(data: object) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def _cluster(feed_app) -> str:
    return await feed_app.service.cluster_id()


def _forged(cluster: str, partitions: int) -> dict[str, object]:
    def at(entries):
        return _token({"v": 2, "c": cluster, "p": entries})

    every = [[LICENCE_EVENTS, p, 0] for p in range(partitions)]
    return {
        "partition 9999": at([[LICENCE_EVENTS, 9999, 0]]),
        "partition -1": at([[LICENCE_EVENTS, -1, 0]]),
        "partition 2**70": at([[LICENCE_EVENTS, 2**70, 0]]),
        "offset -1": at([[LICENCE_EVENTS, 0, -1]]),
        "offset 2**70": at([[LICENCE_EVENTS, 0, 2**70]]),
        "no entries": at([]),
        "3,000 entries": at([[LICENCE_EVENTS, p, 0] for p in range(3000)]),
        "more entries than partitions": at(
            every + [["certseal.seal-events.v1", p, 0] for p in range(64)]
        ),
        "nested": _token(b"[" * 100000 + b"]" * 100000),
    }


@pytest.mark.parametrize(
    "case",
    [
        "partition 9999",
        "partition -1",
        "partition 2**70",
        "offset -1",
        "offset 2**70",
        "no entries",
        "3,000 entries",
        "more entries than partitions",
        "nested",
    ],
)
async def test_a_forged_token_is_refused_at_once(stack, feed_app, channel_as, case):
    await entitle(channel_as, "integrator:forger", [DEPT], ["licence.*"])
    token = _forged(await _cluster(feed_app), stack.topic_partitions)[case]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await collect(
            channel_as,
            "integrator:forger",
            1,
            pb.SubscribeRequest(token=token),
            within=10,
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert "start" in err.value.details()
