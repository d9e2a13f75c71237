"""QR symbols for codes: rendering a code's text as a PNG and reading it back from a photo.

The I/O half of the code pipeline (images in, images out); the codec itself is the pure
:mod:`certseal.codes`. Codes are Base45 text, which fits QR alphanumeric mode (ISO/IEC
18004), as in the EU Digital COVID Certificate.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import segno
import zxingcpp
from PIL import Image, ImageOps, JpegImagePlugin
from pillow_heif import HeifImageFile

from certseal.bounds import (
    IMAGE_LIMIT,
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    MAX_JPEG_PIXELS,
    MAX_JPEG_SCANS,
    MAX_QR_SIDE,
)
from certseal.codes import (
    LICENCE_CODE_PREFIX,
    PRESENTATION_CODE_PREFIX,
    MalformedCode,
    normalise_code_text,
)
from certseal.errors import CertsealError, invalid
from certseal.heic import check_heic_pixels, heic_grey_on_white
from certseal.hevc import coded_chroma
from certseal.sizes import over_limit

__all__ = [
    "IMAGE_FORMATS",
    "IMAGE_LIMIT",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "check_image_bytes",
    "jpeg_scans",
    "qr_png",
    "read_qr_image",
]


IMAGE_FORMATS = ("PNG", "JPEG", "HEIF")
"""The Pillow formats read as QR images: PNG, JPEG and HEIC/HEIF (phone photos)."""


def check_image_bytes(size: int) -> None:
    """INVALID_ARGUMENT (``image``) when an image of ``size`` bytes is over
    :data:`~certseal.bounds.MAX_IMAGE_BYTES`: checked before the bytes are read where
    the size is known first (a file's, an upload's declared length)."""
    if size > MAX_IMAGE_BYTES:
        raise invalid(
            "image", over_limit(size, MAX_IMAGE_BYTES, limit_text=IMAGE_LIMIT)
        )


def qr_png(text: str, *, scale: int = 4) -> bytes:
    """The code as a QR symbol (alphanumeric mode, error correction Q) in PNG.

    ``scale`` is pixels per module; the quiet zone is the 4 modules ISO/IEC 18004 asks.
    """
    qr = segno.make_qr(text, error="q", boost_error=False)
    out = io.BytesIO()
    qr.save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def check_declared_pixels(image: Image.Image, field: str, limit: int) -> None:
    """INVALID_ARGUMENT (``field``) when an opened, not yet decoded, image declares
    more than ``limit`` pixels (width × height from its header)."""
    width, height = image.size
    if width * height > limit:
        raise invalid(
            field, f"is {width} × {height} pixels; the limit is {limit:,} pixels"
        )


def read_qr_image(data: bytes) -> str:
    """The text of the QR code in a PNG, JPEG or HEIC image, or INVALID_ARGUMENT.

    Bounded before decoding: the bytes by :data:`~certseal.bounds.MAX_IMAGE_BYTES`,
    the pixels the header declares by :data:`~certseal.bounds.MAX_IMAGE_PIXELS` (read
    without decoding; a baseline JPEG's by :data:`~certseal.bounds.MAX_JPEG_PIXELS`,
    decoded at half scale or less when over the other; a HEIC's by what decoding its
    format costs, :func:`certseal.heic.heic_pixel_limit`, and decoded once, its
    full-size grey kept for the second read), a JPEG's scans by
    :data:`~certseal.bounds.MAX_JPEG_SCANS`.
    The QR reader first gets the picture scaled to
    :data:`~certseal.bounds.MAX_QR_SIDE` (a 12-megapixel phone photo is scaled down,
    a JPEG already while decoding); when that holds no licence or presentation code
    (no QR code, or only others, such as a department's web address printed larger),
    it gets the picture at its own size too, so a small symbol in a large photo (a
    whole licence photographed) keeps its pixels per module. Transparency (RGBA, LA,
    a palette's transparent entry, a 16-bit grey's transparent level) is flattened on
    white, so dark modules on a transparent background read as printed; when that
    holds no code, the transparency itself is read, which holds the symbol whatever
    its colour (white modules on a transparent background, made for a dark page).

    Raises INVALID_ARGUMENT (field ``image``) for an empty image, one over a bound,
    another format, an unreadable file (whatever the decoder raises: a HEIC whose
    coded image is larger than its ``ispe`` box declares makes libheif raise
    RuntimeError), no QR code, or several different ones of which not exactly one is
    a licence or presentation code.
    """
    if not data:
        raise invalid("image", "is required: a PNG, JPEG or HEIC image of the QR code")
    check_image_bytes(len(data))
    texts, scaled, full = _read(data, MAX_QR_SIDE)
    if scaled and not _has_code(texts):
        # a small symbol in a large photo (a whole licence photographed, its QR code
        # a tenth of the width) has too few pixels per module once scaled, while the
        # page's other QR codes (its department's web address, printed larger) may
        # still read: read the picture at the size it has (within the bounds)
        texts += _texts(*full) if full else _read(data, None)[0]
    del full
    if not texts:
        raise invalid("image", "contains no readable QR code")
    return _the_code(texts)


_Planes = tuple[Image.Image, Image.Image | None]
"""A picture as 8-bit grey on white and its transparency (None when it has none)."""


def _read(data: bytes, side: int | None) -> tuple[list[str], bool, _Planes | None]:
    """The QR texts in the picture (its longer side at most ``side``), whether it
    was scaled down, and the picture at its own size when that was kept (a HEIC,
    sparing a second HEVC decode; None: decode again)."""
    grey, alpha, scaled, full = _decoded(data, side)
    return _texts(grey, alpha), scaled, full


def _texts(grey: Image.Image, alpha: Image.Image | None) -> list[str]:
    """The QR texts read on white, then, when that holds no code, in the
    transparency."""
    texts = _qr_texts(grey)
    if alpha is not None and not _has_code(texts):
        texts += _qr_texts(alpha)  # opaque modules on transparency: light on dark
    return texts


def _has_code(texts: list[str]) -> bool:
    """Whether a licence or presentation code is among ``texts``."""
    return any(_is_code(t) for t in texts)


def _the_code(texts: list[str]) -> str:
    """The one text among a picture's QR codes: the only one, or the only licence or
    presentation code among others (a licence's page also printing its department's
    web address as a QR code); INVALID_ARGUMENT when that leaves several."""
    distinct = list(dict.fromkeys(texts))
    if len(distinct) == 1:
        return distinct[0]
    ours = [t for t in distinct if _is_code(t)]
    if len(ours) == 1:
        return ours[0]
    if ours:
        raise invalid(
            "image", f"contains {len(ours)} different licence codes; show one"
        )
    raise invalid("image", f"contains {len(distinct)} different QR codes; show one")


def _is_code(text: str) -> bool:
    """Whether ``text`` reads as a licence or presentation code's text (its prefix
    after :func:`certseal.codes.normalise_code_text`), however damaged after it."""
    try:
        return normalise_code_text(text).startswith(
            (LICENCE_CODE_PREFIX, PRESENTATION_CODE_PREFIX)
        )
    except MalformedCode:
        return False


def _decoded(
    data: bytes, side: int | None
) -> tuple[Image.Image, Image.Image | None, bool, _Planes | None]:
    """The image's first frame as 8-bit grey on white and its transparency (None when
    it has none), their longer side at most ``side`` (None: as it is), whether
    they were scaled down, and, for a HEIC so scaled, both at full size (its decoding
    costs most); INVALID_ARGUMENT (field ``image``) as :func:`read_qr_image` says."""
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:
            # Pillow opens a JPEG with a multi-picture index (MPF: a camera's
            # second frame, a depth map) as "MPO": a JPEG all the same
            jpeg = isinstance(image, JpegImagePlugin.JpegImageFile)
            # a progressive JPEG keeps every DCT coefficient of the whole image
            # (2 bytes a sample a component) whatever the scale it is decoded at, and
            # so does a sequential one whose first scan lacks a component (libjpeg's
            # "multiple scans": its components one scan each, a legal baseline file)
            baseline = (
                jpeg
                and not image.info.get("progressive")
                and _first_scan_components(data) == len(image.getbands())
            )
            # iPhones save photos as HEIC (certseal.heic); its size and format are
            # read from the header before decoding, like the others'
            heic = isinstance(image, HeifImageFile)
            coded = coded_chroma(data) if heic else None  # read once (atk34 H3)
            if heic:
                check_heic_pixels("image", image.size, image.info, image.mode, coded)
            else:
                limit = MAX_JPEG_PIXELS if baseline else MAX_IMAGE_PIXELS
                check_declared_pixels(image, "image", limit)
            scans = jpeg_scans(data) if jpeg else 0
            if scans > MAX_JPEG_SCANS:
                raise invalid(
                    "image",
                    f"is a JPEG of {scans} scans; the limit is {MAX_JPEG_SCANS}",
                )
            scaled = side is not None and max(image.size) > side  # before a draft
            if not heic:
                return *_grey_on_white(image, side, jpeg), scaled, None
        # decoded by pillow-heif itself, not as Pillow's frame: its RGB bytes are
        # libheif's buffer, read a strip at a time, never copied whole
        full = heic_grey_on_white(data, "image", coded)
        if side is None or max(full[0].size) <= side:
            return *full, False, None
        grey, alpha = full
        scaled_alpha = None if alpha is None else _contained(alpha, side)
        return _contained(grey, side), scaled_alpha, True, full
    except Image.DecompressionBombError:  # Pillow's own, far higher, bound
        raise invalid(
            "image", f"has too many pixels; the limit is {MAX_IMAGE_PIXELS:,} pixels"
        ) from None
    except CertsealError:
        raise
    except Exception:  # any decoder's failure is the image's fault
        # UnidentifiedImageError, OSError, ValueError, SyntaxError from Pillow's
        # decoders; RuntimeError from libheif (a coded size over its header's, libheif's
        # security limits); MemoryError: none of them is the server's fault
        raise invalid("image", "is not a readable PNG, JPEG or HEIC image") from None


# A marker: fill bytes (any number of FF) and the marker's code.
_JPEG_MARKER = re.compile(rb"\xff+([^\xff])")
# In a scan's entropy-coded data a 0xFF byte is followed by 00 (a stuffed FF), by a
# restart marker (D0 to D7) or by more FF (fill before a marker); any other pair is the
# marker that ends the scan.
_MARKER_AFTER_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
# Markers walked at most: a camera's progressive JPEG has about fifty (its APPn,
# tables, frame, ten scans with their tables); beyond, FF DA is counted.
_MAX_JPEG_MARKERS = 1024


_EOI, _LOST = 0xD9, -1


def _jpeg_markers(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, where its segment's content starts, the segment's length) of each
    marker of the JPEG image ``data`` starts with, as its decoder meets them: from SOI
    on, each segment skipped by its length, each scan's entropy-coded data to the
    marker after it. Ends after EOI (``(0xD9, at, 0)``), at the data's end inside a
    scan, or where the structure is not one it follows (bytes where a marker should
    be, which libjpeg skips; a segment running past the end; over
    :data:`_MAX_JPEG_MARKERS` markers): then ``(_LOST, at, 0)`` with ``at`` where it
    stopped. Linear in the bytes."""
    at, end = 2, len(data)  # after SOI, which Pillow has checked
    for _ in range(_MAX_JPEG_MARKERS):
        found = _JPEG_MARKER.match(data, at)
        if found is None:
            break
        marker = found.group(1)[0]
        if marker == _EOI:  # the decoder stops here
            yield marker, found.end(), 0
            return
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn, TEM: no length
            at = found.end()
            continue
        length = int.from_bytes(data[found.end() : found.end() + 2], "big")
        if marker == 0x00 or length < 2 or found.end() + length > end:
            break
        yield marker, found.end(), length
        at = found.end() + length
        if marker == 0xDA:
            after = _MARKER_AFTER_SCAN.search(data, at)
            if after is None:  # the data ends inside the scan
                return
            at = after.start()
    yield _LOST, at, 0


def jpeg_scans(data: bytes) -> int:
    """The scans (SOS markers, FF DA) of the JPEG image ``data`` starts with, as its
    decoder meets them (:func:`_jpeg_markers`). Bytes that are not the image's own
    therefore count for nothing: an EXIF thumbnail inside APP1, a multi-picture
    file's other frames after its EOI, a motion photo's video appended (a Pixel's or
    a Samsung's: megabytes in which FF DA occurs about once in 64 KiB). Where the
    structure is not one the walk follows, every FF DA from there on is counted:
    never fewer than the decoder could meet. Linear in the bytes."""
    scans = 0
    for marker, at, _length in _jpeg_markers(data):
        if marker == _LOST:
            return scans + data.count(b"\xff\xda", at)
        scans += marker == 0xDA
    return scans


def _first_scan_components(data: bytes) -> int | None:
    """The components of the first scan of the JPEG image ``data`` starts with (its
    SOS's Ns, :func:`_jpeg_markers`); None when the walk meets no scan (EOI first, or
    a structure it does not follow before one: the decoder may find another)."""
    for marker, at, length in _jpeg_markers(data):
        if marker == 0xDA:
            return data[at + 2] if length >= 3 else None
    return None


def _qr_texts(grey: Image.Image) -> list[str]:
    """The texts of the valid QR codes zxing-cpp finds in ``grey``."""
    # no zxing-cpp object outlives the call: nanobind reports any instance still
    # alive at interpreter exit as "leaked" (a module-level BarcodeFormats was one)
    formats = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    found = zxingcpp.read_barcodes(grey, formats=formats)
    texts = [b.text for b in found if b.valid and b.text]
    del found, formats
    return texts


def _grey_on_white(
    image: Image.Image, side: int | None, jpeg: bool
) -> tuple[Image.Image, Image.Image | None]:
    """The first frame as 8-bit grey, transparency flattened on white, and its
    transparency as an 8-bit plane (None when it has none); their longer side at most
    ``side`` pixels (None: as they are; the size is already checked); ``jpeg``: the
    image is a JPEG (or MPO), which can be decoded at reduced scale."""
    if jpeg:
        _draft(image, side)
    image.load()
    # what was decoded, not only what the header declared, is within the bound
    check_declared_pixels(image, "image", MAX_IMAGE_PIXELS)
    alpha: Image.Image | None = None
    if image.mode.startswith("I"):
        grey, alpha = _grey_of_16_bits(image)
    elif image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        # grey and alpha apart, pasted on white: 2 bytes a pixel, not 4 more
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        alpha = rgba.getchannel("A")
        grey = Image.new("L", rgba.size, 255)
        grey.paste(rgba.convert("L"), (0, 0), alpha)
        del rgba
    else:
        grey = image.convert("L")
    if side is not None and max(grey.size) > side:
        grey.thumbnail((side, side), Image.Resampling.BOX)
        if alpha is not None:
            alpha.thumbnail((side, side), Image.Resampling.BOX)
    return grey, alpha


def _contained(plane: Image.Image, side: int) -> Image.Image:
    """A scaled copy of ``plane`` whose longer side is ``side``."""
    return ImageOps.contain(plane, (side, side), Image.Resampling.BOX)


def _draft(image: Image.Image, side: int | None) -> None:
    """Have a JPEG decoded at 1/2, 1/4 or 1/8 scale straight from its DCT (less memory
    and time): its longer side down towards ``side`` (None: as it is), and in any case
    within :data:`~certseal.bounds.MAX_IMAGE_PIXELS` (a 24- or 48-megapixel photo at
    half scale)."""
    width, height = image.size
    box = (width, height)
    if side is not None and max(width, height) > side:
        box = (side, side)
    if width * height > MAX_IMAGE_PIXELS:
        # the least reduction whose size (rounded up, as libjpeg does) is within the
        # bound; Pillow picks the largest scale leaving at least the box on both sides
        scale = next(
            (s for s in (2, 4) if -(width // -s) * -(height // -s) <= MAX_IMAGE_PIXELS),
            8,
        )
        box = (min(box[0], width // scale), min(box[1], height // scale))
    if box != (width, height):
        image.draft("L", box)


def _grey_of_16_bits(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """A 16-bit grey image (a PNG of 16 bits a sample, Pillow's ``I;16``; or ``I``)
    as 8-bit grey, each sample divided by 256, its transparent level (a PNG's
    ``tRNS``) flattened on white; and its transparency (None without a transparent
    level). Pillow's own conversion to ``L`` clips at 255 instead of scaling (every
    sample above 255 became white) and ignores the transparent level. Memory: the
    scaled copy and three 8-bit planes."""
    scaled = image.point(lambda v: v / 256)  # I;16 stays I;16, now 0 to 255
    grey = scaled.convert("L")
    del scaled
    key = image.info.get("transparency")
    if not isinstance(key, int):
        return grey, None
    alpha = _opaque(image, key)
    white = Image.new("L", grey.size, 255)
    white.paste(grey, (0, 0), alpha)
    return white, alpha


_STRIP_ROWS = 256


def _opaque(image: Image.Image, key: int) -> Image.Image:
    """The 8-bit mask of a 16-bit grey image's samples other than ``key``, made a strip
    of rows at a time (a 32-bit copy of a whole 4096 × 4096 image is 64 MiB)."""
    levels = [0 if v == key else 255 for v in range(65536)]
    mask = Image.new("L", image.size, 255)
    for top in range(0, image.height, _STRIP_ROWS):
        bottom = min(top + _STRIP_ROWS, image.height)
        strip = image.crop((0, top, image.width, bottom)).convert("I")
        mask.paste(strip.point(levels, "L"), (0, top))
    return mask
