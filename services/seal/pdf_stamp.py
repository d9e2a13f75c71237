"""Where a seal's stamp goes on a PDF page and how it is drawn (ISO 32000-1).

A stamp is asked for on the page a person sees: its lower-left corner in mm from the
lower-left corner of the visible page, which is the page's CropBox clipped to its
MediaBox (§14.11.2), turned clockwise by the page's /Rotate (§7.7.3.3), and scaled by
/UserUnit (§14.11.2.1). The signature widget's /Rect lives in the page's default user
space, so the requested square is carried back there, and the appearance stream gets a
/Matrix that turns the picture against the page's rotation (§12.5.5), so it shows
upright.

PDF/A-1 (ISO 19005-1 §6.4) forbids soft masks and so the seal picture's alpha channel:
in a PDF/A-1 file the picture is flattened onto white and keeps its shape through an
explicit 1-bit stencil /Mask, which that part allows; PDF/A-2 and later allow the soft
mask. When the output intent's profile is CMYK the picture is drawn in DeviceCMYK
(ISO 19005-1 §6.2.3.3: device colour must match the output intent).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from PIL import Image
from pyhanko.pdf_utils import generic, images, layout
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.rw_common import PdfHandler
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.stamp import StaticContentStamp, StaticStampStyle

from certseal.errors import invalid
from services.seal.pdf_entries import entry

MM = 72 / 25.4  # PDF units per millimetre at /UserUnit 1

MAX_PAGE_TREE_DEPTH = 64
"""Page-tree levels walked up from a page to find an inherited /Rotate, /MediaBox or
/CropBox (real files have a handful; a /Parent cycle ends here instead of looping)."""

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class PageGeometry:
    """A page as displayed: its visible box in default user space (llx, lly, urx,
    ury), its clockwise rotation (0, 90, 180 or 270 degrees) and its /UserUnit."""

    visible: Box
    rotate: int
    user_unit: float = 1.0

    @property
    def visible_size(self) -> tuple[float, float]:
        """Width and height of the page as seen, in default user space units."""
        width = self.visible[2] - self.visible[0]
        height = self.visible[3] - self.visible[1]
        return (height, width) if self.rotate in (90, 270) else (width, height)

    def to_user_space(self, u: float, v: float) -> tuple[float, float]:
        """The default-user-space point shown at (``u``, ``v``) units from the
        visible page's lower-left corner."""
        llx, lly, urx, ury = self.visible
        if self.rotate == 90:
            return urx - v, lly + u
        if self.rotate == 180:
            return urx - u, ury - v
        if self.rotate == 270:
            return llx + v, ury - u
        return llx + u, lly + v

    def rect(self, u: float, v: float, width: float, height: float) -> Box:
        """The /Rect (default user space) of a ``width`` × ``height`` box shown with
        its lower-left corner at (``u``, ``v``) on the visible page."""
        x1, y1 = self.to_user_space(u, v)
        x2, y2 = self.to_user_space(u + width, v + height)
        return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def _number(value: Any) -> float | None:
    """A PDF number (pyHanko reads reals as ``Decimal``) as a float; None otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _box(value: Any) -> Box | None:
    """A rectangle from a PDF array, corners in any order (§7.9.5); None if it is
    not four numbers or has no area."""
    if not isinstance(value, list) or len(value) != 4:
        return None
    numbers = [_number(v) for v in value]
    if any(n is None for n in numbers):
        return None
    x1, y1, x2, y2 = (n for n in numbers if n is not None)
    box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
    return box if box[2] > box[0] and box[3] > box[1] else None


def _inherited(page: generic.DictionaryObject, key: str) -> Any:
    """``key`` of the page or of its nearest /Pages ancestor that has it (§7.7.3.4;
    a null value is no value, §7.3.9, so it inherits as if absent); at most
    :data:`MAX_PAGE_TREE_DEPTH` levels up, so a /Parent cycle ends."""
    node: Any = page
    for _ in range(MAX_PAGE_TREE_DEPTH):
        value = entry(node, key)
        if value is not None:
            return value
        node = entry(node, "/Parent")
    return None


def page_geometry(page: generic.DictionaryObject, index: int) -> PageGeometry:
    """How page ``index`` (0-based) is displayed.

    Raises ``CertsealError`` INVALID_ARGUMENT (field ``pdf``) when the page has no
    usable MediaBox, a CropBox outside it, or a /Rotate that is not a multiple of 90.
    """
    media = _box(_inherited(page, "/MediaBox"))
    if media is None:
        raise invalid("pdf", f"page {index} has no MediaBox of four numbers with area")
    crop = _box(_inherited(page, "/CropBox")) or media
    visible = (
        max(crop[0], media[0]),
        max(crop[1], media[1]),
        min(crop[2], media[2]),
        min(crop[3], media[3]),
    )
    if visible[2] <= visible[0] or visible[3] <= visible[1]:
        raise invalid("pdf", f"page {index} has a CropBox outside its MediaBox")
    raw = _inherited(page, "/Rotate")
    number = 0.0 if raw is None else _number(raw)
    rotate = int(number) if number is not None and number.is_integer() else raw
    if not isinstance(rotate, int) or rotate % 90:
        raise invalid(
            "pdf",
            f"page {index} has /Rotate {rotate}; ISO 32000-1 §7.7.3.3 requires a "
            "multiple of 90",
        )
    unit = _number(entry(page, "/UserUnit")) or 1.0
    return PageGeometry(visible, rotate % 360, unit if unit > 0 else 1.0)


def upright_matrix(rotate: int, width: float, height: float) -> list[float]:
    """The appearance /Matrix that turns a ``width`` × ``height`` form (as seen)
    counter-clockwise by ``rotate`` degrees, so that a page turned clockwise by
    ``rotate`` shows it upright; its bounding box stays at the origin."""
    matrices: dict[int, list[float]] = {
        0: [1, 0, 0, 1, 0, 0],
        90: [0, 1, -1, 0, height, 0],
        180: [-1, 0, 0, -1, width, height],
        270: [0, -1, 1, 0, 0, width],
    }
    return matrices[rotate]


class _MaskedImage(images.PdfImage):
    """The seal picture without a soft mask: flattened onto white, with a 1-bit
    stencil /Mask where it is at least half opaque (PDF/A-1), in RGB or CMYK."""

    def __init__(self, picture: Image.Image, *, cmyk: bool):
        flat = Image.new("RGBA", picture.size, (255, 255, 255, 255))
        flat.alpha_composite(picture)
        super().__init__(flat.convert("CMYK" if cmyk else "RGB"))
        self._stencil = picture.getchannel("A").point(lambda a: 255 if a >= 128 else 0)

    @property
    def image_ref(self) -> generic.IndirectObject:
        assert self.writer is not None
        ref = self._image_ref
        if ref is None or ref.get_pdf_handler() is not self.writer:
            ref = self._image_ref = self._register(self.writer)
        return ref

    def _register(self, writer: BasePdfFileWriter) -> generic.IndirectObject:
        width, height = self.image.size
        # an image mask's 1 bits are painted through (Decode [1 0]: opaque → 1)
        mask = generic.StreamObject(
            {
                pdf_name("/Type"): pdf_name("/XObject"),
                pdf_name("/Subtype"): pdf_name("/Image"),
                pdf_name("/Width"): generic.NumberObject(width),
                pdf_name("/Height"): generic.NumberObject(height),
                pdf_name("/ImageMask"): generic.BooleanObject(True),
                pdf_name("/Decode"): generic.ArrayObject(
                    [generic.NumberObject(1), generic.NumberObject(0)]
                ),
            },
            stream_data=self._stencil.convert("1").tobytes(),
        )
        mask.compress()
        space = "/DeviceCMYK" if self.image.mode == "CMYK" else "/DeviceRGB"
        picture = generic.StreamObject(
            {
                pdf_name("/Type"): pdf_name("/XObject"),
                pdf_name("/Subtype"): pdf_name("/Image"),
                pdf_name("/Width"): generic.NumberObject(width),
                pdf_name("/Height"): generic.NumberObject(height),
                pdf_name("/ColorSpace"): pdf_name(space),
                pdf_name("/BitsPerComponent"): generic.NumberObject(8),
                pdf_name("/Mask"): writer.add_object(mask),
            },
            stream_data=self.image.tobytes(),
        )
        picture.compress()
        return writer.add_object(picture)


@dataclass(frozen=True)
class PdfaProfile:
    """What a PDF/A file asks of the stamp: its part (1, 2, 3 or 4; 0 when the file
    claims none) and whether its output intent is CMYK."""

    part: int = 0
    cmyk: bool = False

    @property
    def soft_masks_allowed(self) -> bool:
        """PDF/A-1 forbids soft masks (ISO 19005-1 §6.4); the others allow them."""
        return self.part != 1


_PDFA_PART = re.compile(rb"pdfaid:part\s*(?:=\s*[\"']|>)\s*(\d)")


def pdfa_profile(reader: PdfHandler) -> PdfaProfile:
    """The PDF/A part the document's XMP metadata claims (``pdfaid:part``, ISO 19005)
    and whether its first output intent's profile is CMYK (/N 4)."""
    root = reader.root
    part = 0
    stream = entry(root, "/Metadata")
    if isinstance(stream, generic.StreamObject):
        found = _PDFA_PART.search(stream.data)
        part = int(found.group(1)) if found else 0
    cmyk = False
    intents = entry(root, "/OutputIntents")
    if isinstance(intents, generic.ArrayObject) and len(intents):
        profile = entry(intents[0], "/DestOutputProfile")
        cmyk = entry(profile, "/N") == 4
    return PdfaProfile(part, cmyk)


def stamp_picture(picture: Image.Image, pdfa: PdfaProfile) -> images.PdfImage:
    """The seal picture as the stamp's image, with the transparency ``pdfa`` allows."""
    if pdfa.soft_masks_allowed and not pdfa.cmyk:
        return images.PdfImage(picture)
    return _MaskedImage(picture, cmyk=pdfa.cmyk)


@dataclass(frozen=True)
class UprightStampStyle(StaticStampStyle):
    """pyHanko's static stamp (the seal picture, no border), drawn upright on a page
    turned clockwise by ``rotate`` degrees."""

    rotate: int = 0

    def create_stamp(
        self,
        writer: BasePdfFileWriter,
        box: layout.BoxConstraints,
        text_params: dict[str, Any],
    ) -> StaticContentStamp:
        # the widget's box is in user space; the form is drawn as the page is seen
        if self.rotate in (90, 270):
            box = layout.BoxConstraints(width=box.height, height=box.width)
        return _UprightStamp(writer=writer, style=self, box=box)


class _UprightStamp(StaticContentStamp):
    def as_form_xobject(self) -> generic.StreamObject:
        form = super().as_form_xobject()
        style = self.style
        assert isinstance(style, UprightStampStyle)
        if style.rotate:
            form["/Matrix"] = generic.ArrayObject(
                generic.FloatObject(v)
                for v in upright_matrix(style.rotate, self.box.width, self.box.height)
            )
        return form
