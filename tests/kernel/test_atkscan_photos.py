"""Phone photos and files a counter meets that the first photo tests did not cover
(outside attack "atk-scan"): a motion photo (a Pixel's or a Samsung's JPEG with its
video appended), a JPEG with a multi-picture index (Pillow's "MPO"), a small licence
code beside a larger QR code on the same page.
"""

import io
import random
import re

import pytest
import segno
from PIL import Image

from certseal import bounds, qr
from certseal.errors import CertsealError, ErrorKind

TEXT = "LC1:" + "".join(
    random.Random(31).choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    for _ in range(400)
)


def _symbol(text: str = TEXT, scale: int = 8) -> Image.Image:
    out = io.BytesIO()
    segno.make_qr(text, error="q", boost_error=False).save(
        out, kind="png", scale=scale, border=4
    )
    return Image.open(out).convert("L")


def _photo(size: tuple[int, int] = (1600, 1200), scale: int = 8) -> Image.Image:
    photo = Image.new("RGB", size, (205, 200, 190))
    photo.paste(_symbol(scale=scale).convert("RGB"), (300, 200))
    return photo


def _jpeg(image: Image.Image, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, **params)
    return out.getvalue()


def _refusal(data: bytes) -> str:
    try:
        qr.read_qr_image(data)
    except CertsealError as err:
        assert (err.kind, err.field) == (ErrorKind.INVALID_ARGUMENT, "image")
        return err.message
    raise AssertionError("the image was read")


# -- JPEG scans: counted in the image, not in what is appended to it -----------------


def _video(megabytes: int) -> bytes:
    """An MP4 as a motion photo appends it: a box header, then bytes as compressed
    video is (where FF DA occurs about once in 64 KiB)."""
    body = random.Random(megabytes).randbytes(megabytes * 1024 * 1024)
    return b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + body


def test_atkscan_a_motion_photo_with_its_video_appended_is_read():
    """A Pixel's motion photo (PXL_….MP.jpg) or a Samsung's: the still JPEG, then the
    clip's MP4 after its EOI, 4-6 MB in all. The video's FF DA pairs were counted as
    the JPEG's scans: "is a JPEG of 54 scans; the limit is 32"."""
    photo = _jpeg(_photo(), progressive=True)
    video = _video(3)
    assert video.count(b"\xff\xda") > bounds.MAX_JPEG_SCANS  # what was counted
    assert qr.read_qr_image(photo + video) == TEXT


def _mpo(first: Image.Image, second: Image.Image, **params) -> bytes:
    out = io.BytesIO()
    first.save(out, "MPO", save_all=True, append_images=[second], **params)
    return out.getvalue()


def test_atkscan_a_jpeg_with_a_multi_picture_index_is_read():
    """A camera's JPEG with an MPF index of two frames (Pillow opens it as "MPO")."""
    data = _mpo(_photo(), Image.new("RGB", (640, 480), "grey"))
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "MPO"
    assert qr.read_qr_image(data) == TEXT


_EMPTY_SCAN = b"\xff\xda\x00\x08\x01\x01\x00\x01\x3f\x00"


def test_atkscan_an_mpo_is_held_to_the_jpeg_scan_bound():
    """The scan bound held for format "JPEG" only: an MPO whose first frame had
    20,000 empty scans was decoded (1.4 s at 1024 × 1024; 8 MiB of them at
    4096 × 4096 would be minutes), where the same JPEG is refused before decoding."""
    frame = Image.new("L", (1024, 1024), 255)
    data = _mpo(frame, frame, progressive=True)
    first_end = data.index(b"\xff\xd9\xff\xd8")  # the first frame's EOI
    bomb = data[:first_end] + _EMPTY_SCAN * 20_000 + data[first_end:]
    with Image.open(io.BytesIO(bomb)) as image:
        assert image.format == "MPO"
    said = re.fullmatch(
        f"is a JPEG of ([0-9]+) scans; the limit is {bounds.MAX_JPEG_SCANS}",
        _refusal(bomb),
    )
    assert said is not None
    assert int(said[1]) >= data[:first_end].count(b"\xff\xda") + 20_000


def test_atkscan_the_scans_counted_are_the_decoders():
    """Exactly the image's scans where its structure is followed; every FF DA from
    where it is not (bytes between markers, which libjpeg skips), never fewer."""
    progressive = _jpeg(_photo(), progressive=True)
    scans = progressive.count(b"\xff\xda")
    assert scans > 1
    assert qr.jpeg_scans(progressive) == scans
    assert qr.jpeg_scans(progressive + _video(1)) == scans
    eoi = len(progressive) - 2
    garbage = progressive[:eoi] + b"junk" + _EMPTY_SCAN * 40 + b"\xff\xd9"
    assert qr.jpeg_scans(garbage) == scans + 40
    with_thumbnail = (
        progressive[:2] + _app1(_jpeg(Image.new("L", (160, 120)))) + (progressive[2:])
    )
    assert qr.jpeg_scans(with_thumbnail) == scans


def _app1(payload: bytes) -> bytes:
    """An APP1 segment carrying ``payload`` (as EXIF carries its thumbnail)."""
    body = b"Exif\x00\x00" + payload
    return b"\xff\xe1" + (len(body) + 2).to_bytes(2, "big") + body


# -- a small licence code beside a larger QR code ------------------------------------


def test_atkscan_a_small_code_beside_a_larger_web_address_is_read():
    """A whole licence page photographed (12 MP): its department's web address as a
    large QR code, the licence code small (3 pixels per module). Scaled down to
    MAX_QR_SIDE only the web address read, and it was the answer (then "this is a web
    address, not a certseal code"); the full size was read only when nothing was."""
    page = Image.new("L", (4032, 3024), 235)
    page.paste(_symbol("https://zwfw.gd.example/dept/licence", scale=30), (200, 200))
    page.paste(_symbol(scale=3), (2800, 2000))
    out = io.BytesIO()
    page.save(out, "PNG", compress_level=1)
    assert qr.read_qr_image(out.getvalue()) == TEXT


# -- 16-bit grey ---------------------------------------------------------------------


def _grey16(black: int, white: int) -> Image.Image:
    """The symbol as a 16-bit grey image (a flatbed scan saved with 16 bits a
    sample): dark modules ``black``, light ones ``white`` (0 to 65535)."""
    symbol = _symbol(scale=4)
    levels = bytes(
        b
        for v in symbol.tobytes()
        for b in ((white if v >= 128 else black).to_bytes(2, "little"))
    )
    return Image.frombytes("I;16", symbol.size, levels)


def test_atkscan_a_16_bit_grey_png_is_read():
    """Pillow's I;16 → L conversion clips at 255 instead of scaling: every sample
    above 255 (all of 6,000 and 52,000) became white, and the scan "contains no
    readable QR code"."""
    out = io.BytesIO()
    _grey16(6_000, 52_000).save(out, "PNG")
    with Image.open(io.BytesIO(out.getvalue())) as image:
        assert image.mode.startswith("I")
    assert qr.read_qr_image(out.getvalue()) == TEXT


def test_atkscan_a_16_bit_grey_png_with_a_transparent_level_is_read_on_white():
    """Dark modules on a transparent background whose samples are stored as 0 (a
    PNG's tRNS level): flattened on white as the 8-bit ones are, not read as the
    near-black 0 beside 6,000."""
    out = io.BytesIO()
    _grey16(6_000, 0).save(out, "PNG", transparency=0)
    assert qr.read_qr_image(out.getvalue()) == TEXT


# -- light modules on a transparent background ---------------------------------------


def _on_transparent(colour: int, mode: str) -> bytes:
    """The symbol's dark modules opaque in ``colour``, the rest transparent."""
    symbol = _symbol(scale=4)
    alpha = symbol.point(lambda v: 255 if v < 128 else 0)
    if mode == "LA":
        image = Image.merge("LA", (Image.new("L", symbol.size, colour), alpha))
    else:
        image = Image.new("RGBA", symbol.size, (colour, colour, colour, 0))
        image.putalpha(alpha)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_atkscan_light_modules_on_a_transparent_background_are_read(mode):
    """A QR code made for a dark page or a dark-mode chat: white modules on a
    transparent background. Flattened on white only, they vanished ("contains no
    readable QR code"); the symbol is in the transparency whatever its colour."""
    assert qr.read_qr_image(_on_transparent(255, mode)) == TEXT
    assert qr.read_qr_image(_on_transparent(0, mode)) == TEXT  # what held


# -- a high-resolution phone photo ---------------------------------------------------


@pytest.mark.parametrize(
    "size",
    [(5712, 4284), (8064, 6048)],
    ids=["24 MP (iPhone 15 and later, by default)", "48 MP (a phone's full sensor)"],
)
def test_atkscan_a_high_resolution_jpeg_photo_is_read(size):
    """An iPhone 15 or 16 takes 24-megapixel photos by default (5712 × 4284; JPEG
    when set to "Most Compatible", and what Safari uploads a HEIC photo as), over the
    16.8 million pixels decoded at most: it was refused ("is 5712 × 4284 pixels").
    A JPEG decodes at half scale straight from its DCT, so up to four times the
    pixels are read within the same memory."""
    photo = Image.new("RGB", size, (205, 200, 190))
    photo.paste(_symbol(scale=14).convert("RGB"), (size[0] // 3, size[1] // 3))
    data = _jpeg(photo)
    assert len(data) <= bounds.MAX_IMAGE_BYTES
    assert size[0] * size[1] > bounds.MAX_IMAGE_PIXELS
    assert qr.read_qr_image(data) == TEXT


def test_atkscan_a_small_symbol_in_a_24_mp_photo_is_read_at_half_scale():
    """The full-size retry of a JPEG over the decoded bound reads it at half scale: a
    symbol of 4 pixels per module keeps 2."""
    photo = Image.new("RGB", (5712, 4284), (205, 200, 190))
    photo.paste(_symbol(scale=4).convert("RGB"), (4000, 3000))
    assert qr.read_qr_image(_jpeg(photo, subsampling=0)) == TEXT


def test_atkscan_a_progressive_jpeg_keeps_the_decoded_bound():
    """A progressive JPEG holds every coefficient of the whole image while it decodes,
    at any scale: over MAX_IMAGE_PIXELS it is refused before decoding, as before."""
    out = io.BytesIO()
    Image.new("L", (64, 64)).save(out, "JPEG", progressive=True)
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc2")  # SOF2: progressive
    data[sof + 5 : sof + 9] = (4284).to_bytes(2, "big") + (5712).to_bytes(2, "big")
    assert _refusal(bytes(data)) == (
        f"is 5712 × 4284 pixels; the limit is {bounds.MAX_IMAGE_PIXELS:,} pixels"
    )
