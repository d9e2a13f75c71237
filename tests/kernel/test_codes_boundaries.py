"""The size limits of the code pipeline and the COSE_Sign1 framing, at and around them.

``certseal/codes.py`` refuses a code text longer than 8192 characters (after stripping
white space) and a payload that inflates to more than 64 KiB; the protected header's
``kid`` is exactly 8 bytes. ``certseal/cose.py`` frames COSE_Sign1 (RFC 9052).
"""

import os
import zlib

import base45
import cbor2
import pytest

from certseal import codes, cose
from certseal.crypto import SoftwareSigner, Suite, generate_key

_KEY = generate_key(Suite.ED25519)
SIGNER = SoftwareSigner(Suite.ED25519, _KEY.private_bytes, _KEY.public_key_der)
PROTECTED = cbor2.dumps({1: -8, 4: bytes.fromhex(SIGNER.kid)})


def _wrap(message: bytes, prefix: str = "LC1:") -> str:
    return prefix + base45.b45encode(zlib.compress(message)).decode()


def _stage(text: str) -> codes.CodeStage | None:
    try:
        codes.decode_code(text)
    except codes.MalformedCode as exc:
        return exc.stage
    return None


async def _code_of_length(length: int) -> str:
    """A signed licence code of exactly ``length`` characters (incompressible filler)."""
    filler = os.urandom(length * 2 // 3 - 120)
    while True:
        text = await codes.encode_code("LC1:", {1: "x", 9: filler}, SIGNER)
        if len(text) >= length:
            assert len(text) == length, len(text)  # reachable lengths are 1 or 0 mod 3
            return text
        filler += os.urandom(1)


@pytest.mark.parametrize("length", [8191, 8193])
async def test_code_length_limit(length):
    text = await _code_of_length(length)
    if length <= 8192:
        decoded = codes.decode_code(f"  {text}\n")  # white space is not counted
        decoded.verify_signature(SIGNER.public_key_der)
    else:
        with pytest.raises(codes.MalformedCode) as err:
            codes.decode_code(text)
        assert err.value.stage is codes.CodeStage.PREFIX
        assert err.value.message == "code longer than 8192 chars"


def test_a_text_of_exactly_8192_chars_passes_the_length_check():
    assert _stage("LC1:" + "A" * 8188) is codes.CodeStage.BASE45
    assert _stage("LC1:" + "A" * 8189) is codes.CodeStage.PREFIX


@pytest.mark.parametrize(
    ("size", "stage"),
    [
        (65535, codes.CodeStage.COSE),
        (65536, codes.CodeStage.COSE),
        (65537, codes.CodeStage.ZLIB),
    ],
)
def test_payload_size_limit(size, stage):
    with pytest.raises(codes.MalformedCode) as err:
        codes.decode_code(_wrap(b"\xff" * size))
    assert err.value.stage is stage
    if stage is codes.CodeStage.ZLIB:
        assert err.value.message == "not zlib (inflates to more than 64 KiB)"


def test_a_truncated_zlib_stream_is_refused():
    compressed = zlib.compress(
        cbor2.dumps(cbor2.CBORTag(18, [PROTECTED, {}, b"", b""]))
    )
    text = "LC1:" + base45.b45encode(compressed[:-4]).decode()
    assert _stage(text) is codes.CodeStage.ZLIB


@pytest.mark.parametrize(("length", "ok"), [(7, False), (8, True), (9, False)])
def test_kid_is_exactly_eight_bytes(length, ok):
    protected = cbor2.dumps({1: -8, 4: b"k" * length})
    text = _wrap(
        cbor2.dumps(cbor2.CBORTag(18, [protected, {}, cbor2.dumps({1: "x"}), b"s"]))
    )
    if ok:
        decoded = codes.decode_code(text)
        assert decoded.kid == (b"k" * 8).hex() and decoded.suite is Suite.ED25519
        assert (decoded.alg, decoded.claims, decoded.signature) == (-8, {1: "x"}, b"s")
        assert decoded.prefix == "LC1:"
    else:
        with pytest.raises(codes.MalformedCode) as err:
            codes.decode_code(text)
        assert err.value.stage is codes.CodeStage.COSE
        assert err.value.message == "protected header has no 8-byte kid"


def test_an_unknown_algorithm_decodes_but_never_verifies():
    protected = cbor2.dumps({1: -999, 4: bytes.fromhex(SIGNER.kid)})
    text = _wrap(cbor2.dumps(cbor2.CBORTag(18, [protected, {}, cbor2.dumps({}), b"s"])))
    decoded = codes.decode_code(text)
    assert decoded.suite is None and decoded.alg == -999
    from certseal.crypto import InvalidSignature

    with pytest.raises(InvalidSignature, match="unknown COSE alg -999"):
        decoded.verify_signature(SIGNER.public_key_der)


async def test_both_prefixes_and_the_stages_named():
    for prefix in (codes.LICENCE_CODE_PREFIX, codes.PRESENTATION_CODE_PREFIX):
        text = await codes.encode_code(prefix, {1: "x"}, SIGNER)
        assert codes.decode_code(text).prefix == prefix
    error = codes.MalformedCode(codes.CodeStage.ZLIB, "why")
    assert (str(error), error.message) == ("zlib: why", "why")
    with pytest.raises(codes.MalformedCode) as err:
        codes.decode_code("XC1:AAA")
    assert err.value.message == "expected 'LC1:' or 'PC1:'"


# -- COSE_Sign1 ------------------------------------------------------------------------


def test_sign1_round_trip_tagged_and_untagged():
    message = cose.encode_sign1(PROTECTED, b"payload", b"sig")
    assert message == cbor2.dumps(
        cbor2.CBORTag(18, [PROTECTED, {}, b"payload", b"sig"])
    )
    for raw in (message, cbor2.dumps([PROTECTED, {}, b"payload", b"sig"])):
        parsed = cose.parse_sign1(raw)
        assert parsed == cose.Sign1(
            PROTECTED, {1: -8, 4: bytes.fromhex(SIGNER.kid)}, b"payload", b"sig"
        )
        assert parsed.to_be_signed() == cbor2.dumps(
            ["Signature1", PROTECTED, b"", b"payload"]
        )
    assert cose.parse_sign1(cbor2.dumps([b"", {}, b"", b""])).header == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff", "not CBOR"),
        (
            cbor2.dumps(cbor2.CBORTag(17, [b"", {}, b"", b""])),
            "CBOR tag 17 is not COSE_Sign1",
        ),
        (cbor2.dumps([b"", {}, b""]), "COSE_Sign1 must be an array of 4"),
        (cbor2.dumps([b"", {}, b"", b"", b""]), "COSE_Sign1 must be an array of 4"),
        (cbor2.dumps({"a": 1}), "COSE_Sign1 must be an array of 4"),
        (cbor2.dumps(["", {}, b"", b""]), "COSE_Sign1 fields have the wrong types"),
        (cbor2.dumps([b"", {}, "", b""]), "COSE_Sign1 fields have the wrong types"),
        (cbor2.dumps([b"", {}, b"", ""]), "COSE_Sign1 fields have the wrong types"),
        (cbor2.dumps([b"\xff", {}, b"", b""]), "protected header is not CBOR"),
        (
            cbor2.dumps([cbor2.dumps([1]), {}, b"", b""]),
            "protected header is not a map",
        ),
    ],
)
def test_sign1_refusals(raw, message):
    with pytest.raises(cose.CoseError) as err:
        cose.parse_sign1(raw)
    assert str(err.value).startswith(message)
    with pytest.raises(codes.MalformedCode) as malformed:
        codes.decode_code(_wrap(raw))
    assert malformed.value.stage is codes.CodeStage.COSE
    assert malformed.value.message.startswith(message)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (cbor2.dumps([1, 2]), "payload is not a CBOR map"),
        (b"\xff", "payload is not CBOR ("),
    ],
)
def test_claims_that_are_not_a_map(payload, message):
    text = _wrap(cbor2.dumps(cbor2.CBORTag(18, [PROTECTED, {}, payload, b"s"])))
    with pytest.raises(codes.MalformedCode) as err:
        codes.decode_code(text)
    assert err.value.stage is codes.CodeStage.CLAIMS
    assert err.value.message.startswith(message)


def test_base45_errors_say_why():
    with pytest.raises(codes.MalformedCode) as err:
        codes.decode_code("LC1:%%%%")
    assert err.value.stage is codes.CodeStage.BASE45
    assert err.value.message.startswith("not Base45 (")
