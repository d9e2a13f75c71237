"""The verifier's event: ``licence.used``, a ``LicenceUsedEvent`` with its envelope.

Published on ``certseal.licence-usage.v1``, keyed by lineage, with the same CloudEvents
1.0 binary-mode headers as every other certseal event (:func:`certseal.events.cloudevent`,
docs/events.md). Its source is the licence's issuing authority, so a department's
integrator sees who checked its licences. No personal data: the holder is not named.
"""

from __future__ import annotations

import datetime as dt

from certseal.events import LICENCE_USAGE, OutboxRecord, cloudevent, new_event_id
from certseal.identifiers import parse_licence_id
from certseal.timestamps import ts
from certseal.v1 import events_pb2
from services.verifier.domain import ParsedCode, Verdict

LICENCE_USED = "licence.used"


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
    """The ``licence.used`` record for one verification of ``code``.

    ``counter`` is the counter verified for (``dept:<code>``, or an operator), with
    ``clerk`` and ``via`` when the console verified on a clerk's behalf
    (:mod:`services.verifier.access`), ``group`` the verifier group, ``now`` the time of the verification (``occurred_at`` and ``ce_time``). An
    accepted presentation code carries its nonce hash and expiry, which is how every
    verifier group learns that it was used (replay guard); a refused one carries no
    nonce hash.
    """
    event_id = event_id or new_event_id()
    message = events_pb2.LicenceUsedEvent(
        event_id=event_id,
        type=LICENCE_USED,
        lineage=code.lineage,
        identifier=code.identifier,
        verdict=verdict.value,
        counter=counter,
        clerk=clerk,
        via=via,
        purpose=purpose,
        verifier_group=group,
        occurred_at=ts(now),
        code_kind=code.kind.value,
        nonce_hash=code.nonce_hash if verdict is Verdict.VALID else "",
        code_expires_at=ts(code.expires_at) if code.nonce else None,
    )
    return cloudevent(
        topic=LICENCE_USAGE,
        key=code.lineage,
        message=message,
        event_id=event_id,
        event_type=LICENCE_USED,
        source=parse_licence_id(code.identifier).authority_code,
        time=now,
    )


def kafka_headers(record: OutboxRecord) -> list[tuple[str, bytes]]:
    """A record's headers as a Kafka producer sends them."""
    return [(name, value.encode()) for name, value in record.headers.items()]
