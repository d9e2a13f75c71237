"""A certificate whose name holds a string that does not decode as its type says
(an IA5String holding UTF-8, as 云南省住房和城乡建设厅's YNCA certificate carries; a
BMPString of odd length; a UTF8String that is not UTF-8) is still a certificate: its
key is read, its name shown with replacement characters, and such a name matches
only a name of the same bytes when a path is built (atk-docs F2). A certificate that
is not DER is refused as before."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import pytest
from asn1crypto import core
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certseal.certificates import common_name, name_decodes, same_name
from services.seal.certificates import read_certificate, sign_certificate
from services.seal.domain import SealVerdict, verify_sealed_document
from services.seal.ses_read import read_signature
from services.seal.trust import TrustStore, subject_of, validate_path

AT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
FIELD = Path(__file__).parent / "data" / "ofdrw_field"
CN, EMAIL, COUNTRY = "2.5.4.3", "1.2.840.113549.1.9.1", "2.5.4.6"


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag, len(body)]) + body


def _name(*attributes: tuple[str, int, bytes]) -> asn1_x509.Name:
    """A Name of one attribute per RDN: (OID, string tag, its bytes as written)."""
    rdns = b"".join(
        _tlv(0x31, _tlv(0x30, core.ObjectIdentifier(oid).dump() + _tlv(tag, value)))
        for oid, tag, value in attributes
    )
    return asn1_x509.Name.load(_tlv(0x30, rdns))


def _key() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, public


def _cert(
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: asn1_x509.Name,
    subject: asn1_x509.Name,
    public: bytes,
    *,
    ca: bool,
) -> bytes:
    return sign_certificate(
        issuer_key,
        {
            "version": "v3",
            "serial_number": secrets.randbits(64),
            "issuer": issuer,
            "validity": {
                "not_before": asn1_x509.Time(
                    {"general_time": AT - dt.timedelta(days=300)}
                ),
                "not_after": asn1_x509.Time(
                    {"general_time": AT + dt.timedelta(days=300)}
                ),
            },
            "subject": subject,
            "subject_public_key_info": asn1_keys.PublicKeyInfo.load(public),
            "extensions": [
                {
                    "extn_id": "basic_constraints",
                    "critical": True,
                    "extn_value": {"ca": ca},
                },
                {
                    "extn_id": "key_usage",
                    "critical": True,
                    "extn_value": {"key_cert_sign"}
                    if ca
                    else {"digital_signature", "non_repudiation"},
                },
            ],
        },
    )


ROOT_KEY, ROOT_PUBLIC = _key()
ROOT_NAME = _name((CN, 0x0C, b"names test root"))
ROOT = _cert(ROOT_KEY, ROOT_NAME, ROOT_NAME, ROOT_PUBLIC, ca=True)

#: names that do not decode strictly, and the common name shown for each
UNDECODABLE = {
    "ia5 email holding utf-8 (YNCA)": (
        _name((CN, 0x0C, b"53011200000556"), (EMAIL, 0x16, "电子邮箱".encode())),
        "53011200000556",
    ),
    "ia5 common name holding utf-8": (
        _name((COUNTRY, 0x13, b"CN"), (CN, 0x16, "云南省".encode())),
        "云南省",
    ),
    "bmp string of odd length": (_name((CN, 0x1E, b"\x00A\x00")), "A\ufffd"),
    "utf8 string that is no utf-8": (_name((CN, 0x0C, b"\xff\xfeA")), "\ufffd\ufffdA"),
}


@pytest.mark.parametrize("case", UNDECODABLE)
def test_a_certificate_is_read_whatever_its_names_strings_hold(case):
    subject, shown = UNDECODABLE[case]
    assert not name_decodes(subject)
    _, public = _key()
    cert = _cert(ROOT_KEY, ROOT_NAME, subject, public, ca=False)
    info = read_certificate(cert)
    assert info.public_key_der == public
    assert info.common_name == shown
    assert common_name(subject) == shown


@pytest.mark.parametrize("case", UNDECODABLE)
def test_a_leaf_so_named_leads_to_its_trusted_issuer(case):
    subject, shown = UNDECODABLE[case]
    _, public = _key()
    leaf = _cert(ROOT_KEY, ROOT_NAME, subject, public, ca=False)
    result = validate_path(leaf, TrustStore.of([ROOT]), AT, role="signer certificate")
    assert result.ok, result.detail
    assert result.path == (shown, "names test root")


@pytest.mark.parametrize("case", UNDECODABLE)
def test_a_ca_so_named_issues_when_its_leaf_names_it_byte_for_byte(case):
    name, shown = UNDECODABLE[case]
    ca_key, ca_public = _key()
    ca = _cert(ROOT_KEY, ROOT_NAME, name, ca_public, ca=True)
    _, public = _key()
    leaf = _cert(ca_key, name, _name((CN, 0x0C, b"leaf")), public, ca=False)
    trust = TrustStore.of([ROOT, ca])
    result = validate_path(leaf, trust, AT, role="signer certificate")
    assert result.ok, result.detail
    assert result.path == ("leaf", shown, "names test root")
    assert subject_of(asn1_x509.Certificate.load(ca)) == shown


def test_an_undecodable_issuer_name_written_otherwise_is_no_match_and_says_so():
    """RFC 5280 §7.1 compares names after decoding them; one that does not decode
    is matched byte for byte only, and the refusal says why."""
    name = _name((COUNTRY, 0x13, b"CN"), (EMAIL, 0x16, "电子邮箱".encode()))
    other = _name((COUNTRY, 0x0C, b"CN"), (EMAIL, 0x16, "电子邮箱".encode()))
    assert not same_name(name, other)
    ca_key, ca_public = _key()
    ca = _cert(ROOT_KEY, ROOT_NAME, name, ca_public, ca=True)
    _, public = _key()
    leaf = _cert(ca_key, other, _name((CN, 0x0C, b"leaf")), public, ca=False)
    result = validate_path(leaf, TrustStore.of([ROOT, ca]), AT, role="signer")
    assert not result.ok
    assert "does not decode" in result.detail


def test_names_that_decode_still_match_by_rfc_5280_comparison():
    assert same_name(
        _name((CN, 0x0C, b"Seal  CA")),  # UTF8String, two spaces
        _name((CN, 0x13, b"seal ca")),  # PrintableString, folded
    )
    assert not same_name(_name((CN, 0x0C, b"seal ca")), _name((CN, 0x0C, b"seal cb")))


@pytest.mark.parametrize(
    "attribute",
    [
        core.ObjectIdentifier(CN).dump() + _tlv(0x02, b"\x05"),
        core.ObjectIdentifier(CN).dump(),
        core.ObjectIdentifier(CN).dump() + _tlv(0x0C, b"a") + _tlv(0x0C, b"b"),
    ],
    ids=["an integer for a common name", "no value", "two values"],
)
def test_a_name_that_is_not_der_is_still_refused(attribute):
    subject = asn1_x509.Name.load(_tlv(0x30, _tlv(0x31, _tlv(0x30, attribute))))
    _, public = _key()
    cert = _cert(ROOT_KEY, ROOT_NAME, subject, public, ca=False)
    assert subject.dump() in cert  # written as given
    with pytest.raises(ValueError, match=r"not a DER X\.509 certificate"):
        read_certificate(cert)
    result = validate_path(cert, TrustStore.of([ROOT]), AT, role="signer")
    assert not result.ok
    assert "is not a certificate" in result.detail


@pytest.mark.parametrize("at", [8, 40, -1])
def test_the_yunnan_seal_with_its_signature_altered_is_a_bad_signature(at):
    """云南省住房和城乡建设厅's seal (ofdrw's zsbk.ofd; its signer certificate's
    emailAddress is an IA5String holding UTF-8): with one bit of its signature value
    changed, the signature no longer holds."""
    signature = (FIELD / "zsbk_Sign_0.SignedValue.dat").read_bytes()
    document = (FIELD / "zsbk_Sign_0.Signature.xml").read_bytes()
    value = read_signature(signature).signature
    altered = bytearray(value)
    altered[at] ^= 1
    signature = signature.replace(value, bytes(altered))
    result = verify_sealed_document(
        signature,
        document=document,
        trust=TrustStore.of([ROOT]),
        seal_status=None,
        now=AT,
    )
    assert result.verdict is SealVerdict.BAD_SIGNATURE, result.checks
