"""Algorithms a seal names as other platforms write them: the signature algorithm
SM2-1 (1.2.156.10197.1.301.1, GM/T 0006) read as SM2 with SM3, an algorithm certseal
does not support said so, and a certList of digests hashed by the hash it names
(SM3, SHA-1, SHA-256, SHA-384, SHA-512, by name or OID) or refused naming it."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from asn1crypto import core

from certseal.crypto import Suite, digest
from services.seal.domain import SealVerdict, verify_sealed_document
from services.seal.ses import cert_digest
from tests.seal.ses_platforms import (
    TRUST,
    USER_CERT,
    octets,
    oid,
    seal_v4,
    seq,
    signature_v4,
    tlv,
)

NOW = dt.datetime(2026, 12, 4, tzinfo=dt.UTC)
DOCUMENT = b'<?xml version="1.0"?><ofd:Signature>sealed</ofd:Signature>'
SM2_1 = "1.2.156.10197.1.301.1"


def _verify(signature: bytes, document: bytes = DOCUMENT):  # type: ignore[no-untyped-def]
    return verify_sealed_document(
        signature, document=document, trust=TRUST, seal_status=None, now=NOW
    )


def _with_part(der: bytes, index: int, part: bytes) -> bytes:
    outer = core.Sequence.load(der)
    parts = [outer[i].dump() for i in range(len(outer))]
    parts[index] = part
    return seq(*parts)


def _maker_sm2_1_seal() -> bytes:
    """ofdrw's seal, its maker's algorithm written as SM2-1 (outside what it signs)."""
    return _with_part(seal_v4(), 2, oid(SM2_1))


@pytest.mark.parametrize("who", ["signer", "maker", "both"])
def test_sm2_1_is_read_as_sm2_with_sm3(who):
    seal = _maker_sm2_1_seal() if who != "signer" else seal_v4()
    signature = signature_v4(DOCUMENT, seal=seal)
    if who != "maker":
        signature = _with_part(signature, 2, oid(SM2_1))
    result = _verify(signature)
    assert result.verdict is SealVerdict.VALID, result.checks
    assert result.checks[1].detail.startswith("sm2 by ")


def test_sm2_1_altered_is_still_refused():
    signature = _with_part(signature_v4(DOCUMENT), 2, oid(SM2_1))
    assert _verify(signature, DOCUMENT + b" ").verdict is SealVerdict.MODIFIED
    value = core.OctetBitString.load(core.Sequence.load(signature)[3].dump()).native
    altered = value[:-1] + bytes([value[-1] ^ 1])
    forged = _with_part(signature, 3, tlv(0x03, b"\x00" + altered))
    assert _verify(forged).verdict is SealVerdict.BAD_SIGNATURE


@pytest.mark.parametrize(
    "algorithm",
    [
        "1.2.156.10197.1.301.3",  # SM2-3, encryption
        "1.2.156.10197.1.504",  # RSA with SM3
        "1.2.840.113549.1.1.11",  # sha256WithRSAEncryption
        "1.2.840.10045.4.3.3",  # ecdsa-with-SHA384
    ],
)
def test_an_algorithm_certseal_does_not_verify_is_said_to_be_unsupported(algorithm):
    result = _verify(_with_part(signature_v4(DOCUMENT), 2, oid(algorithm)))
    assert result.verdict is SealVerdict.BAD_SIGNATURE
    assert result.checks[-1].detail.startswith(
        f"signature algorithm {algorithm} is not supported"
    )


def _digest_seal(*listed: tuple[str, bytes]) -> bytes:
    objects = b"".join(
        seq(tlv(0x13, name.encode()), octets(value)) for name, value in listed
    )
    return seal_v4(cert_list=seq(objects), cert_list_type=2)


HASHES = {
    "sm3": lambda data: digest(Suite.SM2, data),
    "SM3": lambda data: digest(Suite.SM2, data),
    "1.2.156.10197.1.401": lambda data: digest(Suite.SM2, data),
    "sha1": lambda data: hashlib.sha1(data).digest(),
    "SHA-1": lambda data: hashlib.sha1(data).digest(),
    "1.3.14.3.2.26": lambda data: hashlib.sha1(data).digest(),
    "sha256": lambda data: hashlib.sha256(data).digest(),
    "SHA-256": lambda data: hashlib.sha256(data).digest(),
    "2.16.840.1.101.3.4.2.1": lambda data: hashlib.sha256(data).digest(),
    "SHA384": lambda data: hashlib.sha384(data).digest(),
    "sha512": lambda data: hashlib.sha512(data).digest(),
}


@pytest.mark.parametrize("name", HASHES)
def test_a_digest_list_is_hashed_by_the_hash_it_names(name):
    seal = _digest_seal((name, HASHES[name](USER_CERT)))
    result = _verify(signature_v4(DOCUMENT, seal=seal))
    assert result.verdict is SealVerdict.VALID, result.checks


@pytest.mark.parametrize(
    ("name", "other"), [("sha1", "sha256"), ("sm3", "sha256"), ("sha256", "sm3")]
)
def test_a_digest_by_another_hash_than_named_does_not_list_the_signer(name, other):
    seal = _digest_seal((name, HASHES[other](USER_CERT)))
    result = _verify(signature_v4(DOCUMENT, seal=seal))
    assert result.verdict is SealVerdict.SIGNER_NOT_AUTHORISED
    assert result.checks[-1].detail.endswith("is not in the seal's certificate list")


@pytest.mark.parametrize("name", ["md5", "sha3-256", "SM3withSM2", ""])
def test_a_hash_certseal_does_not_know_is_named_in_the_refusal(name):
    value = hashlib.new("md5", USER_CERT).digest()
    result = _verify(signature_v4(DOCUMENT, seal=_digest_seal((name, value))))
    assert result.verdict is SealVerdict.SIGNER_NOT_AUTHORISED
    assert f"digests by {name!r}: no hash certseal knows" in result.checks[-1].detail
    assert cert_digest(name, USER_CERT) is None


def test_a_known_hash_beside_an_unknown_one_still_lists_the_signer():
    seal = _digest_seal(("md5", b"x" * 16), ("sha1", HASHES["sha1"](USER_CERT)))
    result = _verify(signature_v4(DOCUMENT, seal=seal))
    assert result.verdict is SealVerdict.VALID, result.checks
