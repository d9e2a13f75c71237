"""The event feed: entitlements in PostgreSQL, events from Kafka, position tokens.

Each subscription is its own consumer outside any group, assigned every partition of
the feed's topics and positioned from the subscriber's start (earliest, latest, or a
token). Every event advances the positions; an event the integrator is entitled to and
asked for is delivered with the token of the positions after it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from aiokafka import TopicPartition
from google.protobuf.message import DecodeError

from certseal.audit import AuditEntry, write_audit
from certseal.errors import denied, invalid, not_found
from certseal.events import LICENCE_EVENTS, LICENCE_USAGE, SEAL_EVENTS, TRUST_EVENTS
from certseal.identifiers import LICENCE_OID_PREFIX
from certseal.kafka import KafkaSettings
from certseal.rpc import Caller
from certseal.timestamps import Clock, utcnow
from certseal.v1 import events_pb2
from services.feed.domain import (
    Entitlement,
    EventMeta,
    Filter,
    decode_token,
    encode_token,
)

MIGRATIONS = Path(__file__).parent / "migrations"
FEED_TOPICS = (LICENCE_EVENTS, TRUST_EVENTS, SEAL_EVENTS, LICENCE_USAGE)
_TYPE_PREFIX = "cn.gov.certseal."
_SOURCE_PREFIX = "/departments/"


@dataclass(frozen=True, slots=True)
class Delivered:
    """An event on its way to a subscriber."""

    token: str
    topic: str
    key: str
    value: bytes
    headers: dict[str, str]


def record_headers(
    topic: str, raw: Sequence[tuple[str, bytes]] | None, value: bytes
) -> dict[str, str]:
    """A record's CloudEvents headers.

    ``licence.used`` records come from the verifiers' Faust producers without them; they
    are derived from the event (the source is the licence's issuing authority, taken
    from its lineage).
    """
    headers = {k: v.decode(errors="replace") for k, v in raw or ()}
    if topic != LICENCE_USAGE or "ce_type" in headers:
        return headers
    try:
        used = events_pb2.LicenceUsedEvent.FromString(value)
        _type_code, authority, _serial = used.lineage.removeprefix(
            LICENCE_OID_PREFIX
        ).split(".")
    except (DecodeError, ValueError):
        return headers
    return {
        "ce_specversion": "1.0",
        "ce_id": used.event_id,
        "ce_type": f"{_TYPE_PREFIX}licence.used",
        "ce_source": f"{_SOURCE_PREFIX}{authority}",
        "ce_subject": used.lineage,
        "ce_time": used.occurred_at.ToDatetime(tzinfo=dt.UTC).isoformat(),
        "content-type": "application/protobuf",
    }


def event_meta(topic: str, headers: dict[str, str], value: bytes) -> EventMeta | None:
    """What the entitlement rules look at; None for a record that is not an event."""
    event_type = headers.get("ce_type", "")
    source = headers.get("ce_source", "")
    if not event_type.startswith(_TYPE_PREFIX) or not source.startswith(_SOURCE_PREFIX):
        return None
    licence_type = ""
    try:
        if topic == LICENCE_EVENTS:
            licence_type = events_pb2.LicenceEvent.FromString(value).type_code
        elif topic == LICENCE_USAGE:
            lineage = events_pb2.LicenceUsedEvent.FromString(value).lineage
            licence_type = lineage.removeprefix(LICENCE_OID_PREFIX).split(".")[0]
    except DecodeError:
        return None
    return EventMeta(
        topic,
        event_type.removeprefix(_TYPE_PREFIX),
        source.removeprefix(_SOURCE_PREFIX),
        licence_type,
    )


class FeedService:
    """Entitlements and subscriptions."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        kafka: KafkaSettings,
        clock: Clock = utcnow,
        entitlement_refresh_s: float = 5.0,
    ):
        self._pool = pool
        self._kafka = kafka
        self._clock = clock
        self._refresh = entitlement_refresh_s

    def now(self) -> dt.datetime:
        """The service's clock."""
        return self._clock()

    async def entitlement(self, integrator: str) -> Entitlement | None:
        """The integrator's entitlement, if the operator set one."""
        row = await self._pool.fetchrow(
            "select * from feed_entitlements where integrator = $1", integrator
        )
        if row is None:
            return None
        return Entitlement(
            row["integrator"],
            frozenset(row["departments"]),
            frozenset(row["licence_types"]),
            frozenset(row["event_types"]),
        )

    async def _entitlement_of(self, caller: Caller) -> Entitlement:
        """An integrator's entitlement; operators see everything (events carry no
        personal data in clear) to watch the platform."""
        if caller.kind == "operator":
            every = frozenset({"*"})
            return Entitlement(str(caller), every, every, every)
        found = await self.entitlement(str(caller))
        if found is None:
            raise denied(f"{caller} has no entitlement to the event feed")
        return found

    async def get_entitlement(self, caller: Caller, integrator: str) -> Entitlement:
        """An entitlement (operators only, by the servicer's allow-list)."""
        found = await self.entitlement(integrator)
        if found is None:
            raise not_found(f"entitlement of {integrator}")
        return found

    async def set_entitlement(
        self, caller: Caller, entitlement: Entitlement
    ) -> Entitlement:
        """Set what an integrator may receive; audited."""
        try:
            integrator = Caller.parse(entitlement.integrator)
        except Exception:
            raise invalid(
                "integrator", "must be an identity such as app:<name>"
            ) from None
        if integrator.kind != "app":
            raise invalid("integrator", "integrators subscribe as app:<name>")
        now = self._clock()
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """insert into feed_entitlements values ($1, $2, $3, $4, $5, $6)
                   on conflict (integrator) do update set departments = $2,
                       licence_types = $3, event_types = $4, updated_at = $5,
                       updated_by = $6""",
                entitlement.integrator,
                sorted(entitlement.departments),
                sorted(entitlement.licence_types),
                sorted(entitlement.event_types),
                now,
                str(caller),
            )
            await write_audit(
                conn,
                [
                    AuditEntry(
                        now,
                        str(caller),
                        "feed.entitle",
                        entitlement.integrator,
                        details={
                            "departments": sorted(entitlement.departments),
                            "licence_types": sorted(entitlement.licence_types),
                            "event_types": sorted(entitlement.event_types),
                        },
                    )
                ],
            )
        return entitlement

    async def subscribe(
        self,
        caller: Caller,
        wanted: Filter,
        *,
        start: str,
        token: str = "",
        stopping: asyncio.Event | None = None,
    ) -> AsyncIterator[Delivered]:
        """The events ``caller`` may see and asked for, from ``start`` on.

        ``start`` is earliest, latest or token. The entitlement is re-read every few
        seconds, so a withdrawn right stops deliveries without a reconnect.
        """
        entitlement = await self._entitlement_of(caller)
        positions = decode_token(token, FEED_TOPICS) if start == "token" else {}
        consumer = self._kafka.consumer(
            group_id=None, enable_auto_commit=False, fetch_max_wait_ms=50
        )
        await consumer.start()
        try:
            await consumer.topics()  # loads the metadata partitions_for_topic reads
            partitions = [
                TopicPartition(topic, p)
                for topic in FEED_TOPICS
                for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            consumer.assign(partitions)
            for tp in partitions:
                if start == "latest":
                    await consumer.seek_to_end(tp)
                elif (tp.topic, tp.partition) in positions:
                    consumer.seek(tp, positions[(tp.topic, tp.partition)])
                else:
                    await consumer.seek_to_beginning(tp)
            current = {
                (tp.topic, tp.partition): await consumer.position(tp)
                for tp in partitions
            }
            checked = asyncio.get_running_loop().time()
            while stopping is None or not stopping.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
                now = asyncio.get_running_loop().time()
                if now - checked > self._refresh:
                    entitlement = await self._entitlement_of(caller)
                    checked = now
                for tp, records in batches.items():
                    for record in records:
                        current[(tp.topic, tp.partition)] = record.offset + 1
                        value = record.value or b""
                        headers = record_headers(tp.topic, record.headers, value)
                        meta = event_meta(tp.topic, headers, value)
                        if meta is None or not entitlement.allows(meta):
                            continue
                        if not wanted.matches(meta):
                            continue
                        yield Delivered(
                            encode_token(current),
                            tp.topic,
                            (record.key or b"").decode(),
                            value,
                            headers,
                        )
        finally:
            await consumer.stop()


def entitlement_of(
    integrator: str,
    departments: Sequence[str],
    licence_types: Sequence[str],
    event_types: Sequence[str],
) -> Entitlement:
    """An entitlement from request lists."""
    return Entitlement(
        integrator,
        frozenset(departments),
        frozenset(licence_types),
        frozenset(event_types),
    )


def feed_time(headers: dict[str, str]) -> dt.datetime | None:
    """The event's ce_time."""
    text = headers.get("ce_time", "")
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
