"""Checking an RFC 3161 time-stamp token (GB/T 20520-2006 carries the same
``TimeStampToken``): pure, a function of the token, the stamped bytes and the trusted
TSA CAs.

A token is a CMS ``SignedData`` (RFC 5652) whose content is a ``TSTInfo``
(RFC 3161 section 2.4.2). It holds when, in this order (the first failure is named):

1. it decodes: ``id-signedData`` over ``id-ct-TSTInfo``, exactly one signer, the
   signer's certificate in the token (found by issuer and serial or key identifier);
2. ``imprint``: ``messageImprint`` is the SHA-256 (or SM3) of the stamped bytes; for a
   seal signature these are the ``SES_Signature.signature`` value (GB/T 38540 7.2);
3. ``signature``: the signed attributes carry ``contentType`` id-ct-TSTInfo and the
   ``messageDigest`` of the TSTInfo, an ESS ``signingCertificate`` (v1 or v2, RFC 5035)
   when present names the signer's certificate, and the signature over the attributes
   holds with the certificate's key: RSA PKCS#1 v1.5 or ECDSA with the signer's
   digest algorithm (SHA-256/384/512), or, for an SM2 key, SM2-with-SM3 (GB/T 20520
   and GM/T 0033, as China's TSAs issue them; GB/T 35275 / GM/T 0009: SM3 over Z_A
   with the default signer ID ``1234567812345678``). Digests (imprint, messageDigest,
   ESS certificate hash) may be SHA-256/384/512 or SM3 (1.2.156.10197.1.401);
4. ``TSA certificate``: its only extended key usage is ``id-kp-timeStamping``, marked
   critical (RFC 3161 section 2.3), and it leads to a configured TSA root at
   ``genTime`` (:func:`services.seal.trust.validate_path`). Its extensions are
   read by the kernel's rule (:func:`certseal.certificates.marked_extension`): a
   general name ``cryptography`` does not model (ediPartyName, x400Address) is no
   fault, and the certificate is judged on its merits; one malformed or given
   twice fails ``timestamp``.

Then ``genTime`` is the trusted time of the stamped signature. Tokens are at most
:data:`MAX_TOKEN_BYTES` and held to the DER bounds (:func:`certseal.der.check_outside`;
the TSTInfo inside its OCTET STRING to :func:`certseal.der.check`) before asn1crypto
reads them: a token from outside never costs asn1crypto's quadratic reading of a long
tag number. A ``genTime`` without a zone is refused (RFC 3161 2.4.2: UTC).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from certseal.certificates import (
    common_name,
    marked_extension,
    name_values,
    same_name,
)
from certseal.crypto import (
    SM2_CURVE_OID,
    InvalidSignature,
    Suite,
    digest,
    signature_from_der,
    verify,
)
from certseal.der import DerError, check_outside, tlv
from certseal.der import check as check_der
from services.seal.trust import TrustStore, validate_path

MAX_TOKEN_BYTES = 64 * 1024
"""A token is a TSTInfo, one signature and a few certificates: a few kilobytes."""
SM3 = "1.2.156.10197.1.401"
SM2_SIGNATURES = frozenset(
    {
        "1.2.156.10197.1.501",  # SM2-with-SM3 (GM/T 0006), what TSAs write
        "1.2.156.10197.1.301.1",  # sm2-1, SM2 signature (GM/T 0010 SignerInfo)
        SM2_CURVE_OID,  # the SM2 key's OID, as some GmSSL-based TSAs write it
    }
)
"""What a SignerInfo's ``signatureAlgorithm`` may say for an SM2 key: each means
SM2-with-SM3 (GB/T 35275). SM2 with another hash (1.2.156.10197.1.503/504) is refused."""
TIME_STAMPING = "1.3.6.1.5.5.7.3.8"
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


@dataclass(frozen=True)
class Imprints:
    """Stamped data known by its digests (algorithm name, as :func:`imprint` takes
    it: ``sha256``, :data:`SM3` ...) and, when at hand, its bytes: a v1 signature's
    document, whose signed ``dataHash`` is its digest (GM/T 0031)."""

    digests: dict[str, bytes]
    data: bytes | None
    what: str = "the sealed document"

    def imprint(self, algorithm: str) -> bytes:
        """The data's digest by ``algorithm``; TokenError when it is not known."""
        known = self.digests.get(SM3 if algorithm == "sm3" else algorithm)
        if known is not None:
            return known
        if self.data is None:
            raise TokenError(
                "imprint",
                f"the token's imprint is {algorithm}; {self.what} is known only by "
                f"its {', '.join(self.digests)} digest",
            )
        return imprint(self.data, algorithm)


class TokenError(ValueError):
    """A token that does not hold; ``check`` names the failed check."""

    def __init__(self, check: str, detail: str):
        super().__init__(detail)
        self.check = check
        self.detail = detail


@dataclass(frozen=True)
class TokenCheck:
    """What a valid token says: its time, the TSA's name and serial number."""

    gen_time: dt.datetime
    tsa: str
    serial: int


def imprint(data: bytes, algorithm: str = "sha256") -> bytes:
    """The message imprint of ``data``: SHA-256, or SM3 for ``sm3``."""
    if algorithm in ("sm3", SM3):
        return digest(Suite.SM2, data)
    if algorithm not in _HASHES:
        raise TokenError("imprint", f"hash algorithm {algorithm} is not supported")
    h = hashes.Hash(_HASHES[algorithm]())
    h.update(data)
    return h.finalize()


def check_token(
    token: bytes, *, stamped: bytes | Imprints, trust: TrustStore
) -> TokenCheck:
    """Check ``token`` over ``stamped`` (see the module; bytes are a signature
    value) against the TSA roots in ``trust``. Raises :class:`TokenError` naming the
    failed check; never another exception."""
    try:
        return _check(token, stamped, trust)
    except TokenError:
        raise
    except Exception as exc:  # any decoding failure of outside bytes
        raise TokenError("timestamp", f"the token cannot be read: {exc}") from None


def _check(token: bytes, stamped: bytes | Imprints, trust: TrustStore) -> TokenCheck:
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenError(
            "timestamp", f"the token is {len(token)} bytes; at most {MAX_TOKEN_BYTES}"
        )
    _bounded(token, "the token", outside=True)
    info = cms.ContentInfo.load(token)
    if info["content_type"].native != "signed_data":
        raise TokenError("timestamp", "the token is not a CMS SignedData")
    signed = info["content"]
    encap = signed["encap_content_info"]
    if encap["content_type"].native != "tst_info":
        raise TokenError("timestamp", "the token's content is not a TSTInfo")
    tst_bytes = encap["content"].contents
    _bounded(tst_bytes, "the token's TSTInfo")
    tst = tsp.TSTInfo.load(tst_bytes)
    if len(signed["signer_infos"]) != 1:
        raise TokenError("timestamp", "the token must have exactly one signer")
    signer = signed["signer_infos"][0]
    der = _signer_cert(signed["certificates"].dump(), signer["sid"].dump())
    gen_time = tst["gen_time"].native
    if not isinstance(gen_time, dt.datetime) or gen_time.utcoffset() is None:
        raise TokenError(
            "timestamp", "the token's genTime has no zone (RFC 3161 2.4.2: UTC)"
        )

    # 2. the imprint
    message = tst["message_imprint"]
    algorithm = message["hash_algorithm"]["algorithm"].native
    if isinstance(stamped, Imprints):
        expected, what = stamped.imprint(algorithm), stamped.what
    else:
        expected, what = imprint(stamped, algorithm), "the signature"
    if expected != message["hashed_message"].native:
        raise TokenError(
            "imprint", f"the token's message imprint is not that of {what}"
        )

    # 3. the TSA's signature over the signed attributes
    attrs = signer["signed_attrs"]
    if not attrs:
        raise TokenError("signature", "the token has no signed attributes")
    # (type, DER of its first value) of each attribute; the last of a type counts
    found = dict(_attribute(a.dump()) for a in attrs)
    if found.get("content_type") is None or (
        cms.ContentType.load(found["content_type"]).native != "tst_info"
    ):
        raise TokenError("signature", "the contentType attribute is not id-ct-TSTInfo")
    md = signer["digest_algorithm"]["algorithm"].native
    if md not in _HASHES and md not in ("sm3", SM3):
        raise TokenError(
            "signature",
            f"digest algorithm {md} is not supported (SHA-256/384/512 or SM3)",
        )
    if found.get("message_digest") is None or (
        core.OctetString.load(found["message_digest"]).native != imprint(tst_bytes, md)
    ):
        raise TokenError("signature", "the messageDigest is not that of the TSTInfo")
    for kind in ("signing_certificate", "signing_certificate_v2"):
        if kind in found:  # v1 first, as RFC 5035 lets a token carry either
            if not _names_certificate(kind, found[kind], der):
                raise TokenError(
                    "signature",
                    "the signingCertificate attribute names another certificate",
                )
            break
    key, timestamping_only, name = _tsa_certificate(der)
    # the DER the signature covers: the attributes as a SET OF (RFC 5652 5.4)
    _verify_signature(key, signer, tlv(0x31, attrs.contents), md)

    # 4. the TSA's certificate
    if not timestamping_only:
        raise TokenError(
            "TSA certificate",
            "the TSA certificate's extended key usage must be only timeStamping, "
            "critical (RFC 3161 2.3)",
        )
    path = validate_path(der, trust, gen_time, role="TSA certificate")
    if not path.ok:
        raise TokenError("TSA certificate", path.detail.replace("seal CA", "TSA root"))
    return TokenCheck(gen_time, name, int(tst["serial_number"].native))


def _bounded(data: bytes, what: str, *, outside: bool = False) -> None:
    """Hold ``data`` to the DER bounds before asn1crypto reads it (``outside``: also
    no long run of high bytes in DER nested in its primitive values)."""
    try:
        (check_outside if outside else check_der)(data)
    except DerError as exc:
        raise TokenError(
            "timestamp", f"{what} is not DER within bounds: {exc}"
        ) from None


# Functions of bytes alone that every token of a TSA repeats (its certificates, the
# signer's identifier, the contentType and ESS attributes) keep their last answers:
# checking them again was about a third of a token's CPU (bench/seal_bench.py,
# BENCH_PROFILE=1). What differs per token (the TSTInfo, its imprint and time, the
# messageDigest, the signature) is checked every time. Only inputs of at most
# KEPT_INPUT_BYTES are kept (a TSA's are a few KiB), so the caches hold at most
# about 256 * 16 KiB + 1024 * 16 KiB + 256 * 16 KiB (24 MiB) whatever tokens come.
KEPT_INPUT_BYTES = 16 * 1024


def _kept(cached: Any, uncached: Any, *args: Any) -> Any:
    """``cached(*args)`` when the bytes among ``args`` are small enough to keep,
    ``uncached(*args)`` (the same function, nothing kept) otherwise."""
    size = sum(len(a) for a in args if isinstance(a, bytes))
    return (cached if size <= KEPT_INPUT_BYTES else uncached)(*args)


def _signer_cert(certificates: bytes, sid: bytes) -> bytes:
    """:func:`_find_signer_cert`, its answer kept for small inputs."""
    return _kept(_kept_signer_cert, _find_signer_cert, certificates, sid)


def _find_signer_cert(certificates: bytes, sid: bytes) -> bytes:
    """The DER of the certificate in ``certificates`` (a SignedData's
    ``certificates [0] IMPLICIT CertificateSet``) that ``sid`` (a
    ``SignerIdentifier``) names. Raises TokenError when none does."""
    chosen = cms.SignerIdentifier.load(sid)
    for choice in _certificate_set(certificates):
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        if chosen.name == "issuer_and_serial_number":
            # the same DER is the same name; only other bytes need asn1crypto's
            # comparison of names (RFC 5280 7.1), which costs far more
            if cert.serial_number == chosen.chosen["serial_number"].native and (
                same_name(cert.issuer, chosen.chosen["issuer"])
            ):
                return bytes(cert.dump())
        elif cert.key_identifier == chosen.chosen.native:
            return bytes(cert.dump())
    raise TokenError("timestamp", "the token does not carry its signer's certificate")


def _certificate_set(der: bytes) -> cms.CertificateSet:
    """The ``certificates [0] IMPLICIT`` field's DER as a CertificateSet (none when
    the token has no certificates)."""
    if not der:
        return cms.CertificateSet([])
    return cms.CertificateSet.load(der, implicit=0)


def _attribute(der: bytes) -> tuple[str, bytes]:
    """:func:`_read_attribute`, its answer kept for small inputs."""
    return _kept(_kept_attribute, _read_attribute, der)


def _read_attribute(der: bytes) -> tuple[str, bytes]:
    """(type, DER of the first value) of a CMS ``Attribute`` (RFC 5652 5.3)."""
    attribute = cms.CMSAttribute.load(der)
    return str(attribute["type"].native), bytes(attribute["values"][0].dump())


def _names_certificate(kind: str, value: bytes, cert: bytes) -> bool:
    """:func:`_ess_names`, its answer kept for small inputs."""
    return _kept(_kept_names_certificate, _ess_names, kind, value, cert)


def _ess_names(kind: str, value: bytes, cert: bytes) -> bool:
    """Whether an ESS ``signingCertificate`` (``kind`` ``signing_certificate``:
    SHA-1) or ``signingCertificateV2`` (its hash algorithm, SHA-256 by default)
    attribute value (RFC 5035) names ``cert`` (DER) first."""
    if kind == "signing_certificate":
        ids = tsp.SigningCertificate.load(value)["certs"]
        return bool(ids) and ids[0]["cert_hash"].native == hashlib.sha1(cert).digest()
    ids = tsp.SigningCertificateV2.load(value)["certs"]
    if not ids:
        return False
    algorithm = ids[0]["hash_algorithm"]["algorithm"].native
    return bool(ids[0]["cert_hash"].native == imprint(cert, algorithm))


_kept_signer_cert = functools.lru_cache(maxsize=256)(_find_signer_cert)
_kept_attribute = functools.lru_cache(maxsize=1024)(_read_attribute)
_kept_names_certificate = functools.lru_cache(maxsize=256)(_ess_names)


def _common_name(der: bytes) -> str:
    """A certificate's subject common name, or its whole subject when it has none."""
    subject = asn1_x509.Certificate.load(der).subject
    return common_name(subject) or "; ".join(
        f"{k}: {v}" for k, v in name_values(subject)
    )


@functools.lru_cache(maxsize=256)
def _tsa_certificate(der: bytes) -> tuple[Any, bool, str]:
    """A TSA certificate's public key, whether its extended key usage is
    timeStamping only, critical (RFC 3161 2.3), and its subject's common name (or
    the whole subject): functions of its bytes alone, kept for the last 256 (every
    token of a TSA carries the same certificate). Extensions are read by
    :func:`certseal.certificates.marked_extension` (a general name ``cryptography``
    does not model is no fault); TokenError (``timestamp``) for one malformed or
    given twice."""
    certificate = x509.load_der_x509_certificate(der)
    name = _common_name(der)
    info = asn1_x509.Certificate.load(der).public_key
    sm2 = (
        info.algorithm == "ec"
        and info["algorithm"]["parameters"].name == "named"
        and info["algorithm"]["parameters"].chosen.dotted == SM2_CURVE_OID
    )
    try:
        # the kernel's rule: a general name cryptography does not model (an
        # ediPartyName in subjectAltName, say) is no reason to refuse the TSA
        usage = marked_extension(certificate, x509.ExtendedKeyUsage)
    except (ValueError, x509.DuplicateExtension):
        raise TokenError(
            "timestamp",
            f"the TSA certificate ({name}) has an extension malformed or given "
            "twice (RFC 5280 4.2)",
        ) from None
    only = (
        usage is not None
        and usage.critical
        and [u.dotted_string for u in usage.value] == [TIME_STAMPING]
    )
    # cryptography reads no SM2 key ("curve not supported"): an SM2 key is kept as
    # its SubjectPublicKeyInfo DER, which certseal.crypto.verify reads
    key = _Sm2Key(bytes(info.dump())) if sm2 else certificate.public_key()
    return key, only, name


@dataclass(frozen=True)
class _Sm2Key:
    """A TSA's SM2 public key (its SubjectPublicKeyInfo DER)."""

    der: bytes


def _verify_signature(key: Any, signer: cms.SignerInfo, data: bytes, md: str) -> None:
    signature = signer["signature"].native
    if isinstance(key, _Sm2Key):
        _verify_sm2(key, signer, data, signature)
        return
    if md not in _HASHES:
        raise TokenError(
            "signature",
            f"digest algorithm {md} with an RSA or ECDSA TSA key is not supported "
            "(SM3 goes with an SM2 key)",
        )
    algorithm = _HASHES[md]()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm))
        else:
            raise TokenError("signature", "the TSA key is neither RSA nor ECDSA")
    except TokenError:
        raise
    except Exception:
        raise TokenError(
            "signature", "the TSA's signature over the token does not hold"
        ) from None


def _verify_sm2(key: _Sm2Key, signer: cms.SignerInfo, data: bytes, value: Any) -> None:
    """The SM2-with-SM3 signature ``value`` (DER, GB/T 35276) over ``data`` by
    ``key``, with the default signer ID (GB/T 35275 / GM/T 0009)."""
    named = signer["signature_algorithm"]["algorithm"].dotted
    if named not in SM2_SIGNATURES:
        raise TokenError(
            "signature",
            f"signature algorithm {named} is not SM2-with-SM3, which the TSA's SM2 "
            "key signs with (GB/T 35275)",
        )
    try:
        verify(Suite.SM2, key.der, data, signature_from_der(Suite.SM2, bytes(value)))
    except InvalidSignature:
        raise TokenError(
            "signature", "the TSA's SM2 signature over the token does not hold"
        ) from None


def token_summary(token: bytes) -> tuple[dt.datetime, str] | None:
    """What a token says, unchecked: its ``genTime`` and its signer's common name
    (None when it is not a readable RFC 3161 token). For listings, never verdicts."""
    try:
        if len(token) > MAX_TOKEN_BYTES:
            return None
        _bounded(token, "the token", outside=True)
        signed = cms.ContentInfo.load(token)["content"]
        tst_bytes = signed["encap_content_info"]["content"].contents
        _bounded(tst_bytes, "the token's TSTInfo")
        tst = tsp.TSTInfo.load(tst_bytes)
        gen_time = tst["gen_time"].native
        if not isinstance(gen_time, dt.datetime) or gen_time.utcoffset() is None:
            return None
        sid = signed["signer_infos"][0]["sid"].dump()
        cert = _signer_cert(signed["certificates"].dump(), sid)
        return gen_time, _common_name(cert)
    except Exception:
        return None


def stamp_detail(tsa: str, at: dt.datetime, *, of_document: bool) -> str:
    """The timestamp check's detail: what ``tsa``'s token at ``at`` proves. A v4
    token stamps the signature value, which therefore existed then (RFC 3161 §4.3);
    a v1 token in ``timeInfo`` (``of_document``) stamps the sealed document and is
    inside what the signer signs, so the seal was signed then or later (GM/T
    0031-2014)."""
    if of_document:
        return (
            f"{tsa} stamped the sealed document at {at.isoformat()} (RFC 3161, in "
            "timeInfo): the seal was signed then or later"
        )
    return f"{tsa} stamped the signature at {at.isoformat()} (RFC 3161)"
