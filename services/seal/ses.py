"""GB/T 38540-2020 (SES v4) structures: the electronic seal and the seal signature.

The ASN.1 types are declared with asn1crypto and encoded in DER (their ASN.1 module is
in docs/architecture.md section 4). The sm2 suite uses SM2-with-SM3
(1.2.156.10197.1.501) and SM3 data hashes (1.2.156.10197.1.401); es256 and ed25519
seals use the same structures with their own algorithm identifiers and SHA-256. ECDSA
and SM2 signatures are DER ``SEQUENCE {r, s}``; Ed25519 signatures are the raw 64 bytes.

Building a seal and signing a document take an async :class:`certseal.crypto.Signer`;
nothing here holds a private key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from asn1crypto import core
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from certseal.crypto import (
    InvalidSignature,
    Signer,
    Suite,
    digest,
    signature_to_der,
)
from certseal.der import tlv as _tlv
from certseal.errors import invalid

SES_VERSION = 4
SM3_OID = "1.2.156.10197.1.401"
SIGNATURE_OIDS = {
    Suite.SM2: "1.2.156.10197.1.501",  # SM2 with SM3
    Suite.ES256: "1.2.840.10045.4.3.2",  # ecdsa-with-SHA256
    Suite.ED25519: "1.3.101.112",  # Ed25519
}
#: the algorithms read: those written, and SM2-1 (GM/T 0006: the SM2 signature
#: algorithm, which GB/T 35276 and GM/T 0009 give SM3 and the default signer id)
SUITE_BY_OID = {oid: suite for suite, oid in SIGNATURE_OIDS.items()} | {
    "1.2.156.10197.1.301.1": Suite.SM2
}
CERT_LIST_CERTS, CERT_LIST_DIGESTS = 1, 2

#: the order n of each 256-bit curve's group (GB/T 32918.5, FIPS 186-5 D.1.2.3)
_ORDERS = {
    Suite.SM2: int(
        "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16
    ),
    Suite.ES256: int(
        "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16
    ),
}


def signature_value(suite: Suite, value: bytes) -> bytes:
    """The raw r||s of an SES signature value (the signer's or the seal maker's)
    for :func:`certseal.crypto.verify`; InvalidSignature when it is none.

    GB/T 35276 writes an SM2 signature as DER ``SEQUENCE {r, s}`` and certseal
    writes it so; several seal platforms write the 64 bytes r||s their SKF devices
    return (GM/T 0016 ECCSIGNATUREBLOB's halves). Both are read, strictly: DER
    with nothing after it, or else exactly 64 bytes; r and s in [1, n-1] either
    way. Ed25519 values are the 64 bytes themselves."""
    order = _ORDERS.get(suite)
    if order is None:
        return value
    try:
        r, s = decode_dss_signature(value)
    except ValueError:
        if len(value) != 64:
            raise InvalidSignature(
                "not an SM2/ECDSA signature (neither DER nor 64 bytes r||s)"
            ) from None
        r, s = int.from_bytes(value[:32], "big"), int.from_bytes(value[32:], "big")
    if not (0 < r < order and 0 < s < order):
        raise InvalidSignature("r or s is outside [1, n-1]")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


MAX_SES_BYTES = 4 * 1024 * 1024
"""Bytes of a DER SESeal or SES_Signature from outside (VerifySealedDocument, ``certseal
seal inspect``): the seal picture is at most 1 MiB and a few certificates add kilobytes,
so 4 MiB is generous; asn1crypto then parses lazily, linear in this size. Nesting is
bounded by the fixed GB/T 38540 schema, and the one open field (``certList``, an ANY)
is read as one of two flat lists or refused."""


def check_ses_size(data: bytes, field: str) -> None:
    """INVALID_ARGUMENT (``field``) when ``data`` is over :data:`MAX_SES_BYTES`."""
    if len(data) > MAX_SES_BYTES:
        raise invalid(field, f"is {len(data)} bytes; the limit is {MAX_SES_BYTES}")


class SealType(core.Integer):
    """``SES_ESPropertyInfo.type``: the standard's integer, kept as a number.

    GM/T 0031-2014 defines 1 (organisation seal, 单位印章) and 2 (personal seal,
    个人印章); GB/T 38540-2020 keeps the integer. A seal made elsewhere is never
    relabelled with certseal's own kinds (:data:`CERTSEAL_KINDS`), which live in the
    seal registry, not in the SESeal.
    """


ORGANISATION_SEAL, PERSONAL_SEAL = 1, 2
CERTSEAL_KINDS = {  # certseal's seal kinds -> the standard's type integer it writes
    "official": ORGANISATION_SEAL,  # 公章
    "contract": ORGANISATION_SEAL,  # 合同专用章
    "finance": ORGANISATION_SEAL,  # 财务专用章
    "invoice": ORGANISATION_SEAL,  # 发票专用章
    "personal": PERSONAL_SEAL,  # 个人名章
    "other": ORGANISATION_SEAL,
}


class SESHeader(core.Sequence):
    """``SES_Header``: "ES", version 4 and the vendor id."""

    _fields = [  # noqa: RUF012
        ("id", core.IA5String),
        ("version", core.Integer),
        ("vid", core.IA5String),
    ]


class CertInfoList(core.SequenceOf):
    """Signer certificates (DER), ``certListType`` 1."""

    _child_spec = core.OctetString


class CertDigestObj(core.Sequence):
    """A signer certificate's digest: the hash name and value."""

    _fields = [("type", core.PrintableString), ("value", core.OctetString)]  # noqa: RUF012


class CertDigestList(core.SequenceOf):
    """Signer certificate digests, ``certListType`` 2."""

    _child_spec = CertDigestObj


class ESPropertyInfo(core.Sequence):
    """``SES_ESPropertyInfo``: what the seal is, for whom and for how long.

    ``certList`` is a CHOICE of two untagged SEQUENCE OFs, told apart by
    ``certListType``; it is kept as ``Any`` and read with :func:`cert_list`.
    """

    _fields = [  # noqa: RUF012
        ("type", SealType),
        ("name", core.UTF8String),
        ("cert_list_type", core.Integer),
        ("cert_list", core.Any),
        ("create_date", core.GeneralizedTime),
        ("valid_start", core.GeneralizedTime),
        ("valid_end", core.GeneralizedTime),
    ]


class ESPictureInfo(core.Sequence):
    """``SES_ESPictrueInfo`` (sic): the stamp image and its size in millimetres."""

    _fields = [  # noqa: RUF012
        ("type", core.IA5String),
        ("data", core.OctetString),
        ("width", core.Integer),
        ("height", core.Integer),
    ]


class ExtData(core.Sequence):
    """One extension."""

    _fields = [  # noqa: RUF012
        ("extn_id", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extn_value", core.OctetString),
    ]


class ExtensionDatas(core.SequenceOf):
    """Extensions."""

    _child_spec = ExtData


class SealInfo(core.Sequence):
    """``SES_SealInfo``: the part of the seal the seal maker signs."""

    _fields = [  # noqa: RUF012
        ("header", SESHeader),
        ("es_id", core.IA5String),
        ("property", ESPropertyInfo),
        ("picture", ESPictureInfo),
        ("ext_datas", ExtensionDatas, {"optional": True}),
    ]


class SESeal(core.Sequence):
    """``SESeal``: the seal, signed by the seal maker."""

    _fields = [  # noqa: RUF012
        ("e_seal_info", SealInfo),
        ("cert", core.OctetString),  # the seal maker's certificate, DER
        ("sign_alg_id", core.ObjectIdentifier),
        ("signed_value", core.OctetBitString),
    ]


class TBSSign(core.Sequence):
    """``TBS_Sign``: what the signer signs when sealing a document."""

    _fields = [  # noqa: RUF012
        ("version", core.Integer),
        ("eseal", SESeal),
        ("time_info", core.GeneralizedTime),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("ext_datas", ExtensionDatas, {"explicit": 0, "optional": True}),
    ]


class SESSignature(core.Sequence):
    """``SES_Signature``: a sealed document's detached signature."""

    _fields = [  # noqa: RUF012
        ("to_sign", TBSSign),
        ("cert", core.OctetString),  # the signer's certificate, DER
        ("signature_alg_id", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("time_stamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]


@dataclass(frozen=True)
class Picture:
    """A stamp image: type ("png"), bytes, and printed size in millimetres."""

    kind: str
    data: bytes
    width_mm: int
    height_mm: int


def _time(value: dt.datetime) -> dt.datetime:
    # GeneralizedTime in DER: UTC, whole seconds here (a fraction would be legal)
    return value.astimezone(dt.UTC).replace(microsecond=0)


def seal_info(
    *,
    es_id: str,
    seal_type: str,
    name: str,
    signer_certs: list[bytes],
    created: dt.datetime,
    valid_start: dt.datetime,
    valid_end: dt.datetime,
    picture: Picture,
    vendor_id: str = "certseal",
) -> SealInfo:
    """The ``SES_SealInfo`` of a new seal (its signer certificates listed in full).

    ``seal_type`` is one of certseal's kinds (:data:`CERTSEAL_KINDS`); the SESeal
    carries the standard's integer for it (1 organisation, 2 personal).
    """
    return SealInfo(
        {
            "header": {"id": "ES", "version": SES_VERSION, "vid": vendor_id},
            "es_id": es_id,
            "property": {
                "type": CERTSEAL_KINDS[seal_type],
                "name": name,
                "cert_list_type": CERT_LIST_CERTS,
                "cert_list": CertInfoList(signer_certs),
                "create_date": _time(created),
                "valid_start": _time(valid_start),
                "valid_end": _time(valid_end),
            },
            "picture": {
                "type": picture.kind,
                "data": picture.data,
                "width": picture.width_mm,
                "height": picture.height_mm,
            },
        }
    )


async def make_seal(info: SealInfo, *, maker: Signer, maker_cert: bytes) -> bytes:
    """The DER ``SESeal``: ``info`` signed by the platform's seal maker."""
    signature = await maker.sign(info.dump())
    return SESeal(
        {
            "e_seal_info": info,
            "cert": maker_cert,
            "sign_alg_id": SIGNATURE_OIDS[maker.suite],
            "signed_value": signature_to_der(maker.suite, signature),
        }
    ).dump(force=True)


async def sign_document(
    seal: bytes,
    *,
    data_hash: bytes,
    signed_at: dt.datetime,
    property_info: str,
    signer: Signer,
    signer_cert: bytes,
    time_stamp: Callable[[bytes], Awaitable[bytes]] | None = None,
) -> bytes:
    """The DER ``SES_Signature`` over a document's hash, made with ``seal``.

    ``property_info`` is an IA5String: ASCII only (percent-encode a file name).
    ``time_stamp``, when given, makes an RFC 3161 token over the signature value
    (the DER the ``signature`` BIT STRING holds); it goes in ``timeStamp`` ``[0]``
    (GB/T 38540 7.2). Its errors (UNAVAILABLE) pass through.
    """
    if not property_info.isascii():
        raise invalid(
            "property_info", "must be ASCII (IA5String); percent-encode file names"
        )
    tbs = tbs_sign_der(
        seal, signed_at=signed_at, data_hash=data_hash, property_info=property_info
    )
    signature = signature_to_der(signer.suite, await signer.sign(tbs))
    stamp = await time_stamp(signature) if time_stamp is not None else None
    return ses_signature_der(
        tbs,
        signer_cert=signer_cert,
        suite=signer.suite,
        signature=signature,
        time_stamp=stamp,
    )


# DER of the two structures a seal makes per document, written directly (X.690 §8, §10):
# the stored SESeal is already DER and goes in as it is; the few primitives around it
# are encoded here. asn1crypto's parse and re-encode of the SESeal (its picture
# included) cost about a tenth of SealDocument's CPU (bench/seal_bench.py,
# BENCH_PROFILE=1). tests/seal/test_domain.py checks these bytes equal asn1crypto's
# encoding of TBSSign and SESSignature.


_VERSION_DER = core.Integer(SES_VERSION).dump()
_OID_DER = {
    suite: core.ObjectIdentifier(oid).dump() for suite, oid in SIGNATURE_OIDS.items()
}


def _generalized_time_der(value: dt.datetime) -> bytes:
    t = _time(value)
    text = (
        f"{t.year:04d}{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}{t.second:02d}Z"
    )
    return _tlv(0x18, text.encode("ascii"))


def _bit_string_der(data: bytes) -> bytes:
    return _tlv(0x03, b"\x00" + data)  # no unused bits: whole bytes


def tbs_sign_der(
    seal: bytes, *, signed_at: dt.datetime, data_hash: bytes, property_info: str
) -> bytes:
    """The DER ``TBS_Sign`` (no extensions) over the DER ``SESeal`` ``seal``, as
    :class:`TBSSign` encodes it; ``property_info`` must be ASCII."""
    return _tlv(
        0x30,
        _VERSION_DER
        + seal
        + _generalized_time_der(signed_at)
        + _bit_string_der(data_hash)
        + _tlv(0x16, property_info.encode("ascii")),
    )


def ses_signature_der(
    tbs: bytes,
    *,
    signer_cert: bytes,
    suite: Suite,
    signature: bytes,
    time_stamp: bytes | None = None,
) -> bytes:
    """The DER ``SES_Signature`` of a DER ``TBS_Sign``, as :class:`SESSignature`
    encodes it (``time_stamp``: the DER token in ``timeStamp [0]``)."""
    return _tlv(
        0x30,
        tbs
        + _tlv(0x04, signer_cert)
        + _OID_DER[suite]
        + _bit_string_der(signature)
        + (_tlv(0xA0, _bit_string_der(time_stamp)) if time_stamp is not None else b""),
    )


def cert_list(prop: ESPropertyInfo) -> tuple[int, list[Any]]:
    """``certListType`` and the decoded list: DER certificates or (hash name, value)."""
    kind = prop["cert_list_type"].native
    raw = prop["cert_list"].dump()
    if kind == CERT_LIST_CERTS:
        return kind, [c.native for c in CertInfoList.load(raw)]
    if kind == CERT_LIST_DIGESTS:
        return kind, [
            (d["type"].native, d["value"].native) for d in CertDigestList.load(raw)
        ]
    raise ValueError(f"certListType {kind} is neither 1 (certificates) nor 2 (digests)")


def _sm3(data: bytes) -> bytes:
    return digest(Suite.SM2, data)


def _hashlib(name: str) -> Callable[[bytes], bytes]:
    return lambda data: hashlib.new(name, data).digest()


#: the hashes a certList of digests may name (GB/T 38540 CertDigestObj.type: a
#: PrintableString), by name or OID, compared lower case without "-", "_" or " "
_CERT_HASHES: dict[str, Callable[[bytes], bytes]] = {
    **dict.fromkeys(("sm3", "1.2.156.10197.1.401"), _sm3),
    **dict.fromkeys(("sha1", "1.3.14.3.2.26"), _hashlib("sha1")),
    **dict.fromkeys(("sha256", "2.16.840.1.101.3.4.2.1"), _hashlib("sha256")),
    **dict.fromkeys(("sha384", "2.16.840.1.101.3.4.2.2"), _hashlib("sha384")),
    **dict.fromkeys(("sha512", "2.16.840.1.101.3.4.2.3"), _hashlib("sha512")),
}


def _cert_hash(name: str) -> Callable[[bytes], bytes] | None:
    key = name.lower()
    for mark in "-_ ":
        key = key.replace(mark, "")
    return _CERT_HASHES.get(key)


def cert_digest(name: str, data: bytes) -> bytes | None:
    """A certificate's digest as a seal's certList of digests holds it (GB/T 38540
    CertDigestObj): by the hash ``name`` names (SM3, SHA-1, SHA-256, SHA-384 or
    SHA-512, by name or OID); None when it names no hash known here.

    SHA-1 is taken too: the digest names a certificate its CA has already issued
    (its signature, randomised, inside what is hashed), so another certificate with
    the same digest needs a second preimage, not a collision."""
    hasher = _cert_hash(name)
    return None if hasher is None else hasher(data)


def digest_list_problem(
    digests: Iterable[tuple[str, bytes]], cert: bytes
) -> str | None:
    """None when one of a certList's ``digests`` ((hash name, value) pairs) is
    ``cert``'s; else why not, naming any hash it does not know."""
    digests = list(digests)
    if any(value == cert_digest(name, cert) for name, value in digests):
        return None
    unknown = sorted({name for name, _ in digests if _cert_hash(name) is None})
    if unknown:
        named = ", ".join(repr(name) for name in unknown)
        return (
            "is not in the seal's certificate list (it lists digests by "
            f"{named}: no hash certseal knows)"
        )
    return "is not in the seal's certificate list"
