"""The kernel's rule for a certificate from outside whose extensions hold a general
name ``cryptography`` does not model (ediPartyName, x400Address: RFC 5280
§4.2.1.6): its extensions read as without the name, critical flags included
(``certseal.certificates.marked_extension``), and asn1crypto's readers (the seal
paths, pyHanko's PDF validation) decode and write it."""

from __future__ import annotations

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
from pyhanko_certvalidator import CertificateValidator, ValidationContext

from certseal.certificates import marked_extension
from tests.certificates import (
    EDI_PARTY_NAMES,
    MANGLED_KEY_USAGES,
    X400_ADDRESSES,
    below,
    extension,
    root,
    with_extensions,
)

NAMES = {
    "ediPartyName subjectAltName": (
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        EDI_PARTY_NAMES,
    ),
    "x400Address subjectAltName": (
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        X400_ADDRESSES,
    ),
    "ediPartyName issuerAltName": (
        ExtensionOID.ISSUER_ALTERNATIVE_NAME,
        EDI_PARTY_NAMES,
    ),
}
TIME_STAMPING = x509.KeyUsage(
    True, True, False, False, False, False, False, False, False
)


def _pair(names: str | None, *extra: x509.ExtensionType):
    rk, rc = root("Root")
    named = [] if names is None else [x509.UnrecognizedExtension(*NAMES[names])]
    _, leaf = below(
        "tsa",
        rc,
        rk,
        eku=[ExtendedKeyUsageOID.TIME_STAMPING],
        usage=TIME_STAMPING,
        extra=[*named, *extra],
    )
    return rc, leaf


def _read(cert: x509.Certificate) -> tuple[object, ...]:
    """What a certificate's use is judged by, each with its critical flag."""
    basic = marked_extension(cert, x509.BasicConstraints)
    usage = marked_extension(cert, x509.KeyUsage)
    purposes = marked_extension(cert, x509.ExtendedKeyUsage)
    assert basic is not None and usage is not None and purposes is not None
    return (
        (basic.value.ca, basic.critical),
        (usage.value.digital_signature, usage.value.key_cert_sign, usage.critical),
        (list(purposes.value), purposes.critical),
    )


@pytest.mark.parametrize("names", list(NAMES))
def test_extensions_read_as_without_the_name(names):
    _, plain = _pair(None)
    _, named = _pair(names)
    with pytest.raises(x509.UnsupportedGeneralNameType):
        _ = named.extensions
    assert (
        _read(named)
        == _read(plain)
        == (
            (False, True),
            (True, False, True),
            ([ExtendedKeyUsageOID.TIME_STAMPING], False),
        )
    )


@pytest.mark.parametrize("names", [None, *NAMES])
def test_a_mangled_extension_is_refused_as_without_the_name(names):
    mangled = x509.UnrecognizedExtension(
        ExtensionOID.EXTENDED_KEY_USAGE, MANGLED_KEY_USAGES
    )
    rk, rc = root("Root")
    named = [] if names is None else [x509.UnrecognizedExtension(*NAMES[names])]
    _, leaf = below("tsa", rc, rk, extra=[*named, mangled])
    with pytest.raises(ValueError):
        marked_extension(leaf, x509.ExtendedKeyUsage)


@pytest.mark.parametrize("names", list(NAMES))
def test_asn1crypto_decodes_and_writes_the_name(names):
    _, named = _pair(names)
    der = named.public_bytes(serialization.Encoding.DER)
    parsed = asn1_x509.Certificate.load(der)
    alt = parsed.subject_alt_name_value or parsed.issuer_alt_name_value
    assert alt is not None and alt.native  # asn1crypto raised for ediPartyName
    assert asn1_x509.Certificate.load(der).dump(force=True) == der


@pytest.mark.parametrize("names", list(NAMES))
async def test_pyhankos_path_validation_takes_the_name(names):
    """pyhanko-certvalidator (PDF signatures and their timestamps) reads every name
    of a certificate for the name constraints, ediPartyName too."""
    ca, named = _pair(names)

    def loaded(cert: x509.Certificate) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    context = ValidationContext(trust_roots=[loaded(ca)], allow_fetching=False)
    validator = CertificateValidator(loaded(named), validation_context=context)
    path = await validator.async_validate_usage(
        {"digital_signature"}, {"time_stamping"}
    )
    assert path.leaf.subject.native["common_name"] == "tsa"


#: extension values cryptography judges by rules of its own beyond DER (atk28b):
#: the fallback must judge them alike, refused or taken
JUDGED = {
    "basic constraints, pathLen -1": (
        ExtensionOID.BASIC_CONSTRAINTS,
        "30060101ff0201ff",
    ),
    "basic constraints, pathLen without ca": (
        ExtensionOID.BASIC_CONSTRAINTS,
        "3003020101",
    ),
    "key usage, decipherOnly without keyAgreement": (
        ExtensionOID.KEY_USAGE,
        "0303078080",
    ),
    "key usage, trailing zero bits": (ExtensionOID.KEY_USAGE, "03020080"),
    "key usage, nine bits": (ExtensionOID.KEY_USAGE, "0303068040"),
    "key usage, as the dev stack's": (ExtensionOID.KEY_USAGE, "03020780"),
}
KINDS = {
    ExtensionOID.BASIC_CONSTRAINTS: x509.BasicConstraints,
    ExtensionOID.KEY_USAGE: x509.KeyUsage,
}


@pytest.mark.parametrize("names", list(NAMES))
@pytest.mark.parametrize("value", list(JUDGED))
def test_an_extension_is_judged_as_cryptography_judges_it(names, value):
    oid, hexed = JUDGED[value]
    rk, rc = root("Root")
    _, leaf = below("tsa", rc, rk)
    given = extension(oid.dotted_string, bytes.fromhex(hexed), critical=True)
    name_oid, name_value = NAMES[names]
    name = extension(name_oid.dotted_string, name_value)

    def judged(*add: object) -> tuple[object, ...]:
        der = with_extensions(leaf, rk, add=add, drop=[oid.dotted_string])
        cert = x509.load_der_x509_certificate(der)
        try:
            found = marked_extension(cert, KINDS[oid])
        except (ValueError, x509.DuplicateExtension):
            return ("refused",)
        return ("taken", found and (found.value, found.critical))

    assert judged(name, given) == judged(given)
