"""The event feed's rules, pure: which events an integrator is entitled to, what a
subscriber asked for, and position tokens.

An entitlement lists departments, licence types and event types, each a set of exact
values or ``*``; event types may end in ``.*`` (``licence.*``). An event passes when its
department, its licence type (licence events only) and its type are all listed. A
subscription filter narrows further with the same shape; an empty set there means "no
narrowing".

A position token is opaque to subscribers: the next offset of every partition the
subscription reads, after the event it came with. Reconnecting with the last token
continues right after that event, with no gap.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from certseal.errors import invalid

TOKEN_VERSION = 1
#: the CloudEvents ``type`` of every platform event starts with this
TYPE_PREFIX = "cn.gov.certseal."
#: and its ``source`` with this, followed by the department's code (USCC)
SOURCE_PREFIX = "/departments/"


@dataclass(frozen=True, slots=True)
class EventMeta:
    """What the feed knows of an event before it decides to deliver it."""

    topic: str
    event_type: str  # e.g. licence.revoked (the ce_type without its prefix)
    department: str
    licence_type: str = ""


def _matches(patterns: frozenset[str], value: str) -> bool:
    if "*" in patterns or value in patterns:
        return True
    return any(p.endswith(".*") and value.startswith(p[:-1]) for p in patterns)


@dataclass(frozen=True)
class Entitlement:
    """What one integrator may receive."""

    integrator: str
    departments: frozenset[str] = field(default_factory=frozenset)
    licence_types: frozenset[str] = field(default_factory=frozenset)
    event_types: frozenset[str] = field(default_factory=frozenset)

    def allows(self, event: EventMeta) -> bool:
        """Whether the integrator may see ``event``."""
        return (
            _matches(self.departments, event.department)
            and _matches(self.event_types, event.event_type)
            and (
                not event.event_type.startswith("licence.")
                or _matches(self.licence_types, event.licence_type)
            )
        )


@dataclass(frozen=True)
class Filter:
    """What a subscriber asked for; an empty set does not narrow."""

    departments: frozenset[str] = field(default_factory=frozenset)
    licence_types: frozenset[str] = field(default_factory=frozenset)
    event_types: frozenset[str] = field(default_factory=frozenset)

    def matches(self, event: EventMeta) -> bool:
        """Whether ``event`` is one the subscriber wants."""
        return (
            (not self.departments or _matches(self.departments, event.department))
            and (not self.event_types or _matches(self.event_types, event.event_type))
            and (
                not self.licence_types
                or not event.event_type.startswith("licence.")
                or _matches(self.licence_types, event.licence_type)
            )
        )


@dataclass(frozen=True, slots=True)
class Delivered:
    """An event on its way to a subscriber: the token of the positions after it, the
    record's topic, key (the lineage or seal id) and protobuf value, and its CloudEvents
    headers (``ce_id``, ``ce_type``, ``ce_source``, ``ce_time``, ...)."""

    token: str
    topic: str
    key: str
    value: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Webhook:
    """A registered endpoint: its integrator's entitlement applies, then ``filter``;
    ``secret`` is the HMAC-SHA256 key its deliveries are signed with."""

    name: str
    integrator: str
    url: str
    filter: Filter
    secret: bytes

    def __repr__(self) -> str:
        return f"Webhook(name={self.name}, url={self.url})"


@dataclass(frozen=True, slots=True)
class ParkedDelivery:
    """An event a webhook could not take within its retry budget.

    ``headers`` are the event's CloudEvents headers plus ``webhook``, ``reason`` (the
    last failure, e.g. ``HTTP 503``), and ``topic``, ``partition`` and ``offset`` of
    the original record; ``value`` is the event's protobuf.
    """

    dead_letter_offset: int
    headers: dict[str, str]
    value: bytes


def short_type(ce_type: str) -> str:
    """``licence.issued`` for ``cn.gov.certseal.licence.issued``."""
    return ce_type.removeprefix(TYPE_PREFIX)


Positions = Mapping[tuple[str, int], int]


def encode_token(positions: Positions) -> str:
    """The token for ``positions`` (next offset per topic partition)."""
    data = {
        "v": TOKEN_VERSION,
        "p": sorted([t, p, o] for (t, p), o in positions.items()),
    }
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """The positions a token stands for; INVALID_ARGUMENT when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        if data["v"] != TOKEN_VERSION:
            raise ValueError
        positions = {(str(t), int(p)): int(o) for t, p, o in data["p"]}
    except (ValueError, KeyError, TypeError):
        raise invalid(
            "start", "the position token is not one this feed issued"
        ) from None
    unknown = {t for t, _ in positions} - set(topics)
    if unknown or any(o < 0 for o in positions.values()):
        raise invalid(
            "start", "the position token names topics this feed does not read"
        )
    return positions


# Which topic carries which event types, for Kafka ACLs.
_TOPIC_OF_TYPE = (
    ("licence.used", "certseal.licence-usage.v1"),
    ("licence.", "certseal.licence-events.v1"),
    ("key.", "certseal.trust-events.v1"),
    ("seal.", "certseal.seal-events.v1"),
    ("document.", "certseal.seal-events.v1"),
)


def kafka_topics(entitlement: Entitlement) -> list[str]:
    """The topics an integrator's entitled event types are published on."""
    topics = set()
    for pattern in entitlement.event_types:
        for prefix, topic in _TOPIC_OF_TYPE:
            if (
                pattern == "*"
                or pattern.startswith(prefix)
                or prefix.startswith(pattern.removesuffix("*"))
            ):
                topics.add(topic)
    return sorted(topics)


def kafka_user_manifest(entitlement: Entitlement, cluster: str = "certseal") -> str:
    """A Strimzi KafkaUser with the read ACLs that match the entitlement.

    Kafka ACLs stop at topics: an integrator entitled to some departments or licence
    types only sees more on the raw topics than its entitlement, so such entitlements
    get no topic ACLs and are served by the event feed and webhooks instead.
    """
    name = entitlement.integrator.removeprefix("app:")
    whole_topics = "*" in entitlement.departments and "*" in entitlement.licence_types
    topics = kafka_topics(entitlement) if whole_topics else []
    lines = [
        "apiVersion: kafka.strimzi.io/v1beta2",
        "kind: KafkaUser",
        "metadata:",
        f"  name: integrator-{name}",
        "  labels:",
        f"    strimzi.io/cluster: {cluster}",
        "spec:",
        "  authentication:",
        "    type: tls",
        "  authorization:",
        "    type: simple",
        "    acls:",
    ]
    for topic in topics:
        lines += [
            "      - resource:",
            "          type: topic",
            f"          name: {topic}",
            "          patternType: literal",
            "        operations: [Read, Describe]",
        ]
    lines += [
        "      - resource:",
        "          type: group",
        f"          name: integrator-{name}",
        "          patternType: prefix",
        "        operations: [Read]",
    ]
    if not topics:
        lines.insert(
            0, f"# {entitlement.integrator}: department or licence-type limits"
        )
        lines.insert(1, "# cannot be expressed as topic ACLs; it uses the event feed.")
    return "\n".join(lines) + "\n"
