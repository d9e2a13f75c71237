"""Webhooks: events POSTed to an integrator's HTTPS endpoint, signed, retried, in order.

Each registered webhook is its own Kafka consumer group over the feed's topics. Events
its integrator is entitled to and the webhook's filter selects are POSTed as CloudEvents
JSON in structured mode (``Content-Type: application/cloudevents+json``, no ``ce-``
header, so an SDK reading the request sees structured mode) with
``X-Certseal-Signature: t=<unix time>,v1=<hex>``, the HMAC-SHA256 of ``"<t>.<body>"``
under the webhook's secret (docs/events.md, "Verifying a delivery", is the recipe).

A failing endpoint is retried with exponential backoff and jitter for the retry window
(``[feed] webhook_retry_window_h``, 24 h by default): the webhook is marked failing
(``certseal_webhook_failing`` = 1, the alert ``CertsealWebhookFailing``) until a delivery
succeeds, and an event is parked on ``certseal.webhook-dead-letters.v1`` only when the
window has passed with every attempt failing. Partitions are delivered each in order,
and a batch is finished before the next is read, so the endpoint receives every
lineage's events in order and nothing overtakes a failing event. The integrator's
entitlement is read again before a delivery attempt (an event's first or a retry)
once the last read is a few seconds old: an event it no longer lets through is
skipped, however long it waited behind a failing one. The operator lists
parked deliveries and replays them once the endpoint works. Offsets are committed after
delivery, parking or skipping: a crash may repeat an event, never skip one.

Egress (:class:`~services.feed.egress.EgressPolicy`): a webhook reaches only global addresses. Its host is
resolved before every connection, every address is checked (unless the operator listed
the host in ``[feed] webhook_allowed_hosts``) and the connection goes to the checked
addresses themselves, so a DNS answer cannot change between check and connect. No
redirect is followed: a 3xx is a failed delivery. A parked reason says only
``HTTP <status>``, ``delivery failed: timeout`` (an HTTPS server that answered too
late), ``delivery failed: connection error`` or ``delivery failed: address not
allowed``: nothing tells a closed port from an open or a non-TLS one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from certseal.errors import CertsealError
from certseal.events import WEBHOOK_DEAD_LETTERS
from certseal.holes import OffsetHoles
from certseal.kafka import KafkaSettings, read_to_end, without_holes
from services.feed.domain import (
    Entitlement,
    EventMeta,
    ParkedDelivery,
    Webhook,
    parse_webhook_url,
)
from services.feed.egress import EgressPolicy, EgressRefused
from services.feed.events import (
    FEED_TOPICS,
    View,
    cloudevent_body,
    event_meta,
    record_headers,
    views,
)
from services.feed.metrics import WebhookMetrics
from services.feed.signing import RetryPolicy, signature_header

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestTimeouts:
    """Seconds one POST may take: in all, and to connect (TCP and TLS handshake)."""

    total_s: float = 10.0
    connect_s: float = 5.0


#: the parked reasons that are not an HTTP status: they name no port's behaviour
REFUSED = "delivery failed: address not allowed"
CONNECTION_ERROR = "delivery failed: connection error"
TIMEOUT = "delivery failed: timeout"


class WebhookDelivery:
    """Delivers one webhook's events until stopped."""

    def __init__(
        self,
        webhook: Webhook,
        *,
        kafka: KafkaSettings,
        entitlement: Callable[[], Awaitable[Entitlement | None]],
        ssl_context: ssl.SSLContext,
        retry: RetryPolicy,
        egress: EgressPolicy,
        timeouts: RequestTimeouts,
        metrics: WebhookMetrics,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        draw: Callable[[], float] = random.random,
        entitlement_refresh_s: float = 5.0,
    ):
        """``clock`` (unix seconds), ``sleep`` and ``draw`` (jitter, in [0, 1)) are
        injected so that a test runs a day of retries at once; ``entitlement()`` is
        read again before a delivery attempt once the last read is
        ``entitlement_refresh_s`` old (by ``clock``)."""
        self.webhook = webhook
        self._kafka = kafka
        self._entitlement = entitlement
        self._ssl = ssl_context
        self._retry = retry
        self._egress = egress
        self._timeouts = timeouts
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._draw = draw
        self._refresh = entitlement_refresh_s
        self._entitled: Entitlement | None = None
        self._read_at: float | None = None
        # partition -> when its oldest waiting event first failed
        self._failing: dict[tuple[str, int], float] = {}
        # a series at 0 from the start: Prometheus's increase() misses a first park
        # of a series that appears at 1 (the alert CertsealWebhookParked)
        metrics.parked.labels(webhook.name)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume, deliver, park, commit; until ``stop``."""
        consumer = self._kafka.consumer(
            *FEED_TOPICS,
            group_id=f"certseal-webhook-{self.webhook.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
            # a batch may wait the whole retry window for a failing endpoint; the
            # group must not evict this member meanwhile (a dead process is still
            # noticed by its heartbeats within the session timeout)
            max_poll_interval_ms=min(
                2**31 - 1, int((self._retry.window_s + 600) * 1000)
            ),
        )
        producer = self._kafka.producer()
        holes = OffsetHoles(
            f"webhook {self.webhook.name}", clock=time.monotonic, wall=time.time
        )
        try:  # started within: a stop that comes while they start stops them too
            await consumer.start()
            await producer.start()
            async with client_session(
                self._ssl, self._egress, self._timeouts
            ) as session:
                while not stop.is_set():
                    fetched = await consumer.getmany(timeout_ms=200, max_records=200)
                    batches = without_holes(consumer, holes, fetched)
                    if not batches:
                        continue
                    await asyncio.gather(
                        *(
                            self._partition(session, producer, records)
                            for records in batches.values()
                        )
                    )
                    await consumer.commit()  # at a hole's start when one cut a batch
        finally:  # each stopped whatever the other's stop raised (trial74: "Unclosed
            # AIOKafkaConsumer" for every webhook after a Ctrl-C during the start)
            try:
                await producer.stop()
            finally:
                await consumer.stop()

    async def _partition(
        self,
        session: aiohttp.ClientSession,
        producer: Any,
        records: Sequence[ConsumerRecord],
    ) -> None:
        for record in records:
            headers = record_headers(record.topic, record.headers, record.value)
            value = record.value or b""
            for part in views(record.topic, record.key or b"", headers, value):
                meta = event_meta(record.topic, part.headers, part.value)
                if meta is None or not await self._allowed(meta):
                    continue
                partition = (record.topic, record.partition)
                body, why = cloudevent_body(record.topic, part.value, part.headers)
                reason: str | None = why  # a body that cannot be made is parked
                if body is not None:
                    reason = await self._post_with_retries(
                        session, body, partition, meta
                    )
                if reason:
                    await self._park(producer, record, part, reason)
                    self._metrics.parked.labels(self.webhook.name).inc()

    async def _allowed(self, meta: EventMeta) -> bool:
        """Whether ``meta`` may be delivered now: the integrator's entitlement, read
        again once the last read is ``entitlement_refresh_s`` old (before each event
        and each retry, not per batch: a batch may wait the whole retry window behind
        a failing event, and a withdrawn right must stop what waited), and the
        webhook's filter let it through."""
        now = self._clock()
        if self._read_at is None or not 0 <= now - self._read_at < self._refresh:
            self._entitled = await self._entitlement()
            self._read_at = now
        return (
            self._entitled is not None
            and self._entitled.allows(meta)
            and self.webhook.filter.matches(meta)
        )

    async def _post_with_retries(
        self,
        session: aiohttp.ClientSession,
        body: bytes,
        partition: tuple[str, int],
        meta: EventMeta,
    ) -> str | None:
        """'' once delivered, the last failure once the retry window passed, None
        once the event is no longer allowed (:meth:`_allowed`, before each retry):
        skipped, as an event outside the entitlement always was."""
        name = self.webhook.name
        first_failure: float | None = None
        attempt = 0
        while True:
            if attempt and not await self._allowed(meta):
                log.info("webhook %s: an event no longer entitled is skipped", name)
                self._mark(partition, None)
                return None
            reason = await post(
                session, self.webhook, body, self._clock(), self._egress
            )
            if not reason:
                self._metrics.delivered.labels(name).inc()
                self._mark(partition, None)
                return ""
            self._metrics.failed_attempts.labels(name).inc()
            now = self._clock()
            if first_failure is None:
                first_failure = now
                self._mark(partition, now)
            remaining = first_failure + self._retry.window_s - now
            if remaining <= 0:
                log.warning(
                    "parking an event for webhook %s after %.1f h of failures: %s",
                    name,
                    (now - first_failure) / 3600,
                    reason,
                )
                self._mark(partition, None)
                return reason
            attempt += 1
            wait = min(remaining, self._retry.delay(attempt, self._draw()))
            log.info(
                "webhook %s: %s; attempt %d again in %.1f s",
                name,
                reason,
                attempt,
                wait,
            )
            await self._sleep(wait)

    def _mark(self, partition: tuple[str, int], since: float | None) -> None:
        """Record whether ``partition`` waits for the endpoint, and publish the
        webhook's failing state: failing while any partition waits."""
        if since is None:
            self._failing.pop(partition, None)
        else:
            self._failing[partition] = since
        name = self.webhook.name
        self._metrics.failing.labels(name).set(1 if self._failing else 0)
        self._metrics.failing_since.labels(name).set(
            min(self._failing.values(), default=0)
        )

    @property
    def failing(self) -> bool:
        """Whether events wait for a failing endpoint."""
        return bool(self._failing)

    async def _park(
        self,
        producer: Any,
        record: ConsumerRecord,
        part: View,
        reason: str,
    ) -> None:
        """Park one view of ``record`` (what was POSTed: a usage record's department
        part, or the whole record) with the reason and the record's position."""
        await producer.send_and_wait(
            WEBHOOK_DEAD_LETTERS,
            value=part.value,
            key=self.webhook.name.encode(),
            headers=[
                *((k, v.encode()) for k, v in part.headers.items()),
                ("webhook", self.webhook.name.encode()),
                ("reason", reason.encode()),
                ("topic", record.topic.encode()),
                ("partition", str(record.partition).encode()),
                ("offset", str(record.offset).encode()),
            ],
        )


def client_session(
    context: ssl.SSLContext, egress: EgressPolicy, timeouts: RequestTimeouts
) -> aiohttp.ClientSession:
    """An HTTP client for webhook endpoints: it connects only to addresses ``egress``
    checked (resolved again for every connection), through no proxy, with no cookies."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            ssl=context, resolver=egress.resolver(), use_dns_cache=False
        ),
        timeout=aiohttp.ClientTimeout(
            total=timeouts.total_s, connect=timeouts.connect_s
        ),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )


async def post(
    session: aiohttp.ClientSession,
    webhook: Webhook,
    body: bytes,
    now: float,
    egress: EgressPolicy,
) -> str:
    """POST one event in CloudEvents structured mode; '' on a 2xx answer, else why not
    (one of the reasons in the module's docstring). A redirect is not followed: it is
    ``HTTP 3xx``. No ``ce-`` header is sent: the event's attributes are in the body,
    and a ``ce-`` header would make SDKs read the request as binary mode."""
    try:
        egress.check_literal(parse_webhook_url(webhook.url))
        async with session.post(
            webhook.url,
            data=body,
            headers={
                "Content-Type": "application/cloudevents+json; charset=utf-8",
                "X-Certseal-Signature": signature_header(webhook.secret, body, now),
            },
            allow_redirects=False,
        ) as response:
            if 200 <= response.status < 300:
                return ""
            return f"HTTP {response.status}"
    except (EgressRefused, CertsealError) as exc:
        log.warning("webhook %s: refused: %s", webhook.name, exc)
        return REFUSED
    except aiohttp.ConnectionTimeoutError:  # also a TLS handshake that never ends
        return CONNECTION_ERROR
    except TimeoutError:
        return TIMEOUT
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        log.info("webhook %s: %s: %s", webhook.name, type(exc).__name__, exc)
        return CONNECTION_ERROR


class WebhookEngine:
    """The HTTP side of webhooks: delivery loops, the parked deliveries on the
    dead-letter topic, and their redelivery. It knows no database: which webhooks
    exist and what their integrators may receive come from its callers."""

    def __init__(
        self,
        *,
        kafka: KafkaSettings,
        ssl_context: ssl.SSLContext,
        retry: RetryPolicy,
        egress: EgressPolicy | None = None,
        timeouts: RequestTimeouts | None = None,
        metrics: WebhookMetrics | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        draw: Callable[[], float] = random.random,
        entitlement_refresh_s: float = 5.0,
    ):
        """``metrics`` on the process's registry; ``clock``, ``sleep``, ``draw`` and
        ``entitlement_refresh_s`` as in :class:`WebhookDelivery`."""
        self._kafka = kafka
        self._ssl = ssl_context
        self._retry = retry
        self.egress = egress or EgressPolicy()
        self._timeouts = timeouts or RequestTimeouts()
        self.metrics = metrics or WebhookMetrics()
        self._clock = clock
        self._sleep = sleep
        self._draw = draw
        self._refresh = entitlement_refresh_s

    def delivery(
        self,
        webhook: Webhook,
        entitlement: Callable[[], Awaitable[Entitlement | None]],
    ) -> WebhookDelivery:
        """The delivery loop of ``webhook``; ``entitlement()`` is read again before a
        delivery attempt once the last read is ``entitlement_refresh_s`` old."""
        return WebhookDelivery(
            webhook,
            kafka=self._kafka,
            entitlement=entitlement,
            ssl_context=self._ssl,
            retry=self._retry,
            egress=self.egress,
            timeouts=self._timeouts,
            metrics=self.metrics,
            clock=self._clock,
            sleep=self._sleep,
            draw=self._draw,
            entitlement_refresh_s=self._refresh,
        )

    async def parked(self, webhook: str) -> list[ParkedDelivery]:
        """Every delivery of ``webhook`` ever parked, in dead-letter order."""
        consumer: AIOKafkaConsumer = self._kafka.consumer(
            group_id=None, enable_auto_commit=False
        )
        await consumer.start()
        try:
            await consumer.topics()
            partitions = [
                TopicPartition(WEBHOOK_DEAD_LETTERS, p)
                for p in sorted(
                    consumer.partitions_for_topic(WEBHOOK_DEAD_LETTERS) or {0}
                )
            ]
            records = await read_to_end(consumer, partitions, "parked deliveries")
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
        return [
            ParkedDelivery(
                r.offset, {k: v.decode() for k, v in r.headers or ()}, r.value or b""
            )
            for r in records
            if r.key == webhook.encode()
        ]

    async def redeliver(
        self,
        webhook: Webhook,
        parked: Sequence[ParkedDelivery],
        *,
        on_delivered: Callable[[int], Awaitable[None]],
    ) -> tuple[int, int]:
        """POST the parked events again, in order, once each: (delivered, failing).

        ``on_delivered(dead_letter_offset)`` runs after each one the endpoint took.
        """
        delivered = failing = 0
        async with client_session(self._ssl, self.egress, self._timeouts) as session:
            for one in parked:
                headers = one.headers
                body, _why = cloudevent_body(headers["topic"], one.value, headers)
                now = self._clock()
                if body is None or await post(session, webhook, body, now, self.egress):
                    failing += 1
                    continue
                await on_delivered(one.dead_letter_offset)
                delivered += 1
        return delivered, failing
