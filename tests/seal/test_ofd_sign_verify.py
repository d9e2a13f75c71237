"""A digital signature's SignedValue.dat (``Type="Sign"``, GB/T 35275 SignedData)
verified over its Signature.xml: the field's (oesplugin's Sign_3 of ofdrw's
keyword.ofd), ofdrw's bare DigitalSign, and SignedData of the tests' own
(tests/seal/ofd_signs.py) in both forms, SM2 and P-256.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from asn1crypto import core
from asn1crypto import x509 as asn1_x509

from certseal.crypto import Suite, digest, signature_from_der, verify
from services.seal.ofd_sign_verify import MAX_SIGNED_VALUE_BYTES, sign_facts
from services.seal.trust import TrustStore
from services.seal.values import SealVerdict
from tests.seal.ofd_signs import own_p256_signer, own_sm2_signer, signed_data
from tests.seal.ses_platforms import TRUST, USER_CERT, seq, tlv

FIELD = Path(__file__).parent / "data" / "ofdrw_field"
SIGN_3_XML = (FIELD / "keyword_Sign_3.Signature.xml").read_bytes()
SIGN_3_VALUE = (FIELD / "keyword_Sign_3.SignedValue.dat").read_bytes()
XML = b'<?xml version="1.0"?><ofd:Signature>a signed signature file</ofd:Signature>'
AT = "2021-06-01 16:00:00"  # inside ofdrw's signer's validity (2020-04 to 2022-04)


def _facts(value: bytes, xml: bytes = XML, at: str = AT, trust: TrustStore = TRUST):
    return sign_facts(value, signature_xml=xml, signed_at_text=at, trust=trust)


def _check(facts, name: str):  # type: ignore[no-untyped-def]
    [check] = [c for c in facts.verification.checks if c.name == name]
    return check


def _tlvs(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """The DER elements of ``data`` one after another: (tag, contents, the whole)."""
    found, pos = [], 0
    while pos < len(data):
        size, head = data[pos + 1], 2
        if size & 0x80:
            count = size & 0x7F
            size, head = (
                int.from_bytes(data[pos + 2 : pos + 2 + count], "big"),
                2 + count,
            )
        found.append(
            (
                data[pos],
                data[pos + head : pos + head + size],
                data[pos : pos + head + size],
            )
        )
        pos += head + size
    return found


def test_the_field_sign_encapsulates_the_sm3_of_signature_xml_and_signs_it():
    """What oesplugin's Sign signs, shown with its own bytes: the content (type
    1.2.156.10197.6.1.4.2.1) is SM3(Signature.xml), no signed attributes, and the
    SM2 signature (raw r‖s, default signer ID) holds over those 32 bytes."""
    [(_, info, _)] = _tlvs(SIGN_3_VALUE)
    (_, kind, _), (_, explicit, _) = _tlvs(info)
    assert core.ObjectIdentifier.load(b"\x06" + bytes([len(kind)]) + kind).dotted == (
        "1.2.156.10197.6.1.4.2.2"
    )
    [(_, body, _)] = _tlvs(explicit)
    _version, _digests, encap, certs, signers = _tlvs(body)
    (_, content_type, _), (_, wrapped, _) = _tlvs(encap[1])
    assert content_type == core.ObjectIdentifier("1.2.156.10197.6.1.4.2.1").contents
    [(tag, hashed, _)] = _tlvs(wrapped)
    assert tag == 0x04 and hashed == digest(Suite.SM2, SIGN_3_XML)
    [(_, _, cert)] = _tlvs(certs[1])
    assert asn1_x509.Certificate.load(cert).subject.native["common_name"] == (
        "37030000001721"
    )
    [(_, signer, _)] = _tlvs(signers[1])
    fields = _tlvs(signer)
    assert 0xA0 not in [tag for tag, _, _ in fields]  # no signed attributes
    signature = fields[-1][1]
    assert len(signature) == 64  # r‖s, not DER
    public = asn1_x509.Certificate.load(cert).public_key.dump()
    verify(Suite.SM2, public, hashed, signature)


def test_the_field_sign_verifies_and_is_not_vouched_for_here():
    facts = _facts(SIGN_3_VALUE, SIGN_3_XML, "2020-06-20 17:18:49")
    result = facts.verification
    assert facts.bound
    assert _check(facts, "signature").passed
    assert result.signer == "37030000001721"
    # its CA (CEGN_SEAL_CA) is no CA this service trusts
    assert result.verdict is SealVerdict.UNTRUSTED_SEAL, result.checks
    assert not _check(facts, "signer certificate").passed


def test_the_field_sign_no_longer_stands_for_a_changed_signature_xml():
    changed = SIGN_3_XML.replace(b"2020-06-20", b"2020-06-21")
    facts = _facts(SIGN_3_VALUE, changed, "2020-06-20 17:18:49")
    assert not facts.bound
    assert facts.verification.verdict is not SealVerdict.VALID


def test_ofdrw_digital_sign_a_bare_signature_is_never_valid():
    with zipfile.ZipFile(io.BytesIO((FIELD / "DigitalSign.ofd").read_bytes())) as z:
        value = z.read("Doc_0/Signs/Sign_0/SignedValue.dat")
        xml = z.read("Doc_0/Signs/Sign_0/Signature.xml")
    assert len(value) == 70
    facts = _facts(value, xml, "2020-04-22 16:22:44")
    assert facts.verification.verdict is SealVerdict.UNTRUSTED_SEAL
    assert not facts.bound
    detail = _check(facts, "signature").detail
    assert "carries no certificate: who signed it cannot be told" in detail
    # the same signature as the raw 64 bytes r‖s some devices write
    raw = _facts(signature_from_der(Suite.SM2, value), xml, "2020-04-22 16:22:44")
    assert raw.verification.verdict is SealVerdict.UNTRUSTED_SEAL
    assert "carries no certificate" in _check(raw, "signature").detail


@pytest.mark.parametrize("form", ["attached", "pkcs9"])
def test_a_gbt35275_sign_by_a_trusted_signer_is_valid(form):
    facts = _facts(signed_data(XML, form=form))
    assert facts.verification.verdict is SealVerdict.VALID, facts.verification.checks
    assert facts.bound
    assert facts.verification.signer == "Test Certificate"
    assert [c.name for c in facts.verification.checks] == [
        "decode",
        "signature",
        "signer certificate",
        "data hash",
    ]


@pytest.mark.parametrize("form", ["attached", "pkcs9"])
def test_a_changed_signature_xml_is_modified(form):
    facts = _facts(signed_data(XML, form=form), XML.replace(b"a signed", b"a forged"))
    assert facts.verification.verdict is SealVerdict.MODIFIED
    assert not facts.bound
    assert not _check(facts, "data hash").passed


@pytest.mark.parametrize("form", ["attached", "pkcs9"])
def test_a_signature_over_other_bytes_is_a_bad_signature(form):
    facts = _facts(signed_data(XML, form=form, signed_over=b"something else"))
    assert facts.verification.verdict is SealVerdict.BAD_SIGNATURE
    assert facts.bound  # what it claims to sign is this file; the signature is not


def test_a_changed_signature_byte_is_a_bad_signature():
    value = bytearray(signed_data(XML))
    value[-5] ^= 1  # inside the signature, the SignedData's last field
    facts = _facts(bytes(value))
    assert facts.verification.verdict is SealVerdict.BAD_SIGNATURE


def test_a_signer_of_an_untrusted_ca_is_untrusted():
    signer, cert, _root = own_sm2_signer()
    facts = _facts(signed_data(XML, signer=signer, cert=cert))
    assert facts.verification.verdict is SealVerdict.UNTRUSTED_SEAL
    assert _check(facts, "signature").passed
    assert "a signer of no trusted CA" in _check(facts, "signer certificate").detail


def test_the_same_signer_is_valid_where_its_ca_is_trusted():
    signer, cert, root = own_sm2_signer()
    facts = _facts(
        signed_data(XML, signer=signer, cert=cert), trust=TrustStore.of([root])
    )
    assert facts.verification.verdict is SealVerdict.VALID, facts.verification.checks


def test_a_certificate_expired_when_it_signed_is_not_valid():
    # ofdrw's signer is valid 2020-04-21 to 2022-04-21
    facts = _facts(signed_data(XML), at="2022-05-01 10:00:00")
    assert facts.verification.verdict is SealVerdict.CERTIFICATE_NOT_VALID
    assert "was not valid at" in _check(facts, "signer certificate").detail
    before = _facts(signed_data(XML), at="2020-04-01T00:00:00Z")
    assert before.verification.verdict is SealVerdict.CERTIFICATE_NOT_VALID


def test_a_signing_time_that_is_no_time_is_said():
    facts = _facts(signed_data(XML), at="yesterday")
    assert facts.verification.verdict is SealVerdict.CERTIFICATE_NOT_VALID
    assert "'yesterday' is not a time" in _check(facts, "signer certificate").detail


def test_a_signed_data_without_the_signers_certificate_cannot_tell_who_signed():
    alone = _facts(signed_data(XML, carry=()))
    assert alone.verification.verdict is SealVerdict.UNTRUSTED_SEAL
    assert "carries no certificate" in _check(alone, "signature").detail
    _signer, other, _root = own_sm2_signer()
    wrong = _facts(signed_data(XML, carry=(other,)))
    assert wrong.verification.verdict is SealVerdict.UNTRUSTED_SEAL
    assert "does not carry the certificate" in _check(wrong, "signature").detail


def test_a_pkcs7_ecdsa_sign_is_verified():
    signer, cert, root = own_p256_signer()
    value = signed_data(XML, signer=signer, cert=cert, form="pkcs9")
    facts = _facts(value, trust=TrustStore.of([root]))
    assert facts.verification.verdict is SealVerdict.VALID, facts.verification.checks
    assert _facts(value).verification.verdict is SealVerdict.UNTRUSTED_SEAL


def test_a_huge_signed_value_is_refused_by_its_size():
    value = signed_data(
        XML, carry=(USER_CERT, tlv(0x04, bytes(MAX_SIGNED_VALUE_BYTES)))
    )
    facts = _facts(value)
    assert facts.verification.verdict is SealVerdict.MALFORMED
    assert f"the limit is {MAX_SIGNED_VALUE_BYTES}" in _check(facts, "decode").detail


def test_a_deeply_nested_signed_value_is_refused_by_its_depth():
    deep = b"\x05\x00"
    for _ in range(200):
        deep = seq(deep)
    facts = _facts(signed_data(XML, carry=(USER_CERT, deep)))
    assert facts.verification.verdict is SealVerdict.MALFORMED
    assert "nested deeper than" in _check(facts, "decode").detail


def test_too_many_certificates_are_refused():
    facts = _facts(signed_data(XML, carry=(USER_CERT,) * 17))
    assert facts.verification.verdict is SealVerdict.MALFORMED
    assert "17 certificates; the limit is 16" in _check(facts, "decode").detail


@pytest.mark.parametrize(
    "value",
    [b"", b"no signature", b"\x30\x03\x02\x01\x01", bytes(64), b"\x30\x80\x00\x00"],
)
def test_bytes_that_are_no_signed_data_get_a_verdict_not_an_exception(value):
    facts = _facts(value)
    assert facts.verification.verdict in (
        SealVerdict.MALFORMED,
        SealVerdict.UNTRUSTED_SEAL,
    )
    assert not facts.bound


@pytest.mark.parametrize(
    "at", ["0001-01-01 00:00:00", "9999-12-31T23:59:59-01:00", "0001-01-01T07:59:59"]
)
def test_a_signing_time_beyond_the_calendar_in_utc_is_said_not_failed(at):
    # in UTC these fall before year 1 or after 9999: no time any certificate covers
    facts = _facts(signed_data(XML), at=at)
    assert facts.verification.verdict is SealVerdict.CERTIFICATE_NOT_VALID
    assert f"{at!r} is not a time" in _check(facts, "signer certificate").detail
    assert facts.verification.signed_at is None


def test_only_the_signers_certificate_is_kept_read():
    """Certificates a SignedData carries beside its signer's are compared, not kept:
    a caller's Sign could otherwise fill the process's certificate cache (16 of up
    to 256 KiB a signature, 100 signatures an OFD)."""
    from services.seal import trust as trust_module

    others = tuple(own_sm2_signer(f"other {i}")[1] for i in range(4))
    before = set(trust_module._parsed)
    facts = _facts(signed_data(XML, carry=(*others, USER_CERT)))
    assert facts.verification.verdict is SealVerdict.VALID, facts.verification.checks
    assert not set(others) & set(trust_module._parsed), "the others were kept"
    assert set(trust_module._parsed) - before <= {USER_CERT}
