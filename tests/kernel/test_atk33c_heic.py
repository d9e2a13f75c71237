"""atk33c: an outside attack on the HEIC per-format pixel limits (722f694).

certseal.heic bounds a HEIC's pixels by what its format costs to decode, the format
read from the header: pillow-heif's ``chroma`` is the ``hvcC`` box's
``chroma_format_idc``. libheif decodes what the HEVC stream's own parameter sets
say, and checks the bit depth against the header ("Decoded image does not have the
bit depth signaled in the file") but not the chroma. So an 8-bit 4:4:4 HEIC whose
``hvcC`` says 4:2:0 (one byte changed) is held to the 4:2:0 limit (25.2 million
pixels) instead of the 4:4:4 one (12.9 million), and is decoded at the 4:4:4 cost:
at 6144 × 4096 (1.4 MB, in a fresh process, read_qr_image) it added +229 MiB (a
grid of 512 × 512 tiles +222 MiB), where the budget is ~120 MiB; the same file
with its header telling the truth is refused before decoding.

A user needs: a HEIC is held to the limit of the format it is decoded in, whatever
its header says (refused, INVALID_ARGUMENT ``image``, naming the format).
"""

import io

import pillow_heif
import pytest
from PIL import Image

from certseal import bounds, qr
from certseal.errors import CertsealError, ErrorKind

pillow_heif.register_heif_opener()

# just over the 8-bit 4:4:4 limit (12,853,512 pixels), well within 4:2:0's
SIZE = (4096, 3200)


def _limit(chroma: int) -> int:
    cost = bounds.HEIC_PEAK_BYTES_PER_PIXEL[(1, chroma, False)]
    return int(bounds.MAX_HEIC_DECODE_BYTES / cost)


@pytest.fixture(scope="module")
def heic_444() -> bytes:
    """An 8-bit 4:4:4 HEIC of SIZE, plain white (about 4 s to encode)."""
    assert _limit(444) < SIZE[0] * SIZE[1] <= _limit(420)
    out = io.BytesIO()
    Image.new("RGB", SIZE, "white").save(out, format="HEIF", quality=10, chroma=444)
    return out.getvalue()


def _saying_420(data: bytes) -> bytes:
    """``data`` with every ``hvcC`` box's chroma_format_idc set to 1 (4:2:0): its
    coded picture (the SPS in the box's NAL arrays) is unchanged."""
    out = bytearray(data)
    at = out.find(b"hvcC")
    assert at != -1
    while at != -1:
        # type, version, profile, compatibility (4), constraints (6), level,
        # min_spatial_segmentation (2), parallelism, then chroma_format_idc
        chroma = at + 4 + 1 + 1 + 4 + 6 + 1 + 2 + 1
        assert out[chroma] & 0x03 == 3  # 4:4:4 as encoded
        out[chroma] = 0xFC | 1
        at = out.find(b"hvcC", at + 4)
    return bytes(out)


def _refusal(data: bytes) -> str:
    with pytest.raises(CertsealError) as err:
        qr.read_qr_image(data)
    assert (err.value.kind, err.value.field) == (ErrorKind.INVALID_ARGUMENT, "image")
    return err.value.message


def test_control_an_honest_444_heic_over_its_limit_is_refused(heic_444):
    with Image.open(io.BytesIO(heic_444)) as image:
        assert image.info["chroma"] == 444
    assert _refusal(heic_444).startswith(
        f"is {SIZE[0]} × {SIZE[1]} pixels; the limit for a HEIC of 8-bit 4:4:4 is "
    )


def test_a_444_heic_whose_header_says_420_is_held_to_the_444_limit(heic_444):
    lying = _saying_420(heic_444)
    with Image.open(io.BytesIO(lying)) as image:
        assert image.info["chroma"] == 420  # what the header says
    message = _refusal(lying)  # on HEAD: decoded, "contains no readable QR code"
    assert "4:4:4" in message, message
