"""Subscribe streams per integrator are bounded (issue 13, kind 7): above ``[feed]
max_subscriptions_per_integrator`` a new stream is RESOURCE_EXHAUSTED, other
integrators are not affected, and a slot is given back when a stream ends."""

from __future__ import annotations

import asyncio
import copy

import grpc
import pytest

from certseal.rpc import secure_channel
from certseal.v1 import feed_pb2 as pb
from certseal.v1 import feed_pb2_grpc
from services.feed.app import FeedApp
from tests.conftest import issue_request, make_department

LIMIT = 2


@pytest.fixture(scope="module")
async def limited_feed(stack, config, issuer):
    cfg = copy.deepcopy(config)
    cfg.feed.max_subscriptions_per_integrator = LIMIT
    app = FeedApp(cfg, listen="127.0.0.1:0")
    await app.start()
    yield app
    await app.stop(grace=1)


@pytest.fixture
async def channel_as(stack, limited_feed):
    channels: list[grpc.aio.Channel] = []

    def channel(identity: str) -> grpc.aio.Channel:
        ident = stack.ca.identity(identity)
        made = secure_channel(
            f"localhost:{limited_feed.port}",
            str(stack.ca.ca_file),
            str(ident.cert_file),
            str(ident.key_file),
        )
        channels.append(made)
        return made

    yield channel
    for made in channels:
        await made.close()


async def _entitle(channel_as, integrator: str, department: str) -> None:
    admin = feed_pb2_grpc.EventFeedAdminStub(channel_as("operator:admin"))
    await admin.SetEntitlement(
        pb.SetEntitlementRequest(
            entitlement=pb.Entitlement(
                integrator=integrator,
                departments=[department],
                licence_types=["*"],
                event_types=["licence.*"],
            )
        )
    )


async def _open(channel_as, identity: str, request=None):
    """A Subscribe stream that delivered its first event (so it holds its slot)."""
    stream = feed_pb2_grpc.EventFeedStub(channel_as(identity)).Subscribe(
        request or pb.SubscribeRequest(earliest=True)
    )
    async with asyncio.timeout(90):
        first = await stream.read()
    assert first.type == "cn.gov.certseal.licence.issued"
    return stream


async def test_subscriptions_per_integrator_are_bounded(channel_as, operator, connect):
    dept = await make_department(operator, connect)
    await dept.clients.issuer.IssueLicence(issue_request(dept))
    await _entitle(channel_as, "integrator:bounded", dept.code)
    await _entitle(channel_as, "integrator:neighbour", dept.code)
    # streams refused before they start hold no slot
    for _ in range(LIMIT + 1):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _open(
                channel_as, "integrator:bounded", pb.SubscribeRequest(token="x")
            )
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    streams = [await _open(channel_as, "integrator:bounded") for _ in range(LIMIT)]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _open(channel_as, "integrator:bounded")
    assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err.value.details() == (
        f"as: integrator:bounded has {LIMIT} subscriptions open, the most allowed; "
        "close one first"
    )
    # another integrator has its own slots
    neighbour = await _open(channel_as, "integrator:neighbour")
    # the streams still open keep delivering
    await dept.clients.issuer.IssueLicence(issue_request(dept))
    async with asyncio.timeout(90):
        assert (await streams[1].read()).type == "cn.gov.certseal.licence.issued"
    # a stream that ends gives its slot back
    streams[0].cancel()
    async with asyncio.timeout(90):
        while True:
            try:
                streams[0] = await _open(channel_as, "integrator:bounded")
                break
            except grpc.aio.AioRpcError as exc:
                assert exc.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
                await asyncio.sleep(0.05)  # the server sees the cancel shortly
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _open(channel_as, "integrator:bounded")
    assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    for stream in (*streams, neighbour):
        stream.cancel()
