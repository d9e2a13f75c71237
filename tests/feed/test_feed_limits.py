"""The atk-feed rules over gRPC and the real broker, beyond the attack's own examples:
every list of a filter or an entitlement is bounded (subscription, webhook,
entitlement), an entitlement that lets nothing through refuses a webhook and ends a
live stream, and a holder app is refused with why."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets

import grpc
import pytest

from certseal.crypto import KeyWrapper
from certseal.errors import CertsealError, ErrorKind
from certseal.rpc import Caller
from certseal.v1 import feed_pb2 as pb
from certseal.v1 import feed_pb2_grpc
from services.feed.domain import Entitlement, Filter
from services.feed.service import FeedService
from tests.conftest import fresh_uscc
from tests.feed.test_atk_feed import lineage_of, publish
from tests.feed.test_service import (
    channel_as,
    collect,
    entitle,
    feed_app,
    receiver,
    withdraw,
)

__all__ = ["channel_as", "feed_app", "receiver"]  # fixtures used here

OPERATOR = Caller("operator", "admin")
TOO_MANY = [f"v{n}" for n in range(1001)]


@pytest.mark.parametrize("name", ["departments", "licence_types", "event_types"])
async def test_every_list_is_bounded_wherever_it_is_given(channel_as, name):
    """A subscription's filter, a webhook's filter and an entitlement: each list of
    more than 1,000 values is INVALID_ARGUMENT naming it, before its values are
    looked at."""
    integrator = f"integrator:lim-{secrets.token_hex(3)}"
    await entitle(channel_as, integrator, ["*"], ["licence.*"])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await collect(
            channel_as, integrator, 1, pb.SubscribeRequest(**{name: TOO_MANY})
        )
    refusals = [err.value]
    async with channel_as("operator:admin") as channel:
        admin = feed_pb2_grpc.EventFeedAdminStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await admin.RegisterWebhook(
                pb.RegisterWebhookRequest(
                    name=f"lim-{secrets.token_hex(3)}",
                    integrator=integrator,
                    url="https://localhost/hook",
                    secret=b"s" * 32,
                    **{name: TOO_MANY},
                )
            )
        refusals.append(err.value)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await admin.SetEntitlement(
                pb.SetEntitlementRequest(
                    entitlement=pb.Entitlement(
                        integrator=integrator, **{name: TOO_MANY}
                    )
                )
            )
        refusals.append(err.value)
    for refused in refusals:
        assert refused.code() is grpc.StatusCode.INVALID_ARGUMENT, refused.details()
        assert dict(refused.trailing_metadata())["certseal-error-field"] == name
        assert "at most 1000" in (refused.details() or "")


async def test_a_webhook_is_not_registered_under_an_entitlement_that_lets_nothing_through(
    channel_as,
):
    integrator = f"integrator:lim-{secrets.token_hex(3)}"
    await entitle(channel_as, integrator, ["*"], ["licence.*"])
    await withdraw(channel_as, integrator)
    async with channel_as("operator:admin") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await feed_pb2_grpc.EventFeedAdminStub(channel).RegisterWebhook(
                pb.RegisterWebhookRequest(
                    name=f"lim-{secrets.token_hex(3)}",
                    integrator=integrator,
                    url="https://localhost/hook",
                    secret=b"s" * 32,
                )
            )
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "was withdrawn (certseal feed revoke" in (err.value.details() or "")


async def test_a_holder_app_is_told_it_does_not_read_the_feed(channel_as):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await collect(channel_as, f"app:lim-{secrets.token_hex(3)}", 1, within=30)
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "integrator:<name> certificate" in (err.value.details() or "")


async def test_a_live_stream_ends_once_its_entitlement_lets_nothing_through(
    stack, feed_app
):
    """The operator withdraws every right of a subscribed integrator: the stream
    ends with PERMISSION_DENIED at its next event, not open for ever."""
    service = FeedService(
        store=feed_app.store,
        kafka=stack.config.kafka.settings("lim-feed"),
        wrapper=KeyWrapper(os.urandom(32)),
        webhooks=feed_app.webhooks,
        entitlement_refresh_s=0.0,
    )
    department = fresh_uscc()
    lineage = lineage_of(department)
    await publish(stack, [(lineage, department)] * 2)
    integrator = Caller("integrator", f"lim-live-{secrets.token_hex(3)}")
    every = frozenset({"*"})
    entitled = Entitlement(str(integrator), frozenset({department}), every, every)
    await service.set_entitlement(OPERATOR, entitled)
    async with contextlib.aclosing(
        service.subscribe(integrator, Filter(), start="earliest")
    ) as stream:
        async with asyncio.timeout(60):
            await anext(stream)
        await service.remove_entitlement(OPERATOR, str(integrator))
        with pytest.raises(CertsealError) as err:
            async with asyncio.timeout(60):
                await anext(stream)
    assert err.value.kind is ErrorKind.PERMISSION_DENIED
    assert "was withdrawn (certseal feed revoke" in str(err.value)


async def test_a_replay_applies_the_webhooks_filter_as_it_stands_and_is_audited(
    stack, feed_app, channel_as, receiver
):
    """A parked event whose department the webhook's filter (replaced since) no longer
    names is not posted by a replay: skipped, dropped from the parked list, and the
    replay's audit row counts it apart; one still selected is delivered."""
    dropped, kept = fresh_uscc(), fresh_uscc()
    integrator = f"integrator:lim-replay-{secrets.token_hex(3)}"
    await entitle(channel_as, integrator, ["*"], ["licence.*"])
    endpoint, url = await receiver(failures=-1)
    name = f"lim-replay-{secrets.token_hex(3)}"

    def webhook(departments: list[str]) -> pb.RegisterWebhookRequest:
        return pb.RegisterWebhookRequest(
            name=name,
            integrator=integrator,
            url=url,
            secret=b"r" * 32,
            departments=departments,
        )

    async with channel_as("operator:admin") as channel:
        admin = feed_pb2_grpc.EventFeedAdminStub(channel)
        await admin.RegisterWebhook(webhook([dropped, kept]))
        ids = await publish(
            stack, [(lineage_of(dropped), dropped), (lineage_of(kept), kept)]
        )
        async with asyncio.timeout(60):
            while True:
                parked = (
                    await admin.ListParkedDeliveries(
                        pb.ListParkedDeliveriesRequest(webhook=name)
                    )
                ).parked
                if len(parked) == 2:
                    break
                await asyncio.sleep(0.1)
        await admin.RegisterWebhook(webhook([kept]))
        endpoint.failures = 0
        replay = await admin.ReplayParkedDeliveries(
            pb.ReplayParkedDeliveriesRequest(webhook=name)
        )
        left = await admin.ListParkedDeliveries(
            pb.ListParkedDeliveriesRequest(webhook=name)
        )
    assert (replay.delivered, replay.still_failing, replay.skipped) == (1, 0, 1)
    assert [json.loads(body)["id"] for body, _ in endpoint.received] == [ids[1]]
    assert list(left.parked) == []
    details = await feed_app.pool.fetchval(
        "select details from audit_log where action = 'feed.replay' and subject = $1",
        name,
    )
    audited = json.loads(details) if isinstance(details, str) else details
    assert (audited["delivered"], audited["skipped"]) == (1, 1)
    assert audited["skipped_events"] == [ids[0]]


@pytest.mark.parametrize(
    ("asked", "field"),
    [
        ({"departments": ["other"]}, "departments"),  # a department not entitled
        ({"event_types": ["seal.*"]}, "event_types"),  # an event type not entitled
        ({"licence_types": ["other"]}, "licence_types"),
    ],
)
async def test_a_webhook_filter_outside_the_entitlement_is_refused_as_a_subscriptions(
    channel_as, asked, field
):
    """A subscription asking for what its entitlement never lets through is refused
    (a silently empty subscription is worse than a refusal); a webhook asking for it
    was registered, and posted nothing of it for good. It is refused the same way,
    naming the field; one within the entitlement is registered."""
    entitled_dept, other_dept = fresh_uscc(), fresh_uscc()
    entitled_type, other_type = f"{entitled_dept}001", f"{other_dept}001"
    integrator = f"integrator:lim-within-{secrets.token_hex(3)}"
    await entitle(
        channel_as, integrator, [entitled_dept], ["licence.*"], [entitled_type]
    )
    values = {"departments": other_dept, "licence_types": other_type}
    request = pb.RegisterWebhookRequest(
        name=f"lim-within-{secrets.token_hex(3)}",
        integrator=integrator,
        url="https://localhost:9/hook",
        secret=b"w" * 32,
        **{
            key: [values.get(key, v) if v == "other" else v for v in given]
            for key, given in asked.items()
        },
    )
    async with channel_as("operator:admin") as channel:
        admin = feed_pb2_grpc.EventFeedAdminStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await admin.RegisterWebhook(request)
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        trailing = dict(err.value.trailing_metadata() or ())
        assert trailing["certseal-error-field"] == field, err.value.details()
        assert f"{integrator} is entitled to" in (err.value.details() or "")
        request.ClearField(field)
        request.departments[:] = [entitled_dept]
        await admin.RegisterWebhook(request)  # within it: registered
