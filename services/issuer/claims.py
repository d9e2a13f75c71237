"""The CWT claims (RFC 8392) of the issuer's codes: a static licence code's (public
data only) and a presentation code's; docs/codes.md. Pure: no I/O. Split from
:mod:`services.issuer.domain` by size."""

from __future__ import annotations

import datetime as dt
from typing import Any

from certseal import codes
from services.issuer.domain import FieldValue, Validity


def licence_claims(
    *,
    identifier: str,
    type_code: str,
    issuer_code: str,
    display_name: str,
    public_fields: dict[str, FieldValue],
    validity: Validity,
    issued_at: dt.datetime,
) -> dict[Any, Any]:
    """The CWT claims of a static licence code (only public data)."""
    return {
        codes.CWT_ISS: issuer_code,
        codes.CWT_IAT: int(issued_at.timestamp()),
        codes.CWT_NBF: int(validity.valid_from.timestamp()),
        codes.CWT_EXP: int(validity.valid_until.timestamp()),
        codes.CLAIM_LICENCE: {
            "id": identifier,
            "t": type_code,
            "n": display_name,
            "f": {k: _cbor_value(v) for k, v in sorted(public_fields.items())},
        },
    }


def presentation_claims(
    *, identifier: str, version: int, nonce: bytes, issued_at: dt.datetime, ttl_s: int
) -> dict[Any, Any]:
    """The CWT claims of a presentation code."""
    return {
        codes.CWT_IAT: int(issued_at.timestamp()),
        codes.CWT_EXP: int(issued_at.timestamp()) + ttl_s,
        codes.CWT_CTI: nonce,
        codes.CLAIM_PRESENTATION: {"id": identifier, "v": version},
    }


def _cbor_value(value: FieldValue) -> str | int | bool:
    return value.isoformat() if isinstance(value, dt.date) else value
