"""The event feed's rules, pure: which events an integrator is entitled to, what a
subscriber asked for, and webhook URLs and addresses.

An entitlement lists departments, licence types and event types, each a set of exact
values or ``*``; event types may end in ``.*`` (``licence.*``). An event passes when its
department, its licence type (licence events only) and its type are all listed. A
subscription filter narrows further with the same shape; an empty set there means "no
narrowing".

Position tokens are in :mod:`services.feed.tokens`.

Webhook egress: a webhook URL is https with a host, no user info, no fragment, a port
in range and at most :data:`MAX_URL_LENGTH` characters (:func:`parse_webhook_url`); an
address a webhook may reach is a global unicast one (:func:`refused_address_class`
names the class of any other). Each integrator has at most a set number of open
subscriptions (:class:`SubscriptionSlots`). Who reads the feed as which integrator is
in :mod:`services.feed.identities`.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from certseal.errors import CertsealError, ErrorKind, invalid
from certseal.events import (
    EVENT_TYPES,
    LICENCE_EVENTS,
    LICENCE_USAGE,
    SEAL_EVENTS,
    TRUST_EVENTS,
)

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


#: the most values one list of an entitlement, a subscription's filter or a
#: webhook's filter may hold (departments, licence types, event types)
MAX_LIST_VALUES = 1000


@dataclass(frozen=True, slots=True)
class Patterns:
    """A list of ``*``, exact values and ``prefix.*`` patterns, kept apart so that
    matching a value costs the same however many the list holds: an exact value is
    looked up in a set, and a ``prefix.*`` pattern by the value's own prefixes up to
    each ``.`` (never by walking the list)."""

    every: bool
    exact: frozenset[str]
    prefixes: frozenset[str]  # "licence." for "licence.*"

    @classmethod
    def of(cls, values: frozenset[str]) -> Patterns:
        """The patterns of a list as stored."""
        return cls(
            "*" in values,
            frozenset(v for v in values if v != "*"),
            frozenset(v[:-1] for v in values if v.endswith(".*")),
        )

    def matches(self, value: str) -> bool:
        """Whether ``value`` is listed, or matches ``*`` or a ``prefix.*``."""
        if self.every or value in self.exact:
            return True
        if not self.prefixes:
            return False
        dot = value.find(".")
        while dot >= 0:
            if value[: dot + 1] in self.prefixes:
                return True
            dot = value.find(".", dot + 1)
        return False


def _matches(patterns: frozenset[str], value: str) -> bool:
    """Whether ``value`` matches one of ``patterns`` (compiled each call: for a
    check made once; events are matched by an entitlement's or filter's own)."""
    return Patterns.of(patterns).matches(value)


@dataclass(frozen=True)
class Entitlement:
    """What one integrator may receive."""

    integrator: str
    departments: frozenset[str] = field(default_factory=frozenset)
    licence_types: frozenset[str] = field(default_factory=frozenset)
    event_types: frozenset[str] = field(default_factory=frozenset)

    @functools.cached_property
    def _patterns(self) -> tuple[Patterns, Patterns, Patterns]:
        return (
            Patterns.of(self.departments),
            Patterns.of(self.licence_types),
            Patterns.of(self.event_types),
        )

    def allows(self, event: EventMeta) -> bool:
        """Whether the integrator may see ``event`` (in constant time)."""
        departments, licence_types, event_types = self._patterns
        return (
            departments.matches(event.department)
            and event_types.matches(event.event_type)
            and (
                not event.event_type.startswith("licence.")
                or licence_types.matches(event.licence_type)
            )
        )

    def nothing_through(self, published: Iterable[str]) -> str | None:
        """Why no event of the ``published`` types can pass, or None when some may:
        no department, no event type among those published, or no licence type when
        every event type it names is a licence one (which needs a licence type)."""
        if not self.departments:
            return "it names no department"
        _, _, event_types = self._patterns
        types = [t for t in published if event_types.matches(t)]
        if not types:
            return "it names no event type the feed carries"
        if not self.licence_types and all(t.startswith("licence.") for t in types):
            return (
                "it names no licence type, and every event type it names is a "
                "licence event, which passes only for a licence type listed"
            )
        return None


@dataclass(frozen=True)
class Filter:
    """What a subscriber asked for; an empty set does not narrow."""

    departments: frozenset[str] = field(default_factory=frozenset)
    licence_types: frozenset[str] = field(default_factory=frozenset)
    event_types: frozenset[str] = field(default_factory=frozenset)

    @functools.cached_property
    def _patterns(self) -> tuple[Patterns, Patterns, Patterns]:
        # an empty list does not narrow: it matches everything
        return (
            Patterns.of(self.departments or frozenset({"*"})),
            Patterns.of(self.licence_types or frozenset({"*"})),
            Patterns.of(self.event_types or frozenset({"*"})),
        )

    def matches(self, event: EventMeta) -> bool:
        """Whether ``event`` is one the subscriber wants (in constant time)."""
        departments, licence_types, event_types = self._patterns
        return (
            departments.matches(event.department)
            and event_types.matches(event.event_type)
            and (
                not event.event_type.startswith("licence.")
                or licence_types.matches(event.licence_type)
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
    """An event a webhook could not take within its retry window.

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


#: the topics every subscription and every webhook reads
FEED_TOPICS = (LICENCE_EVENTS, TRUST_EVENTS, SEAL_EVENTS, LICENCE_USAGE)

#: the header Subscribe sends once its stream is open (checked and at its start),
#: before any event: ``events tail`` says it is subscribed when it comes
SUBSCRIBED = ("certseal-subscription", "open")
#: the ``reason`` of the UNAVAILABLE of a subscription whose broker did not answer
#: (services/feed/reach.py): ``events tail`` says once that it waits for the broker,
#: and subscribes again
BROKER_AWAY = "broker_away"
#: Every event type the feed delivers and the topic that carries it (for Kafka
#: ACLs): those of :data:`certseal.events.EVENT_TYPES` on the topics it reads.
EVENT_TOPICS: Mapping[str, str] = {
    event_type: topic
    for event_type, topic in EVENT_TYPES.items()
    if topic in FEED_TOPICS
}


def kafka_topics(entitlement: Entitlement) -> list[str]:
    """The topics that carry an event type the integrator is entitled to.

    Exactly the types :meth:`Entitlement.allows` lets through decide: ``licence.used``
    is on the usage topic only, although it starts with ``licence.``, so an ACL is
    never broader than the entitlement's event types.
    """
    return sorted(
        {
            topic
            for event_type, topic in EVENT_TOPICS.items()
            if _matches(entitlement.event_types, event_type)
        }
    )


def kafka_user_manifest(entitlement: Entitlement, cluster: str = "certseal") -> str:
    """A Strimzi KafkaUser with the read ACLs that match the entitlement.

    Kafka ACLs stop at topics: an integrator entitled to some departments or licence
    types only sees more on the raw topics than its entitlement, so such entitlements
    get no topic ACLs and are served by the event feed and webhooks instead.
    """
    name = entitlement.integrator.partition(":")[2]
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


# -- webhook egress -------------------------------------------------------------------

#: the longest webhook URL accepted, in characters
MAX_URL_LENGTH = 2048
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_PRINTABLE = re.compile(r"[\x21-\x7e]+")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class WebhookUrl:
    """A webhook URL that passed :func:`parse_webhook_url`: its host (lower case, no
    brackets or trailing dot), its port, and the address when the host is a literal."""

    url: str
    host: str
    port: int
    literal: Address | None = None


def parse_webhook_url(url: str) -> WebhookUrl:
    """The URL a webhook may be registered with; INVALID_ARGUMENT naming ``url``.

    It is https, names a host (a DNS name or an IP literal), carries no user name or
    password and no fragment, has a port from 1 to 65535 (443 when absent) and at most
    :data:`MAX_URL_LENGTH` printable ASCII characters (percent-encode the path, use the
    ``xn--`` form of an internationalised name). A name's last label starts with a
    letter, so numeric forms a resolver would read as an IPv4 address (``127.1``,
    ``2130706433``, ``0x7f000001``) are refused; literals are canonical.
    """
    if not url:
        raise invalid("url", "is required: an https:// URL")
    if len(url) > MAX_URL_LENGTH:
        raise invalid("url", f"has more than {MAX_URL_LENGTH} characters")
    if not _PRINTABLE.fullmatch(url):
        raise invalid(
            "url", "must be printable ASCII without spaces (percent-encode the rest)"
        )
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise invalid(
            "url",
            "is not a valid URL (a bracketed host is an IPv6 address, a port 1 to "
            "65535)",
        ) from None
    if parts.scheme.lower() != "https":
        raise invalid("url", "must be an https:// URL")
    if "@" in parts.netloc:
        raise invalid("url", "must not carry a user name or password")
    if "#" in url:
        raise invalid("url", "must not have a fragment")
    if port == 0:
        raise invalid("url", "has port 0; use 1 to 65535")
    host = (parts.hostname or "").removesuffix(".")
    if not host:
        raise invalid("url", "must name a host")
    literal: Address | None = None
    if parts.netloc.startswith("["):
        try:
            literal = ipaddress.IPv6Address(host)
        except ValueError:
            raise invalid(
                "url", "has a bracketed host that is not an IPv6 address"
            ) from None
        if literal.scope_id:
            raise invalid("url", "must not name an IPv6 zone")
    elif host.replace(".", "").isdigit():
        try:
            literal = ipaddress.IPv4Address(host)
        except ValueError:
            raise invalid("url", f"host {host} is not a valid IPv4 address") from None
    else:
        labels = host.split(".")
        if (
            len(host) > 253
            or not all(_LABEL.fullmatch(label) for label in labels)
            or not labels[-1][0].isalpha()
        ):
            raise invalid("url", f"host {host} is not a valid host name")
    return WebhookUrl(url, host, port or 443, literal)


_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
_V4_CLASSES = (
    (_V4("0.0.0.0/8"), "unspecified"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("240.0.0.0/4"), "reserved"),  # with the limited broadcast address
)
_V6_CLASSES = (
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("ff00::/8"), "multicast"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local"),
    (_V6("fc00::/7"), "unique-local"),
)
#: IPv6 prefixes whose last 32 bits are an IPv4 address a packet may end up at
_V4_INSIDE_V6 = (_V6("::ffff:0:0/96"), _V6("64:ff9b::/96"))
_GLOBAL_UNICAST_V6 = _V6("2000::/3")


def refused_address_class(address: Address) -> str | None:
    """Why a webhook may not reach ``address``: its class (``loopback``,
    ``link-local``, ``private``, ``unique-local``, ``site-local``, ``multicast``,
    ``unspecified``, ``reserved`` or ``non-global``), or None for a global unicast one.

    An IPv4 address inside an IPv6 one (IPv4-mapped ``::ffff:a.b.c.d``, NAT64
    ``64:ff9b::a.b.c.d``, 6to4 ``2002:aabb:ccdd::``) is judged as that IPv4 address; the
    deprecated IPv4-compatible ``::a.b.c.d`` and anything else outside ``2000::/3`` is
    ``reserved``; what IANA lists as not globally reachable (shared address space,
    documentation, benchmarking, Teredo, ...) is ``non-global``.
    """
    if isinstance(address, ipaddress.IPv4Address):
        for network, name in _V4_CLASSES:
            if address in network:
                return name
        return None if address.is_global else "non-global"
    for network6, name in _V6_CLASSES:
        if address in network6:
            return name
    if any(address in prefix for prefix in _V4_INSIDE_V6):
        return refused_address_class(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:
        return refused_address_class(address.sixtofour)
    if address not in _GLOBAL_UNICAST_V6:
        return "reserved"
    return None if address.is_global else "non-global"


# -- subscriptions ------------------------------------------------------------------


class SubscriptionSlots:
    """Open subscriptions per integrator, at most ``limit`` each (in one process)."""

    def __init__(self, limit: int):
        self.limit = limit
        self._open: dict[str, int] = {}

    def open(self, integrator: str) -> int:
        """How many subscriptions ``integrator`` has open."""
        return self._open.get(integrator, 0)

    def take(self, integrator: str) -> None:
        """Count one more; RESOURCE_EXHAUSTED when ``integrator`` has ``limit`` open."""
        if self.open(integrator) >= self.limit:
            raise CertsealError(
                ErrorKind.RESOURCE_EXHAUSTED,
                f"{integrator} has {self.limit} subscriptions open, the most allowed; "
                "close one first",
                field="as",
            )
        self._open[integrator] = self.open(integrator) + 1

    def give_back(self, integrator: str) -> None:
        """One subscription of ``integrator`` ended."""
        left = self.open(integrator) - 1
        if left > 0:
            self._open[integrator] = left
        else:
            self._open.pop(integrator, None)
