"""An outsider's attack on the integrator event feed (atk-feed), on the real embedded
broker and PostgreSQL: a withdrawn right must stop deliveries however slowly the
subscriber reads or however long a webhook endpoint is down, a replay of parked
deliveries is a delivery under today's entitlement, a holder app is no integrator, a
filter too large to apply is refused, and an entitlement that lets nothing through is
no open stream that never delivers. What held: an integrator cannot set its own
entitlement, and another integrator's token is a position, not a right."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import os
import secrets

import grpc
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry

from certseal.crypto import KeyWrapper
from certseal.events import LICENCE_EVENTS, cloudevent, new_event_id
from certseal.identifiers import make_uscc
from certseal.rpc import Caller
from certseal.v1 import events_pb2, feed_pb2_grpc
from certseal.v1 import feed_pb2 as pb
from services.feed.domain import Entitlement, Filter
from services.feed.events import FEED_TOPICS
from services.feed.metrics import WebhookMetrics
from services.feed.service import FeedService
from tests.conftest import fresh_uscc
from tests.feed.test_service import (
    channel_as,
    collect,
    entitle,
    feed_app,
    receiver,
    withdraw,
)
from tests.feed.test_webhook_retries import (
    HOUR,
    DownReceiver,
    FakeClock,
    deliver_until,
    engine,
    serve,
    webhook_for,
)

__all__ = ["channel_as", "feed_app", "receiver", "serve"]  # fixtures used here

OPERATOR = Caller("operator", "admin")


async def publish(stack, events: list[tuple[str, str]]) -> list[str]:
    """One licence event per ``(lineage, department)``, in order; their ids. Events
    of one lineage share a partition, whatever department they name."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.config.kafka.bootstrap_servers)
    await producer.start()
    ids = []
    try:
        for version, (lineage, department) in enumerate(events, start=1):
            event_id = new_event_id()
            record = cloudevent(
                topic=LICENCE_EVENTS,
                key=lineage,
                message=events_pb2.LicenceEvent(
                    event_id=event_id,
                    type="licence.amended",
                    lineage=lineage,
                    lineage_version=version,
                ),
                event_id=event_id,
                event_type="licence.amended",
                source=department,
                time=dt.datetime.now(dt.UTC),
            )
            await producer.send_and_wait(
                record.topic,
                key=record.key,
                value=record.value,
                headers=[(k, v.encode()) for k, v in record.headers.items()],
            )
            ids.append(event_id)
    finally:
        await producer.stop()
    return ids


def lineage_of(department: str) -> str:
    return f"1.2.156.3.2.1.T001.{department}.{secrets.randbelow(10**6):06d}"


async def token_at_ends_but(stack, cluster: str, token: str) -> str:
    """A (version 2) token standing at the end of every partition but the ones whose
    events ``token`` had delivered, where it stands as ``token`` does: a resumed
    subscription's first fetch is then the rest of that lineage."""
    data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    consumer = stack.config.kafka.settings("atk-feed-ends").consumer(group_id=None)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [
            TopicPartition(topic, p)
            for topic in FEED_TOPICS
            for p in consumer.partitions_for_topic(topic) or ()
        ]
        ends = {
            (tp.topic, tp.partition): o
            for tp, o in (await consumer.end_offsets(partitions)).items()
        }
        begins = {
            (tp.topic, tp.partition): o
            for tp, o in (await consumer.beginning_offsets(partitions)).items()
        }
    finally:
        await consumer.stop()
    positions = dict(ends)
    for topic, partition, offset, *_ in data["p"]:
        if offset > begins[(topic, partition)]:  # a partition it read in
            positions[(topic, partition)] = offset
    entries = [[t, p, o] for (t, p), o in sorted(positions.items())]
    raw = json.dumps({"v": 2, "c": cluster, "p": entries}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def rereading(stack, feed_app, client: str) -> FeedService:
    """A feed service that reads an entitlement again at every chance (refresh 0)."""
    return FeedService(
        store=feed_app.store,
        kafka=stack.config.kafka.settings(client),
        wrapper=KeyWrapper(os.urandom(32)),
        webhooks=feed_app.webhooks,
        entitlement_refresh_s=0.0,
    )


async def quiet_stream(service: FeedService, caller: Caller, wanted: Filter):
    """A subscription from latest, standing at its start, with nothing to deliver:
    the stream and the task reading its first event."""
    opened = asyncio.Event()

    async def subscribed() -> None:
        opened.set()

    stream = service.subscribe(caller, wanted, start="latest", opened=subscribed)
    reading = asyncio.ensure_future(anext(stream))
    async with asyncio.timeout(60):
        await opened.wait()
    return stream, reading


async def test_a_withdrawn_department_stops_a_slow_subscribers_deliveries(
    stack, feed_app
):
    """A subscriber that reads slowly still holds the rest of a fetched batch (up to
    500 events) in the feed; once the operator withdraws a department, none of its
    events may be delivered any more, whatever was fetched before. The feed re-read
    the entitlement only between batches: the rest of the batch went out under the
    withdrawn right, for as long as the subscriber took to read it."""
    service = rereading(stack, feed_app, "atk-feed")  # only the batch delays it
    withdrawn, kept = fresh_uscc(), fresh_uscc()
    lineage = lineage_of(withdrawn)
    ids = await publish(stack, [(lineage, withdrawn)] * 4 + [(lineage, kept)])
    integrator = Caller("integrator", f"atk-slow-{secrets.token_hex(3)}")
    every = frozenset({"*"})
    await service.set_entitlement(
        OPERATOR,
        Entitlement(str(integrator), frozenset({withdrawn, kept}), every, every),
    )
    async with contextlib.aclosing(
        service.subscribe(integrator, Filter(), start="earliest")
    ) as first:
        async with asyncio.timeout(60):
            delivered = await anext(first)
    assert delivered.headers["ce_id"] == ids[0]
    token = await token_at_ends_but(stack, await service.cluster_id(), delivered.token)
    async with contextlib.aclosing(
        service.subscribe(integrator, Filter(), start="token", token=token)
    ) as slow:
        async with asyncio.timeout(60):
            assert (await anext(slow)).headers["ce_id"] == ids[1]
        # the subscriber is slow; meanwhile the operator withdraws the department
        await service.set_entitlement(
            OPERATOR, Entitlement(str(integrator), frozenset({kept}), every, every)
        )
        async with asyncio.timeout(60):
            after = await anext(slow)
    assert after.headers["ce_source"] == f"/departments/{kept}", (
        "an event of a withdrawn department was delivered"
    )
    assert after.headers["ce_id"] == ids[4]


async def test_a_quiet_stream_ends_once_every_right_is_withdrawn(stack, feed_app):
    """trial56: after ``certseal feed revoke``, a subscriber's stream with nothing to
    deliver stayed open until an event came, and then ended saying the entitlement
    "names no department", as if an operator had mistyped one. A quiet stream ends
    within the refresh too, saying the rights were withdrawn."""
    from certseal.errors import CertsealError

    service = rereading(stack, feed_app, "atk-feed-quiet")
    integrator = Caller("integrator", f"atk-quiet-{secrets.token_hex(3)}")
    every = frozenset({"*"})
    await service.set_entitlement(
        OPERATOR, Entitlement(str(integrator), frozenset({fresh_uscc()}), every, every)
    )
    stream, reading = await quiet_stream(service, integrator, Filter())
    await service.remove_entitlement(OPERATOR, str(integrator))
    with pytest.raises(CertsealError) as ended:
        async with asyncio.timeout(30):  # a bound on a hang, not a latency figure
            await reading
    await stream.aclose()
    assert ended.value.kind.value == "PERMISSION_DENIED"
    assert ended.value.message.startswith(
        f"every right of {integrator} to the event feed was withdrawn (certseal feed "
        "revoke"
    ), ended.value.message


@pytest.mark.parametrize("field", ["departments", "event_types"])
async def test_a_stream_its_narrowed_entitlement_no_longer_covers_ends(
    stack, feed_app, field
):
    """An operator narrows (not withdraws) an integrator's entitlement so that a
    running subscription's filter is no longer within it (the one department, or
    the one event type, it asked for is taken away; others are kept): subscribed
    now, the same filter would be refused. The stream stayed open, quiet for good;
    it ends within the refresh, PERMISSION_DENIED naming what is no longer covered,
    as a narrowing that still covers the filter lets it run
    (test_a_withdrawn_department_stops_a_slow_subscribers_deliveries)."""
    from certseal.errors import CertsealError

    service = rereading(stack, feed_app, "atk-feed-narrowed")
    integrator = str(Caller("integrator", f"atk-narrow-{secrets.token_hex(3)}"))
    every = frozenset({"*"})
    gone, kept = fresh_uscc(), fresh_uscc()
    departments = frozenset({gone, kept})
    types = frozenset({"licence.revoked", "licence.issued"})
    await service.set_entitlement(
        OPERATOR, Entitlement(integrator, departments, every, types)
    )
    if field == "departments":
        wanted = Filter(departments=frozenset({gone}))
        narrower = Entitlement(integrator, frozenset({kept}), every, types)
    else:
        wanted = Filter(event_types=frozenset({"licence.revoked"}))
        narrower = Entitlement(
            integrator, departments, every, frozenset({"licence.issued"})
        )
    caller = Caller("integrator", integrator.removeprefix("integrator:"))
    stream, reading = await quiet_stream(service, caller, wanted)
    await service.set_entitlement(OPERATOR, narrower)
    with pytest.raises(CertsealError) as ended:
        async with asyncio.timeout(30):  # a bound on a hang, not a latency figure
            await reading
    await stream.aclose()
    assert ended.value.kind.value == "PERMISSION_DENIED"
    assert ended.value.field == field
    assert ended.value.message.startswith(
        f"the entitlement of {integrator} was narrowed since this subscription began "
        "(subscribe again with a filter within it, from the last position token): "
    ), ended.value.message
    assert "subscribe again with a filter within it" in ended.value.message
    # subscribed now, the same filter is refused at once, as the stream said
    with pytest.raises(CertsealError) as refused:
        await anext(service.subscribe(caller, wanted, start="latest"))
    assert refused.value.kind.value == "INVALID_ARGUMENT"
    assert refused.value.field == field


async def test_a_withdrawn_department_stops_a_failing_webhooks_deliveries(stack, serve):
    """A receiver is down for three hours; an hour in, the operator withdraws the
    department. The events that were waiting behind the failing one (never attempted
    before the withdrawal) must not be delivered when the receiver comes back."""
    clock = FakeClock()
    withdrawn, kept = fresh_uscc(), fresh_uscc()
    receiver = DownReceiver(clock, up_at=clock.now + 3 * HOUR)
    webhook = webhook_for(withdrawn, await serve(receiver))
    webhook = webhook.__class__(
        webhook.name, webhook.integrator, webhook.url, Filter(), webhook.secret
    )
    lineage = lineage_of(withdrawn)
    ids = await publish(stack, [(lineage, withdrawn)] * 3 + [(lineage, kept)])
    every = frozenset({"*"})
    rights = {"departments": frozenset({withdrawn, kept})}
    withdraw_at = clock.now + HOUR

    async def entitlement() -> Entitlement:
        return Entitlement(webhook.integrator, rights["departments"], every, every)

    async def sleep(seconds: float) -> None:
        await clock.sleep(seconds)
        if clock.now >= withdraw_at:
            rights["departments"] = frozenset({kept})  # the operator's SetEntitlement

    hooks = engine(stack, clock, WebhookMetrics(CollectorRegistry()))
    hooks._sleep = sleep
    await deliver_until(
        hooks.delivery(webhook, entitlement),
        lambda: ids[3] in [json.loads(b)["id"] for b in receiver.accepted],
    )
    accepted = [json.loads(b)["id"] for b in receiver.accepted]
    assert ids[1] not in accepted and ids[2] not in accepted, accepted


async def test_an_event_withdrawn_while_it_is_retried_is_neither_delivered_nor_parked(
    stack, serve
):
    """The same withdrawal, for the event the endpoint keeps failing: each retry is a
    delivery attempt, so once the right is gone the event is skipped (not delivered
    when the receiver comes back, not parked for a replay), and the events after it
    that are still allowed go on."""
    clock = FakeClock()
    withdrawn, kept = fresh_uscc(), fresh_uscc()
    receiver = DownReceiver(clock, up_at=clock.now + 3 * HOUR)
    webhook = webhook_for(withdrawn, await serve(receiver))
    webhook = webhook.__class__(
        webhook.name, webhook.integrator, webhook.url, Filter(), webhook.secret
    )
    lineage = lineage_of(withdrawn)
    ids = await publish(stack, [(lineage, withdrawn), (lineage, kept)])
    every = frozenset({"*"})
    rights = {"departments": frozenset({withdrawn, kept})}
    withdraw_at = clock.now + HOUR

    async def entitlement() -> Entitlement:
        return Entitlement(webhook.integrator, rights["departments"], every, every)

    async def sleep(seconds: float) -> None:
        await clock.sleep(seconds)
        if clock.now >= withdraw_at:
            rights["departments"] = frozenset({kept})

    metrics = WebhookMetrics(CollectorRegistry())
    hooks = engine(stack, clock, metrics)
    hooks._sleep = sleep
    await deliver_until(
        hooks.delivery(webhook, entitlement),
        lambda: ids[1] in [json.loads(b)["id"] for b in receiver.accepted],
    )
    assert [json.loads(b)["id"] for b in receiver.accepted] == [ids[1]]
    assert metrics.parked.labels(webhook.name)._value.get() == 0


async def test_replaying_parked_deliveries_applies_todays_entitlement(
    stack, channel_as, receiver
):
    """Events parked while the integrator was entitled to a department, replayed
    after the operator withdrew it: a replay is a delivery, and what the
    integrator's entitlement lets through is applied at each delivery."""
    withdrawn, kept = fresh_uscc(), fresh_uscc()
    integrator = f"integrator:atk-replay-{secrets.token_hex(3)}"
    await entitle(channel_as, integrator, [withdrawn, kept], ["licence.*"])
    endpoint, url = await receiver(failures=-1)
    name = f"atk-replay-{secrets.token_hex(3)}"
    async with channel_as("operator:admin") as channel:
        admin = feed_pb2_grpc.EventFeedAdminStub(channel)
        await admin.RegisterWebhook(
            pb.RegisterWebhookRequest(
                name=name, integrator=integrator, url=url, secret=b"r" * 32
            )
        )
        (event_id,) = await publish(stack, [(lineage_of(withdrawn), withdrawn)])
        async with asyncio.timeout(60):
            while True:  # the feed retries for its half-second window, then parks
                parked = (
                    await admin.ListParkedDeliveries(
                        pb.ListParkedDeliveriesRequest(webhook=name)
                    )
                ).parked
                if parked:
                    break
                await asyncio.sleep(0.1)
        assert [p.event_id for p in parked] == [event_id]
        await entitle(channel_as, integrator, [kept], ["licence.*"])
        endpoint.failures = 0
        replay = await admin.ReplayParkedDeliveries(
            pb.ReplayParkedDeliveriesRequest(webhook=name)
        )
        left = await admin.ListParkedDeliveries(
            pb.ListParkedDeliveriesRequest(webhook=name)
        )
    assert [json.loads(body)["id"] for body, _ in endpoint.received] == []
    assert replay.delivered == 0
    assert (replay.skipped, replay.still_failing, list(left.parked)) == (1, 0, [])


async def test_an_integrator_cannot_set_its_own_entitlement(channel_as):
    """EventFeedAdmin is the operators': an integrator widening itself is refused."""
    name = f"integrator:atk-self-{secrets.token_hex(3)}"
    await entitle(channel_as, name, [fresh_uscc()], ["licence.issued"])
    async with channel_as(name) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await feed_pb2_grpc.EventFeedAdminStub(channel).SetEntitlement(
                pb.SetEntitlementRequest(
                    entitlement=pb.Entitlement(
                        integrator=name,
                        departments=["*"],
                        licence_types=["*"],
                        event_types=["*"],
                    )
                )
            )
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_another_integrators_token_delivers_only_the_callers_events(
    stack, channel_as
):
    """A token is a position, not a right: integrator B resuming with A's token gets
    B's department's events after that position, never A's."""
    a_dept, b_dept = fresh_uscc(), fresh_uscc()
    lineage = lineage_of(a_dept)  # one partition for both departments' events
    ids = await publish(
        stack, [(lineage, a_dept), (lineage, a_dept), (lineage, b_dept)]
    )
    tag = secrets.token_hex(3)
    a, b = f"integrator:atk-a-{tag}", f"integrator:atk-b-{tag}"
    await entitle(channel_as, a, [a_dept], ["licence.*"])
    await entitle(channel_as, b, [b_dept], ["licence.*"])
    (first,) = await collect(channel_as, a, 1)
    assert first.id == ids[0]
    (got,) = await collect(channel_as, b, 1, pb.SubscribeRequest(token=first.token))
    assert (got.id, got.source) == (ids[2], f"/departments/{b_dept}")


async def test_a_holder_app_named_like_an_integrator_gets_none_of_its_events(
    stack, channel_as
):
    """An integrator entitled under its own ``integrator:<name>`` identity (never an
    ``app:`` one, so no old certificate to honour); a holder app (``app:<name>``, a
    wallet backend, another caller kind) that happens to bear the same name must not
    read that integrator's feed."""
    department = fresh_uscc()
    name = f"atk-twin-{secrets.token_hex(3)}"
    await entitle(channel_as, f"integrator:{name}", [department], ["licence.*"])
    await publish(stack, [(lineage_of(department), department)])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await collect(channel_as, f"app:{name}", 1, within=30)
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED, err.value.details()


async def test_an_entitlement_that_lets_nothing_through_is_refused(stack, channel_as):
    """The operator withdrew every right (RemoveEntitlement): a new subscription is
    PERMISSION_DENIED, as one without an entitlement is, not a stream that silently
    never delivers."""
    integrator = f"integrator:atk-none-{secrets.token_hex(3)}"
    await entitle(channel_as, integrator, ["*"], ["licence.*"])
    await withdraw(channel_as, integrator)
    department = fresh_uscc()
    await publish(stack, [(lineage_of(department), department)])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await collect(channel_as, integrator, 1, within=10)
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED, err.value.details()


def _departments(count: int) -> list[str]:
    """``count`` distinct well-formed department codes."""
    return [make_uscc(f"11440300{n:09d}") for n in range(count)]


async def test_a_filter_too_large_to_apply_is_refused(channel_as):
    """An integrator entitled to every department asks for 50,000 of them (within
    the 1 MiB request limit): refused at once, INVALID_ARGUMENT naming
    ``departments``, rather than a subscription whose every event blocks the feed
    for everyone (eight such streams per integrator)."""
    integrator = f"integrator:atk-wide-{secrets.token_hex(3)}"
    await entitle(channel_as, integrator, ["*"], ["licence.*"])
    request = pb.SubscribeRequest(earliest=True, departments=_departments(50_000))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await collect(channel_as, integrator, 1, request, within=30)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert dict(err.value.trailing_metadata())["certseal-error-field"] == "departments"
