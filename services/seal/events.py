"""The seal service's events: a seal's state as a ``SealEvent`` in its CloudEvents
envelope, on ``certseal.seal-events.v1`` keyed by the seal id.

Types (``SealEvent.type``, and ``cn.gov.certseal.<type>`` in the envelope):
``seal.registered``, ``seal.revoked`` and ``document.sealed``. Every event carries the
seal's whole public state and its ``seal_version``, so a reader applies it if newer.
Documents never leave the request: ``document.sealed`` carries the digest only.
"""

from __future__ import annotations

import datetime as dt

from certseal.events import SEAL_EVENTS, OutboxRecord, cloudevent, new_event_id
from certseal.timestamps import ts
from certseal.v1 import events_pb2
from services.seal.domain import Seal


def seal_changed(
    row: Seal, event_type: str, *, actor: str, at: dt.datetime
) -> OutboxRecord:
    """The ``seal.registered`` or ``seal.revoked`` event of ``row``, occurred ``at``.

    ``actor`` is the mTLS identity that acted, e.g. ``dept:<code>``.
    """
    return _record(row, _message(row, event_type, actor, at), at)


def document_sealed(
    row: Seal,
    *,
    actor: str,
    at: dt.datetime,
    document_digest: bytes,
    digest_algorithm: str,
    signed_at: dt.datetime,
) -> OutboxRecord:
    """The ``document.sealed`` event: ``actor`` sealed a document with ``row``.

    ``document_digest`` is the signed digest (raw bytes; sent as hex) by
    ``digest_algorithm`` (``sm3`` or ``sha256``); ``signed_at`` is sent in whole seconds,
    as the SES structures carry it.
    """
    message = _message(row, "document.sealed", actor, at)
    message.document_digest = document_digest.hex()
    message.digest_algorithm = digest_algorithm
    message.signed_at.CopyFrom(ts(signed_at.replace(microsecond=0)))
    return _record(row, message, at)


def _message(
    row: Seal, event_type: str, actor: str, at: dt.datetime
) -> events_pb2.SealEvent:
    return events_pb2.SealEvent(
        event_id=new_event_id(),
        type=event_type,
        seal_id=row.seal_id,
        owner_code=row.owner_code,
        seal_type=row.seal_type,
        suite=row.suite,
        status=row.status,
        valid_start=ts(row.valid_start),
        valid_end=ts(row.valid_end),
        revoked_at=ts(row.revoked_at),
        reason=row.revocation_reason,
        actor=actor,
        occurred_at=ts(at),
        seal_version=row.seal_version,
        seal_certificate=row.certificate,
    )


def _record(row: Seal, message: events_pb2.SealEvent, at: dt.datetime) -> OutboxRecord:
    return cloudevent(
        topic=SEAL_EVENTS,
        key=row.seal_id,
        message=message,
        event_id=message.event_id,
        event_type=message.type,
        source=row.owner_code,
        time=at,
    )
