"""The verifier's event: ``licence.used``, a ``LicenceUsedEvent`` with its envelope.

One record per verification request (one scan, or a batch), or per set of one
counter's requests of one purpose gathered by :mod:`services.verifier.gathering`,
published on ``certseal.licence-usage.v1`` with the same CloudEvents 1.0 binary-mode
headers as every other certseal event (:func:`certseal.events.cloudevent`, docs/events.md). The request's
purpose, counter, clerk and time appear once; its verified codes are its uses. A
one-code request fills the singular per-licence fields (key = lineage, source = the
licence's issuing authority), exactly as a per-code record always did; a request with
more codes carries them only in ``uses`` (key and source of the first use). No personal
data: the holder is not named.

The size bound (docs/events.md, "Usage records"): the record of one request is at most
the bytes the request carried plus :data:`ENVELOPE_BYTES`. :func:`bounded_usage`
enforces it before anything is published.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence

from certseal.events import (
    LICENCE_USAGE,
    USAGE_NONCES_HEADER,
    OutboxRecord,
    cloudevent,
    new_event_id,
)
from certseal.identifiers import parse_licence_id
from certseal.timestamps import ts
from certseal.v1 import events_pb2
from services.verifier.domain import ParsedCode, Verdict

LICENCE_USED = "licence.used"

NONCES_HEADER = USAGE_NONCES_HEADER
"""A usage record's header: how many accepted presentation nonces its uses carry
(ASCII digits). The replay guard (:mod:`services.verifier.replay`) skips a record
whose header is ``0`` without decoding it, and decodes one without the header (a
verifier's before it existed)."""

ENVELOPE_BYTES = 1024
"""Bytes one usage record may add to what its request carried: the key, the CloudEvents
headers and the request-level fields (event id, type, counter, clerk of at most 64
characters, via, verifier group, time). A use itself is never larger than the signed
code it stands for (lineage, identifier, verdict, kind, nonce hash and expiry against a
COSE signature of at least 64 bytes in Base45), and the purpose is the request's own."""


@functools.lru_cache(maxsize=4096)
def _authority(identifier: str) -> str:
    """The issuing authority's code of a licence identifier (parsed once per
    identifier: a pure function of it)."""
    return parse_licence_id(identifier).authority_code


def licence_use(code: ParsedCode, verdict: Verdict) -> events_pb2.LicenceUse:
    """The use of one verified code. An accepted presentation code carries its nonce
    hash and expiry, which is how every verifier group learns that it was used (replay
    guard); a refused one carries no nonce hash."""
    return events_pb2.LicenceUse(
        lineage=code.lineage,
        identifier=code.identifier,
        verdict=verdict.value,
        code_kind=code.kind.value,
        nonce_hash=code.nonce_hash if verdict is Verdict.VALID else "",
        code_expires_at=ts(code.expires_at) if code.nonce else None,
    )


def usage_record(
    uses: Sequence[events_pb2.LicenceUse],
    *,
    counter: str,
    purpose: str,
    group: str,
    now: dt.datetime,
    clerk: str = "",
    via: str = "",
    event_id: str | None = None,
    key: str | None = None,
) -> OutboxRecord:
    """The ``licence.used`` record of one verification request with at least one use.

    ``counter`` is the counter verified for (``dept:<code>``, or an operator), with
    ``clerk`` and ``via`` when the console verified on a clerk's behalf
    (:mod:`services.verifier.access`), ``group`` the verifier group, ``now`` the time of
    the verification (``occurred_at`` and ``ce_time``). One use fills the singular
    per-licence fields and leaves ``uses`` empty; more fill ``uses`` only.

    ``key``: the record's key and ``ce_subject`` (default: the first use's lineage);
    a claim of presentation codes is keyed by the lineage of its first one
    (services/verifier/claims.py).

    Raises ValueError for no uses: a request that verified nothing publishes nothing.
    """
    if not uses:
        raise ValueError("a usage record needs at least one use")
    event_id = event_id or new_event_id()
    message = events_pb2.LicenceUsedEvent(
        event_id=event_id,
        type=LICENCE_USED,
        counter=counter,
        clerk=clerk,
        via=via,
        purpose=purpose,
        verifier_group=group,
        occurred_at=ts(now),
    )
    if len(uses) == 1:
        (use,) = uses
        message.lineage = use.lineage
        message.identifier = use.identifier
        message.verdict = use.verdict
        message.code_kind = use.code_kind
        message.nonce_hash = use.nonce_hash
        if use.HasField("code_expires_at"):
            message.code_expires_at.CopyFrom(use.code_expires_at)
    else:
        message.uses.extend(uses)
    first = uses[0]
    record = cloudevent(
        topic=LICENCE_USAGE,
        key=key or first.lineage,
        message=message,
        event_id=event_id,
        event_type=LICENCE_USED,
        source=_authority(first.identifier),
        time=now,
    )
    accepted = sum(1 for use in uses if use.nonce_hash and use.verdict == "VALID")
    record.headers[NONCES_HEADER] = str(accepted)
    return record


def record_bytes(record: OutboxRecord) -> int:
    """Bytes of a record as the broker stores it: key, value, header names and values."""
    return (
        len(record.key)
        + len(record.value)
        + sum(len(k.encode()) + len(v.encode()) for k, v in record.headers.items())
    )


def usage_bound(carried: int) -> int:
    """The most bytes the usage record of a request of ``carried`` bytes (its protobuf
    ``ByteSize()``) may have: ``carried + ENVELOPE_BYTES``."""
    return carried + ENVELOPE_BYTES


def bounded_usage(
    uses: Sequence[events_pb2.LicenceUse],
    *,
    limit: int,
    counter: str,
    purpose: str,
    group: str,
    now: dt.datetime,
    clerk: str = "",
    via: str = "",
    event_id: str | None = None,
    key: str | None = None,
) -> tuple[OutboxRecord | None, int]:
    """The usage record of ``uses`` within ``limit`` bytes (:func:`record_bytes`; a
    request's :func:`usage_bound`, or the sum of gathered requests'), and how many uses
    were left out to keep it there (0 unless the bound's arithmetic is wrong: a bug the
    caller logs and counts). Uses are left out from the end; None when no use fits or
    there is none."""
    kept = list(uses)
    event_id = event_id or new_event_id()
    while kept:
        record = usage_record(
            kept,
            counter=counter,
            purpose=purpose,
            group=group,
            now=now,
            clerk=clerk,
            via=via,
            event_id=event_id,
            key=key,
        )
        excess = record_bytes(record) - limit
        if excess <= 0:
            return record, len(uses) - len(kept)
        # leave out enough uses from the end to cover the excess, then measure again
        while kept and excess > 0:
            excess -= kept.pop().ByteSize() + 3
    return None, len(uses)


def licence_used(
    code: ParsedCode,
    verdict: Verdict,
    *,
    counter: str,
    purpose: str,
    group: str,
    now: dt.datetime,
    clerk: str = "",
    via: str = "",
    event_id: str | None = None,
) -> OutboxRecord:
    """The ``licence.used`` record of a one-code request (:func:`usage_record`)."""
    return usage_record(
        [licence_use(code, verdict)],
        counter=counter,
        purpose=purpose,
        group=group,
        now=now,
        clerk=clerk,
        via=via,
        event_id=event_id,
    )


def kafka_headers(record: OutboxRecord) -> list[tuple[str, bytes]]:
    """A record's headers as a Kafka producer sends them."""
    return [(name, value.encode()) for name, value in record.headers.items()]
