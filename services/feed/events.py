"""The feed's reading of the platform's event records: their CloudEvents headers, what
the entitlement rules see of them, and their CloudEvents structured JSON for webhooks.

The feed publishes no events of its own; it reads ``certseal.licence-events.v1``,
``certseal.trust-events.v1``, ``certseal.seal-events.v1`` and
``certseal.licence-usage.v1``, whose values are the protobuf messages of
``protos/certseal/v1/events.proto`` and whose headers are CloudEvents 1.0 binary mode.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.json_format import MessageToDict, SerializeToJsonError
from google.protobuf.message import DecodeError

from certseal.events import (
    LICENCE_EVENTS,
    LICENCE_USAGE,
    SEAL_EVENTS,
    TRUST_EVENTS,
    USAGE_NONCES_HEADER,
    cloudevent,
    has_own_time,
    uses_of,
)
from certseal.identifiers import LICENCE_OID_PREFIX
from certseal.timestamps import rfc3339
from certseal.v1 import events_pb2
from services.feed.domain import FEED_TOPICS as FEED_TOPICS  # theirs, re-exported
from services.feed.domain import SOURCE_PREFIX, TYPE_PREFIX, EventMeta

_MESSAGES: dict[str, Any] = {
    LICENCE_USAGE: events_pb2.LicenceUsedEvent,
    LICENCE_EVENTS: events_pb2.LicenceEvent,
    TRUST_EVENTS: events_pb2.TrustEvent,
    SEAL_EVENTS: events_pb2.SealEvent,
}


def record_headers(
    topic: str, raw: Sequence[tuple[str, bytes]] | None, value: bytes
) -> dict[str, str]:
    """A record's CloudEvents headers.

    Every event is published with them. ``licence.used`` records written by verifiers
    before certseal 0.2 carry none and stay on the usage topic for its retention (180
    days): for those, the envelope is the one the verifier now writes
    (:func:`certseal.events.cloudevent`, the source being the licence's issuing
    authority), so an upgrade loses none of them.
    """
    headers = {k: v.decode(errors="replace") for k, v in raw or ()}
    if topic == LICENCE_USAGE:
        # the verifiers' replay guard's header, not part of the envelope
        headers.pop(USAGE_NONCES_HEADER, None)
    if topic != LICENCE_USAGE or "ce_type" in headers:
        return headers
    try:
        used = events_pb2.LicenceUsedEvent.FromString(value)
        _type_code, authority, _serial = used.lineage.removeprefix(
            LICENCE_OID_PREFIX
        ).split(".")
        occurred_at = used.occurred_at.ToDatetime(tzinfo=dt.UTC)
        # ValueError too for a type no usage record has (certseal.events.EVENT_TYPES)
        return cloudevent(
            topic=topic,
            key=used.lineage,
            message=used,
            event_id=used.event_id,
            event_type=used.type or "licence.used",
            source=authority,
            time=occurred_at,
        ).headers
    except (DecodeError, ValueError):
        return headers


@dataclass(frozen=True, slots=True)
class View:
    """What an integrator may be given of one record: its key, CloudEvents headers and
    protobuf value (the whole record, or one department's part of a usage record)."""

    key: bytes
    headers: dict[str, str]
    value: bytes


def views(topic: str, key: bytes, headers: dict[str, str], value: bytes) -> list[View]:
    """A record as the feed delivers it: usage records per entitlement, other records
    whole.

    A usage record of a request that used codes of more than one department or
    licence type (``LicenceUsedEvent.uses``) is split into one view per issuing
    department and licence type, in the order of their first use: a view holds only
    its uses, with the request-level fields (purpose, counter, clerk, time; the time
    and ``ce_time`` those of its first use when that use has its own, gathered from a
    later request); one use fills the singular per-licence fields instead of
    ``uses``. Its ``ce_source`` is the department, ``ce_subject`` and key the lineage
    of its first use, and its id (the ``ce_id`` and ``event_id``) the record's with
    ``.<n>`` appended (n from 1), so the views of one record have distinct, stable
    ids. A use whose own time is not a Timestamp's is read at the record's time. Any
    other record is one view, unchanged; so is a value that does not parse
    (:func:`event_meta` refuses it).
    docs/events.md, "Usage records".
    """
    if topic != LICENCE_USAGE:
        return [View(key, headers, value)]
    try:
        event = events_pb2.LicenceUsedEvent.FromString(value)
    except DecodeError:
        return [View(key, headers, value)]
    if _untimed_bad_uses(event):  # read at the record's time, as the issuer does
        value = event.SerializeToString()  # and every time left is one JSON takes
    whole = [View(key, headers, value)]
    groups: dict[tuple[str, str], list[events_pb2.LicenceUse]] = {}
    for use in uses_of(event):
        groups.setdefault(_department_and_type(use.lineage), []).append(use)
    if len(groups) <= 1:
        return whole
    out = []
    for n, ((department, _type), uses) in enumerate(groups.items(), start=1):
        part = events_pb2.LicenceUsedEvent()
        part.CopyFrom(event)
        part.ClearField("uses")
        part.event_id = f"{event.event_id}.{n}"
        timed = {}
        if uses[0].HasField("occurred_at"):  # a view of later requests' uses only
            part.occurred_at.CopyFrom(uses[0].occurred_at)
            at = uses[0].occurred_at.ToDatetime(tzinfo=dt.UTC)  # one it holds: cleared
            timed = {"ce_time": rfc3339(at)}
        if len(uses) == 1:
            (use,) = uses
            part.lineage, part.identifier = use.lineage, use.identifier
            part.verdict, part.code_kind = use.verdict, use.code_kind
            part.nonce_hash = use.nonce_hash
            if use.HasField("code_expires_at"):
                part.code_expires_at.CopyFrom(use.code_expires_at)
        else:
            part.uses.extend(uses)
        out.append(
            View(
                uses[0].lineage.encode(),
                headers
                | {
                    "ce_id": part.event_id,
                    "ce_source": f"/departments/{department}",
                    "ce_subject": uses[0].lineage,
                }
                | timed,
                part.SerializeToString(),
            )
        )
    return out


def _untimed_bad_uses(event: events_pb2.LicenceUsedEvent) -> bool:
    """Clear each use's ``occurred_at`` that is not a time of its own
    (:func:`certseal.events.has_own_time`: zero, or not one a Timestamp holds), so the
    use reads at the record's time, as the issuer reads it, and its JSON can be
    written; whether any was cleared."""
    bad = [u for u in event.uses if u.HasField("occurred_at") and not has_own_time(u)]
    for use in bad:
        use.ClearField("occurred_at")
    return bool(bad)


def _department_and_type(lineage: str) -> tuple[str, str]:
    """(issuing department, licence type) of a lineage; ('', '') when malformed."""
    parts = lineage.removeprefix(LICENCE_OID_PREFIX).split(".")
    return (parts[1], parts[0]) if len(parts) == 3 else ("", "")


def event_meta(topic: str, headers: dict[str, str], value: bytes) -> EventMeta | None:
    """What the entitlement rules look at; None for a record that is not an event."""
    event_type = headers.get("ce_type", "")
    source = headers.get("ce_source", "")
    if not event_type.startswith(TYPE_PREFIX) or not source.startswith(SOURCE_PREFIX):
        return None
    licence_type = ""
    try:
        if topic == LICENCE_EVENTS:
            licence_type = events_pb2.LicenceEvent.FromString(value).type_code
        elif topic == LICENCE_USAGE:
            uses = uses_of(events_pb2.LicenceUsedEvent.FromString(value))
            types = {_department_and_type(u.lineage)[1] for u in uses}
            # a view of one department and type (:func:`views`); an unsplit batch
            # of several types matches only an entitlement to every type
            licence_type = types.pop() if len(types) == 1 else "*"
    except DecodeError:
        return None
    return EventMeta(
        topic,
        event_type.removeprefix(TYPE_PREFIX),
        source.removeprefix(SOURCE_PREFIX),
        licence_type,
    )


def integrator_view(topic: str, value: bytes) -> bytes:
    """An event value as integrators receive it: a licence event without its
    restricted field values, sealed (``restricted_sealed``, which the feed cannot
    open and integrators need not see) or, from an event written before they were
    sealed, in clear (``restricted_fields``): only the verifier's index keeps them and
    shows them to the counters whose field rights grant them (docs/codes.md). Other
    values unchanged.
    """
    if topic != LICENCE_EVENTS:
        return value
    try:
        event = events_pb2.LicenceEvent.FromString(value)
    except DecodeError:
        return value  # not delivered: event_meta refuses it too
    if not event.restricted_fields and not event.HasField("restricted_sealed"):
        return value
    event.ClearField("restricted_fields")
    event.ClearField("restricted_sealed")
    return event.SerializeToString()


UNRENDERABLE = (DecodeError, KeyError, ValueError, OverflowError, SerializeToJsonError)
"""What :func:`cloudevent_json` raises for a record it cannot write as JSON (a value
that is not its topic's message, a time no Timestamp holds)."""


def cloudevent_body(
    topic: str, value: bytes, headers: dict[str, str]
) -> tuple[bytes | None, str]:
    """(:func:`cloudevent_json`, ""), or (None, why) for a record it cannot write
    (:data:`UNRENDERABLE`): a webhook parks that one instead of retrying it for ever."""
    try:
        return cloudevent_json(topic, value, headers), ""
    except UNRENDERABLE as exc:
        return None, f"not renderable as a CloudEvent: {exc!r}"[:500]


def cloudevent_json(topic: str, value: bytes, headers: dict[str, str]) -> bytes:
    """The event in CloudEvents structured JSON, ``data`` as the protobuf's JSON.

    Raises KeyError for a topic the feed does not read, DecodeError for a value that
    is not its topic's message, SerializeToJsonError or ValueError for one holding a
    time no Timestamp holds (:data:`UNRENDERABLE`).
    """
    message = _MESSAGES[topic].FromString(integrator_view(topic, value))
    event = {
        "specversion": "1.0",
        "id": headers.get("ce_id", ""),
        "type": headers.get("ce_type", ""),
        "source": headers.get("ce_source", ""),
        "subject": headers.get("ce_subject", ""),
        "time": headers.get("ce_time", ""),
        "datacontenttype": "application/json",
        "data": MessageToDict(message),
    }
    # extension attributes (e.g. ``republished``) are top-level in structured mode
    for name, header in headers.items():
        attribute = name.removeprefix("ce_")
        if name.startswith("ce_") and attribute not in event and attribute.isalnum():
            event[attribute] = header
    return json.dumps(event, ensure_ascii=False, sort_keys=True).encode()
