"""The issuer's events: licence and key changes as protobuf messages in their
CloudEvents envelope (binary mode, ``certseal.events.cloudevent``).

- ``LicenceEvent`` on ``certseal.licence-events.v1``, keyed by lineage. Types:
  ``licence.issued``, ``.renewed``, ``.amended``, ``.suspended``, ``.unsuspended``,
  ``.revoked``, ``.cancelled``, ``.expired``, ``.transferred``. Each carries the
  version's public state and its ``lineage_version``, so a reader applies it if newer,
  and the version's restricted field values (never personal ones) sealed for the
  verifiers with the index key (``restricted_sealed``, :mod:`certseal.indexkeys`): the
  verifier opens them and shows them only to counters with a field right on them;
  anyone else reading the topic sees ciphertext.
- ``TrustEvent`` on ``certseal.trust-events.v1``, keyed by kid. Types:
  ``key.activated``, ``key.retired``, ``key.revoked``; each carries the key's public
  part and its ``key_version``.
- ``DirectoryEvent`` on ``certseal.directory-events.v1``, keyed by
  ``department:<code>`` or ``licence-type:<code>``. Types: ``department.onboarded``,
  ``licence_type.registered``; each carries the entry's name (and a type's field
  titles), so verifiers show names, not codes, without asking the issuer.

Personal data never enters an event: the holder appears as its pseudonym only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import cast

from google.protobuf.timestamp_pb2 import Timestamp

from certseal.events import (
    DIRECTORY_EVENTS,
    LICENCE_EVENTS,
    TRUST_EVENTS,
    OutboxRecord,
    cloudevent,
    new_event_id,
)
from certseal.indexkeys import IndexSealer
from certseal.timestamps import from_ts, ts
from certseal.v1 import events_pb2, licence_pb2
from services.issuer.authorisation import Authorisation
from services.issuer.domain import (
    Department,
    FieldValue,
    LicenceRecord,
    LicenceType,
    Operation,
    SigningKey,
    Status,
    restricted_fields,
)
from services.issuer.usage import UsageEntry, UsageKind


def proto_status(status: Status) -> licence_pb2.LicenceStatus:
    """The protobuf enum of a status (its numbers are the national codes)."""
    return cast(licence_pb2.LicenceStatus, int(status.value))


def proto_operation(operation: Operation) -> licence_pb2.LicenceOperation:
    """The protobuf enum of an operation (its numbers are the national codes)."""
    return cast(licence_pb2.LicenceOperation, int(operation.value))


def _field_value(value: FieldValue) -> licence_pb2.FieldValue:
    if isinstance(value, bool):
        return licence_pb2.FieldValue(boolean_value=value)
    if isinstance(value, int):
        return licence_pb2.FieldValue(integer_value=value)
    if isinstance(value, dt.date):
        return licence_pb2.FieldValue(date_value=value.isoformat())
    return licence_pb2.FieldValue(string_value=value)


def sealed_restricted(
    record: LicenceRecord, licence_type: LicenceType, sealer: IndexSealer
) -> events_pb2.SealedFields | None:
    """The values of ``licence_type``'s restricted fields in ``record`` sealed for the
    verifiers, bound to the record's lineage and ``lineage_version``; None when there
    are none."""
    restricted = restricted_fields(licence_type, record.fields)
    if not restricted:
        return None
    plaintext = events_pb2.RestrictedFields(
        values={k: _field_value(v) for k, v in restricted.items()}
    ).SerializeToString(deterministic=True)
    sealed = sealer.seal(
        plaintext, lineage=record.lineage, lineage_version=record.lineage_version
    )
    return events_pb2.SealedFields(
        kid=sealed.kid, nonce=sealed.nonce, ciphertext=sealed.ciphertext
    )


def licence_event(
    record: LicenceRecord,
    licence_type: LicenceType,
    event_type: str,
    *,
    actor: str,
    reason: str,
    sealer: IndexSealer,
) -> OutboxRecord:
    """The ``event_type`` event of ``record`` (of ``licence_type``) as it now stands,
    with the values of the type's restricted fields sealed with ``sealer``'s index
    key (never in clear: :func:`sealed_restricted`).

    ``actor``: the department code that acted, or e.g. ``service:expiry-sweep``. The
    event occurred at ``record.updated_at``.
    """
    message = _lineage_state(record, event_type, actor, reason, record.updated_at)
    message.replaces = record.replaces or ""
    message.transferred_to = record.transferred_to or ""
    sealed = sealed_restricted(record, licence_type, sealer)
    if sealed is not None:
        message.restricted_sealed.CopyFrom(sealed)
    return _on_licence_topic(record, message, record.updated_at)


def trust_event(
    key: SigningKey, event_type: str, *, actor: str, reason: str, at: dt.datetime
) -> OutboxRecord:
    """The ``event_type`` event of ``key`` as it now stands, occurred ``at``.

    ``actor``: the identity that acted, e.g. ``operator:<name>``.
    """
    event_id = new_event_id()
    message = events_pb2.TrustEvent(
        event_id=event_id,
        type=event_type,
        kid=key.kid,
        department_code=key.department_code,
        suite=key.suite,
        status=licence_pb2.KeyStatus.Value(f"KEY_STATUS_{key.status.upper()}"),
        public_key=key.public_key,
        not_before=ts(key.not_before),
        not_after=ts(key.not_after),
        revoked_at=ts(key.revoked_at),
        reason=reason,
        actor=actor,
        occurred_at=ts(at),
        key_version=key.key_version,
        presentation_key=key.presentation,
    )
    return cloudevent(
        topic=TRUST_EVENTS,
        key=key.kid,
        message=message,
        event_id=event_id,
        event_type=event_type,
        source=key.department_code,
        time=at,
    )


def department_event(
    dept: Department, *, actor: str, at: dt.datetime, source: str
) -> OutboxRecord:
    """``department.onboarded``: the department's name for the verifiers' index.

    ``source``: the platform department's code (the directory is the platform's).
    """
    return _directory_event(
        "department", dept.code, dept.name, (), actor=actor, at=at, source=source
    )


def licence_type_event(
    licence_type: LicenceType, *, actor: str, at: dt.datetime, source: str
) -> OutboxRecord:
    """``licence_type.registered``: the type's name and its fields' titles (a field
    without a title is listed with its key as title)."""
    return _directory_event(
        "licence_type",
        licence_type.type_code,
        licence_type.name,
        [
            events_pb2.FieldTitle(name=f.name, title=f.title or f.name, public=f.public)
            for f in licence_type.fields
        ],
        actor=actor,
        at=at,
        source=source,
    )


_DIRECTORY = {  # kind -> (event type, key prefix)
    "department": ("department.onboarded", "department"),
    "licence_type": ("licence_type.registered", "licence-type"),
}


def _directory_event(
    kind: str,
    code: str,
    name: str,
    fields: Iterable[events_pb2.FieldTitle],
    *,
    actor: str,
    at: dt.datetime,
    source: str,
) -> OutboxRecord:
    event_type, prefix = _DIRECTORY[kind]
    event_id = new_event_id()
    message = events_pb2.DirectoryEvent(
        event_id=event_id,
        type=event_type,
        kind=kind,
        code=code,
        name=name,
        entry_version=1,
        fields=fields,
        actor=actor,
        occurred_at=ts(at),
    )
    return cloudevent(
        topic=DIRECTORY_EVENTS,
        key=f"{prefix}:{code}",
        message=message,
        event_id=event_id,
        event_type=event_type,
        source=source,
        time=at,
    )


def authorisation_event(
    record: LicenceRecord,
    auth: Authorisation,
    event_type: str,
    *,
    actor: str,
    reason: str,
    at: dt.datetime,
) -> OutboxRecord:
    """``licence.authorised`` or ``licence.authorisation_revoked`` of ``auth`` on the
    licence events topic (key = lineage).

    The lineage's state is ``record``'s, its ``lineage_version`` unchanged, so a
    verifier's index (which applies only newer versions) ignores it. It names the
    fields shared, never their values, and the holder only as its pseudonym.
    ``actor``: the holder app.
    """
    message = _lineage_state(record, event_type, actor, reason, at)
    message.authorisation.CopyFrom(
        events_pb2.AuthorisationChange(
            authorisation_id=auth.authorisation_id,
            department_code=auth.department_code,
            counter=auth.counter,
            purpose=auth.purpose,
            fields=auth.fields,
            expires_at=ts(auth.expires_at),
        )
    )
    return _on_licence_topic(record, message, at)


#: the licence events that are entries of the usage record (用证记录), by type
AUTHORISATION_TYPES = {
    "licence.authorised": UsageKind.AUTHORISED,
    "licence.authorisation_revoked": UsageKind.AUTHORISATION_REVOKED,
}
#: their ``ce_type`` headers (the outbox's ``headers->>'ce_type'``)
AUTHORISATION_CE_TYPES = tuple(f"cn.gov.certseal.{t}" for t in AUTHORISATION_TYPES)


def authorisation_usage_entries(value: bytes) -> list[UsageEntry]:
    """The usage-record entry of a ``licence.authorised`` or
    ``licence.authorisation_revoked`` event (``LicenceEvent`` bytes); [] for every
    other licence event. Its id is the event's id, so the entry written with the
    event and the one made again from the outbox (``UsageRecord.backfill``) are one.
    DecodeError for bytes that are not a ``LicenceEvent``.

    The authorised department, counter, purpose and authorisation id are the event's
    ``authorisation`` (``AuthorisationChange``); the holder app that acted is
    ``actor_department``. An event without ``authorisation`` (written before it
    existed) gives its ``actor_department`` as the department and its ``reason`` as
    the purpose."""
    event = events_pb2.LicenceEvent.FromString(value)
    kind = AUTHORISATION_TYPES.get(event.type)
    at = from_ts(event.occurred_at)
    if kind is None or at is None or not event.event_id or not event.lineage:
        return []
    entry = UsageEntry(
        entry_id=event.event_id,
        lineage=event.lineage,
        identifier=event.identifier,
        kind=kind,
        occurred_at=at,
        department_code=event.actor_department,
        purpose=event.reason,
    )
    if event.HasField("authorisation"):
        change = event.authorisation
        entry = dataclasses.replace(
            entry,
            department_code=change.department_code,
            counter=change.counter,
            purpose=change.purpose,
            actor=event.actor_department,
            reference=change.authorisation_id,
        )
    return [entry]


#: the last few instants' protobuf timestamps: a batch's events share their time and
#: mostly their validity (ts() was 1.9 % of the serving process in IssueLicences of
#: 500). Only read: a message constructor copies the value it is given.
_TIMESTAMPS: dict[dt.datetime, Timestamp] = {}


def _batch_ts(value: dt.datetime) -> Timestamp:
    """``ts(value)``, kept for the next events of the same instant."""
    found = _TIMESTAMPS.get(value)
    if found is None:
        if len(_TIMESTAMPS) >= 64:
            _TIMESTAMPS.clear()
        found = _TIMESTAMPS[value] = ts(value)
    return found


def _lineage_state(
    record: LicenceRecord, event_type: str, actor: str, reason: str, at: dt.datetime
) -> events_pb2.LicenceEvent:
    """The fields every licence-topic event of ``record`` carries: the lineage's
    state as it now stands, who acted, why and when (a fresh event id)."""
    return events_pb2.LicenceEvent(
        event_id=new_event_id(),
        type=event_type,
        lineage=record.lineage,
        identifier=record.identifier,
        version=record.version,
        lineage_version=record.lineage_version,
        status=proto_status(record.status),
        operation=proto_operation(record.last_operation),
        reason=reason,
        actor_department=actor,
        occurred_at=_batch_ts(at),
        type_code=record.type_code,
        issuer_code=record.issuer_code,
        valid_from=_batch_ts(record.valid_from),
        valid_until=_batch_ts(record.valid_until),
        holder_ref=record.holder_ref,
        kid=record.kid,
    )


def _on_licence_topic(
    record: LicenceRecord, message: events_pb2.LicenceEvent, at: dt.datetime
) -> OutboxRecord:
    """``message`` as a CloudEvent on the licence topic, keyed by lineage, from the
    issuing department."""
    return cloudevent(
        topic=LICENCE_EVENTS,
        key=record.lineage,
        message=message,
        event_id=message.event_id,
        event_type=message.type,
        source=record.issuer_code,
        time=at,
    )
