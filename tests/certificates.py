"""Certificates made for the tests: keys, names and chains built with
``cryptography``, and what it will not build (an extension given twice, a general
name it does not model, a malformed extension) made by re-signing with asn1crypto
(:func:`resigned`). Shared by the kernel's client-certificate tests and the seal
service's TSA tests."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtensionOID, NameOID

from certseal.der import tlv

NOW = dt.datetime.now(dt.UTC)

#: a GeneralNames holding one ediPartyName (RFC 5280 §4.2.1.6; partyName "abc"),
#: which cryptography does not model
EDI_PARTY_NAMES = bytes.fromhex("3009a507a1050c03616263")
#: a GeneralNames holding one x400Address (an empty ORAddress), nor this
X400_ADDRESSES = bytes.fromhex("3004a3023000")
#: an extended key usage that is a SEQUENCE of INTEGER, not of OID: malformed
MANGLED_KEY_USAGES = bytes.fromhex("3003020101")


def edi_party_name(
    oid: x509.ObjectIdentifier = ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
) -> x509.UnrecognizedExtension:
    """An alternative name extension (``oid``: subject's or issuer's) holding an
    ediPartyName, for :func:`issue`'s ``extra``."""
    return x509.UnrecognizedExtension(oid, EDI_PARTY_NAMES)


def new_key(kind: str = "p256") -> Any:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP384R1() if kind == "p384" else ec.SECP256R1())


def name(common: str, kind: _ASN1Type = _ASN1Type.UTF8String) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common, kind)])


def issue(
    subject,
    key,
    issuer,
    signer,
    *,
    ca=None,
    eku=None,
    usage=None,
    days=(1, 30),
    pss=False,
    extra=(),
):
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=days[0]))
        .not_valid_after(NOW + dt.timedelta(days=days[1]))
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca, None), critical=True)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if usage:
        builder = builder.add_extension(usage, critical=True)
    for extension in extra:
        builder = builder.add_extension(extension, critical=False)
    if isinstance(signer, ed25519.Ed25519PrivateKey):
        return builder.sign(signer, None)
    if pss:
        pad = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
        return builder.sign(signer, hashes.SHA256(), rsa_padding=pad)
    return builder.sign(signer, hashes.SHA256())


def twice(cert: x509.Certificate, signer: Any) -> x509.Certificate:
    """``cert`` with its first extension given twice, signed again by ``signer``
    (an EC key): what ``cryptography``'s builder refuses to make (atk24b F6)."""

    def change(tbs: Any) -> None:
        extensions = [asn1_x509.Extension.load(e.dump()) for e in tbs["extensions"]]
        tbs["extensions"] = asn1_x509.Extensions([*extensions, extensions[0]])

    return x509.load_der_x509_certificate(resigned(cert, signer, change))


def resigned(cert: x509.Certificate, signer: Any, change: Any) -> bytes:
    """The DER of ``cert`` with ``change(its TBSCertificate)`` made (asn1crypto),
    signed again by ``signer`` (an EC key): what ``cryptography`` would not build
    (nor, for some, load)."""
    parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    tbs = asn1_x509.TbsCertificate.load(parsed["tbs_certificate"].dump())
    change(tbs)
    body = tbs.dump()  # changed parts only: asn1crypto cannot write every name
    whole = asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": parsed["signature_algorithm"],
            "signature_value": signer.sign(body, ec.ECDSA(hashes.SHA256())),
        }
    )
    return bytes(whole.dump())


def der_pem(der: bytes) -> bytes:
    body = base64.encodebytes(der)
    return b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_pem(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def root(common: str, kind: str = "p256", **options: Any):
    key = new_key(kind)
    return key, issue(name(common), key, name(common), key, ca=True, **options)


def below(common: str, issuer_cert, issuer_key, kind: str = "p256", **options: Any):
    options.setdefault("ca", False)
    key = new_key(kind)
    return key, issue(name(common), key, issuer_cert.subject, issuer_key, **options)


def extension(oid: str, value: bytes, *, critical: bool = False) -> Any:
    """An asn1crypto ``Extension`` of the dotted ``oid`` holding the DER ``value``
    as it is, for :func:`with_extensions`."""
    flag = bytes.fromhex("0101ff") if critical else b""
    body = asn1_x509.ExtensionId(oid).dump() + flag + tlv(0x04, value)
    return asn1_x509.Extension.load(tlv(0x30, body))


def with_extensions(
    cert: x509.Certificate,
    signer: Any,
    *,
    add: Iterable[Any] = (),
    drop: Iterable[str] = (),
) -> bytes:
    """The DER of ``cert`` without its extensions of the dotted OIDs ``drop`` and
    with ``add`` (:func:`extension`) appended, signed again by ``signer`` (an EC
    key, ``cert``'s issuer's)."""
    dropped, added = set(drop), list(add)

    def change(tbs: Any) -> None:
        kept = [
            asn1_x509.Extension.load(e.dump())
            for e in tbs["extensions"]
            if e["extn_id"].dotted not in dropped
        ]
        tbs["extensions"] = asn1_x509.Extensions([*kept, *added])

    return resigned(cert, signer, change)
