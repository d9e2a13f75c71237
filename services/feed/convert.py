"""The EventFeed and EventFeedAdmin messages to and from the feed's domain values.

The servicers only check shape, convert here, call the service and convert back; the
service never sees protobuf.
"""

from __future__ import annotations

import datetime as dt

from certseal.timestamps import ts
from certseal.v1 import feed_pb2 as pb
from services.feed.domain import (
    Delivered,
    Entitlement,
    Filter,
    ParkedDelivery,
    short_type,
)


def entitlement_message(entitlement: Entitlement) -> pb.Entitlement:
    """The proto view of an entitlement (each list sorted)."""
    return pb.Entitlement(
        integrator=entitlement.integrator,
        departments=sorted(entitlement.departments),
        licence_types=sorted(entitlement.licence_types),
        event_types=sorted(entitlement.event_types),
    )


def entitlement_of(message: pb.Entitlement) -> Entitlement:
    """The entitlement a ``SetEntitlementRequest`` carries."""
    return Entitlement(
        message.integrator,
        frozenset(message.departments),
        frozenset(message.licence_types),
        frozenset(message.event_types),
    )


def filter_of(request: pb.SubscribeRequest | pb.RegisterWebhookRequest) -> Filter:
    """What a subscriber or a webhook asked for; empty lists do not narrow."""
    return Filter(
        frozenset(request.departments),
        frozenset(request.licence_types),
        frozenset(request.event_types),
    )


def feed_time(headers: dict[str, str]) -> dt.datetime | None:
    """The event's ``ce_time`` (RFC 3339); None when absent or unreadable."""
    text = headers.get("ce_time", "")
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def feed_event(event: Delivered) -> pb.FeedEvent:
    """The ``FeedEvent`` a subscriber receives: CloudEvents-shaped, ``type`` the
    CloudEvents type exactly as on Kafka and in webhooks (``cn.gov.certseal.`` and the
    event type), ``data`` the protobuf value as published."""
    return pb.FeedEvent(
        token=event.token,
        id=event.headers.get("ce_id", ""),
        type=event.headers.get("ce_type", ""),
        source=event.headers.get("ce_source", ""),
        subject=event.key,
        time=ts(feed_time(event.headers)),
        topic=event.topic,
        data=event.value,
        content_type=event.headers.get("content-type", ""),
    )


def parked_message(parked: ParkedDelivery) -> pb.ParkedDelivery:
    """The proto view of a parked delivery."""
    headers = parked.headers
    return pb.ParkedDelivery(
        dead_letter_offset=parked.dead_letter_offset,
        event_id=headers.get("ce_id", ""),
        type=short_type(headers.get("ce_type", "")),
        subject=headers.get("ce_subject", ""),
        reason=headers.get("reason", ""),
    )


def webhook_listed(
    name: str, integrator: str, url: str, wanted: Filter, outside: str
) -> pb.WebhookListed:
    """A registered webhook as ListWebhooks shows it (never its secret), each list
    of its filter sorted; ``outside``: why its entitlement does not cover it, or ''."""
    return pb.WebhookListed(
        name=name,
        integrator=integrator,
        url=url,
        event_types=sorted(wanted.event_types),
        departments=sorted(wanted.departments),
        licence_types=sorted(wanted.licence_types),
        outside=outside,
    )
