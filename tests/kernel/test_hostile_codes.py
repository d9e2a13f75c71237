"""Hostile codes and images (issue 13, kind 1): each is refused cleanly, fast and small.

Every case asserts the refusal (a MALFORMED stage, a CborError, an INVALID_ARGUMENT
naming ``image``), that it took well under a second and, for the pure decoders, that it
allocated little (tracemalloc's peak). Pure: no database or broker.
"""

from __future__ import annotations

import io
import random
import string
import struct
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import base45
import cbor2
import pytest
from PIL import Image

from certseal import bounds, cbor, codes, cose, qr
from certseal.crypto import SoftwareSigner, Suite, generate_key
from certseal.errors import CertsealError

_KEY = generate_key(Suite.ED25519)
SIGNER = SoftwareSigner(Suite.ED25519, _KEY.private_bytes, _KEY.public_key_der)
PROTECTED = cbor2.dumps({1: -8, 4: bytes.fromhex(SIGNER.kid)})
CLAIMS = {
    1: "91350100M000100Y43",
    4: 2_000_000_000,
    codes.CLAIM_LICENCE: {"id": "x", "t": "t", "n": "张*", "f": {"class": "C1"}},
}
FAST_S = 1.0  # generous: every refusal here takes milliseconds
SMALL_BYTES = 2 * 1024 * 1024  # peak Python allocation of a refused pure decode


@contextmanager
def bounded(seconds: float = FAST_S, peak: int | None = SMALL_BYTES) -> Iterator[None]:
    """Assert the block takes at most ``seconds`` of this thread's CPU (a preemption
    on a loaded machine is not the decoder's time) and allocates at most ``peak``
    bytes."""
    tracemalloc.start()
    started = time.thread_time()
    try:
        yield
    finally:
        elapsed = time.thread_time() - started
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.3f} s"
    if peak is not None:
        assert top < peak, f"allocated {top} bytes at peak"


def _wrap(message: bytes, prefix: str = "LC1:") -> str:
    return prefix + base45.b45encode(zlib.compress(message, 9)).decode()


def _refused(text: str) -> codes.MalformedCode:
    with bounded(), pytest.raises(codes.MalformedCode) as err:
        codes.decode_code(text)
    return err.value


def shared_reference_bomb(depth: int = 60) -> bytes:
    """The issue's example: a map whose key is an array nested ``depth`` levels deep,
    each level ``[28(next level), 29(its own index)]``: a shareable value and a
    reference back to it. Made hashable as a map key, it doubles per level."""
    level = b"\x01"
    for index in reversed(range(depth)):
        level = b"\x82\xd8\x1c" + level + b"\xd8\x1d" + cbor2.dumps(index)
    return b"\xa1" + level + b"\x00"


# -- the issue's examples -------------------------------------------------------------


def test_the_shared_reference_code_is_refused_in_well_under_10_ms():
    text = _wrap(shared_reference_bomb(60))
    assert len(text) < 200  # the issue's code had 190 characters
    started = time.thread_time()
    with pytest.raises(codes.MalformedCode) as err:
        codes.decode_code(text)
    assert time.thread_time() - started < 0.010
    assert err.value.stage is codes.CodeStage.COSE


def test_shared_references_in_the_claims_are_refused():
    message = cose.encode_sign1(PROTECTED, shared_reference_bomb(60), b"s" * 64)
    err = _refused(_wrap(message))
    assert err.stage is codes.CodeStage.CLAIMS
    assert "tag 28 is not accepted" in err.message


async def test_junk_after_the_zlib_stream_is_malformed():
    text = await codes.encode_code(codes.LICENCE_CODE_PREFIX, CLAIMS, SIGNER)
    codes.decode_code(text).verify_signature(SIGNER.public_key_der)  # it is VALID
    compressed = base45.b45decode(text[4:])
    for junk in (b"\x00", b"junk", zlib.compress(b"more")):
        forged = "LC1:" + base45.b45encode(compressed + junk).decode()
        err = _refused(forged)
        assert err.stage is codes.CodeStage.ZLIB
        # named as characters when they are whole characters after the code's own
        # text (a clerk's view), else as the bytes after the stream
        extra = len(forged) - len(text)
        assert err.message.startswith(f"{extra} characters after the code (") or (
            err.message
            == f"{len(junk)} byte{'s' if len(junk) > 1 else ''} after the zlib stream"
        ), err.message
    # text typed after the code itself: always named as characters
    err = _refused(text + "00")
    assert err.message.startswith("2 characters after the code ('00'): it was"), (
        err.message
    )


async def test_junk_after_the_cose_structure_is_malformed():
    text = await codes.encode_code(codes.PRESENTATION_CODE_PREFIX, CLAIMS, SIGNER)
    message = zlib.decompress(base45.b45decode(text[4:]))
    for junk in (b"\x00", b"\xf6", cbor2.dumps({"x": 1})):
        err = _refused(_wrap(message + junk, "PC1:"))
        assert err.stage is codes.CodeStage.COSE
        assert "bytes after the CBOR item" in err.message


async def test_junk_after_the_claims_inside_the_signed_payload_is_malformed():
    """Even signed: the payload must be exactly one CBOR map."""
    payload = cbor2.dumps(CLAIMS) + b"\x00"
    signature = await SIGNER.sign(cose.sig_structure(PROTECTED, payload))
    err = _refused(_wrap(cose.encode_sign1(PROTECTED, payload, signature)))
    assert err.stage is codes.CodeStage.CLAIMS


# -- other CBOR of the same kind --------------------------------------------------------


def _nested(depth: int, opener: bytes, leaf: bytes = b"\x00") -> bytes:
    return opener * depth + leaf


HOSTILE_PAYLOADS: dict[str, bytes] = {
    "shared value only (tag 28)": b"\xa1\x01\xd8\x1c\x01",
    "reference only (tag 29)": b"\xa1\x01\xd8\x1d\x00",
    "string reference (tag 25)": b"\xa1\x01\xd8\x19\x00",
    "bignum (tag 2)": b"\xa1\x01\xc2\x49" + b"\x01" * 9,
    "date text (tag 0)": b"\xa1\x01\xc0\x61x",
    "self-describe (tag 55799)": b"\xd9\xd9\xf7\xa0",
    "unknown tag 65537": b"\xda\x00\x01\x00\x01\xa0",
    "nested COSE tag": b"\xa1\x01\xd2\x80",
    "indefinite map": b"\xbf\x01\x02\xff",
    "indefinite array": b"\xa1\x01\x9f\xff",
    "indefinite text": b"\xa1\x01\x7f\x61a\xff",
    "break alone": b"\xff",
    "float": b"\xa1\x01\xfb" + struct.pack(">d", 1.5),
    "half float NaN": b"\xa1\x01\xf9\x7e\x00",
    "undefined": b"\xa1\x01\xf7",
    "simple value 16": b"\xa1\x01\xf0",
    "two-byte simple value": b"\xa1\x01\xf8\x14",
    "reserved additional information": b"\xa1\x01\x1c",
    "array 200 deep": b"\xa1\x01" + _nested(200, b"\x81"),
    "map 200 deep": b"\xa1\x01" + _nested(200, b"\xa1\x00"),
    "array 60,000 deep": b"\xa1\x01" + _nested(60_000, b"\x81"),
    "array declaring 2^64-1 items": b"\xa1\x01\x9b" + b"\xff" * 8,
    "map declaring 2^32-1 entries": b"\xba\xff\xff\xff\xff",
    "bytes declaring 2^63 bytes": b"\xa1\x01\x5b\x80" + b"\x00" * 7,
    "text declaring 4 GiB": b"\xa1\x01\x7a\xff\xff\xff\xff",
    "too many items": b"\xa1\x01\x99\x08\x00" + b"\x00" * 2048,
    "array as map key": b"\xa1\x81\x00\x00",
    "map as map key": b"\xa1\xa0\x00",
    "bytes as map key": b"\xa1\x41x\x00",
    "boolean as map key": b"\xa1\xf5\x00",
    "duplicate key": b"\xa2\x01\x00\x01\x01",
    "text that is not UTF-8": b"\xa1\x01\x62\xc3\x28",
    "truncated": b"\xa2\x01\x00",
    "empty": b"",
}


@pytest.mark.parametrize("payload", HOSTILE_PAYLOADS.values(), ids=HOSTILE_PAYLOADS)
def test_hostile_claims_are_malformed(payload):
    err = _refused(_wrap(cose.encode_sign1(PROTECTED, payload, b"s" * 64)))
    assert err.stage is codes.CodeStage.CLAIMS
    assert err.message.startswith("payload is not CBOR (")


@pytest.mark.parametrize("payload", HOSTILE_PAYLOADS.values(), ids=HOSTILE_PAYLOADS)
def test_hostile_protected_headers_are_malformed(payload):
    payload = payload or b"\xa0\x00"  # empty stands for {} (RFC 9052): add junk
    err = _refused(_wrap(cose.encode_sign1(payload, cbor2.dumps(CLAIMS), b"s" * 64)))
    assert err.stage is codes.CodeStage.COSE


@pytest.mark.parametrize(
    "message",
    [
        b"\xd1" + cbor2.dumps([PROTECTED, {}, b"", b""]),  # COSE_Mac0's tag
        b"\xd8\x12" + cbor2.dumps([PROTECTED, {}, b"", b""]),  # 18, longer form
        b"\xd2\xd2" + cbor2.dumps([PROTECTED, {}, b"", b""]),  # tagged twice
        b"\xd2\x9f" + PROTECTED + b"\xa0\x40\x40\xff",  # indefinite array
        cbor2.dumps([PROTECTED, {1: [[[]]]}, b"", b""]),  # unprotected too deep
        cbor2.dumps([PROTECTED, [], b"", b""]),  # unprotected not a map
        b"\xd2" + cbor2.dumps([PROTECTED, {}, b"", b""]) + b"\xd2",
    ],
    # PROTECTED holds a key id made at import: the same ids in every process
    # (pytest-xdist's workers collect apart and must agree)
    ids=[
        "mac0-tag",
        "long-tag",
        "tagged-twice",
        "indefinite-array",
        "unprotected-too-deep",
        "unprotected-not-a-map",
        "trailing-byte",
    ],
)
def test_hostile_cose_framing_is_malformed(message):
    assert _refused(_wrap(message)).stage is codes.CodeStage.COSE


def test_the_strict_reader_reads_what_certseal_writes():
    value = {
        1: "text",
        -65537: {"id": "x", "f": {"n": 0, "b": True, "z": None, "no": False}},
        7: b"\x00" * 16,
        8: [-(2**64), 2**64 - 1, []],
    }
    assert cbor.loads(cbor2.dumps(value)) == value


@pytest.mark.parametrize(
    "depth", [bounds.MAX_CODE_CBOR_DEPTH, 1 + bounds.MAX_CODE_CBOR_DEPTH]
)
def test_the_depth_bound(depth):
    data = b"\x81" * depth + b"\x00"
    if depth <= bounds.MAX_CODE_CBOR_DEPTH:
        assert cbor.loads(data) is not None
    else:
        with pytest.raises(cbor.CborError, match="nested deeper than 8"):
            cbor.loads(data)


@pytest.mark.parametrize(
    "items", [bounds.MAX_CODE_CBOR_ITEMS, 1 + bounds.MAX_CODE_CBOR_ITEMS]
)
def test_the_item_bound(items):
    data = cbor2.dumps([0] * (items - 1))  # the array itself is one item
    if items <= bounds.MAX_CODE_CBOR_ITEMS:
        assert len(cbor.loads(data)) == items - 1
    else:
        with pytest.raises(cbor.CborError, match="more than 1024 data items"):
            cbor.loads(data)


# -- zlib and Base45 --------------------------------------------------------------------


def test_a_zlib_bomb_stops_at_the_output_bound():
    bomb = zlib.compress(b"\x00" * (64 * 1024 * 1024), 9)  # 64 MiB in about 64 KB
    text = "LC1:" + base45.b45encode(bomb[:5000]).decode()  # what fits in a code
    err = _refused(text)
    assert err.stage is codes.CodeStage.ZLIB
    assert err.message == "not zlib (inflates to more than 64 KiB)"


def test_a_complete_zlib_bomb_within_the_text_bound_is_refused():
    bomb = zlib.compress(b"\x00" * (5 * 1024 * 1024), 9)  # 5 MiB in about 5 KB
    assert len(bomb) <= bounds.MAX_CODE_COMPRESSED_BYTES
    err = _refused("LC1:" + base45.b45encode(bomb).decode())
    assert err.stage is codes.CodeStage.ZLIB


def test_a_zlib_stream_asking_for_a_dictionary_is_refused():
    compressor = zlib.compressobj(zdict=b"dictionary")
    stream = compressor.compress(b"\xd2\x84") + compressor.flush()
    assert _refused("LC1:" + base45.b45encode(stream).decode()).stage is (
        codes.CodeStage.ZLIB
    )


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("LC1:" + "A" * 10_000_000, codes.CodeStage.PREFIX),  # 10 MB of Base45
        ("LC1:" + "ab#" * 2000, codes.CodeStage.BASE45),  # not the alphabet
        ("LC1:" + "ZZZ" * 2000, codes.CodeStage.BASE45),  # above 65535 per triple
        ("LC1:" + "0" * 8187, codes.CodeStage.ZLIB),
    ],
)
def test_base45_is_bounded_before_decoding(text, stage):
    # peak=None: the 10 MB input itself is the test's allocation
    with bounded(peak=None), pytest.raises(codes.MalformedCode) as err:
        codes.decode_code(text)
    assert err.value.stage is stage


# -- images ---------------------------------------------------------------------------


def _png(width: int, height: int, mode: str = "RGBA") -> bytes:
    """A PNG of ``width`` × ``height`` transparent (or black) pixels, compressed hard."""
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, "PNG", optimize=True)
    return out.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG declaring ``width`` × ``height`` with almost no data: a pixel bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


def _jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose SOF0 header is patched to declare ``width`` × ``height``."""
    out = io.BytesIO()
    Image.new("L", (16, 16)).save(out, "JPEG")
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _image_refusal(data: bytes) -> str:
    with bounded(peak=64 * 1024 * 1024), pytest.raises(CertsealError) as err:
        qr.read_qr_image(data)
    assert err.value.field == "image"
    return err.value.message


@pytest.fixture(scope="module")
def png_13000() -> bytes:
    """The issue's 657 KB PNG of 13,000 × 13,000 transparent pixels."""
    return _png_header_only(13_000, 13_000)


def test_the_13000_square_png_is_refused_before_decoding(png_13000):
    message = _image_refusal(png_13000)
    assert message == (
        f"is 13000 × 13000 pixels; the limit is {bounds.MAX_IMAGE_PIXELS:,} pixels"
    )


@pytest.mark.parametrize(
    "data",
    [
        _png_header_only(2**31 - 1, 2**31 - 1),
        _png_header_only(1, 2**24 + 1),
        _png_header_only(4097, 4096),
        _jpeg_declaring(65_500, 65_500),
        _jpeg_declaring(8193, 8192),  # a JPEG's bound: 4 x, decoded at half scale
    ],
    ids=[
        "png 2^31 square",
        "png 1 x 2^24",
        "png one column over",
        "jpeg 65500",
        "jpeg 8193",
    ],
)
def test_images_declaring_too_many_pixels_are_refused(data):
    assert "the limit is" in _image_refusal(data)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "is required"),
        (b"\x00" * (bounds.MAX_IMAGE_BYTES + 1), "bytes); the limit is"),
        (b"GIF89a" + b"\x00" * 100, "is not a readable PNG, JPEG or HEIC image"),
        (_png_header_only(16, 16)[:40], "is not a readable PNG, JPEG or HEIC image"),
        (
            _png_header_only(64, 64),
            "is not a readable PNG, JPEG or HEIC image",
        ),  # IDAT too short
    ],
)
def test_unreadable_images_are_refused(data, why):
    assert why in _image_refusal(data)


def _qr_on(background: Callable[[Image.Image], Image.Image], text: str) -> bytes:
    symbol = Image.open(io.BytesIO(qr.qr_png(text))).convert("L")
    out = io.BytesIO()
    background(symbol).save(out, "PNG")
    return out.getvalue()


def test_a_qr_with_a_transparent_background_is_read_on_white():
    """Black modules on transparent pixels: flattened on white, not on black."""

    def transparent(symbol: Image.Image) -> Image.Image:
        rgba = Image.new("RGBA", symbol.size, (0, 0, 0, 0))
        rgba.putalpha(symbol.point(lambda v: 255 - v))  # opaque only where dark
        return rgba

    assert qr.read_qr_image(_qr_on(transparent, "LC1:HELLO")) == "LC1:HELLO"


def test_a_large_allowed_image_is_read(tmp_path: Any):
    def large(symbol: Image.Image) -> Image.Image:
        canvas = Image.new("L", (4000, 3000), 255)
        canvas.paste(symbol.resize((symbol.width * 4, symbol.height * 4)), (1500, 1000))
        return canvas

    data = _qr_on(large, "LC1:HELLO")
    with bounded(seconds=5.0, peak=None):
        assert qr.read_qr_image(data) == "LC1:HELLO"


def test_trust_bundles_are_read_with_the_strict_reader_too():
    """A bundle file or payload is decoded before its signature is checked."""
    for data in (shared_reference_bomb(60), cbor2.dumps([b"m"]) + b"\x00"):
        with bounded(), pytest.raises(cbor.CborError):
            cbor.loads(data, cbor.BUNDLE_LIMITS)
    listed = {"licences": {f"lineage-{n}": [1, "01", 0, 0, 1] for n in range(2000)}}
    assert cbor.loads(cbor2.dumps(listed), cbor.BUNDLE_LIMITS) == listed


# -- found by an outside attack after the first round of bounds ------------------------


def _scan_bomb(scans: int) -> bytes:
    """A small progressive JPEG with ``scans`` empty scans appended before its end: each
    one costs the decoder a pass over every block (20,000 of them took 35 s)."""
    out = io.BytesIO()
    Image.new("L", (256, 256), "white").save(out, "JPEG", progressive=True)
    data = out.getvalue()
    assert data.endswith(b"\xff\xd9")
    empty_scan = b"\xff\xda\x00\x08\x01\x01\x00\x01\x3f\x00"
    return data[:-2] + empty_scan * scans + b"\xff\xd9"


@pytest.mark.parametrize("scans", [bounds.MAX_JPEG_SCANS + 1, 20_000])
def test_a_jpeg_of_too_many_scans_is_refused_before_decoding(scans):
    assert f"scans; the limit is {bounds.MAX_JPEG_SCANS}" in _image_refusal(
        _scan_bomb(scans)
    )


def test_an_ordinary_progressive_jpeg_is_read():
    out = io.BytesIO()
    Image.open(io.BytesIO(qr.qr_png("LC1:PROGRESSIVE", scale=8))).convert("L").save(
        out, "JPEG", progressive=True, quality=95
    )
    assert qr.read_qr_image(out.getvalue()) == "LC1:PROGRESSIVE"


async def test_an_unprotected_header_is_refused_so_a_code_has_one_form():
    """Entries in the unprotected header are covered by no signature: accepting them
    made one signed code into endless byte-different codes (licence.used amplified)."""
    text = await codes.encode_code(codes.LICENCE_CODE_PREFIX, {1: "x"}, SIGNER)
    message = zlib.decompress(base45.b45decode(text.removeprefix("LC1:")))
    tag = cbor2.loads(message)
    protected, _unprotected, payload, signature = tag.value
    for unprotected in ({0: 0}, {4: b"kid"}, {"x": 1}):
        forged = cbor2.dumps(
            cbor2.CBORTag(18, [protected, unprotected, payload, signature])
        )
        assert "unprotected header" in str(_refused(_wrap(forged)))
    assert codes.decode_code(text).claims == {1: "x"}


@pytest.mark.parametrize("chars", [4_294, 4_297, 8_185])
def test_a_refused_text_is_decoded_at_most_twice_over(monkeypatch, chars):
    """The refusal's diagnosis (characters after a code, codes.py _chars_after_a_code)
    decodes the Base45 once more at most, and not at all beyond what a QR code holds
    (4,296 characters): counted in characters handed to the Base45 decoder, not in
    time. Before, each of 8 candidate ends decoded the whole text again."""
    decoded = []
    real = codes.base45.b45decode

    def counting(text):
        decoded.append(len(text))
        return real(text)

    monkeypatch.setattr(codes.base45, "b45decode", counting)
    body = "".join(random.Random(chars).choice(string.digits) for _ in range(chars))
    _refused("LC1:" + body)
    assert sum(decoded) <= (2 * chars + 8 * 12 if chars <= 4_296 else chars), decoded
