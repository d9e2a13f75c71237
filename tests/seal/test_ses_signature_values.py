"""An SES signature value (the signer's or the seal maker's) is read as DER
``SEQUENCE {r, s}`` or as the 64 bytes r||s several seal platforms write, strictly:
no other length, nothing after the DER, r and s in [1, n-1]. Either encoding,
altered, is refused (atk-docs F1)."""

from __future__ import annotations

import datetime as dt

import pytest
from asn1crypto import core
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from certseal.crypto import InvalidSignature, Suite
from services.seal.domain import SealVerdict, verify_sealed_document
from services.seal.ses import signature_value
from tests.seal.ses_platforms import (
    TRUST,
    bits,
    integer,
    raw_to_der,
    seal_v4,
    seq,
    signature_v1,
    signature_v4,
)

NOW = dt.datetime(2026, 12, 4, tzinfo=dt.UTC)
DOCUMENT = b'<?xml version="1.0"?><ofd:Signature>sealed</ofd:Signature>'
SM2_N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)
P256_N = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)


def _verify(signature: bytes, document: bytes = DOCUMENT):  # type: ignore[no-untyped-def]
    return verify_sealed_document(
        signature, document=document, trust=TRUST, seal_status=None, now=NOW
    )


def _parts(der: bytes) -> list[bytes]:
    outer = core.Sequence.load(der)
    return [outer[i].dump() for i in range(len(outer))]


def _value(der: bytes, index: int) -> bytes:
    return core.OctetBitString.load(_parts(der)[index]).native


def _with_value(der: bytes, index: int, value: bytes) -> bytes:
    parts = _parts(der)
    parts[index] = bits(value)
    return seq(*parts)


def _raw(der_signature: bytes) -> bytes:
    r, s = decode_dss_signature(der_signature)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _flipped(value: bytes, at: int) -> bytes:
    return value[:at] + bytes([value[at] ^ 0x01]) + value[at + 1 :]


def _raw_maker_seal() -> bytes:
    """ofdrw's seal with its maker's signature written as r||s."""
    seal = seal_v4()
    return _with_value(seal, 3, _raw(_value(seal, 3)))


@pytest.mark.parametrize("make", [signature_v4, signature_v1], ids=["v4", "v1"])
@pytest.mark.parametrize("form", ["der", "raw"])
def test_either_encoding_holds_and_is_valid(make, form):
    assert _verify(make(DOCUMENT, form=form)).verdict is SealVerdict.VALID


def test_a_seal_makers_raw_signature_holds():
    signature = signature_v4(DOCUMENT, seal=_raw_maker_seal(), form="raw")
    result = _verify(signature)
    assert result.verdict is SealVerdict.VALID, result.checks


def test_a_seal_makers_altered_raw_signature_is_refused():
    seal = _raw_maker_seal()
    seal = _with_value(seal, 3, _flipped(_value(seal, 3), 40))
    result = _verify(signature_v4(DOCUMENT, seal=seal))
    assert result.verdict is SealVerdict.UNTRUSTED_SEAL
    assert result.checks[-1].detail == "the seal maker's signature is wrong"


@pytest.mark.parametrize("form", ["der", "raw"])
@pytest.mark.parametrize("at", [0, 31, 32, 63])
def test_an_altered_signature_in_either_encoding_is_a_bad_signature(form, at):
    signature = signature_v4(DOCUMENT, form=form)
    raw = _raw(_value(signature, 3)) if form == "der" else _value(signature, 3)
    altered = _flipped(raw, at)
    written = raw_to_der(altered) if form == "der" else altered
    result = _verify(_with_value(signature, 3, written))
    assert result.verdict is SealVerdict.BAD_SIGNATURE, result.checks


@pytest.mark.parametrize("form", ["der", "raw"])
def test_altered_content_in_either_encoding_is_modified(form):
    result = _verify(signature_v4(DOCUMENT, form=form), DOCUMENT + b" ")
    assert result.verdict is SealVerdict.MODIFIED, result.checks


@pytest.mark.parametrize("length", [0, 1, 32, 63, 65, 66, 96, 128])
def test_a_value_of_another_length_is_refused(length):
    raw = _raw(_value(signature_v4(DOCUMENT), 3))
    value = (raw * 3)[:length]
    with pytest.raises(InvalidSignature):
        signature_value(Suite.SM2, value)
    result = _verify(_with_value(signature_v4(DOCUMENT), 3, value))
    assert result.verdict is SealVerdict.BAD_SIGNATURE


@pytest.mark.parametrize("trailing", [b"\x00", b"\x00\x00", b"\x05\x00"])
def test_der_with_anything_after_it_is_refused(trailing):
    der = _value(signature_v4(DOCUMENT), 3)
    assert len(der + trailing) != 64  # so not read as r||s either
    with pytest.raises(InvalidSignature):
        signature_value(Suite.SM2, der + trailing)
    result = _verify(_with_value(signature_v4(DOCUMENT), 3, der + trailing))
    assert result.verdict is SealVerdict.BAD_SIGNATURE


@pytest.mark.parametrize(("suite", "n"), [(Suite.SM2, SM2_N), (Suite.ES256, P256_N)])
@pytest.mark.parametrize(
    "r_s",
    [(0, 1), (1, 0), ("n", 1), (1, "n"), ("n+1", 1), (2**256 - 1, 1)],
    ids=str,
)
def test_r_and_s_outside_the_group_are_refused_in_either_encoding(suite, n, r_s):
    r, s = (n if v == "n" else n + 1 if v == "n+1" else v for v in r_s)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    for value in (raw, seq(integer(r), integer(s))):
        with pytest.raises(InvalidSignature):
            signature_value(suite, value)


@pytest.mark.parametrize("suite", [Suite.SM2, Suite.ES256])
def test_the_largest_r_and_s_in_the_group_are_read_in_either_encoding(suite):
    n = SM2_N if suite is Suite.SM2 else P256_N
    raw = (n - 1).to_bytes(32, "big") + (1).to_bytes(32, "big")
    assert signature_value(suite, raw) == raw
    assert signature_value(suite, seq(integer(n - 1), integer(1))) == raw


def test_a_negative_der_integer_is_refused():
    with pytest.raises(InvalidSignature):
        signature_value(Suite.SM2, seq(integer(-5), integer(7)))
