"""An iPhone 15's or later's default photo, a 24-megapixel HEIC, as a QR image.

An iPhone saves 5712 × 4284 HEIC photos, a grid of 512 × 512 HEVC tiles. They were
refused ("is 5712 × 4284 pixels; the limit is 16777216 pixels") because HEIC was held
to MAX_IMAGE_PIXELS; certseal.bounds.MAX_HEIC_PIXELS now holds for it, and fewer
pixels for a format costlier to decode (MAX_HEIC_DECODE_BYTES). The photos are made
here with pillow-heif's x265 encoder (no large binary in the repository).
"""

import asyncio
import io
import struct
import time

import pillow_heif
import pytest
from PIL import Image

from certseal import bounds, codes, qr
from certseal.crypto import SoftwareSigner, Suite, generate_key
from certseal.errors import CertsealError, ErrorKind

IPHONE = (5712, 4284)  # an iPhone 15's or later's default photo (24 MP)
CLAIMS = {
    1: "91350100M000100Y43",
    4: 2_000_000_000,
    codes.CLAIM_LICENCE: {"id": "x", "t": "t", "n": "张*", "f": {"class": "C1"}},
}


@pytest.fixture(scope="session")
def licence_code() -> str:
    """A licence code signed as the issuer signs it."""
    key = generate_key(Suite.ED25519)
    signer = SoftwareSigner(Suite.ED25519, key.private_bytes, key.public_key_der)
    return asyncio.run(codes.encode_code(codes.LICENCE_CODE_PREFIX, CLAIMS, signer))


def _symbol(text: str, scale: int) -> Image.Image:
    return Image.open(io.BytesIO(qr.qr_png(text, scale=scale))).convert("L")


def _heic(image: Image.Image, *, tiles: int = 0, quality: int = 60, **save) -> bytes:
    """``image`` as HEIC; ``tiles``: a grid of tiles of that side, as an iPhone's;
    ``save``: pillow-heif's other options (chroma=444)."""
    out = io.BytesIO()
    kept = pillow_heif.options.GRID_TILE_SIZE
    pillow_heif.options.GRID_TILE_SIZE = tiles
    try:
        image.save(out, format="HEIF", quality=quality, **save)
    finally:
        pillow_heif.options.GRID_TILE_SIZE = kept
    return out.getvalue()


@pytest.fixture(scope="session")
def iphone_photo(licence_code) -> bytes:
    """A 5712 × 4284 tiled HEIC of the licence code printed on a card (about 4 s)."""
    photo = Image.new("RGB", IPHONE, (200, 190, 180))
    card = (
        _symbol(licence_code, 10)
        .convert("RGB")
        .rotate(6, expand=True, fillcolor=(250, 250, 245))
    )
    photo.paste(card, (2000, 1500))
    return _heic(photo, tiles=512)


def test_an_iphone_24_megapixel_heic_photo_is_read(iphone_photo, licence_code):
    assert iphone_photo[4:12] == b"ftypheic"  # what an iPhone writes
    assert len(iphone_photo) <= bounds.MAX_IMAGE_BYTES
    heif = pillow_heif.open_heif(io.BytesIO(iphone_photo))
    assert heif.size == IPHONE
    assert heif.info["tiling"]["tile_width"] == 512  # a grid, as an iPhone's
    assert IPHONE[0] * IPHONE[1] > bounds.MAX_IMAGE_PIXELS  # was refused
    assert qr.read_qr_image(iphone_photo) == licence_code


def test_a_small_symbol_in_a_24_megapixel_heic_is_read_at_full_size(
    licence_code, monkeypatch
):
    """3 pixels per module, which scaling to MAX_QR_SIDE makes about one: the
    full-size read after the scaled one finds no code still happens for a HEIC, from
    the one decoding (HEVC's is what costs: a second one took 44 MiB more)."""
    photo = Image.new("L", IPHONE, 190)
    photo.paste(_symbol(licence_code, 3), (4000, 3000))
    data = _heic(photo, tiles=512, quality=90)
    opened = []
    open_heif = pillow_heif.open_heif

    def counted(*args, **kwargs):
        opened.append(args)
        return open_heif(*args, **kwargs)

    monkeypatch.setattr(pillow_heif, "open_heif", counted)
    assert qr.read_qr_image(data) == licence_code
    assert len(opened) == 1


def _deep(image: Image.Image, **save) -> bytes:
    """``image`` (L, RGB or RGBA) as a 10-bit HEIC (``save``: chroma=444, ...)."""
    raw = image.tobytes()
    wide = bytearray(len(raw) * 2)
    wide[1::2] = raw  # little-endian 16-bit samples, the 8 bits at the top
    heif = pillow_heif.from_bytes(f"{image.mode};16", image.size, bytes(wide))
    out = io.BytesIO()
    heif.save(out, quality=100, **save)
    return out.getvalue()


def _declaring(width: int, height: int, data: bytes | None = None) -> bytes:
    """A small HEIC (``data``, a 64 × 64 one; by default 8-bit grey) whose ``ispe``
    box (its header's size) declares ``width`` × ``height``."""
    data = data or _heic(Image.new("L", (64, 64), 255), quality=10)
    at = data.index(b"ispe")  # type; then version/flags (4), width (4), height (4)
    assert data[at + 8 : at + 16] == struct.pack(">II", 64, 64)
    return data[: at + 8] + struct.pack(">II", width, height) + data[at + 16 :]


def _refusal(data: bytes) -> str:
    with pytest.raises(CertsealError) as err:
        qr.read_qr_image(data)
    assert (err.value.kind, err.value.field) == (ErrorKind.INVALID_ARGUMENT, "image")
    return err.value.message


@pytest.mark.parametrize("size", [(6145, 4096), (4096, 6145), (8064, 6048)])
def test_a_heic_over_the_heic_bound_is_refused_before_decoding(size, monkeypatch):
    """Just over MAX_HEIC_PIXELS (6144 × 4096) either way round, and a 48 MP photo:
    refused from the header, libheif never asked to decode."""
    data = _declaring(*size)
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == size
        assert size[0] * size[1] > bounds.MAX_HEIC_PIXELS

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded")

    monkeypatch.setattr(pillow_heif, "open_heif", no_decoding)
    start = time.perf_counter()
    message = _refusal(data)
    assert time.perf_counter() - start < 1.0
    assert message == (  # the format named, as every HEIC limit (trial33)
        f"is {size[0]} × {size[1]} pixels; the limit for a HEIC of 8-bit grey is "
        f"{bounds.MAX_HEIC_PIXELS:,} pixels (a smaller photo, or the photo as JPEG, "
        "is read)"
    )


def test_a_heic_declaring_the_bound_itself_is_not_refused_for_its_size():
    """6144 × 4096 declared (a coded picture of 64 × 64): within the bound, so it goes
    on to libheif, which refuses a coded picture other than its header's."""
    assert bounds.MAX_HEIC_PIXELS == 6144 * 4096
    refusal = _refusal(_declaring(6144, 4096))
    assert refusal == "is not a readable PNG, JPEG or HEIC image"


FORMATS = {  # a 64 × 64 HEIC of each format: (bit depth, chroma, alpha)
    "8-bit 4:4:4": (lambda: _heic(Image.new("RGB", (64, 64)), chroma=444), (8, 444)),
    "8-bit 4:2:0 with alpha": (lambda: _heic(Image.new("RGBA", (64, 64))), (8, 420)),
    "10-bit 4:2:0": (lambda: _deep(Image.new("RGB", (64, 64))), (10, 420)),
    "10-bit 4:4:4 with alpha": (
        lambda: _deep(Image.new("RGBA", (64, 64)), chroma=444),
        (10, 444),
    ),
}


@pytest.mark.parametrize("words", list(FORMATS))
def test_a_costlier_heic_format_has_fewer_pixels(words, monkeypatch):
    """Decoding a HEIC costs more a pixel at 4:4:4 or 4:2:2 chroma, more bits, or
    with alpha: at MAX_HEIC_PIXELS a 10-bit 4:4:4 one with alpha took +494 MiB, an
    8-bit 4:4:4 one +221 MiB, beside the phone photo's +113. Such a HEIC over
    MAX_HEIC_DECODE_BYTES' worth of its pixels is refused before decoding, its format
    named; one just within goes on to be decoded."""
    make, (depth, chroma) = FORMATS[words]
    data = make()
    alpha = "alpha" in words
    with Image.open(io.BytesIO(data)) as image:
        assert (image.info["bit_depth"], image.info["chroma"]) == (depth, chroma)
        assert image.mode == ("RGBA" if alpha else "RGB")
    cost = bounds.HEIC_PEAK_BYTES_PER_PIXEL[(1 if depth == 8 else 2, chroma, alpha)]
    limit = int(bounds.MAX_HEIC_DECODE_BYTES / cost)
    assert limit < bounds.MAX_HEIC_PIXELS
    calls = []
    monkeypatch.setattr(pillow_heif, "open_heif", lambda *a, **k: calls.append(a))
    assert _refusal(_declaring(4096, limit // 4096 + 1, data)) == (
        f"is 4096 × {limit // 4096 + 1} pixels; "
        f"the limit for a HEIC of {words} is {limit:,} pixels (a smaller photo, "
        "or the photo as JPEG, is read)"
    )
    assert not calls  # refused from the header
    assert _refusal(_declaring(4096, limit // 4096, data)) == (
        "is not a readable PNG, JPEG or HEIC image"  # what the stand-in decoder gave
    )
    assert calls  # went on to be decoded


def test_a_10_bit_grey_heic_is_read():
    """pillow-heif gives a grey HEIC of more than 8 bits as 16-bit samples ("I;16"),
    even when asked for 8 bits: read as their high bytes."""
    data = _deep(_symbol("LC1:HELLO", 6))
    assert pillow_heif.open_heif(io.BytesIO(data)).mode == "I;16"
    assert qr.read_qr_image(data) == "LC1:HELLO"


def test_the_image_limit_states_the_heic_bound():
    assert bounds.IMAGE_LIMIT.endswith("a HEIC 25.2 million)")
    assert f"{bounds.MAX_HEIC_PIXELS / 1e6:.1f} million" in bounds.IMAGE_LIMIT


@pytest.mark.parametrize("premultiplied", [False, True], ids=["alpha", "premultiplied"])
@pytest.mark.parametrize("colour", [0, 255], ids=["dark modules", "light modules"])
def test_a_heic_with_alpha_is_read(colour, premultiplied):
    """A HEIC with an alpha plane: the modules opaque, the rest transparent. Dark ones
    read flattened on white, light ones (made for a dark page) from the transparency.
    A premultiplied alpha (pillow-heif's "RGBa") was read as if opaque: "contains no
    readable QR code" either way."""
    symbol = _symbol("LC1:HELLO", 6)
    image = Image.new("RGBA", symbol.size, (colour, colour, colour, 0))
    image.putalpha(symbol.point(lambda v: 255 if v < 128 else 0))
    heif = pillow_heif.from_pillow(image)
    heif.premultiplied_alpha = premultiplied
    out = io.BytesIO()
    heif.save(out, quality=100)
    read = pillow_heif.open_heif(io.BytesIO(out.getvalue()))
    assert (read.has_alpha, read.premultiplied_alpha) == (True, premultiplied)
    assert qr.read_qr_image(out.getvalue()) == "LC1:HELLO"


def test_a_grey_heic_is_read():
    data = _heic(_symbol("LC1:HELLO", 6), quality=90)
    assert pillow_heif.open_heif(io.BytesIO(data)).mode == "L"
    assert qr.read_qr_image(data) == "LC1:HELLO"
