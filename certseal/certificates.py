"""X.509 certificates read as a TLS peer (BoringSSL) takes them, where
``cryptography`` is stricter or raises what is no ValueError: the errors it raises
for a certificate it cannot take (:data:`CERTIFICATE_ERRORS`), and an extension read
despite a general name it does not model (:func:`certificate_extension`,
:func:`marked_extension`): the one rule for every reader of a certificate from
outside (a TLS peer's, a TSA's in an RFC 3161 token). Importing it also corrects
asn1crypto's ediPartyName (RFC 5280 §4.2.1.6), which asn1crypto could neither decode
nor write, for the asn1crypto readers (seal paths, pyHanko's PDF validation). Names
(:func:`common_name`, :func:`same_name`) are read as OpenSSL and BouncyCastle read
them: a string that does not decode as its type says (an IA5String holding UTF-8, as
real seal certificates carry) is shown with replacement characters, and such a name
matches only a name of the same bytes. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asn1crypto import core as asn1_core
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
    """As ``cryptography`` gives it (``x509.ExtendedKeyUsage`` iterates OIDs)."""
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


#: the extensions whose general names ``cryptography`` may not model (RFC 5280
#: §4.2.1.6, §4.2.1.7): read apart with asn1crypto
_ALT_NAMES = ("subject_alt_name", "issuer_alt_name")


def _asn1_extension(cert: x509.Certificate, kind: type[Any]) -> MarkedExtension | None:
    """The extension of ``kind`` of a certificate whose alternative names hold a
    general name ``cryptography`` does not model: those names are read with
    asn1crypto (each must read: junk is refused), and every other extension by
    ``cryptography`` itself, from the same certificate without its alternative
    names, so its rules (DER, value ranges, combinations of bits, an extension
    given twice) hold exactly as for any certificate. A general name it does not
    model in any other extension is refused (ValueError)."""
    parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    tbs = parsed["tbs_certificate"]
    others, seen = [], set()
    for extension in tbs["extensions"]:
        name = extension["extn_id"].native
        if name not in _ALT_NAMES:
            others.append(extension)
            continue
        if name in seen:
            raise x509.DuplicateExtension(
                f"the certificate has its {name} twice",
                x509.ObjectIdentifier(extension["extn_id"].dotted),
            )
        seen.add(name)
        try:
            extension["extn_value"].parsed.native  # noqa: B018 (every name read)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"the certificate's {name} is malformed") from exc
    if not others:
        return None
    tbs["extensions"] = asn1_x509.Extensions(others)  # the others' bytes as they are
    rest_der = asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": parsed["signature_algorithm"],
            "signature_value": parsed["signature_value"],
        }
    ).dump()
    try:
        rest = x509.load_der_x509_certificate(rest_der)
        found = rest.extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound:
        return None
    except x509.UnsupportedGeneralNameType as exc:
        raise ValueError(f"the certificate has a general name in {exc}") from None
    return MarkedExtension(found.value, found.critical)


#: what ``cryptography`` raises for a certificate it cannot take, beside ValueError:
#: an X.509 version other than 1 to 3 (when loaded), an extension given twice or a
#: general name of a kind it does not model (when its extensions are read)
CERTIFICATE_ERRORS = (
    ValueError,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


def _attribute_text(value: Any) -> str:
    """An attribute value as text: decoded as its string type says, else with
    replacement characters: a BMPString or UniversalString in its own encoding, any
    other value's bytes as UTF-8 (asn1crypto decodes an IA5String as ASCII only and
    raises for the UTF-8 some CAs write into one)."""
    chosen = value.chosen if isinstance(value, asn1_core.Choice) else value
    try:
        return str(chosen.native)
    except (ValueError, TypeError):  # UnicodeDecodeError is a ValueError
        encoding = getattr(chosen, "_encoding", "")
        if encoding not in ("utf-16-be", "utf-32-be"):
            encoding = "utf-8"
        return bytes(chosen.contents or b"").decode(encoding, errors="replace")


def name_values(name: asn1_x509.Name) -> list[tuple[str, str]]:
    """Every attribute of ``name`` in order: (its type as asn1crypto names it, or the
    dotted OID; its text, :func:`_attribute_text`). Raises ValueError when the name is
    not a DER Name (a malformed RDN or a value of another ASN.1 type than its
    attribute's), never for a string that does not decode."""
    found = []
    for rdn in name.chosen:
        for attribute in rdn:
            if len(attribute) != 2:  # asn1crypto would drop what follows the value
                raise ValueError("an attribute of a name is not a type and a value")
            kind = attribute["type"]
            value = attribute["value"]  # parses it: a wrong tag raises here
            label = kind.native if isinstance(kind.native, str) else kind.dotted
            found.append((label, _attribute_text(value)))
    return found


def common_name(name: asn1_x509.Name) -> str:
    """The first common name of ``name``, "" when it has none (leniently decoded:
    :func:`name_values`)."""
    return next((text for kind, text in name_values(name) if kind == "common_name"), "")


def name_decodes(name: asn1_x509.Name) -> bool:
    """Whether every string of ``name`` decodes as its type says (so RFC 5280 §7.1's
    comparison of names can read it)."""
    try:
        name.native  # noqa: B018 (decodes every value)
    except (ValueError, TypeError):
        return False
    return True


def same_name(a: asn1_x509.Name, b: asn1_x509.Name) -> bool:
    """Whether ``a`` and ``b`` are the same name: the same DER, or equal under RFC
    5280 §7.1 (asn1crypto's comparison). A name holding a string that does not
    decode matches only a name of the same bytes: its comparison cannot read it."""
    if a.dump() == b.dump():
        return True
    try:
        return bool(a == b)
    except (ValueError, TypeError):
        return False
