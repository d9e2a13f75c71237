"""HEIC photos (HEIF with HEVC, ISO/IEC 23008-12: what iPhones save) as 8-bit grey for
the QR reader (:mod:`certseal.qr`), within a pixel limit that follows what decoding one
costs.

HEVC has no reduced decoding: libheif decodes the whole picture into its YCbCr planes
and converts them to RGB before anything else sees it, and what that costs a pixel
depends on the picture's format (:data:`~certseal.bounds.HEIC_PEAK_BYTES_PER_PIXEL`).
So a HEIC may have :data:`~certseal.bounds.MAX_HEIC_DECODE_BYTES` over its format's
cost pixels, at most :data:`~certseal.bounds.MAX_HEIC_PIXELS` (an 8-bit 4:2:0 photo's,
what phones write), checked from the header before decoding and on what was decoded.
The RGB bytes are read straight from libheif's buffer, a strip of rows at a time, into
one grey plane (never a second full RGB copy, as Pillow's frame would be) and released
before the QR reader runs.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import pillow_heif
from PIL import Image

from certseal.bounds import (
    HEIC_PEAK_BYTES_PER_PIXEL,
    MAX_HEIC_DECODE_BYTES,
    MAX_HEIC_PIXELS,
)
from certseal.errors import invalid

__all__ = ["check_heic_pixels", "heic_grey_on_white", "heic_pixel_limit"]

# Pillow opens HEIC through pillow-heif's plugin, its size read from the header.
pillow_heif.register_heif_opener()
# libheif's security limits stay on: among them, a coded (HEVC) image larger than its
# `ispe` box declares is refused before it is decoded ("Security limit exceeded", a
# RuntimeError). pillow-heif offers no setting to lower libheif's own pixel limit, so
# the header's size is checked here and the decoded size again.
pillow_heif.options.DISABLE_SECURITY_LIMITS = False

# pillow-heif's modes (more than 8 bits converted to 8, except grey: "I;16", the
# samples scaled to 16 bits) and how a strip of each is read as Pillow's: its image
# mode and raw mode; "a": premultiplied alpha, which Pillow divides out
_MODES = {
    "L": ("L", "L"),
    "I;16": ("L", "L;16"),  # the high byte of each little-endian sample
    "RGB": ("RGB", "RGB"),
    "LA": ("LA", "LA"),
    "RGBA": ("RGBA", "RGBA"),
    "La": ("La", "La"),
    "RGBa": ("RGBA", "RGBa"),
}

_STRIP_ROWS = 256


def heic_pixel_limit(
    info: Mapping[Any, object], mode: str, coded: int | None = None
) -> tuple[int, str]:
    """The pixels a HEIC picture of this format (pillow-heif's ``info`` and ``mode``,
    read from the header, and ``coded``, the costliest chroma the file's coded
    parameter sets name: :func:`certseal.hevc.coded_chroma`) may have, and the
    format in words ("10-bit 4:4:4 with alpha"); a chroma pillow-heif does not name
    counts as the costliest, 4:4:4, and so does a costlier one the coded picture
    names than its header says (atk33c H1)."""
    depth = info.get("bit_depth")
    wide = not isinstance(depth, int) or depth > 8
    named = info.get("chroma")
    chroma = 444  # not named: the costliest
    if mode in ("L", "I;16", "LA", "La"):
        chroma = 0  # grey: pillow-heif names no chroma
    elif isinstance(named, int) and named in _RANKED:
        chroma = named
    if coded in _RANKED and _RANKED.index(coded) > _RANKED.index(chroma):
        chroma = coded
    words = [f"{depth}-bit" if isinstance(depth, int) else "deep"]
    words.append(":".join(str(chroma)) if chroma else "grey")
    alpha = mode in ("LA", "La", "RGBA", "RGBa")
    if alpha:
        words.append("with alpha")
    cost = HEIC_PEAK_BYTES_PER_PIXEL[(2 if wide else 1, chroma, alpha)]
    return min(MAX_HEIC_PIXELS, int(MAX_HEIC_DECODE_BYTES / cost)), " ".join(words)


_RANKED = (0, 420, 422, 444)  # chroma formats, cheapest first


def check_heic_pixels(
    field: str,
    size: tuple[int, int],
    info: Mapping[Any, object],
    mode: str,
    coded: int | None,
) -> None:
    """INVALID_ARGUMENT (``field``) when a HEIC picture of ``size`` has more pixels
    than its format may (:func:`heic_pixel_limit`; ``coded``: the file's
    :func:`certseal.hevc.coded_chroma`)."""
    width, height = size
    limit, words = heic_pixel_limit(info, mode, coded)
    if width * height > limit:
        raise invalid(
            field,
            f"is {width} × {height} pixels; the limit for a HEIC of {words} is "
            f"{limit:,} pixels (a smaller photo, or the photo as JPEG, is read)",
        )


def heic_grey_on_white(
    data: bytes, field: str, coded: int | None
) -> tuple[Image.Image, Image.Image | None]:
    """A HEIC's primary picture as 8-bit grey, transparency flattened on white, and
    its transparency (None when it has none), at its decoded size (checked again with
    :func:`check_heic_pixels`, ``coded``: :func:`certseal.hevc.coded_chroma` of
    ``data``, read once by the caller). libheif's bytes are made grey a strip of rows at a
    time, so the one full-size copy besides the grey plane is libheif's own, released
    here, before the QR reader runs."""
    heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
    frame = heif[heif.primary_index]
    del heif  # the frame alone holds its decoded bytes, released with it below
    if frame.mode not in _MODES:
        raise invalid(
            field, f"is a HEIC of pixel format {frame.mode}, which is not read"
        )
    mode, raw = _MODES[frame.mode]
    check_heic_pixels(field, frame.size, frame.info, frame.mode, coded)  # declared
    pixels, stride = frame.data, frame.stride  # decoded here, by libheif
    check_heic_pixels(field, frame.size, frame.info, frame.mode, coded)  # decoded
    width, height = frame.size
    grey = Image.new("L", (width, height), 255)
    transparent = mode in ("LA", "La", "RGBA")
    alpha = Image.new("L", (width, height), 255) if transparent else None
    for top in range(0, height, _STRIP_ROWS):
        rows = min(_STRIP_ROWS, height - top)
        strip = Image.frombuffer(
            mode,
            (width, rows),
            pixels[top * stride : (top + rows) * stride],
            "raw",
            raw,
            stride,
            1,
        )
        if strip.mode == "La":
            strip = strip.convert("LA")  # premultiplied: Pillow divides it out
        if alpha is not None:
            opaque = strip.getchannel("A")
            grey.paste(strip.convert("L"), (0, top), opaque)  # on white
            alpha.paste(opaque, (0, top))
        else:
            grey.paste(strip.convert("L"), (0, top))
    del pixels, frame  # libheif's buffer
    return grey, alpha
