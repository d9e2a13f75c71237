"""Outside attack "atk-in2" on the image reader: a baseline (sequential) JPEG whose
first scan does not hold all its components. libjpeg then keeps every DCT coefficient
of every component of the whole image (2 bytes a sample a component) whatever the scale
it is decoded at, as for a progressive JPEG, so such a JPEG cannot have the allowance
of :data:`certseal.bounds.MAX_JPEG_PIXELS` that a single-scan baseline JPEG has: an
8192 × 8192 one of four components, 1 MiB of file, took the reader to +570 MiB.
"""

import io
import struct
import subprocess
import sys

import pytest
from PIL import Image

from certseal import bounds, qr
from certseal.errors import CertsealError, ErrorKind


def _segment(marker: int, payload: bytes) -> bytes:
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload


def _sequential(side: int, components: int, *, per_scan: int) -> bytes:
    """A blank baseline JPEG of ``side`` × ``side`` whose components come ``per_scan``
    to a scan (each block two bits: a zero DC difference, then end of block)."""
    out = b"\xff\xd8" + _segment(0xDB, b"\x00" + b"\x01" * 64)
    ids = range(1, components + 1)
    out += _segment(
        0xC0,
        struct.pack(">BHHB", 8, side, side, components)
        + b"".join(bytes([i, 0x11, 0]) for i in ids),
    )
    one_code = bytes([1] + [0] * 15) + b"\x00"
    out += _segment(0xC4, b"\x00" + one_code + b"\x10" + one_code)
    blocks = (side // 8) ** 2
    for first in range(1, components + 1, per_scan):
        scan = [i for i in ids if first <= i < first + per_scan]
        out += _segment(
            0xDA,
            bytes([len(scan)])
            + b"".join(bytes([i, 0x00]) for i in scan)
            + bytes([0, 63, 0]),
        )
        out += b"\x00" * (blocks * 2 * len(scan) // 8)
    return out + b"\xff\xd9"


SIDE = 8192  # MAX_JPEG_PIXELS
assert SIDE * SIDE == bounds.MAX_JPEG_PIXELS

_PEAK = """
import resource, sys
from certseal import qr
data = sys.stdin.buffer.read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    qr.read_qr_image(data)
except Exception:
    pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def _peak_kib(data: bytes) -> int:
    """Peak RSS (KiB) reading ``data`` adds, in a process of its own."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK], input=data, capture_output=True, check=True
    )
    return int(done.stdout)


@pytest.mark.parametrize("components", [3, 4])
def test_atk_in2_a_baseline_jpeg_of_one_component_a_scan_keeps_the_decoded_bound(
    components,
):
    data = _sequential(SIDE, components, per_scan=1)
    assert len(data) < bounds.MAX_IMAGE_BYTES
    with pytest.raises(CertsealError) as err:
        qr.read_qr_image(data)
    assert (err.value.kind, err.value.field) == (ErrorKind.INVALID_ARGUMENT, "image")
    assert f"the limit is {bounds.MAX_IMAGE_PIXELS:,} pixels" in err.value.message


def test_atk_in2_a_baseline_jpeg_of_one_component_a_scan_costs_what_one_scan_costs():
    # a single-scan baseline JPEG of this size, decoded at half scale, adds 60 to
    # 140 MiB (bounds.MAX_JPEG_PIXELS says +65 MiB); one of a component a scan took
    # +500 to +580 MiB
    split = _peak_kib(_sequential(SIDE, 4, per_scan=1))
    assert split < 192 * 1024, f"reading it added {split // 1024} MiB"


def test_atk_in2_a_single_scan_baseline_jpeg_keeps_its_allowance():
    data = _sequential(SIDE, 3, per_scan=3)
    with pytest.raises(CertsealError) as err:
        qr.read_qr_image(data)
    assert err.value.message == "contains no readable QR code"


def test_atk_in2_a_camera_sized_baseline_jpeg_is_still_read_in_one_scan():
    out = io.BytesIO()
    Image.new("RGB", (5712, 4284), "white").save(out, "JPEG")
    with pytest.raises(CertsealError) as err:
        qr.read_qr_image(out.getvalue())
    assert err.value.message == "contains no readable QR code"


@pytest.mark.parametrize("components", [1, 3])
def test_the_first_scan_is_found_past_an_empty_segment_and_not_past_eoi(components):
    """The two walks of a JPEG's markers (the scans counted, the first scan's
    components) are one walk: an empty APP segment (length 2, valid) is passed by
    both, and EOI or a segment running past the end ends both."""
    image = _sequential(64, components, per_scan=components)
    empty_app = b"\xff\xe5\x00\x02"
    padded = image[:2] + empty_app + image[2:]
    assert qr._first_scan_components(padded) == components
    assert qr.jpeg_scans(padded) == qr.jpeg_scans(image) == 1
    assert qr._first_scan_components(image[:2] + b"\xff\xd9" + image[2:]) is None
    assert qr.jpeg_scans(image[:2] + b"\xff\xd9" + image[2:]) == 0
    overrun = image[:2] + b"\xff\xe5\xff\xff" + image[2:]
    assert qr._first_scan_components(overrun) is None
    assert qr.jpeg_scans(overrun) == image.count(b"\xff\xda")
