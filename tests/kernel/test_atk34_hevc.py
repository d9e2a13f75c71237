"""atk34 (b): an outside attack on certseal.hevc.coded_chroma (8cdb35e, 04174dc).

A HEIC is held to the pixel limit of the costliest chroma format its hvcC records'
SPS name (atk33c H1). The records are found by scanning the top-level meta box for
the four letters ``hvcC`` and each read from its 4-byte size, at most
MAX_RECORD_BYTES (64 KiB). Found:

H1 an hvcC record longer than 64 KiB (its VPS array repeated, which libheif and
   libde265 decode as usual) has its SPS array past the cut: only the record's own
   field (4:2:0, one byte changed) is read, and an 8-bit 4:4:4 picture is held to
   the 4:2:0 limit and decoded, the fault atk33c H1 fixed.
H2 an hvcC box of a 64-bit size (size field 1, ISO/IEC 14496-12 §4.2, which libheif
   reads) is read as no record at all: coded_chroma says None, and the header's
   4:2:0 counts.
H3 every NAL unit of a record costs a Python call, and records may overlap: 256
   ``hvcC`` in a 74 KB file, each followed by 64 KiB of zero-length SPS NAL units,
   take seconds of CPU (about 8 s a scan on this machine, and the verifier scans
   twice: qr.read_qr_image and heic.heic_grey_on_white) before a 64 × 64 picture
   is decoded.
H4 an SPS is looked for only in arrays whose NAL_unit_type says SPS (33); libheif
   hands the decoder every NAL unit of every array, and libde265 reads each by its
   own NAL header: the 4:4:4 SPS in an array labelled VPS, PPS, SEI or an
   unspecified type is decoded and not read (the header's 4:2:0 counts).
H5 a record whose configurationVersion is not 1 is skipped as "no configuration
   record"; libheif does not check the version, reads the record's 4:2:0 as the
   header and decodes the 4:4:4 SPS.

A user needs: a HEIC held to the limit of the format it is decoded in, whatever
the record's length, size field, version or array labels (else refused, INVALID_ARGUMENT ``image``); and
a small image answered in well under a second of CPU.

The pictures are 64 × 64 and the decode budget is lowered for the test so that
64 × 64 is within the 8-bit 4:2:0 limit and over the 4:4:4 one.
"""

from __future__ import annotations

import io
import time

import pillow_heif
import pytest
from PIL import Image

from certseal import bounds, heic, qr
from certseal.errors import CertsealError, ErrorKind

pillow_heif.register_heif_opener()

SIDE = 64
_CONTAINERS = {b"meta": 12, b"iprp": 8, b"ipco": 8}


@pytest.fixture(autouse=True)
def _budget_of_64_by_64_at_420(monkeypatch):
    cost = bounds.HEIC_PEAK_BYTES_PER_PIXEL[(1, 420, False)]
    monkeypatch.setattr(heic, "MAX_HEIC_DECODE_BYTES", SIDE * SIDE * cost)
    assert heic.heic_pixel_limit({"bit_depth": 8, "chroma": 444}, "RGB")[0] < SIDE**2


def _boxes(data, start=0, end=None, parents=()):
    end = len(data) if end is None else end
    at = start
    while at + 8 <= end:
        size = int.from_bytes(data[at : at + 4], "big")
        kind = bytes(data[at + 4 : at + 8])
        yield at, size, kind, parents
        if kind in _CONTAINERS:
            yield from _boxes(data, at + _CONTAINERS[kind], at + size, (*parents, at))
        at += size


def _find(data, kind):
    return next((at, size, up) for at, size, k, up in _boxes(data) if k == kind)


def _splice(data, start, end, new, parents):
    """``data[start:end]`` replaced by ``new``; the enclosing boxes' sizes and the
    iloc base offsets (mdat follows meta) moved by the difference."""
    delta = len(new) - (end - start)
    out = bytearray(data[:start] + new + data[end:])
    for p in parents:
        size = int.from_bytes(out[p : p + 4], "big") + delta
        out[p : p + 4] = size.to_bytes(4, "big")
    at, _, _ = _find(bytes(out), b"iloc")
    body = at + 12  # version 0; offset, length and base offset sizes 4
    assert out[at + 8] == 0 and out[body : body + 2] == b"\x44\x40"
    p = body + 4
    for _ in range(int.from_bytes(out[body + 2 : body + 4], "big")):
        base = int.from_bytes(out[p + 4 : p + 8], "big") + delta
        out[p + 4 : p + 8] = base.to_bytes(4, "big")
        p += 10 + 8 * int.from_bytes(out[p + 8 : p + 10], "big")
    return bytes(out)


@pytest.fixture(scope="module")
def plain_444() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (SIDE, SIDE), "white").save(
        out, format="HEIF", quality=10, chroma=444
    )
    return out.getvalue()


def _arrays(record: bytes) -> list[tuple[int, list[bytes]]]:
    arrays, pos = [], 23
    for _ in range(record[22]):
        kind, count = record[pos], int.from_bytes(record[pos + 1 : pos + 3], "big")
        pos, nals = pos + 3, []
        for _ in range(count):
            size = int.from_bytes(record[pos : pos + 2], "big")
            nals.append(record[pos + 2 : pos + 2 + size])
            pos += 2 + size
        arrays.append((kind, nals))
    return arrays


def _lying(
    data: bytes,
    *,
    vps_copies: int = 1,
    large_size: bool = False,
    sps_array: int = 0x61,
) -> bytes:
    """``data`` with its hvcC record saying 4:2:0 (its SPS still 4:4:4), its VPS
    repeated ``vps_copies`` times, the box's size in 64 bits when ``large_size``,
    the SPS's array's first byte (completeness and NAL unit type) ``sps_array``."""
    at, size, parents = _find(data, b"hvcC")
    record = bytearray(data[at + 8 : at + size])
    assert record[16] & 3 == 3
    arrays = _arrays(bytes(record))
    assert [kind & 0x3F for kind, _ in arrays] == [32, 33, 34]  # VPS, SPS, PPS
    arrays[0] = (arrays[0][0], arrays[0][1] * vps_copies)
    arrays[1] = (sps_array, arrays[1][1])
    out = bytes([*record[:16], 0xFC | 1, *record[17:22], len(arrays)])
    for kind, nals in arrays:
        out += bytes([kind]) + len(nals).to_bytes(2, "big")
        out += b"".join(len(nal).to_bytes(2, "big") + nal for nal in nals)
    if large_size:
        box = (1).to_bytes(4, "big") + b"hvcC" + (16 + len(out)).to_bytes(8, "big")
    else:
        box = (8 + len(out)).to_bytes(4, "big") + b"hvcC"
    return _splice(data, at, at + size, box + out, parents)


def _refusal(data: bytes) -> str:
    with pytest.raises(CertsealError) as err:
        qr.read_qr_image(data)
    assert (err.value.kind, err.value.field) == (ErrorKind.INVALID_ARGUMENT, "image")
    return err.value.message


def _header_and_decoded(data: bytes) -> object:
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # libheif decodes it
        return image.info["chroma"]


def test_control_a_record_saying_420_of_a_444_sps_is_refused_as_444(plain_444):
    lying = _lying(plain_444)
    assert _header_and_decoded(lying) == 420
    assert "8-bit 4:4:4" in _refusal(lying)


def test_a_record_longer_than_64_kib_is_still_held_to_its_sps(plain_444):
    lying = _lying(plain_444, vps_copies=3000)
    _, size, _ = _find(lying, b"hvcC")
    assert size > 64 * 1024
    assert _header_and_decoded(lying) == 420  # libheif reads and decodes it
    assert "8-bit 4:4:4" in _refusal(lying)  # HEAD: "contains no readable QR code"


def test_a_record_in_a_box_of_64_bit_size_is_held_to_its_sps(plain_444):
    lying = _lying(plain_444, large_size=True)
    assert _header_and_decoded(lying) == 420  # libheif reads and decodes it
    assert "8-bit 4:4:4" in _refusal(lying)  # HEAD: "contains no readable QR code"


@pytest.mark.parametrize(
    "array", [0x60, 0x62, 0x67, 0x7F], ids=["vps", "pps", "sei", "unspecified"]
)
def test_an_sps_in_an_array_of_another_type_is_still_read(plain_444, array):
    lying = _lying(plain_444, sps_array=array)
    assert _header_and_decoded(lying) == 420  # libheif reads and decodes it
    assert "8-bit 4:4:4" in _refusal(lying)  # HEAD: "contains no readable QR code"


@pytest.mark.parametrize("version", [0, 2, 255])
def test_a_record_of_another_configuration_version_is_still_read(plain_444, version):
    lying = bytearray(_lying(plain_444))
    lying[lying.find(b"hvcC") + 4] = version
    assert _header_and_decoded(bytes(lying)) == 420  # libheif reads and decodes it
    assert "8-bit 4:4:4" in _refusal(bytes(lying))  # HEAD: no readable QR code


def _with_free_box_in_meta(data: bytes, payload: bytes) -> bytes:
    at, size, _ = _find(data, b"meta")
    free = (8 + len(payload)).to_bytes(4, "big") + b"free" + payload
    return _splice(data, at + size, at + size, free, (at,))


def test_a_small_heic_of_overlapping_records_is_answered_in_bounded_time(plain_444):
    # each "record": version 1, its field 4:2:0, one array of 65,535 SPS NAL units
    header = bytes([1]) + bytes(15) + bytes([0xFD]) + bytes(5) + bytes([1, 33])
    piece = (0x10000).to_bytes(4, "big") + b"hvcC" + header + b"\xff\xff"
    data = _with_free_box_in_meta(plain_444, piece * 256 + bytes(64 * 1024))
    assert len(data) < 80_000
    assert _header_and_decoded(data) == 444  # libheif opens it
    start = time.process_time()
    with pytest.raises(CertsealError) as err:
        qr.read_qr_image(data)
    spent = time.process_time() - start
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert spent < 1.0, f"{spent:.1f} s of CPU for a {len(data):,}-byte image"
