"""QR symbols for codes: rendering a code's text as a PNG and reading it back from a photo.

The I/O half of the code pipeline (images in, images out); the codec itself is the pure
:mod:`certseal.codes`. Codes are Base45 text, which fits QR alphanumeric mode (ISO/IEC
18004), as in the EU Digital COVID Certificate.
"""

from __future__ import annotations

import io

import segno
import zxingcpp
from PIL import Image, UnidentifiedImageError

from certseal.errors import invalid

MAX_IMAGE_BYTES = 8 * 1024 * 1024
_QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def qr_png(text: str, *, scale: int = 4) -> bytes:
    """The code as a QR symbol (alphanumeric mode, error correction Q) in PNG.

    ``scale`` is pixels per module; the quiet zone is the 4 modules ISO/IEC 18004 asks.
    """
    qr = segno.make_qr(text, error="q", boost_error=False)
    out = io.BytesIO()
    qr.save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def read_qr_image(data: bytes) -> str:
    """The text of the QR code in a PNG or JPEG, or INVALID_ARGUMENT saying why not.

    Raises INVALID_ARGUMENT (field ``image``) for an empty image, one over
    :data:`MAX_IMAGE_BYTES`, another format, an unreadable file, no QR code, or several
    different ones.
    """
    if not data:
        raise invalid("image", "is required: a PNG or JPEG of the QR code")
    if len(data) > MAX_IMAGE_BYTES:
        raise invalid("image", f"is {len(data)} bytes; the limit is {MAX_IMAGE_BYTES}")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ("PNG", "JPEG"):
                raise invalid("image", f"is {image.format}; send a PNG or JPEG")
            image.load()
            found = zxingcpp.read_barcodes(image, formats=_QR)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise invalid("image", "is not a readable PNG or JPEG") from None
    texts = [b.text for b in found if b.valid and b.text]
    if not texts:
        raise invalid("image", "contains no readable QR code")
    if len(set(texts)) > 1:
        raise invalid(
            "image", f"contains {len(set(texts))} different QR codes; show one"
        )
    return texts[0]
