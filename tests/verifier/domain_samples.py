"""What the tests of the verifier's decision (services/verifier/domain.py) share: real
signed licence and presentation codes of one department, the trust and index entries
they are checked against, and the decision called with them at a fixed time."""

from __future__ import annotations

import datetime as dt

from certseal import codes
from certseal.crypto import SoftwareSigner, Suite, generate_key
from certseal.identifiers import LicenceId
from services.verifier.domain import (
    IndexEntry,
    TrustEntry,
    Verification,
    evaluate,
    parse_code,
)

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)  # a whole second
DEPT = "91350100M000100Y43"
PLATFORM = "11100000000013338W"
TYPE = DEPT + "001"
LID = LicenceId(TYPE, DEPT, "ABCDEF0123456789", 2)


def signer(suite: Suite = Suite.ES256) -> SoftwareSigner:
    """A fresh software key of ``suite``."""
    key = generate_key(suite)
    return SoftwareSigner(suite, key.private_bytes, key.public_key_der)


def trust_entry(s: SoftwareSigner, **changes) -> TrustEntry:
    """``s``'s key as the department's, active from 400 days before NOW to 400 after."""
    values = dict(
        kid=s.kid,
        department_code=DEPT,
        suite=s.suite.value,
        public_key=s.public_key_der,
        status="active",
        not_before=NOW - dt.timedelta(days=400),
        not_after=NOW + dt.timedelta(days=400),
    )
    values.update(changes)
    return TrustEntry(**values)


def index_entry(**changes) -> IndexEntry:
    """LID's current version in the index: valid from 10 days before NOW to 10 after."""
    values = dict(
        lineage=LID.lineage,
        identifier=str(LID),
        version=2,
        status="01",
        valid_from=NOW - dt.timedelta(days=10),
        valid_until=NOW + dt.timedelta(days=10),
        issuer_code=DEPT,
        type_code=TYPE,
        lineage_version=7,
    )
    values.update(changes)
    return IndexEntry(**values)


async def licence_code(
    s,
    *,
    lid=LID,
    iat=NOW - dt.timedelta(days=1),
    issuer=DEPT,
    type_code=None,
    fields=None,
) -> str:
    """A licence code of ``lid`` signed by ``s`` at ``iat`` (``fields``: class C1)."""
    claims = {
        codes.CWT_ISS: issuer,
        codes.CWT_IAT: int(iat.timestamp()),
        codes.CWT_NBF: int((NOW - dt.timedelta(days=10)).timestamp()),
        codes.CWT_EXP: int((NOW + dt.timedelta(days=10)).timestamp()),
        codes.CLAIM_LICENCE: {
            "id": str(lid),
            "t": type_code or lid.type_code,
            "n": "张*丰",
            "f": {"class": "C1"} if fields is None else fields,
        },
    }
    return await codes.encode_code(codes.LICENCE_CODE_PREFIX, claims, s)


async def presentation_code(
    s, *, lid=LID, iat=NOW - dt.timedelta(seconds=10), ttl=60
) -> str:
    """A presentation code of ``lid`` signed by ``s`` at ``iat``, ``ttl`` seconds long."""
    claims = {
        codes.CWT_IAT: int(iat.timestamp()),
        codes.CWT_EXP: int(iat.timestamp()) + ttl,
        codes.CWT_CTI: b"n" * 16,
        codes.CLAIM_PRESENTATION: {"id": str(lid), "v": lid.version},
    }
    return await codes.encode_code(codes.PRESENTATION_CODE_PREFIX, claims, s)


def verify(text, *, trust, index=None, nonce_seen=False, now=NOW) -> Verification:
    """The decision on ``text`` (``index``: LID's entry by default)."""
    return evaluate(
        parse_code(text),
        trust=trust,
        index=index if index is not None else index_entry(),
        nonce_seen=nonce_seen,
        now=now,
    )
