"""certseal.hevc.coded_chroma: the chroma format a HEIC's coded picture names, read
from its hvcC records' SPS (atk33c H1: the record's own field is a header libheif
does not check against the SPS it decodes with)."""

from __future__ import annotations

import io
import time

import pillow_heif
import pytest
from PIL import Image

from certseal.hevc import MAX_RECORDS, coded_chroma
from tests.kernel.test_atk33c_heic import _saying_420

pillow_heif.register_heif_opener()


def _heic(mode: str = "RGB", **options) -> bytes:  # type: ignore[no-untyped-def]
    out = io.BytesIO()
    Image.new(mode, (64, 64), "white").save(out, format="HEIF", quality=10, **options)
    return out.getvalue()


@pytest.mark.parametrize("chroma", [420, 422, 444])
def test_each_colour_format_is_read_from_the_file(chroma):
    assert coded_chroma(_heic(chroma=chroma)) == chroma


def test_a_grey_heic_is_grey():
    assert coded_chroma(_heic("L")) == 0


def test_the_sps_counts_when_the_record_s_field_says_less():
    """The record's field set to 4:2:0, its SPS still 4:4:4: 4:4:4."""
    lying = _saying_420(_heic(chroma=444))
    with Image.open(io.BytesIO(lying)) as image:
        assert image.info["chroma"] == 420  # what pillow-heif reads
    assert coded_chroma(lying) == 444


@pytest.mark.parametrize(
    "data",
    [b"", b"hvcC", b"\x00\x00\x00\x08meta", b"\x00\x00\x00\x0cmetahvcC" + b"\x01" * 30],
    ids=["empty", "no-box", "empty-meta", "truncated-record"],
)
def test_what_holds_no_record_says_nothing(data):
    assert coded_chroma(data) is None


def test_a_meta_box_of_records_without_end_is_read_in_bounded_time():
    """Two million `hvcC` in one meta box: past MAX_RECORDS the costliest format,
    at once."""
    meta = b"hvcC" * (2 * 1024 * 1024)
    data = (8 + len(meta)).to_bytes(4, "big") + b"meta" + meta
    start = time.process_time()
    assert coded_chroma(data) == 444
    assert time.process_time() - start < 1.0
    assert MAX_RECORDS < 2 * 1024 * 1024
