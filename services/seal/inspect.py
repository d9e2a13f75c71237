"""A readable, field-by-field listing of an SESeal or SES_Signature (``certseal seal
inspect FILE``)."""

from __future__ import annotations

import hashlib
from typing import Any

from certseal import der
from certseal.errors import invalid
from services.seal.certificates import read_certificate
from services.seal.ses import (
    CERT_LIST_CERTS,
    SUITE_BY_OID,
    SESeal,
    SESSignature,
    cert_list,
    check_ses_size,
)


def _algorithm(oid: str) -> str:
    suite = SUITE_BY_OID.get(oid)
    return f"{oid} ({suite.value})" if suite else f"{oid} (unknown)"


def _certificate(der: bytes) -> str:
    try:
        info = read_certificate(der)
    except ValueError:
        return f"{len(der)} bytes, not a certificate"
    return (
        f"CN={info.common_name}, valid {info.not_before:%Y-%m-%d %H:%M:%S} to "
        f"{info.not_after:%Y-%m-%d %H:%M:%S} UTC, SHA-256 "
        f"{hashlib.sha256(der).hexdigest()[:16]}…"
    )


def _seal(seal: Any, indent: str) -> list[str]:
    info = seal["e_seal_info"]
    header, prop, picture = info["header"], info["property"], info["picture"]
    kind, listed = cert_list(prop)
    lines = [
        f"{indent}eSealInfo",
        f"{indent}  header        id={header['id'].native} "
        f"version={header['version'].native} vid={header['vid'].native}",
        f"{indent}  esID          {info['es_id'].native}",
        f"{indent}  property",
        f"{indent}    type        {prop['type'].native}",
        f"{indent}    name        {prop['name'].native}",
        f"{indent}    certListType {kind} "
        f"({'certificates' if kind == CERT_LIST_CERTS else 'digests'})",
    ]
    for n, item in enumerate(listed):
        shown = (
            _certificate(item)
            if kind == CERT_LIST_CERTS
            else f"{item[0]} {item[1].hex()}"
        )
        lines.append(f"{indent}    certList[{n}] {shown}")
    for name in ("create_date", "valid_start", "valid_end"):
        lines.append(
            f"{indent}    {name:<11} {prop[name].native:%Y-%m-%d %H:%M:%S} UTC"
        )
    lines += [
        f"{indent}  picture       {picture['type'].native}, "
        f"{len(picture['data'].native)} bytes, "
        f"{picture['width'].native} × {picture['height'].native} mm",
        f"{indent}  extDatas      "
        + (str(len(info["ext_datas"])) if info["ext_datas"].native else "none"),
        f"{indent}cert          {_certificate(seal['cert'].native)}",
        f"{indent}signAlgID     {_algorithm(seal['sign_alg_id'].dotted)}",
        f"{indent}signedValue   {len(seal['signed_value'].native)} bytes",
    ]
    return lines


def describe(data: bytes) -> list[str]:
    """The lines describing ``data``; INVALID_ARGUMENT when it is over
    :data:`~services.seal.ses.MAX_SES_BYTES` or neither structure."""
    check_ses_size(data, "file")
    try:
        der.check(data)  # bounded headers before asn1crypto sees them
    except der.DerError as exc:
        raise invalid(
            "file",
            f"is neither a DER SESeal nor a DER SES_Signature (GB/T 38540): {exc}",
        ) from None
    for loader in (_signature, _seal_only):
        try:
            return loader(data)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            continue
    raise invalid(
        "file", "is neither a DER SESeal nor a DER SES_Signature (GB/T 38540)"
    )


def _seal_only(data: bytes) -> list[str]:
    seal = SESeal.load(data, strict=True)
    return ["SESeal", *_seal(seal, "  ")]


def _signature(data: bytes) -> list[str]:
    sig = SESSignature.load(data, strict=True)
    tbs = sig["to_sign"]
    time_stamp = sig["time_stamp"].native
    return [
        "SES_Signature",
        "  toSign",
        f"    version       {tbs['version'].native}",
        "    eseal",
        *_seal(tbs["eseal"], "      "),
        f"    timeInfo      {tbs['time_info'].native:%Y-%m-%d %H:%M:%S} UTC",
        f"    dataHash      {tbs['data_hash'].native.hex()}",
        f"    propertyInfo  {tbs['property_info'].native}",
        f"  cert            {_certificate(sig['cert'].native)}",
        f"  signatureAlgID  {_algorithm(sig['signature_alg_id'].dotted)}",
        f"  signature       {len(sig['signature'].native)} bytes",
        "  timeStamp       " + (f"{len(time_stamp)} bytes" if time_stamp else "none"),
    ]
