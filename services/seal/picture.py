"""Generated seal pictures: the red round seal with the owner's name around a star.

Drawn with Pillow on a transparent background, the owner's name along the upper arc and
the seal's purpose (e.g. 合同专用章) straight below the five-pointed star, in Noto Serif
SC (shipped as a wheel, so no system font is needed). The picture goes into the SESeal
and is the visible stamp on sealed PDFs.
"""

from __future__ import annotations

import io
import math
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from certseal.errors import invalid
from certseal.qr import check_declared_pixels
from certseal.sizes import over_limit
from services.seal.ses import Picture

RED = (218, 37, 29, 255)
SEAL_MM = 42  # an official round seal's diameter

MAX_PICTURE_BYTES = 1024 * 1024
"""Bytes of a seal picture supplied at registration: a 42 mm stamp drawn at 600 dpi
(about 1,000 × 1,000 pixels) is 50 to 300 KB as a PNG; the generated one is 30 KB."""

MAX_PICTURE_PIXELS = 2048 * 2048
"""Pixels (width × height, read from the PNG header before decoding) of a seal picture:
a 42 mm stamp at 1,200 dpi fits. Decoded as RGBA it costs at most 16 MiB at
registration and again when it is stamped on a PDF; without this bound a 657 KB PNG of
13,000 × 13,000 pixels was accepted and sealing a PDF with it took 2.7 GB."""

PICTURE_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA")
"""Pillow modes a seal picture may decode to: the 8-bit-or-less kinds that become RGBA
for the PDF stamp (16-bit and CMYK pictures are refused)."""

_PX = 600
# the standard wording of each seal kind's purpose line (none for the official seal)
PURPOSE_TEXT = {
    "official": "",
    "contract": "合同专用章",
    "finance": "财务专用章",
    "invoice": "发票专用章",
    "personal": "",
    "other": "",
}


def load_picture(data: bytes) -> Image.Image:
    """The seal picture decoded as RGBA, within :data:`MAX_PICTURE_BYTES` and
    :data:`MAX_PICTURE_PIXELS` (the pixels are checked from the header, before decoding).

    Raises ``CertsealError`` (INVALID_ARGUMENT, field ``picture``) when ``data`` is not a
    whole, readable PNG within those bounds and of one of :data:`PICTURE_MODES`.
    """
    if len(data) > MAX_PICTURE_BYTES:
        raise invalid("picture", over_limit(len(data), MAX_PICTURE_BYTES))
    try:
        with Image.open(io.BytesIO(data), formats=("PNG",)) as image:
            check_declared_pixels(image, "picture", MAX_PICTURE_PIXELS)
            if image.mode not in PICTURE_MODES:
                raise invalid(
                    "picture", f"has pixel mode {image.mode}; send an 8-bit PNG"
                )
            image.load()  # decodes every pixel: a truncated or corrupt PNG fails here
            return image.convert("RGBA")
    except Image.DecompressionBombError:
        raise invalid(
            "picture", f"has too many pixels; the limit is {MAX_PICTURE_PIXELS}"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise invalid("picture", "is not a readable PNG") from None


def check_png(data: bytes) -> None:
    """Refuse a supplied seal picture that :func:`load_picture` cannot decode (the
    SESeal's picture type is ``png``).

    Raises ``CertsealError`` (INVALID_ARGUMENT, field ``picture``).
    """
    load_picture(data)


@cache
def _font_file() -> Path:
    import pylopdf_fonts_zh_cn

    return Path(pylopdf_fonts_zh_cn.serif_path())


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(_font_file()), size)


def _star(draw: ImageDraw.ImageDraw, cx: float, cy: float, radius: float) -> None:
    points = []
    for i in range(10):
        r = radius if i % 2 == 0 else radius * 0.382
        angle = -math.pi / 2 + i * math.pi / 5
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    draw.polygon(points, fill=RED)


def _arc_text(image: Image.Image, text: str, radius: float, size: int) -> None:
    """Each character upright towards the centre, spread over the upper arc."""
    font = _font(size)
    span = min(math.radians(250), math.radians(24) * max(len(text), 1))
    centre = _PX / 2
    for i, char in enumerate(text):
        angle = -math.pi / 2 - span / 2 + span * (i + 0.5) / len(text)
        glyph = Image.new("RGBA", (size * 2, size * 2), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((size, size), char, font=font, fill=RED, anchor="mm")
        glyph = glyph.rotate(
            -math.degrees(angle) - 90, resample=Image.Resampling.BICUBIC
        )
        x = centre + radius * math.cos(angle) - glyph.width / 2
        y = centre + radius * math.sin(angle) - glyph.height / 2
        image.alpha_composite(glyph, (round(x), round(y)))


def round_seal(owner: str, seal_type: str = "official") -> Picture:
    """The seal picture of ``owner`` for a seal of ``seal_type`` (PNG, 42 mm)."""
    owner = owner.strip()
    if not owner or len(owner) > 24:
        raise invalid("name", "must have 1 to 24 characters to fit around the seal")
    image = Image.new("RGBA", (_PX, _PX), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    ring = _PX * 0.035
    draw.ellipse(
        (ring / 2, ring / 2, _PX - ring / 2, _PX - ring / 2),
        outline=RED,
        width=round(ring),
    )
    _star(draw, _PX / 2, _PX / 2, _PX * 0.16)
    size = max(34, min(64, round(_PX * 1.9 / max(len(owner), 4))))
    _arc_text(image, owner, _PX / 2 - ring - size * 0.75, size)
    purpose = PURPOSE_TEXT.get(seal_type, "")
    if purpose:
        draw.text((_PX / 2, _PX * 0.75), purpose, font=_font(44), fill=RED, anchor="mm")
    return Picture("png", one_colour_png(image), SEAL_MM, SEAL_MM)


def one_colour_png(image: Image.Image) -> bytes:
    """``image``, drawn in :data:`RED` on transparent, as a PNG of that one colour at
    256 levels of opacity: a palette image whose every entry is RED and whose PNG
    ``tRNS`` gives entry *i* opacity *i* (ISO/IEC 15948 §11.3.2.1). Its alpha is kept
    exactly; its colour is RED exactly (the RGBA drawing's anti-aliased edges held
    hundreds of near-reds). A third of the RGBA PNG's bytes (the 600-pixel picture:
    54.5 KB → 18.7 KB), which matters because every SES_Signature the seal makes
    carries its SESeal, picture and all (GB/T 38540 §7.2): each signed document, each
    signature sent to be verified and each hash over its ``TBS_Sign`` is that much
    smaller (issue 17: Ed25519 signing hashes the whole of it twice)."""
    alpha = image.getchannel("A")
    levels = Image.frombytes("P", alpha.size, alpha.tobytes())
    levels.putpalette(list(RED[:3]) * 256)
    out = io.BytesIO()
    levels.save(out, "PNG", optimize=True, transparency=bytes(range(256)))
    return out.getvalue()
