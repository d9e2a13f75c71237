"""Verifying an OFD digital signature (``Type="Sign"``, GB/T 33190 §18): its
``SignedValue.dat`` is a GB/T 35275 SignedData (GM/T 0099-2020 §7.2.2 b: a digital
signature with SM2 follows GB/T 35275), or its PKCS#7 form with ECDSA P-256.

What it signs, as the field writes it (oesplugin's Sign in ofdrw's keyword.ofd,
tests/seal/data/ofdrw_field) and as ofdrw's two containers write it:

- attached: the encapsulated content (type ``1.2.156.10197.6.1.4.2.1``, GB/T 35275
  data) is the SM3 digest of ``Signature.xml`` (some write it base64, or the file
  itself), no signed attributes, and the SM2 signature (default signer ID) is over
  those content bytes;
- detached with signed attributes (PKCS#9, RFC 5652 §5.4): no content, the
  ``messageDigest`` attribute is the digest of ``Signature.xml``, and the signature is
  over the DER SET of the attributes.

One rule covers both: the signed content is the encapsulated one, or ``Signature.xml``
when there is none; with signed attributes the signature is over them and their
``messageDigest`` is the content's digest; and the content stands for ``Signature.xml``
(its digest, that digest in base64, or the file). ``Signature.xml``'s references then
protect the package's files (:func:`services.seal.ofd.check_references`).

The checks, in order; the first failure decides (as a seal's, :mod:`services.seal.
domain`; ``references`` follows ``data hash``, added by ``ofd_service``):

1. ``decode``: bounded DER (:data:`MAX_SIGNED_VALUE_BYTES`, :data:`certseal.der.
   MAX_DEPTH` levels, at most :data:`MAX_CERTIFICATES` certificates and one signer);
   otherwise MALFORMED;
2. ``signature``: the signer's certificate, found in the SignedData by its
   SignerInfo's ``sid``, verifies the signature (SM2-with-SM3, or ECDSA with
   SHA-256); none there (a bare signature, as ofdrw's DigitalSign writes) is
   UNTRUSTED_SEAL: who signed it cannot be told; a wrong one BAD_SIGNATURE;
3. ``signer certificate``: it leads to the seal service's trusted CAs at the
   ``SignatureDateTime`` (:func:`services.seal.trust.validate_path`, as a seal's
   signer); outside its own validity then CERTIFICATE_NOT_VALID, else UNTRUSTED_SEAL;
   no time to check at is CERTIFICATE_NOT_VALID, or MODIFIED when Signature.xml
   changed too (a damaged one names no time: it is what changed);
4. ``data hash``: the content stands for ``Signature.xml`` as it is; else MODIFIED.

Pure over the bytes and the trust store; never raises.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
from dataclasses import dataclass

from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509

from certseal import der
from certseal.certificates import same_name
from certseal.crypto import InvalidSignature, Suite, digest, signature_from_der, verify
from services.seal.certificates import suite_of
from services.seal.ses_read import PLATFORM_ZONE
from services.seal.trust import TrustStore, der_certificate, subject_of, validate_path
from services.seal.values import SealCheck, SealVerdict, SealVerification

MAX_SIGNED_VALUE_BYTES = 256 * 1024
"""A Sign's ``SignedValue.dat``: a SignedData with its signer's certificate and
perhaps its chain (the field's is 1,014 bytes; a certificate is 0.5 to 2 KiB)."""
MAX_CERTIFICATES = 16
"""Certificates one SignedData may carry (the signer's and its chain)."""
MAX_SIGNED_ATTRIBUTES = 32
"""Signed attributes one SignerInfo may have (PKCS#9 writers put three or four)."""
MAX_TIME_TEXT = 64

SIGNED_DATA_OIDS = {
    "1.2.156.10197.6.1.4.2.2": "GB/T 35275 SignedData",
    "1.2.840.113549.1.7.2": "PKCS#7 SignedData",
}
_DIGESTS = {"1.2.156.10197.1.401": Suite.SM2, "2.16.840.1.101.3.4.2.1": Suite.ES256}
_SIGNATURES = {
    "1.2.156.10197.1.501": Suite.SM2,  # SM2-with-SM3
    "1.2.156.10197.1.301.1": Suite.SM2,  # sm2sign, as ofdrw's PKCS#9 container
    "1.2.156.10197.1.301": Suite.SM2,
    "1.2.840.10045.4.3.2": Suite.ES256,  # ecdsa-with-SHA256
    "1.2.840.10045.2.1": Suite.ES256,  # id-ecPublicKey, as some writers put it
}
_NO_CERTIFICATE = "who signed it cannot be told"


class _Encapsulated(core.Sequence):
    _fields = [  # noqa: RUF012
        ("content_type", core.ObjectIdentifier),
        ("content", core.OctetString, {"explicit": 0, "optional": True}),
    ]


class _Certificates(core.SetOf):
    """``CertificateSet`` with each choice kept as written: a certificate is parsed
    only by :func:`services.seal.trust.der_certificate`, bounded and strict, and
    only to be matched with the signer (asn1crypto's own reading of every name
    refuses strings the field writes, such as x500UniqueIdentifier as UTF8String)."""

    _child_spec = core.Any


class _SignedData(core.Sequence):
    _fields = [  # noqa: RUF012
        ("version", core.Integer),
        ("digest_algorithms", cms.DigestAlgorithms),
        ("encap_content_info", _Encapsulated),
        ("certificates", _Certificates, {"implicit": 0, "optional": True}),
        ("crls", cms.RevocationInfoChoices, {"implicit": 1, "optional": True}),
        ("signer_infos", cms.SignerInfos),
    ]


class _ContentInfo(core.Sequence):
    _fields = [  # noqa: RUF012
        ("content_type", core.ObjectIdentifier),
        ("content", _SignedData, {"explicit": 0}),
    ]


@dataclass(frozen=True)
class SignFacts:
    """A Sign's verification, and whether what it signed stands for ``Signature.xml``
    as it is now, whoever signed it (integrity without trust: ``intact``)."""

    verification: SealVerification
    bound: bool


@dataclass(frozen=True)
class _Read:
    """What one SignedData says."""

    kind: str  # e.g. "GB/T 35275 SignedData"
    content: bytes | None  # the encapsulated content; None: detached
    attributes: bytes | None  # DER SET of the signed attributes, or None
    message_digest: bytes | None
    digest_suite: Suite | None
    signature_suite: Suite | None
    signature_oid: str
    signature: bytes
    signer_cert: bytes | None  # None: not carried
    missing_why: str


class _Malformed(ValueError):
    pass


def sign_facts(
    signed_value: bytes, *, signature_xml: bytes, signed_at_text: str, trust: TrustStore
) -> SignFacts:
    """Verify a Sign's ``signed_value`` over ``signature_xml`` (see the module)."""
    try:
        return _facts(signed_value, signature_xml, signed_at_text, trust)
    except Exception as exc:  # the promise: a verdict, never an exception
        detail = f"the signed value cannot be read: {exc}"
        return SignFacts(_decided(SealVerdict.MALFORMED, [], "decode", detail), False)


def _decided(
    verdict: SealVerdict,
    checks: list[SealCheck],
    name: str,
    detail: str,
    signer: str = "",
    signed_at: dt.datetime | None = None,
) -> SealVerification:
    return SealVerification(
        verdict,
        (*checks, SealCheck(name, False, detail[:1000])),
        signer=signer,
        signed_at=signed_at,
    )


def _facts(
    signed_value: bytes, xml: bytes, signed_at_text: str, trust: TrustStore
) -> SignFacts:
    try:
        read = _read(signed_value)
    except _Bare as bare:
        # a bare signature binds nothing anyone can check: never intact
        checks = [SealCheck("decode", True, str(bare))]
        verdict = SealVerdict.UNTRUSTED_SEAL
        detail = f"it carries no certificate: {_NO_CERTIFICATE}"
        return SignFacts(_decided(verdict, checks, "signature", detail), False)
    except (_Malformed, ValueError) as exc:
        detail = f"not a GB/T 35275 or PKCS#7 SignedData: {exc}"
        return SignFacts(_decided(SealVerdict.MALFORMED, [], "decode", detail), False)
    bound, why_not = _bound(read, xml)
    checks = [SealCheck("decode", True, read.kind)]
    if read.signer_cert is None:
        detail = f"{read.missing_why}: {_NO_CERTIFICATE}"
        verdict = SealVerdict.UNTRUSTED_SEAL
        return SignFacts(_decided(verdict, checks, "signature", detail), bound)
    cert = der_certificate(read.signer_cert)  # ValueError: MALFORMED, by the caller
    signer = subject_of(cert)
    signed_at, time_note = _signing_time(signed_at_text)

    def failed(verdict: SealVerdict, name: str, detail: str) -> SignFacts:
        return SignFacts(
            _decided(verdict, checks, name, detail, signer, signed_at), bound
        )

    # 2. the signer's signature over what it signed
    problem = _signature_problem(read, xml)
    if problem:
        return failed(SealVerdict.BAD_SIGNATURE, "signature", problem)
    suite = read.signature_suite or Suite.SM2
    checks.append(SealCheck("signature", True, f"{suite.value} by {signer}"))

    # 3. the signer's certificate, to a trusted CA at the signing time
    if signed_at is None and not bound:
        # a Signature.xml changed past reading names no time: it is what changed
        return failed(SealVerdict.MODIFIED, "data hash", why_not)
    if signed_at is None:
        detail = (
            f"SignatureDateTime {signed_at_text[:MAX_TIME_TEXT]!r} is not a time: "
            "whether the certificate was valid when it signed cannot be told"
        )
        return failed(SealVerdict.CERTIFICATE_NOT_VALID, "signer certificate", detail)
    path = validate_path(read.signer_cert, trust, signed_at, role="signer certificate")
    if not path.ok:
        validity = cert["tbs_certificate"]["validity"].native
        inside = validity["not_before"] <= signed_at <= validity["not_after"]
        verdict = (
            SealVerdict.UNTRUSTED_SEAL if inside else SealVerdict.CERTIFICATE_NOT_VALID
        )
        return failed(verdict, "signer certificate", path.detail + time_note)
    checks.append(SealCheck("signer certificate", True, path.detail + time_note))

    # 4. what it signed stands for Signature.xml as it is
    if not bound:
        return failed(SealVerdict.MODIFIED, "data hash", why_not)
    name = "SM3" if read.digest_suite is Suite.SM2 else "SHA-256"
    checks.append(SealCheck("data hash", True, f"{name} of Signature.xml matches"))
    return SignFacts(
        SealVerification(
            SealVerdict.VALID, tuple(checks), signer=signer, signed_at=signed_at
        ),
        bound,
    )


class _Bare(ValueError):
    """A signed value that is a signature alone, no SignedData."""


def _read(data: bytes) -> _Read:
    if len(data) > MAX_SIGNED_VALUE_BYTES:
        raise _Malformed(f"{len(data)} bytes; the limit is {MAX_SIGNED_VALUE_BYTES}")
    if len(data) == 64:
        raise _Bare("a bare signature of 64 bytes (r‖s), no SignedData")
    try:
        der.check_outside(data, ber=True)  # bounded headers, depth and tag numbers
    except der.DerError as exc:
        raise _Malformed(str(exc)) from None
    if _bare_der(data):
        raise _Bare(f"a bare DER signature of {len(data)} bytes, no SignedData")
    info = _ContentInfo.load(data)
    kind = SIGNED_DATA_OIDS.get(info["content_type"].dotted)
    if kind is None:
        raise _Malformed(f"its content type is {info['content_type'].dotted}")
    signed = info["content"]
    infos = signed["signer_infos"]
    if len(infos) != 1:
        raise _Malformed(f"{len(infos)} SignerInfos; an OFD signature has one signer")
    certs = signed["certificates"]
    count = 0 if isinstance(certs, core.Void) else len(certs)
    if count > MAX_CERTIFICATES:
        raise _Malformed(f"{count} certificates; the limit is {MAX_CERTIFICATES}")
    signer_info = infos[0]
    content = signed["encap_content_info"]["content"]
    attributes, message_digest = _attributes(signer_info)
    signer_cert, missing_why = _signer_certificate(signer_info, certs, count)
    algorithm = signer_info["signature_algorithm"]["algorithm"].dotted
    return _Read(
        kind=kind,
        content=None if content.native is None else bytes(content.native),
        attributes=attributes,
        message_digest=message_digest,
        digest_suite=_DIGESTS.get(signer_info["digest_algorithm"]["algorithm"].dotted),
        signature_suite=_SIGNATURES.get(algorithm),
        signature_oid=algorithm,
        signature=bytes(signer_info["signature"].native),
        signer_cert=signer_cert,
        missing_why=missing_why,
    )


def _bare_der(data: bytes) -> bool:
    """Whether ``data`` is SEQUENCE { INTEGER r, INTEGER s } alone (GB/T 35276's
    SM2Signature, ECDSA-Sig-Value): a signature with nothing around it."""
    try:
        signature_from_der(Suite.SM2, data)
    except InvalidSignature:
        return False
    return True


def _attributes(signer_info: cms.SignerInfo) -> tuple[bytes | None, bytes | None]:
    """The signed attributes as the DER SET the signature is over (RFC 5652 §5.4: the
    [0] IMPLICIT tag read as SET OF, the bytes as written), and their one
    ``messageDigest``; (None, None) without any."""
    signed = signer_info["signed_attrs"]
    if isinstance(signed, core.Void):
        return None, None
    if len(signed) > MAX_SIGNED_ATTRIBUTES:
        raise _Malformed(
            f"{len(signed)} signed attributes; the limit is {MAX_SIGNED_ATTRIBUTES}"
        )
    digests = [
        attribute["values"]
        for attribute in signed
        if attribute["type"].dotted == "1.2.840.113549.1.9.4"
    ]
    if len(digests) != 1 or len(digests[0]) != 1:
        raise _Malformed("its signed attributes need exactly one messageDigest value")
    value = digests[0][0]
    message_digest = value.native if isinstance(value, core.OctetString) else None
    if not isinstance(message_digest, bytes):
        raise _Malformed("its messageDigest is not an OCTET STRING")
    return der.tlv(0x31, bytes(signed.contents)), message_digest


def _signer_certificate(
    signer_info: cms.SignerInfo, certs: _Certificates, count: int
) -> tuple[bytes | None, str]:
    """The DER certificate the SignerInfo's ``sid`` names, or None and why not."""
    if count == 0:
        return None, "it carries no certificate"
    sid = signer_info["sid"]
    for choice in certs:
        data = choice.dump()
        if data[:1] != b"\x30":  # not a Certificate: another choice
            continue
        # read to be compared, not kept (trust's cache keeps what it reads): only the
        # signer's certificate is read by der_certificate, as a seal's signer's
        cert = asn1_x509.Certificate.load(data)
        tbs = cert["tbs_certificate"]
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if tbs["serial_number"].native == wanted[
                "serial_number"
            ].native and same_name(tbs["issuer"], wanted["issuer"]):
                return data, ""
        elif cert.key_identifier == sid.chosen.native:
            return data, ""
    return None, "it does not carry the certificate its SignerInfo names"


def _signature_problem(read: _Read, xml: bytes) -> str:
    """Why the signature does not hold with the signer's key ("" when it does)."""
    assert read.signer_cert is not None
    key = der_certificate(read.signer_cert)["tbs_certificate"]
    key_der = key["subject_public_key_info"].dump()
    try:
        key_suite = suite_of(key_der)
    except ValueError:
        return "the signer's key is neither SM2 nor P-256"
    if read.signature_suite is None:
        return (
            f"signature algorithm {read.signature_oid} is neither SM2-with-SM3 nor "
            "ECDSA with SHA-256"
        )
    if key_suite is not read.signature_suite or read.digest_suite is not key_suite:
        return (
            f"the signer's key is {key_suite.value}, its SignerInfo names another "
            "signature or digest algorithm"
        )
    if read.attributes is not None:
        signed = read.attributes
    else:
        signed = read.content if read.content is not None else xml
    for raw in _raw_forms(read.signature):
        try:
            verify(key_suite, key_der, signed, raw)
            return ""
        except InvalidSignature:
            continue
    return "the signature does not hold with the signer's key"


def _raw_forms(signature: bytes) -> list[bytes]:
    """The signature as r‖s: DER SEQUENCE {r, s}, or the raw 64 bytes some SM2
    devices write (the field's Sign has them)."""
    forms = [signature] if len(signature) == 64 else []
    with contextlib.suppress(InvalidSignature):
        forms.append(signature_from_der(Suite.SM2, signature))
    return forms


def _bound(read: _Read, xml: bytes) -> tuple[bool, str]:
    """Whether what was signed stands for ``xml`` (see the module), and why not."""
    suite = read.digest_suite
    if suite is None:
        return False, "its digest algorithm is neither SM3 nor SHA-256"
    expected = digest(suite, xml)
    content = read.content if read.content is not None else xml
    if read.message_digest is not None and read.message_digest not in (
        digest(suite, content),
        expected,
    ):
        return False, "its messageDigest is not the digest of what it signed"
    if content in (expected, xml) or _base64_of(content) == expected:
        return True, ""
    return False, "Signature.xml differs from what was signed"


def _base64_of(content: bytes) -> bytes | None:
    if len(content) > 128:
        return None
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        return None


def _signing_time(text: str) -> tuple[dt.datetime | None, str]:
    """``SignatureDateTime`` in UTC, and a note when it named no zone (read as
    China Standard Time, as the platforms that write one do)."""
    text = text.strip()
    if not text or len(text) > MAX_TIME_TEXT:
        return None, ""
    note = ""
    try:
        when = dt.datetime.fromisoformat(text)
        if when.utcoffset() is None:
            note = f"; SignatureDateTime {text!r} names no zone: read as UTC+8"
            when = when.replace(tzinfo=PLATFORM_ZONE)
        # in UTC, before year 1 or after 9999 is no time (and no Timestamp)
        return when.astimezone(dt.UTC), note
    except (ValueError, OverflowError):
        return None, ""
