"""Webhooks: events POSTed to an integrator's HTTPS endpoint, signed, retried, in order.

Each registered webhook is its own Kafka consumer group over the feed's topics. Events
its integrator is entitled to and the webhook's filter selects are POSTed as CloudEvents
JSON (structured mode) with ``X-Certseal-Signature: t=<unix time>,v1=<hex>``, the
HMAC-SHA256 of ``"<t>.<body>"`` under the webhook's secret. A failing endpoint is
retried with exponential backoff; partitions are delivered independently and each in
order, so a failure holds back only the events behind it on its partition (every event
of a lineage is on one partition: per-lineage order holds). After the retry budget the
event is parked on ``certseal.webhook-dead-letters.v1`` with the reason, and delivery
goes on; the operator lists parked deliveries and replays them once the endpoint works.
Offsets are committed after delivery or parking: nothing is skipped, a crash may repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from google.protobuf.json_format import MessageToDict

from certseal.audit import AuditEntry, write_audit
from certseal.crypto import KeyWrapper
from certseal.errors import invalid, not_found
from certseal.events import (
    LICENCE_EVENTS,
    LICENCE_USAGE,
    SEAL_EVENTS,
    TRUST_EVENTS,
    WEBHOOK_DEAD_LETTERS,
)
from certseal.kafka import KafkaSettings
from certseal.v1 import events_pb2
from services.feed.domain import Entitlement, Filter
from services.feed.service import FEED_TOPICS, event_meta, record_headers

log = logging.getLogger(__name__)

_NAME = re.compile(r"[a-z0-9-]{1,40}")

_MESSAGES: dict[str, Any] = {
    LICENCE_USAGE: events_pb2.LicenceUsedEvent,
    LICENCE_EVENTS: events_pb2.LicenceEvent,
    TRUST_EVENTS: events_pb2.TrustEvent,
    SEAL_EVENTS: events_pb2.SealEvent,
}


@dataclass(frozen=True)
class Webhook:
    """A registered endpoint."""

    name: str
    integrator: str
    url: str
    filter: Filter
    secret: bytes

    def __repr__(self) -> str:
        return f"Webhook(name={self.name}, url={self.url})"


def signature_header(secret: bytes, body: bytes, now: float) -> str:
    """``t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``."""
    stamp = str(int(now))
    digest = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def verify_signature(secret: bytes, body: bytes, header: str) -> bool:
    """Whether ``header`` signs ``body`` (what a receiver checks)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    expected = signature_header(secret, body, float(parts.get("t", "0")))
    return hmac.compare_digest(expected, header)


def cloudevent_json(topic: str, value: bytes, headers: dict[str, str]) -> bytes:
    """The event in CloudEvents structured JSON, ``data`` as the protobuf's JSON."""
    message = _MESSAGES[topic].FromString(value)
    return json.dumps(
        {
            "specversion": "1.0",
            "id": headers.get("ce_id", ""),
            "type": headers.get("ce_type", ""),
            "source": headers.get("ce_source", ""),
            "subject": headers.get("ce_subject", ""),
            "time": headers.get("ce_time", ""),
            "datacontenttype": "application/json",
            "data": MessageToDict(message),
        },
        ensure_ascii=False,
        sort_keys=True,
    ).encode()


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff and the budget before an event is parked."""

    attempts: int = 8
    first_delay_s: float = 0.2
    max_delay_s: float = 30.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (1-based)."""
        return min(self.max_delay_s, self.first_delay_s * 2 ** (attempt - 1))


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
        clock: Callable[[], float] = time.time,
    ):
        self.webhook = webhook
        self._kafka = kafka
        self._entitlement = entitlement
        self._ssl = ssl_context
        self._retry = retry
        self._clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        """Consume, deliver, park, commit; until ``stop``."""
        consumer = self._kafka.consumer(
            *FEED_TOPICS,
            group_id=f"certseal-webhook-{self.webhook.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
        )
        producer = self._kafka.producer()
        await consumer.start()
        await producer.start()
        try:
            async with client_session(self._ssl) as session:
                while not stop.is_set():
                    batches = await consumer.getmany(timeout_ms=200, max_records=200)
                    if not batches:
                        continue
                    entitlement = await self._entitlement()
                    await asyncio.gather(
                        *(
                            self._partition(session, producer, entitlement, records)
                            for records in batches.values()
                        )
                    )
                    await consumer.commit()
        finally:
            await producer.stop()
            await consumer.stop()

    async def _partition(
        self,
        session: aiohttp.ClientSession,
        producer: Any,
        entitlement: Entitlement | None,
        records: list[ConsumerRecord],
    ) -> None:
        for record in records:
            headers = record_headers(record.topic, record.headers, record.value or b"")
            meta = event_meta(record.topic, headers, record.value or b"")
            if meta is None or entitlement is None or not entitlement.allows(meta):
                continue
            if not self.webhook.filter.matches(meta):
                continue
            body = cloudevent_json(record.topic, record.value or b"", headers)
            reason = await self._post_with_retries(session, body, headers)
            if reason:
                await self._park(producer, record, headers, reason)

    async def _post_with_retries(
        self, session: aiohttp.ClientSession, body: bytes, headers: dict[str, str]
    ) -> str:
        """'' once delivered, else the last failure after the retry budget."""
        reason = ""
        for attempt in range(1, self._retry.attempts + 1):
            reason = await post(session, self.webhook, body, headers, self._clock())
            if not reason:
                return ""
            if attempt < self._retry.attempts:
                await asyncio.sleep(self._retry.delay(attempt))
        log.warning("parking an event for webhook %s: %s", self.webhook.name, reason)
        return reason

    async def _park(
        self,
        producer: Any,
        record: ConsumerRecord,
        headers: dict[str, str],
        reason: str,
    ) -> None:
        await producer.send_and_wait(
            WEBHOOK_DEAD_LETTERS,
            value=record.value,
            key=self.webhook.name.encode(),
            headers=[
                *((k, v.encode()) for k, v in headers.items()),
                ("webhook", self.webhook.name.encode()),
                ("reason", reason.encode()),
                ("topic", record.topic.encode()),
                ("partition", str(record.partition).encode()),
                ("offset", str(record.offset).encode()),
            ],
        )


def client_session(context: ssl.SSLContext) -> aiohttp.ClientSession:
    """An HTTP client for webhook endpoints (10 s per request)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=context),
        timeout=aiohttp.ClientTimeout(total=10),
    )


async def post(
    session: aiohttp.ClientSession,
    webhook: Webhook,
    body: bytes,
    headers: dict[str, str],
    now: float,
) -> str:
    """POST one event; '' on a 2xx answer, else why not."""
    try:
        async with session.post(
            webhook.url,
            data=body,
            headers={
                "Content-Type": "application/cloudevents+json; charset=utf-8",
                "X-Certseal-Signature": signature_header(webhook.secret, body, now),
                "ce-id": headers.get("ce_id", ""),
            },
        ) as response:
            if 200 <= response.status < 300:
                return ""
            return f"HTTP {response.status}"
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"


async def parked(
    kafka: KafkaSettings, webhook: str
) -> list[tuple[int, ConsumerRecord]]:
    """The parked deliveries of ``webhook``: (offset on the dead-letter topic, record)."""
    consumer: AIOKafkaConsumer = kafka.consumer(group_id=None, enable_auto_commit=False)
    await consumer.start()
    found = []
    try:
        await consumer.topics()
        partitions = [
            TopicPartition(WEBHOOK_DEAD_LETTERS, p)
            for p in sorted(consumer.partitions_for_topic(WEBHOOK_DEAD_LETTERS) or {0})
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)

        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in partitions])

        while await behind():
            batches = await consumer.getmany(timeout_ms=500)
            if not batches:
                break
            for records in batches.values():
                found += [(r.offset, r) for r in records if r.key == webhook.encode()]
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
    return found


class WebhookRegistry:
    """Webhooks in PostgreSQL, their deliveries, and the replay of parked ones."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        kafka: KafkaSettings,
        wrapper: KeyWrapper,
        entitlements: Callable[[str], Awaitable[Entitlement | None]],
        ssl_context: ssl.SSLContext,
        retry: RetryPolicy,
    ):
        self._pool = pool
        self._kafka = kafka
        self._wrapper = wrapper
        self._entitlements = entitlements
        self._ssl = ssl_context
        self._retry = retry

    async def register(
        self,
        caller: str,
        *,
        name: str,
        integrator: str,
        url: str,
        wanted: Filter,
        secret: bytes,
        now: dt.datetime,
    ) -> Webhook:
        """Register (or replace) a webhook; audited."""
        if not _NAME.fullmatch(name):
            raise invalid("name", "use 1 to 40 of a-z, 0-9 and '-'")
        if not url.startswith("https://"):
            raise invalid("url", "must be an https:// URL")
        if len(secret) < 16:
            raise invalid("secret", "must have at least 16 bytes")
        if not integrator.startswith("app:"):
            raise invalid("integrator", "is the app:<name> whose entitlement applies")
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """insert into feed_webhooks values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                   on conflict (name) do update set integrator = $2, url = $3,
                       departments = $4, licence_types = $5, event_types = $6,
                       wrapped_secret = $7, created_at = $8, created_by = $9""",
                name,
                integrator,
                url,
                sorted(wanted.departments),
                sorted(wanted.licence_types),
                sorted(wanted.event_types),
                self._wrapper.wrap(f"webhook:{name}", secret),
                now,
                caller,
            )
            await write_audit(
                conn,
                [AuditEntry(now, caller, "feed.webhook", name, details={"url": url})],
            )
        return Webhook(name, integrator, url, wanted, secret)

    async def all(self) -> list[Webhook]:
        """Every registered webhook."""
        rows = await self._pool.fetch("select * from feed_webhooks order by name")
        return [self._webhook(r) for r in rows]

    async def get(self, name: str) -> Webhook:
        """One webhook."""
        row = await self._pool.fetchrow(
            "select * from feed_webhooks where name = $1", name
        )
        if row is None:
            raise not_found(f"webhook {name}")
        return self._webhook(row)

    def _webhook(self, row: asyncpg.Record) -> Webhook:
        return Webhook(
            row["name"],
            row["integrator"],
            row["url"],
            Filter(
                frozenset(row["departments"]),
                frozenset(row["licence_types"]),
                frozenset(row["event_types"]),
            ),
            self._wrapper.unwrap_secret(
                f"webhook:{row['name']}", row["wrapped_secret"]
            ),
        )

    def delivery(self, webhook: Webhook) -> WebhookDelivery:
        """The delivery loop of a webhook."""
        return WebhookDelivery(
            webhook,
            kafka=self._kafka,
            entitlement=lambda: self._entitlements(webhook.integrator),
            ssl_context=self._ssl,
            retry=self._retry,
        )

    async def pending(self, name: str) -> list[tuple[int, ConsumerRecord]]:
        """Parked deliveries of a webhook not replayed yet."""
        await self.get(name)
        replayed = {
            r["dlq_offset"]
            for r in await self._pool.fetch(
                "select dlq_offset from feed_webhook_replays where webhook = $1", name
            )
        }
        return [(o, r) for o, r in await parked(self._kafka, name) if o not in replayed]

    async def replay(self, name: str, now: dt.datetime) -> tuple[int, int]:
        """Deliver the parked events again, in order: (delivered, still failing)."""
        webhook = await self.get(name)
        delivered = failing = 0
        async with client_session(self._ssl) as session:
            for offset, record in await self.pending(name):
                headers = {k: v.decode() for k, v in record.headers or ()}
                body = cloudevent_json(headers["topic"], record.value or b"", headers)
                if await post(session, webhook, body, headers, time.time()):
                    failing += 1
                    continue
                await self._pool.execute(
                    "insert into feed_webhook_replays values ($1, $2, $3)",
                    name,
                    offset,
                    now,
                )
                delivered += 1
        return delivered, failing


class WebhookDispatcher:
    """Runs a delivery loop for every registered webhook, starting new ones as they
    are registered (several feed replicas share each webhook's partitions)."""

    def __init__(self, registry: WebhookRegistry, *, poll_s: float = 1.0):
        self._registry = registry
        self._poll = poll_s
        self._running: dict[str, tuple[Webhook, asyncio.Task[None]]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``."""
        try:
            while not stop.is_set():
                for webhook in await self._registry.all():
                    known = self._running.get(webhook.name)
                    if (
                        known is not None
                        and known[0] == webhook
                        and not known[1].done()
                    ):
                        continue
                    if known is not None:  # changed or crashed: restart it
                        known[1].cancel()
                    task = asyncio.create_task(
                        self._registry.delivery(webhook).run(stop)
                    )
                    self._running[webhook.name] = (webhook, task)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._poll)
        finally:
            for _, task in self._running.values():
                task.cancel()
            for _, task in self._running.values():
                with contextlib.suppress(BaseException):
                    await task
