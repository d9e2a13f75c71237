"""Webhook retries over hours, on the real broker and a real HTTPS receiver, with an
injected clock: a receiver down for three hours (the old budget gave up after about 25
seconds) gets every event, in order, nothing parked; one down for longer than the
window gets its event parked exactly at the window's end. Meanwhile the webhook is
marked failing in the metrics the alert reads."""

import asyncio
import datetime as dt
import json
import random
import secrets
import ssl

import pytest
from aiohttp import web
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from certseal.events import LICENCE_EVENTS, cloudevent, new_event_id
from certseal.v1 import events_pb2
from services.feed.domain import Entitlement, Filter, Webhook
from services.feed.egress import EgressPolicy
from services.feed.metrics import WebhookMetrics
from services.feed.signing import RetryPolicy
from services.feed.webhooks import WebhookEngine
from tests.conftest import fresh_uscc

HOUR = 3600.0
WINDOW = 24 * HOUR
POLICY = RetryPolicy(window_s=WINDOW, first_delay_s=1.0, max_delay_s=600.0)


class FakeClock:
    """Unix seconds that move only when the delivery sleeps."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds
        await asyncio.sleep(0)


class DownReceiver:
    """An HTTPS endpoint answering 503 until ``up_at`` (fake time), then 204."""

    def __init__(self, clock: FakeClock, up_at: float):
        self.clock = clock
        self.up_at = up_at
        self.attempts: list[float] = []
        self.accepted: list[bytes] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.attempts.append(self.clock.now)
        if self.clock.now < self.up_at:
            return web.Response(status=503)
        self.accepted.append(body)
        return web.Response(status=204)


@pytest.fixture
async def serve(stack):
    server = stack.ca.identity("service:webhook-receiver", server=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server.cert_file, server.key_file)
    runners = []

    async def start(receiver: DownReceiver) -> str:
        app = web.Application()
        app.router.add_post("/hook", receiver.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        runners.append(runner)
        return f"https://localhost:{site._server.sockets[0].getsockname()[1]}/hook"

    yield start
    for runner in runners:
        await runner.cleanup()


async def publish(stack, department: str, count: int) -> list[str]:
    """``count`` events of one lineage of ``department``, in order; their ids."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.config.kafka.bootstrap_servers)
    await producer.start()
    lineage = f"1.2.156.3.2.1.T001.{department}.000001"
    ids = []
    try:
        for version in range(1, count + 1):
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


def engine(stack, clock: FakeClock, metrics: WebhookMetrics) -> WebhookEngine:
    return WebhookEngine(
        kafka=stack.config.kafka.settings("test-webhook-retries"),
        ssl_context=ssl.create_default_context(cafile=str(stack.ca.ca_file)),
        retry=POLICY,
        egress=EgressPolicy(allowed_hosts=["localhost"]),
        metrics=metrics,
        clock=clock.time,
        sleep=clock.sleep,
        draw=random.Random(20).random,
    )


async def deliver_until(delivery, done, within: float = 60.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(delivery.run(stop))
    try:
        async with asyncio.timeout(within):
            while not done():
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def webhook_for(department: str, url: str) -> Webhook:
    return Webhook(
        f"retry-{secrets.token_hex(3)}",
        "integrator:retries",
        url,
        Filter(departments=frozenset({department})),
        b"s" * 32,
    )


async def everything() -> Entitlement:
    every = frozenset({"*"})
    return Entitlement("integrator:retries", every, every, every)


def sample(metrics: WebhookMetrics, name: str, metric: str) -> float:
    value = metrics.registry.get_sample_value(metric, {"webhook": name})
    return 0.0 if value is None else value


async def test_a_receiver_down_for_three_hours_gets_every_event_in_order(stack, serve):
    clock = FakeClock()
    department = fresh_uscc()
    receiver = DownReceiver(clock, up_at=clock.now + 3 * HOUR)
    webhook = webhook_for(department, await serve(receiver))
    metrics = WebhookMetrics(CollectorRegistry())
    ids = await publish(stack, department, 3)
    failing_seen = []

    async def watching_sleep(seconds: float) -> None:
        failing_seen.append(sample(metrics, webhook.name, "certseal_webhook_failing"))
        await clock.sleep(seconds)

    hooks = engine(stack, clock, metrics)
    hooks._sleep = watching_sleep
    delivery = hooks.delivery(webhook, everything)
    await deliver_until(delivery, lambda: len(receiver.accepted) == 3)

    assert [json.loads(b)["id"] for b in receiver.accepted] == ids  # in order
    first_failure = receiver.attempts[0]
    down = [t for t in receiver.attempts if t < receiver.up_at]
    assert receiver.up_at - first_failure == 3 * HOUR
    # backoff: each gap is the exponential delay less at most half of it (jitter),
    # growing from 1 s to the 600 s cap; far past the old ~25 s budget
    gaps = [
        b - a for a, b in zip(receiver.attempts, receiver.attempts[1:], strict=False)
    ]
    for n, gap in enumerate(gaps[: len(down)], start=1):
        ceiling = min(600.0, 2.0 ** (n - 1))
        assert ceiling / 2 <= gap <= ceiling, (n, gap)
    assert len(set(gaps[:8])) == 8  # jittered, not a fixed schedule
    assert len(down) > 15
    assert failing_seen and set(failing_seen) == {1.0}
    assert sample(metrics, webhook.name, "certseal_webhook_failing") == 0.0
    assert sample(metrics, webhook.name, "certseal_webhook_parked_events_total") == 0
    assert sample(metrics, webhook.name, "certseal_webhook_delivered_events_total") == 3
    assert (await hooks.parked(webhook.name)) == []


async def test_a_receiver_down_past_the_window_has_the_event_parked_at_its_end(
    stack, serve
):
    clock = FakeClock()
    department = fresh_uscc()
    receiver = DownReceiver(clock, up_at=float("inf"))
    webhook = webhook_for(department, await serve(receiver))
    metrics = WebhookMetrics(CollectorRegistry())
    (event_id,) = await publish(stack, department, 1)
    hooks = engine(stack, clock, metrics)
    delivery = hooks.delivery(webhook, everything)
    parked_total = "certseal_webhook_parked_events_total"
    # a series at 0 before any park (nu14): Prometheus's increase() of a series that
    # first appears at 1 is 0, and CertsealWebhookParked would miss the first park
    labels = {"webhook": webhook.name}
    assert metrics.registry.get_sample_value(parked_total, labels) == 0.0
    await deliver_until(
        delivery, lambda: sample(metrics, webhook.name, parked_total) == 1
    )
    assert receiver.attempts[-1] - receiver.attempts[0] == WINDOW
    assert len(receiver.attempts) < 200  # backoff reached its cap, no hammering
    parked = await hooks.parked(webhook.name)
    assert [p.headers["ce_id"] for p in parked] == [event_id]
    assert parked[0].headers["reason"] == "HTTP 503"
    assert sample(metrics, webhook.name, "certseal_webhook_failing") == 0.0


def test_the_retry_schedule():
    # retry n waits min(600, 2**(n-1)) seconds less up to half of it
    assert POLICY.delay(1, 0.0) == 1.0
    assert POLICY.delay(1, 0.999) == pytest.approx(0.5005)
    assert POLICY.delay(4, 0.0) == 8.0
    assert POLICY.delay(11, 0.0) == 600.0  # 1024 capped
    assert POLICY.delay(10_000, 0.5) == 450.0  # no overflow far into a window
