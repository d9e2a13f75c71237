"""X.509 certificates read as a TLS peer (BoringSSL) takes them, where
``cryptography`` is stricter or raises what is no ValueError: the errors it raises
for a certificate it cannot take (:data:`CERTIFICATE_ERRORS`), and an extension read
despite a general name it does not model (:func:`certificate_extension`,
:func:`marked_extension`): the one rule for every reader of a certificate from
outside (a TLS peer's, a TSA's in an RFC 3161 token). Importing it also corrects
asn1crypto's ediPartyName (RFC 5280 §4.2.1.6), which asn1crypto could neither decode
nor write, for the asn1crypto readers (seal paths, pyHanko's PDF validation). Pure:
no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

# asn1crypto tags EDIPartyName's DirectoryStrings implicitly, which a CHOICE cannot
# be (X.680 §31.2.7 c: the tag of a CHOICE is explicit even in RFC 5280's IMPLICIT
# TAGS module; BoringSSL and OpenSSL read it so): it raised for an ediPartyName
# decoded (pyhanko-certvalidator reads every subject name for name constraints) or
# written again (asn1crypto takes a length whose last byte is 0x80 for BER's
# indefinite one and re-encodes, as when pyHanko's builder writes a TSA's token).
# Corrected once, for every asn1crypto reader of the process.
asn1_x509.EDIPartyName._fields = [
    ("name_assigner", asn1_x509.DirectoryString, {"explicit": 0, "optional": True}),
    ("party_name", asn1_x509.DirectoryString, {"explicit": 1}),
]
asn1_x509.EDIPartyName()._setup()


@dataclass(frozen=True)
class MarkedExtension:
    """An extension's value and whether the certificate marks it critical."""

    value: Any
    """As ``cryptography`` gives it (``x509.ExtendedKeyUsage`` iterates OIDs), or,
    read with asn1crypto, a value with the same attributes or OIDs."""
    critical: bool
    """The extension's ``critical`` flag (RFC 5280 §4.2)."""


def certificate_extension(cert: x509.Certificate, kind: type[Any]) -> Any:
    """The value of ``cert``'s extension of class ``kind``, None when it has none:
    :func:`marked_extension`'s value. Raises what it raises."""
    found = marked_extension(cert, kind)
    return None if found is None else found.value


def marked_extension(cert: x509.Certificate, kind: type[Any]) -> MarkedExtension | None:
    """``cert``'s extension of class ``kind`` (``x509.BasicConstraints``,
    ``x509.KeyUsage`` or ``x509.ExtendedKeyUsage``: what a certificate's use is
    judged by) with its critical flag, None when it has none. A general name of a
    kind ``cryptography`` does not model (x400Address, ediPartyName: RFC 5280
    §4.2.1.6) in any extension (subjectAltName, issuerAltName, CRL distribution
    points, ...), which makes it refuse every extension, is no fault: the extension
    is then read with asn1crypto, as BoringSSL takes such a certificate. Raises
    ValueError or ``x509.DuplicateExtension`` for an extension malformed or given
    twice (RFC 5280 §4.2), as for a certificate without such a name."""
    try:
        found = cert.extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound:
        return None
    except x509.UnsupportedGeneralNameType:
        return _asn1_extension(cert, kind)
    return MarkedExtension(found.value, found.critical)


_ASN1_NAMES: dict[type[Any], str] = {
    x509.BasicConstraints: "basic_constraints",
    x509.KeyUsage: "key_usage",
    x509.ExtendedKeyUsage: "extended_key_usage",
}


def _asn1_extension(cert: x509.Certificate, kind: type[Any]) -> MarkedExtension | None:
    """The extension of ``kind`` read with asn1crypto, held to what ``cryptography``
    holds it to: an extension given twice, an alternative name whose general names
    do not read, or the extension read not in DER (a long-form or indefinite
    length, a padded OID, bytes after its value) or empty where RFC 5280 asks for
    one or more purposes raise as ``cryptography`` would (asn1crypto alone takes
    BER and ignores what follows a value)."""
    if kind not in _ASN1_NAMES:
        raise ValueError(f"{kind.__name__} is not read without cryptography")
    parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    wanted = _ASN1_NAMES[kind]
    found: tuple[Any, bool] | None = None
    seen: set[str] = set()
    for extension in parsed["tbs_certificate"]["extensions"]:
        oid = extension["extn_id"].dotted
        if oid in seen:
            raise x509.DuplicateExtension(
                f"the certificate has extension {oid} twice", x509.ObjectIdentifier(oid)
            )
        seen.add(oid)
        name = extension["extn_id"].native
        if name in ("subject_alt_name", "issuer_alt_name"):
            _read_strictly(extension["extn_value"], name, der=False)
        if name == wanted:
            value = _read_strictly(extension["extn_value"], name, der=True)
            found = (value, bool(extension["critical"].native))
    if found is None:
        return None
    value, critical = found
    if kind is x509.BasicConstraints:
        return MarkedExtension(_Flags(ca=bool(value["ca"].native)), critical)
    if kind is x509.KeyUsage:
        flags = _Flags(
            digital_signature="digital_signature" in value.native,
            key_cert_sign="key_cert_sign" in value.native,
        )
        return MarkedExtension(flags, critical)
    if len(value) == 0:  # KeyPurposeId SIZE (1..MAX): RFC 5280 §4.2.1.12
        raise ValueError("the certificate's extended key usage names no purpose")
    return MarkedExtension([x509.ObjectIdentifier(p.dotted) for p in value], critical)


def _read_strictly(octets: Any, name: str, *, der: bool) -> Any:
    """The value inside an extension's OCTET STRING, every part of it read; ``der``:
    also written again to the same bytes. ValueError naming the extension if not."""
    try:
        value = octets.parsed
        value.native  # noqa: B018 (reads every part: a general name that does not read)
        if der and value.dump(force=True) != octets.contents:
            raise ValueError("not in DER")
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"the certificate's {name} extension is malformed") from exc
    return value


@dataclass(frozen=True)
class _Flags:
    ca: bool = False
    digital_signature: bool = False
    key_cert_sign: bool = False


#: what ``cryptography`` raises for a certificate it cannot take, beside ValueError:
#: an X.509 version other than 1 to 3 (when loaded), an extension given twice or a
#: general name of a kind it does not model (when its extensions are read)
CERTIFICATE_ERRORS = (
    ValueError,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)
