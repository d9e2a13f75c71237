import zlib

import base45
import cbor2
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from certseal import codes, qr
from certseal.crypto import SoftwareSigner, Suite, generate_key

CLAIMS = {
    1: "91350100M000100Y43",
    4: 2_000_000_000,
    codes.CLAIM_LICENCE: {"id": "x", "t": "t", "n": "张*", "f": {"class": "C1"}},
}


def signer(suite: Suite) -> SoftwareSigner:
    key = generate_key(suite)
    return SoftwareSigner(suite, key.private_bytes, key.public_key_der)


@pytest.mark.parametrize("suite", list(Suite))
async def test_round_trip_each_suite(suite):
    s = signer(suite)
    text = await codes.encode_code(codes.LICENCE_CODE_PREFIX, CLAIMS, s)
    assert text.startswith("LC1:")
    decoded = codes.decode_code(text)
    assert decoded.kid == s.kid and decoded.suite is suite and decoded.claims == CLAIMS
    decoded.verify_signature(s.public_key_der)


@pytest.mark.parametrize("suite", list(Suite))
async def test_one_changed_byte_fails(suite):
    s = signer(suite)
    text = await codes.encode_code(codes.LICENCE_CODE_PREFIX, CLAIMS, s)
    message = bytearray(zlib.decompress(base45.b45decode(text[4:])))
    position = message.index(b"C1")  # inside the signed payload
    message[position] ^= 0x01
    forged = "LC1:" + base45.b45encode(zlib.compress(bytes(message))).decode()
    decoded = codes.decode_code(forged)
    with pytest.raises(InvalidSignature):
        decoded.verify_signature(s.public_key_der)


async def test_matches_rfc9052_independently():
    """Rebuild the ES256 Sig_structure by hand from RFC 9052 and verify with cryptography."""
    s = signer(Suite.ES256)
    text = await codes.encode_code(codes.LICENCE_CODE_PREFIX, CLAIMS, s)
    tag = cbor2.loads(zlib.decompress(base45.b45decode(text[4:])))
    assert tag.tag == 18
    protected, _unprotected, payload, signature = tag.value
    assert cbor2.loads(protected) == {1: -7, 4: bytes.fromhex(s.kid)}
    tbs = cbor2.dumps(["Signature1", protected, b"", payload])
    public = serialization.load_der_public_key(s.public_key_der)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    public.verify(der, tbs, ec.ECDSA(hashes.SHA256()))


def _wrap(message: bytes) -> str:
    return "LC1:" + base45.b45encode(zlib.compress(message)).decode()


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("HC1:6BFOXN", codes.CodeStage.PREFIX),
        ("LC1:%%%%", codes.CodeStage.BASE45),
        ("LC1:" + base45.b45encode(b"not zlib").decode(), codes.CodeStage.ZLIB),
        (_wrap(b"\xff\xff"), codes.CodeStage.COSE),
        (_wrap(cbor2.dumps([1, 2])), codes.CodeStage.COSE),
        (
            _wrap(cbor2.dumps(cbor2.CBORTag(17, [b"", {}, b"", b""]))),
            codes.CodeStage.COSE,
        ),
        (
            _wrap(cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -7}), {}, b"", b""]))),
            codes.CodeStage.COSE,
        ),
        (
            _wrap(
                cbor2.dumps(
                    cbor2.CBORTag(
                        18, [cbor2.dumps({1: -7, 4: b"12345678"}), {}, b"\xff", b""]
                    )
                )
            ),
            codes.CodeStage.CLAIMS,
        ),
    ],
)
def test_malformed_codes(text, stage):
    with pytest.raises(codes.MalformedCode) as err:
        codes.decode_code(text)
    assert err.value.stage is stage


async def test_truncated_code_is_malformed():
    text = await codes.encode_code(
        codes.LICENCE_CODE_PREFIX, CLAIMS, signer(Suite.ED25519)
    )
    with pytest.raises(codes.MalformedCode):
        codes.decode_code(text[: len(text) // 2])


def test_zip_bomb_is_refused():
    with pytest.raises(codes.MalformedCode) as err:
        codes.decode_code(_wrap(b"\x00" * (1024 * 1024)))
    assert err.value.stage is codes.CodeStage.ZLIB


async def test_qr_is_alphanumeric_q():
    import segno

    text = await codes.encode_code(codes.LICENCE_CODE_PREFIX, CLAIMS, signer(Suite.SM2))
    symbol = segno.make_qr(text, error="q", boost_error=False)
    assert symbol.mode == "alphanumeric" and symbol.error == "Q"
    assert qr.qr_png(text).startswith(b"\x89PNG")


async def test_a_rendered_qr_reads_back_to_the_same_code():
    text = await codes.encode_code(
        codes.LICENCE_CODE_PREFIX, CLAIMS, signer(Suite.ED25519)
    )
    assert qr.read_qr_image(qr.qr_png(text)) == text


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00",
        b"\xff",
        b"\xff\xff",
        b"\xff\xff\xff",
        b"\x00\x00",
        b"AB",
        b"Hello!!",
        bytes(range(256)),
        bytes(range(255, -1, -1)) * 3 + b"\x7f",
    ],
)
def test_base45_encoding_is_the_decoders_base45(data):
    """The issuer's own Base45 writer gives exactly the text the decoding library
    reads (RFC 9285 section 4.4's examples included), for even and odd lengths and
    the extreme byte values."""
    assert codes.b45encode(data) == base45.b45encode(data).decode("ascii")
    assert base45.b45decode(codes.b45encode(data)) == data


def test_base45_rfc_9285_examples():
    assert codes.b45encode(b"AB") == "BB8"
    assert codes.b45encode(b"Hello!!") == "%69 VD92EX0"
    assert codes.b45encode(b"base-45") == "UJCLQE7W581"


@pytest.mark.parametrize(
    "length", [0, 1, 23, 24, 25, 255, 256, 257, 65535, 65536, 65537]
)
def test_sign1_framing_is_cbor_preferred_encoding(length):
    """encode_sign1 writes what a general CBOR encoder writes for the same tagged
    array (RFC 9052 section 4.2; shortest heads, RFC 8949 section 4.2.1), at every
    byte-string length where the head changes size, and parses back."""
    from certseal import cose

    protected = cose.encode_protected({cose.HEADER_ALG: -7, cose.HEADER_KID: b"k"})
    payload = bytes(i % 251 for i in range(length))
    signature = b"\x01" * 64
    framed = cose.encode_sign1(protected, payload, signature)
    assert framed == cbor2.dumps(
        cbor2.CBORTag(cose.SIGN1_TAG, [protected, {}, payload, signature])
    )
    if length <= 1000:
        parsed = cose.parse_sign1(framed)
        assert (parsed.payload, parsed.signature) == (payload, signature)


def test_a_code_with_one_character_mistyped_is_said_in_plain_words():
    """trial47: one character changed in a licence code's Base45 was said as zlib's
    "not zlib (Error -3 while decompressing data: invalid distance too far back)"."""
    text = base45.b45encode(zlib.compress(b"\xa1" * 40 + bytes(range(200)), 9)).decode()
    said = []
    for at in range(len(text)):
        typo = text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]
        with pytest.raises(codes.MalformedCode) as err:
            codes.decode_code("LC1:" + typo)
        if err.value.stage is codes.CodeStage.ZLIB and "zlib: " in err.value.message:
            said.append(err.value.message)
    assert said, "no one-character change was refused by zlib itself"
    assert all(
        m.startswith("the code is damaged: a character is mistyped or was misread")
        and m.endswith("); scan it again, or type it again with care")
        for m in said
    ), said
