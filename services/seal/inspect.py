"""A readable, field-by-field listing of an SESeal or SES_Signature (``certseal seal
inspect FILE``), GB/T 38540 v4 or GM/T 0031 v1.

It reads through :mod:`services.seal.ses_read`, the same reader the verifier uses, so
what one accepts the other accepts. Every string from the file is printed escaped
(:func:`shown`): a control, format or separator character comes out as ``\\uXXXX``,
so a seal cannot rewrite the terminal or forge a line of the listing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import unicodedata

from certseal.errors import invalid
from services.seal.certificates import read_certificate
from services.seal.ses import CERT_LIST_CERTS, SUITE_BY_OID
from services.seal.ses_read import (
    SEAL_TYPE_MEANINGS,
    SealData,
    SesFormatError,
    SignatureData,
    read_any,
)
from services.seal.timestamp import token_summary

_ESCAPED = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def shown(value: object) -> str:
    """``value`` as text with every control, format, separator, surrogate, private
    use or unassigned character (and the backslash) written as an escape."""
    out = []
    for char in str(value):
        if char == "\\":
            out.append("\\\\")
        elif unicodedata.category(char) in _ESCAPED:
            code = ord(char)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)


def seal_type_text(value: int) -> str:
    """The seal's ``type`` integer with the standard's meaning, when it defines one."""
    meaning = SEAL_TYPE_MEANINGS.get(value)
    return (
        f"{value} ({meaning})" if meaning else f"{value} (not defined by the standard)"
    )


def _algorithm(oid: str) -> str:
    suite = SUITE_BY_OID.get(oid)
    return f"{oid} ({suite.value})" if suite else f"{shown(oid)} (unknown)"


def _time(value: dt.datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC"


def _certificate(der: bytes) -> str:
    try:
        info = read_certificate(der)
    except ValueError:
        return f"{len(der)} bytes, not a certificate"
    return (
        f"CN={shown(info.common_name)}, valid {info.not_before:%Y-%m-%d %H:%M:%S} to "
        f"{info.not_after:%Y-%m-%d %H:%M:%S} UTC, SHA-256 "
        f"{hashlib.sha256(der).hexdigest()[:16]}…"
    )


def _seal(seal: SealData, indent: str) -> list[str]:
    kind = seal.cert_list_type
    lines = [
        f"{indent}eSealInfo",
        f"{indent}  header        id=ES version={seal.version} ({seal.standard}) "
        f"vid={shown(seal.vendor_id)}",
        f"{indent}  esID          {shown(seal.es_id)}",
        f"{indent}  property",
        f"{indent}    type        {seal_type_text(seal.seal_type)}",
        f"{indent}    name        {shown(seal.name)}",
        f"{indent}    certListType {kind} "
        f"({'certificates' if kind == CERT_LIST_CERTS else 'digests'})",
    ]
    for n, cert in enumerate(seal.certs):
        lines.append(f"{indent}    certList[{n}] {_certificate(cert)}")
    for n, (name, value) in enumerate(seal.digests):
        lines.append(f"{indent}    certList[{n}] {shown(name)} {value.hex()}")
    lines += [
        f"{indent}    create_date {_time(seal.created)}",
        f"{indent}    valid_start {_time(seal.valid_start)}",
        f"{indent}    valid_end   {_time(seal.valid_end)}",
        f"{indent}  picture       {shown(seal.picture_type)}, {len(seal.picture)} bytes, "
        f"{seal.width_mm} × {seal.height_mm} mm",
        f"{indent}  extDatas      {seal.ext_count or 'none'}",
        f"{indent}cert          {_certificate(seal.maker_cert)}",
        f"{indent}signAlgID     {_algorithm(seal.maker_algorithm)}",
        f"{indent}signedValue   {len(seal.maker_signature)} bytes",
    ]
    return lines


def _signature(sig: SignatureData) -> list[str]:
    stamp = sig.time_stamp
    return [
        "SES_Signature",
        "  toSign",
        f"    version       {sig.version} ({sig.standard})",
        "    eseal",
        *_seal(sig.seal, "      "),
        f"    timeInfo      {_time(sig.signed_at)}{_time_read(sig)}",
        f"    dataHash      {sig.data_hash.hex()}",
        f"    propertyInfo  {shown(sig.property_info)}",
        f"    extDatas      {sig.ext_count or 'none'}",
        f"  cert            {_certificate(sig.signer_cert)}",
        f"  signatureAlgID  {_algorithm(sig.algorithm)}",
        f"  signature       {len(sig.signature)} bytes",
        "  timeStamp       " + (f"{len(stamp)} bytes" if stamp else "none"),
        *_token(stamp),
    ]


def _time_read(sig: SignatureData) -> str:
    """How a v1 ``timeInfo`` was read, when it was not a zoned time."""
    if sig.time_note:
        return f" ({sig.time_note})"
    if sig.stamps_document and sig.time_stamp:
        return " (the genTime of the time-stamp token timeInfo holds, below)"
    return ""


def _token(stamp: bytes | None) -> list[str]:
    summary = token_summary(stamp) if stamp else None
    if summary is None:
        return []
    at, tsa = summary
    return [f"    genTime       {_time(at)} by {shown(tsa)} (RFC 3161; not checked)"]


#: what a file that holds neither structure is not, in words a new user knows
NOT_SES = "is not a seal or seal signature file (GB/T 38540 SESeal or SES_Signature)"


def describe(data: bytes) -> list[str]:
    """The lines describing ``data``; INVALID_ARGUMENT (``file``) naming what is
    wrong when it is over :data:`~services.seal.ses.MAX_SES_BYTES` or neither
    structure (an unsupported version is named, e.g. v5)."""
    return inspect(data, "file")[1]


def inspect(
    data: bytes, field: str = "data"
) -> tuple[SealData | SignatureData, list[str]]:
    """The structure in ``data`` and its listing; INVALID_ARGUMENT (``field``) as
    :func:`describe`."""
    try:
        found = read_any(data)
    except SesFormatError as exc:
        raise invalid(field, f"{NOT_SES}: {shown(exc)}") from None
    if isinstance(found, SignatureData):
        return found, _signature(found)
    return found, ["SESeal", *_seal(found, "  ")]
