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
from services.seal.ses import Picture

RED = (218, 37, 29, 255)
SEAL_MM = 42  # an official round seal's diameter
MAX_PICTURE_BYTES = 1024 * 1024
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


def check_png(data: bytes) -> None:
    """Refuse a supplied seal picture that is not a readable PNG of at most
    :data:`MAX_PICTURE_BYTES` (the SESeal's picture type is ``png``).

    Raises ``CertsealError`` (INVALID_ARGUMENT, field ``picture``).
    """
    if len(data) > MAX_PICTURE_BYTES:
        raise invalid(
            "picture", f"is {len(data)} bytes; the limit is {MAX_PICTURE_BYTES}"
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                raise invalid("picture", f"is {image.format}; send a PNG")
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise invalid("picture", "is not a readable PNG") from None


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
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return Picture("png", out.getvalue(), SEAL_MM, SEAL_MM)
