"""The one reader of SESeal and SES_Signature from outside: ``certseal seal inspect``,
:func:`services.seal.domain.verify_sealed_document` and the OFD verifier all read
through it, so they cannot disagree about what is well-formed.

Two versions are read, told apart by ``header.version`` (and ``TBS_Sign.version``,
which must equal the seal's):

- 4: GB/T 38540-2020 (:mod:`services.seal.ses`), ``timeStamp [0] EXPLICIT`` as ofdrw
  writes it;
- 1: GM/T 0031-2014 (:mod:`services.seal.ses_v1`). Its ``timeInfo`` BIT STRING
  ("时间戳或UTC时间") holds a DER UTCTime or GeneralizedTime, the text of one, the
  text ``yyyy-MM-dd HH:mm:ss`` ofdrw's SESV1Container writes, or an RFC 3161
  time-stamp token (:func:`_v1_time`). A time without a zone is the signing
  platform's local time, which for the Chinese platforms that write it is China
  Standard Time, UTC+8 (:data:`PLATFORM_ZONE`): so it is read, and the reading is
  said in :attr:`SignatureData.time_note`.

Version 5 (the draft successor some platforms label v5) and any other version are
refused with a message naming it. Element counts are exact: a SEQUENCE with an
element the standard does not define, or a value after the structure, is refused
(:class:`SesFormatError`), never silently dropped. Sizes are bounded first
(:data:`services.seal.ses.MAX_SES_BYTES`, :func:`certseal.der.check`).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass
from typing import Any

from asn1crypto import core

from certseal import der
from certseal.kept import KeptValues
from services.seal.ses import (
    CERT_LIST_CERTS,
    CERT_LIST_DIGESTS,
    MAX_SES_BYTES,
    CertDigestList,
    CertInfoList,
    ExtensionDatas,
    SESeal,
)
from services.seal.ses_v1 import SESealV1, SESSignatureV1
from services.seal.timestamp import token_summary

SES_V1, SES_V4 = 1, 4
PLATFORM_ZONE = dt.timezone(dt.timedelta(hours=8), "UTC+8")
"""The zone of a v1 ``timeInfo`` that names none: China Standard Time, the local time
of the platforms that write one (ofdrw's ``LocalDateTime.now()``)."""
_LOCAL_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")
STANDARD_BY_VERSION = {SES_V1: "GM/T 0031-2014", SES_V4: "GB/T 38540-2020"}

SEAL_TYPE_MEANINGS = {1: "organisation seal (单位印章)", 2: "personal seal (个人印章)"}
"""``SES_ESPropertyInfo.type`` as GM/T 0031-2014 defines it (1 organisation, 2
personal); GB/T 38540-2020 keeps the integer and leaves other values to the seal
platform, so a value not listed here is shown as the bare number."""


class SesFormatError(ValueError):
    """The bytes are not a well-formed SESeal or SES_Signature; the message names the
    field and what is wrong."""


@dataclass(frozen=True)
class SealData:
    """An SESeal, either version, as plain values.

    Times are UTC datetimes; ``maker_signed`` is the DER the seal maker signed.
    ``certs`` holds DER certificates (certListType 1) and ``digests`` (hash name,
    value) pairs (certListType 2); v1 always lists certificates.
    """

    version: int
    vendor_id: str
    es_id: str
    seal_type: int
    name: str
    cert_list_type: int
    certs: tuple[bytes, ...]
    digests: tuple[tuple[str, bytes], ...]
    created: dt.datetime
    valid_start: dt.datetime
    valid_end: dt.datetime
    picture_type: str
    picture: bytes
    width_mm: int
    height_mm: int
    ext_count: int
    maker_cert: bytes
    maker_algorithm: str  # dotted OID
    maker_signature: bytes  # DER SEQUENCE {r, s} (ed25519: raw)
    maker_signed: bytes

    @property
    def standard(self) -> str:
        """The standard this version comes from."""
        return STANDARD_BY_VERSION[self.version]


@dataclass(frozen=True)
class SignatureData:
    """An SES_Signature, either version, as plain values (``signed`` is DER(toSign),
    what the signer signed; ``time_stamp`` the optional token's bytes: v4's
    ``timeStamp`` over the signature value, or a token v1's ``timeInfo`` holds, inside
    what the signer signed and so over the sealed document, :attr:`stamps_document`;
    ``time_note`` says how a v1 time without a zone was read, or is empty)."""

    version: int
    seal: SealData
    signed_at: dt.datetime
    data_hash: bytes
    property_info: str
    signer_cert: bytes
    algorithm: str  # dotted OID
    signature: bytes
    signed: bytes
    time_stamp: bytes | None
    ext_count: int
    time_note: str = ""

    @property
    def standard(self) -> str:
        """The standard this version comes from."""
        return STANDARD_BY_VERSION[self.version]

    @property
    def stamps_document(self) -> bool:
        """Whether :attr:`time_stamp` stamps the sealed document (v1: the token is
        made before the signature) rather than the signature value (v4)."""
        return self.version == SES_V1


class _TBSSignOfSeal(core.Sequence):
    """``TBS_Sign`` (:class:`services.seal.ses.TBSSign`) with its ``eseal`` kept as
    DER, read by :func:`_signed_seal`."""

    _fields = [  # noqa: RUF012
        ("version", core.Integer),
        ("eseal", core.Any),
        ("time_info", core.GeneralizedTime),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("ext_datas", ExtensionDatas, {"explicit": 0, "optional": True}),
    ]


class _SESSignatureOfSeal(core.Sequence):
    """``SES_Signature`` (:class:`services.seal.ses.SESSignature`), its eseal DER."""

    _fields = [  # noqa: RUF012
        ("to_sign", _TBSSignOfSeal),
        ("cert", core.OctetString),
        ("signature_alg_id", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("time_stamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]


SEAL_CACHE_BYTES = 32 * 1024 * 1024
"""Bytes of seals one process keeps (:func:`_signed_seal`; a seal costs three times its
DER: the key, its picture, what its maker signed), none costing over the next."""
SEAL_KEPT_MAX_BYTES = SEAL_CACHE_BYTES // 64
_seals: KeptValues[tuple[bytes, int], SealData] = KeptValues(
    max_bytes=SEAL_CACHE_BYTES, max_one=SEAL_KEPT_MAX_BYTES
)
_seals_lock = threading.Lock()


def _signed_seal(data: bytes, version: int) -> SealData:
    """The SESeal ``data`` that a v4 ``TBS_Sign`` carries, read exactly as a part of
    the signature (the same SESeal type, the same exact element counts, errors
    named by their path in the signature). A function of its bytes alone, so the
    last seals read are kept, within :data:`SEAL_CACHE_BYTES`: every document sealed
    with a seal carries the same SESeal, and reading it again was about two thirds
    of reading a signature (bench/seal_bench.py, BENCH_PROFILE=1). Errors are not
    kept. Safe from several verifying threads."""
    key = (data, version)
    with _seals_lock:
        found = _seals.get(key)
    if found is not None:
        return found
    seal = _seal_value(_load(SESeal, data, "SES_Signature.to_sign.eseal"), version)
    with _seals_lock:
        _seals.put(key, seal, 3 * len(data))
    return seal


class _Loose(core.SequenceOf):
    _child_spec = core.Any


def _check_bounds(data: bytes) -> None:
    if len(data) > MAX_SES_BYTES:
        raise SesFormatError(f"is {len(data)} bytes; the limit is {MAX_SES_BYTES}")
    try:
        der.check(data)  # bounded headers before asn1crypto sees them
    except der.DerError as exc:
        raise SesFormatError(f"not DER: {exc}") from None


def _exact(value: Any, path: str) -> None:
    """Refuse a SEQUENCE with more elements than its type defines, recursively."""
    if isinstance(value, core.Sequence):
        if value.children is None:
            value._parse_children()
        fields = value._fields
        if len(value.children) > len(fields):
            raise SesFormatError(
                f"{path}: has {len(value.children)} elements; the standard defines "
                f"{len(fields)}"
            )
        for (name, _spec, *_), child in zip(fields, value.children, strict=False):
            _exact(child, f"{path}.{name}")
    elif isinstance(value, core.SequenceOf):
        for n, child in enumerate(value):
            _exact(child, f"{path}[{n}]")
    elif isinstance(value, core.Asn1Value) and hasattr(value, "chosen"):
        return


def _version(data: bytes, what: str) -> int:
    """``header.version`` of a seal (``what`` = "seal") or ``TBS_Sign.version``."""
    try:
        outer = _Loose.load(data, strict=True)
        first = outer[0].parse(_Loose)
        if what == "seal":
            header = first[0].parse(_Loose)
            ident = header[0].parse(core.IA5String).native
            if ident != "ES":
                raise SesFormatError(f"header.id is {ident!r}, not 'ES'")
            version = header[1].parse(core.Integer).native
        else:
            version = first[0].parse(core.Integer).native
    except SesFormatError:
        raise
    except Exception as exc:
        raise SesFormatError(
            f"not the SEQUENCE an {_NAMES[what]} begins with ({exc})"
        ) from None
    return _known(version, "header.version" if what == "seal" else "toSign.version")


_NAMES = {"seal": "SESeal", "signature": "SES_Signature"}


def _known(version: int, field: str) -> int:
    if version in STANDARD_BY_VERSION:
        return version
    if version == 5:
        raise SesFormatError(
            f"{field} is 5: the v5 form is not supported; certseal reads v4 "
            "(GB/T 38540-2020) and v1 (GM/T 0031-2014)"
        )
    raise SesFormatError(
        f"{field} is {version}: neither 4 (GB/T 38540-2020) nor 1 (GM/T 0031-2014)"
    )


def _load(spec: type[core.Sequence], data: bytes, name: str) -> Any:
    try:
        value = spec.load(data, strict=True)
        _ = value.native  # asn1crypto decodes lazily: decode everything here
    except SesFormatError:
        raise
    except Exception as exc:
        raise SesFormatError(f"not a well-formed {name}: {exc}") from None
    _exact(value, name)
    return value


def _load_signature(data: bytes) -> Any:
    """A v4 SES_Signature as :func:`_load` reads it, every value decoded but the
    ``eseal``, which :func:`_signed_seal` reads (a generic decoding of it would cost
    what reading it as an SESeal costs)."""
    try:
        value = _SESSignatureOfSeal.load(data, strict=True)
        tbs = value["to_sign"]
        for name, _spec, *_ in _TBSSignOfSeal._fields:
            if name != "eseal":
                _ = tbs[name].native
        for name, _spec, *_ in _SESSignatureOfSeal._fields[1:]:
            _ = value[name].native
    except Exception as exc:
        raise SesFormatError(f"not a well-formed SES_Signature: {exc}") from None
    _exact(value, "SES_Signature")
    return value


def _utc(value: Any, field: str) -> dt.datetime:
    try:  # a time outside years 1 to 9999 in UTC (0001-01-01 00:00 UTC+8) is none
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            return value.astimezone(dt.UTC)
    except OverflowError:
        pass
    raise SesFormatError(f"{field}: not a UTC time (in years 1 to 9999)")


def _info_fields(info: Any) -> dict[str, Any]:
    """The fields of SealData that both versions' ESealInfo hold alike: the header's
    vendor, the seal's id, the property's type, name and dates, the picture, and how
    many extensions there are."""
    header, prop, picture = info["header"], info["property"], info["picture"]
    return {
        "vendor_id": header["vid"].native,
        "es_id": info["es_id"].native,
        "seal_type": prop["type"].native,
        "name": prop["name"].native,
        "created": _utc(prop["create_date"].native, "property.createDate"),
        "valid_start": _utc(prop["valid_start"].native, "property.validStart"),
        "valid_end": _utc(prop["valid_end"].native, "property.validEnd"),
        "picture_type": picture["type"].native,
        "picture": picture["data"].native,
        "width_mm": picture["width"].native,
        "height_mm": picture["height"].native,
        "ext_count": len(info["ext_datas"]) if info["ext_datas"].native else 0,
    }


def _seal_v4(seal: Any, version_seen: int) -> SealData:
    info = seal["e_seal_info"]
    prop = info["property"]
    kind = prop["cert_list_type"].native
    raw = prop["cert_list"].dump()
    certs: tuple[bytes, ...] = ()
    digests: tuple[tuple[str, bytes], ...] = ()
    if kind == CERT_LIST_CERTS:
        listed = _load(CertInfoList, raw, "property.certList")
        certs = tuple(c.native for c in listed)
    elif kind == CERT_LIST_DIGESTS:
        listed = _load(CertDigestList, raw, "property.certList")
        digests = tuple((d["type"].native, d["value"].native) for d in listed)
    else:
        raise SesFormatError(
            f"property.certListType is {kind}: neither 1 (certificates) nor 2 (digests)"
        )
    return SealData(
        version=version_seen,
        cert_list_type=kind,
        certs=certs,
        digests=digests,
        **_info_fields(info),
        maker_cert=seal["cert"].native,
        maker_algorithm=seal["sign_alg_id"].dotted,
        maker_signature=seal["signed_value"].native,
        maker_signed=info.dump(),
    )


def _seal_v1(seal: Any) -> SealData:
    info = seal["e_seal_info"]
    sign_info = seal["sign_info"]
    return SealData(
        version=SES_V1,
        cert_list_type=CERT_LIST_CERTS,
        certs=tuple(c.native for c in info["property"]["cert_list"]),
        digests=(),
        **_info_fields(info),
        maker_cert=sign_info["cert"].native,
        maker_algorithm=sign_info["signature_algorithm"].dotted,
        maker_signature=sign_info["sign_data"].native,
        # GM/T 0031-2014: the maker signs SEQUENCE {esealInfo, cert, signatureAlgorithm}
        maker_signed=_sequence(
            info.dump()
            + sign_info["cert"].dump()
            + sign_info["signature_algorithm"].dump()
        ),
    )


def _sequence(contents: bytes) -> bytes:
    return core.Sequence(contents=contents).dump()


def _seal_value(seal: Any, version: int) -> SealData:
    inner = seal["e_seal_info"]["header"]["version"].native
    if inner != version:
        raise SesFormatError(
            f"eseal header.version is {inner}, but the structure is v{version}"
        )
    return _seal_v1(seal) if version == SES_V1 else _seal_v4(seal, version)


def read_seal(data: bytes) -> SealData:
    """An SESeal (v4 or v1) from DER; :class:`SesFormatError` naming what is wrong."""
    _check_bounds(data)
    version = _version(data, "seal")
    spec = SESealV1 if version == SES_V1 else SESeal
    return _seal_value(_load(spec, data, "SESeal"), version)


def _v1_time(raw: bytes) -> tuple[dt.datetime, str, bytes | None]:
    """v1 ``timeInfo`` (a BIT STRING): (the signing time, how a time without a zone
    was read or "", the time-stamp token it holds or None). It holds a DER UTCTime or
    GeneralizedTime, an RFC 3161 token (its ``genTime``, checked by the verifier), or
    the text of a time: ASN.1's, or ``yyyy-MM-dd HH:mm:ss`` (ofdrw's SESV1Container).
    A time without a zone is :data:`PLATFORM_ZONE`'s."""
    try:
        der.check_outside(raw)  # DER nested in a BIT STRING: bounded before asn1crypto
        nested_der = True
    except der.DerError:
        nested_der = False
    for spec in (core.UTCTime, core.GeneralizedTime) if nested_der else ():
        try:
            value = spec.load(raw, strict=True)
            return _zoned(value.native, repr(value.contents.decode("ascii")))
        except Exception:
            continue
    if nested_der and raw[:1] == b"\x30":  # a SEQUENCE: a ContentInfo, or nothing
        summary = token_summary(raw)
        if summary is None:
            raise SesFormatError(
                "toSign.timeInfo: holds a SEQUENCE that is no RFC 3161 time-stamp "
                "token with a zoned genTime"
            )
        return summary[0], "", raw
    text = raw.decode("ascii", "replace")  # U+FFFD: no time, as any text not one
    try:
        if _LOCAL_TEXT.fullmatch(text):
            when: Any = dt.datetime.fromisoformat(text)
        else:
            spec = core.UTCTime if len(text) == 13 else core.GeneralizedTime
            when = spec(text).native
    except Exception:
        when = None
    if not isinstance(when, dt.datetime):
        raise SesFormatError(
            "toSign.timeInfo: neither a time (UTCTime, GeneralizedTime or "
            "'yyyy-MM-dd HH:mm:ss') nor an RFC 3161 time-stamp token"
        )
    return _zoned(when, repr(text))


def _zoned(when: Any, shown: str) -> tuple[dt.datetime, str, None]:
    """A v1 time in UTC, and how it was read when it names no zone."""
    if not isinstance(when, dt.datetime):
        raise SesFormatError("toSign.timeInfo: not a time")
    if when.tzinfo is not None:
        return _utc(when, "toSign.timeInfo"), "", None
    note = (
        f"timeInfo {shown} names no zone: read as the platform's local time, "
        "UTC+8 (China Standard Time)"
    )
    return _utc(when.replace(tzinfo=PLATFORM_ZONE), "toSign.timeInfo"), note, None


def read_signature(data: bytes) -> SignatureData:
    """An SES_Signature (v4 or v1) from DER; :class:`SesFormatError` naming what is
    wrong (the signature and its seal must be of the same version)."""
    _check_bounds(data)
    version = _version(data, "signature")
    if version == SES_V1:
        sig = _load(SESSignatureV1, data, "SES_Signature")
        tbs = sig["to_sign"]
        signed_at, time_note, token = _v1_time(tbs["time_info"].native)
        return SignatureData(
            version=version,
            seal=_seal_value(tbs["eseal"], version),
            signed_at=signed_at,
            data_hash=tbs["data_hash"].native,
            property_info=tbs["property_info"].native,
            signer_cert=tbs["cert"].native,
            algorithm=tbs["signature_algorithm"].dotted,
            signature=sig["signature"].native,
            signed=tbs.dump(),
            time_stamp=token,
            ext_count=0,
            time_note=time_note,
        )
    sig = _load_signature(data)
    tbs = sig["to_sign"]
    ext = tbs["ext_datas"]
    return SignatureData(
        version=version,
        seal=_signed_seal(bytes(tbs["eseal"].dump()), version),
        signed_at=_utc(tbs["time_info"].native, "toSign.timeInfo"),
        data_hash=tbs["data_hash"].native,
        property_info=tbs["property_info"].native,
        signer_cert=sig["cert"].native,
        algorithm=sig["signature_alg_id"].dotted,
        signature=sig["signature"].native,
        signed=tbs.dump(),
        time_stamp=sig["time_stamp"].native,
        ext_count=len(ext) if ext.native else 0,
    )


def read_any(data: bytes) -> SealData | SignatureData:
    """Whichever of the two structures ``data`` is (a signature is tried first)."""
    try:
        return read_signature(data)
    except SesFormatError as as_signature:
        try:
            return read_seal(data)
        except SesFormatError as as_seal:
            raise SesFormatError(
                f"neither an SES_Signature ({as_signature}) nor an SESeal ({as_seal})"
            ) from None
