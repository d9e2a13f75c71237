"""Event envelope: topics, CloudEvents binary-mode headers and outbox records.

Pure: the topic definitions (:class:`TopicSpec`, :func:`default_topics`), the
:class:`OutboxRecord` a service writes, event ids and the CloudEvents 1.0 binary-mode
envelope (:func:`cloudevent`). Topics are created up front with explicit partition
counts (never broker auto-create) by :func:`certseal.kafka.ensure_topics`; outbox rows
are written and relayed by :mod:`certseal.storage.outbox`. Event values are protobuf
messages from ``protos/certseal/v1/events.proto``; :func:`uses_of` reads the uses of a
usage record of any age, :func:`use_time` when each happened (docs/events.md, "Usage
records").
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from certseal.timestamps import holds_time, rfc3339
from certseal.v1 import events_pb2

LICENCE_EVENTS = "certseal.licence-events.v1"
TRUST_EVENTS = "certseal.trust-events.v1"
SEAL_EVENTS = "certseal.seal-events.v1"
LICENCE_USAGE = "certseal.licence-usage.v1"
USAGE_NONCES_HEADER = "certseal-nonces"
"""A usage record's header (not a CloudEvents attribute): how many accepted
presentation nonces its uses carry, for the verifiers' replay guard."""
DIRECTORY_EVENTS = "certseal.directory-events.v1"
VERIFIER_DEAD_LETTERS = "certseal.verifier-dead-letters.v1"
WEBHOOK_DEAD_LETTERS = "certseal.webhook-dead-letters.v1"
_DAY_MS = 24 * 3600 * 1000
CONTENT_TYPE = "application/protobuf"

#: Every event type the platform publishes and the topic that carries it
#: (docs/events.md, "Types"): the one list that :func:`cloudevent` holds publishers
#: to and that the event feed (its subscriptions, entitlements and Kafka ACLs) and
#: ``certseal events tail --type`` derive theirs from. A new event type is added here
#: with its topic, and to docs/events.md (tests/feed/test_event_types.py).
EVENT_TYPES: Mapping[str, str] = {
    **{
        f"licence.{change}": LICENCE_EVENTS
        for change in (
            "issued",
            "renewed",
            "amended",
            "suspended",
            "unsuspended",
            "revoked",
            "cancelled",
            "expired",
            "transferred",
            # a holder's authorisation (授权用证) and its withdrawal: the lineage's
            # state with its lineage_version unchanged (docs/holder.md)
            "authorised",
            "authorisation_revoked",
        )
    },
    "licence.used": LICENCE_USAGE,
    **{f"key.{state}": TRUST_EVENTS for state in ("activated", "retired", "revoked")},
    "seal.registered": SEAL_EVENTS,
    "seal.revoked": SEAL_EVENTS,
    "document.sealed": SEAL_EVENTS,
    "department.onboarded": DIRECTORY_EVENTS,
    "licence_type.registered": DIRECTORY_EVENTS,
}


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic as the platform declares it."""

    name: str
    partitions: int
    compacted: bool = False
    retention_ms: int = 7 * _DAY_MS
    # compacted topics: every event stays at least this long before compaction may
    # drop it for a newer one with the same key
    min_compaction_lag_ms: int = 0

    def configs(self) -> dict[str, str]:
        """Topic configs for the create request."""
        if self.compacted:
            return {
                "cleanup.policy": "compact",
                "min.compaction.lag.ms": str(self.min_compaction_lag_ms),
            }
        return {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms)}


def default_topics(partitions: int = 12) -> list[TopicSpec]:
    """The topics every deployment has.

    Licence events are compacted by lineage after 7 days: integrators resuming within
    a week see every event, and a verifier group started at any time still finds the
    latest event of every lineage, which is its whole index. The trust list and the
    directory (the names of departments and licence types) are small and compacted at
    once.
    """
    return [
        TopicSpec(
            LICENCE_EVENTS,
            partitions,
            compacted=True,
            min_compaction_lag_ms=7 * _DAY_MS,
        ),
        TopicSpec(TRUST_EVENTS, max(1, partitions // 4), compacted=True),
        TopicSpec(DIRECTORY_EVENTS, max(1, partitions // 4), compacted=True),
        TopicSpec(SEAL_EVENTS, partitions),
        TopicSpec(LICENCE_USAGE, partitions, retention_ms=180 * _DAY_MS),
        TopicSpec(VERIFIER_DEAD_LETTERS, 1, retention_ms=30 * _DAY_MS),
        TopicSpec(WEBHOOK_DEAD_LETTERS, 1, retention_ms=30 * _DAY_MS),
    ]


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One event as written to the outbox, ready for the relay."""

    topic: str
    key: bytes
    value: bytes
    headers: dict[str, str]


def new_event_id() -> str:
    """A fresh event id (UUID4)."""
    return str(uuid.uuid4())


def cloudevent(
    *,
    topic: str,
    key: str,
    message: Message,
    event_id: str,
    event_type: str,
    source: str,
    time: dt.datetime,
) -> OutboxRecord:
    """An outbox record with CloudEvents binary-mode headers.

    ValueError (a defect of the publisher) for an event type that is not in
    :data:`EVENT_TYPES` with ``topic``: a type published without being listed there
    would be one that subscribers cannot ask for."""
    if EVENT_TYPES.get(event_type) != topic:
        raise ValueError(
            f"event type {event_type!r} is not listed in certseal.events.EVENT_TYPES "
            f"as published on {topic}"
        )
    return OutboxRecord(
        topic=topic,
        key=key.encode(),
        value=message.SerializeToString(),
        headers={
            "ce_specversion": "1.0",
            "ce_id": event_id,
            "ce_type": f"cn.gov.certseal.{event_type}",
            "ce_source": f"/departments/{source}",
            "ce_time": rfc3339(time),
            "ce_subject": key,
            "content-type": CONTENT_TYPE,
        },
    )


def uses_of(event: events_pb2.LicenceUsedEvent) -> list[events_pb2.LicenceUse]:
    """Every use a usage record names: its ``uses``, or else its singular per-licence
    fields as one use (a one-code record, and every record published before
    ``uses`` existed). Empty for a record without a lineage."""
    if event.uses:
        return list(event.uses)
    if not event.lineage:
        return []
    use = events_pb2.LicenceUse(
        lineage=event.lineage,
        identifier=event.identifier,
        verdict=event.verdict,
        code_kind=event.code_kind,
        nonce_hash=event.nonce_hash,
    )
    if event.HasField("code_expires_at"):
        use.code_expires_at.CopyFrom(event.code_expires_at)
    return [use]


def use_time(
    event: events_pb2.LicenceUsedEvent, use: events_pb2.LicenceUse
) -> Timestamp:
    """When ``use`` (one of :func:`uses_of` ``event``) was verified: its own
    ``occurred_at`` when it has one (:func:`has_own_time`: a use of a later request
    gathered into the record), else the record's (docs/events.md, "Usage records")."""
    return use.occurred_at if has_own_time(use) else event.occurred_at


def has_own_time(use: events_pb2.LicenceUse) -> bool:
    """Whether ``use`` carries a time of its own: set, not zero, and one a Timestamp
    may hold (:func:`~certseal.timestamps.holds_time`). Any other is read as the
    record's time, by every reader alike (one bad use never costs the others)."""
    own = use.occurred_at
    return bool(own.seconds or own.nanos) and holds_time(own)
