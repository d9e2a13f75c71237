"""The chroma format an HEVC picture of a HEIC file is coded in, read from the
sequence parameter sets (SPS) of its ``hvcC`` boxes (ISO/IEC 14496-15 §8.3.3,
``HEVCDecoderConfigurationRecord``; ITU-T H.265 §7.3.2.2, ``seq_parameter_set_rbsp``).

A HEIC's format decides what decoding it costs (:mod:`certseal.heic`), and the
record's own ``chroma_format_idc`` field is a header the decoder does not check
against the SPS it decodes with (atk33c H1: an 8-bit 4:4:4 picture whose record said
4:2:0 was held to 4:2:0's pixel limit and took twice the budget). So the SPS NAL units
the records carry are read too, as far as ``chroma_format_idc`` (the first fields of
the SPS), and the costliest format any of them names counts. Pure; bounded by
:data:`MAX_RECORDS`, :data:`MAX_RECORD_BYTES` and :data:`MAX_NAL_UNITS`, beyond which
a file counts as the costliest format.
"""

from __future__ import annotations

__all__ = ["MAX_NAL_UNITS", "MAX_RECORDS", "MAX_RECORD_BYTES", "coded_chroma"]

_SPS = 33  # nal_unit_type of a sequence parameter set (H.265 Table 7-1)
_CHROMA = {0: 0, 1: 420, 2: 422, 3: 444}  # chroma_format_idc -> as pillow-heif says


class _Bits:
    """MSB-first bits of an SPS's RBSP (emulation prevention bytes removed)."""

    def __init__(self, nal: bytes):
        self.data = nal.replace(b"\x00\x00\x03", b"\x00\x00")
        self.at = 0

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self.data[self.at >> 3]  # IndexError past the end: no SPS read
            value = (value << 1) | ((byte >> (7 - (self.at & 7))) & 1)
            self.at += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while not self.u(1):
            zeros += 1
            if zeros > 31:
                raise ValueError("an Exp-Golomb code of more than 31 leading zeros")
        return (1 << zeros) - 1 + self.u(zeros)


def _sps_chroma(nal: bytes) -> int | None:
    """``chroma_format_idc`` of an SPS NAL unit (its 2-byte header first), or None
    when it is too short or malformed to say."""
    bits = _Bits(nal[2:])
    try:
        bits.u(4)  # sps_video_parameter_set_id
        sub_layers = bits.u(3)  # sps_max_sub_layers_minus1
        bits.u(1)  # sps_temporal_id_nesting_flag
        bits.u(88 + 8)  # general profile (88 bits) and general_level_idc
        present = [(bits.u(1), bits.u(1)) for _ in range(sub_layers)]
        if sub_layers:
            bits.u(2 * (8 - sub_layers))  # reserved_zero_2bits
        for profile, level in present:
            bits.u(88 * profile + 8 * level)
        bits.ue()  # sps_seq_parameter_set_id
        return bits.ue()
    except (IndexError, ValueError):
        return None


MAX_RECORDS = 256
"""``hvcC`` boxes read at most: a tiled phone photo's tiles share one; beyond, the
file counts as the costliest format (4:4:4), not read on."""

MAX_RECORD_BYTES = 64 * 1024
"""Bytes of one ``hvcC`` record read at most (one holds a few hundred); a longer
record counts as the costliest format (4:4:4), not read on (atk34 H1)."""

MAX_NAL_UNITS = 4096
"""NAL units of all records read at most (a record holds three or four); beyond,
the file counts as the costliest format, so that the scan's work is bounded by this
and not by the file's bytes (atk34 H3)."""

_COSTLIEST = 444


def _meta(data: bytes) -> bytes:
    """The file's top-level ``meta`` box (ISO/IEC 14496-12 §8.11.1, where HEIF keeps
    its item properties, ``hvcC`` among them); empty when there is none."""
    at = 0
    while at + 8 <= len(data):
        size, kind = int.from_bytes(data[at : at + 4], "big"), data[at + 4 : at + 8]
        if size == 1 and at + 16 <= len(data):  # a 64-bit size follows the type
            size = int.from_bytes(data[at + 8 : at + 16], "big")
        elif size == 0:  # to the end of the file
            size = len(data) - at
        if size < 8:
            return b""
        if kind == b"meta":
            return data[at : at + size]
        at += size
    return b""


def coded_chroma(data: bytes) -> int | None:
    """The costliest chroma format (420, 422, 444, or 0 for grey) that any ``hvcC``
    box in the ``meta`` box of the HEIF file ``data`` names, in its record's field
    or in an SPS it carries; None when the file holds no record that says one.

    Read as libheif and libde265 read them (atk34): whatever the record's
    ``configurationVersion``, a box of 32- or 64-bit size (ISO/IEC 14496-12 §4.2),
    and every NAL unit of every array by its own header's type (the array's label is
    not what the decoder goes by). What the scan does not read to its end counts as
    the costliest format (444): more than :data:`MAX_RECORDS` records, a record over
    :data:`MAX_RECORD_BYTES`, more than :data:`MAX_NAL_UNITS` NAL units."""
    meta = _meta(data)
    found: set[int] = set()
    budget = [MAX_NAL_UNITS]
    at, records = meta.find(b"hvcC"), 0
    while at != -1:
        records += 1
        if records > MAX_RECORDS:
            return _COSTLIEST
        record = _record(meta, at)
        at = meta.find(b"hvcC", at + 4)
        if record is None:
            return _COSTLIEST
        if len(record) < 23:
            continue  # no configuration record (the four letters in other bytes)
        found.add(record[16] & 0x03)
        sps = _record_sps(record, budget)
        if sps is None:
            return _COSTLIEST
        found |= sps
    ranked = [_CHROMA[c] for c in found if c in _CHROMA]
    return max(ranked, key=[0, 420, 422, 444].index) if ranked else None


def _record(meta: bytes, at: int) -> bytes | None:
    """The configuration record of the box whose type ``hvcC`` is at ``at`` in
    ``meta``: after a 32-bit size, or after a 64-bit one when the size field is 1 (0:
    to the end of ``meta``); empty when the size cannot be a box's there (the four
    letters in other bytes), None when the record is longer than
    :data:`MAX_RECORD_BYTES` (not read on)."""
    box = at - 4
    size = int.from_bytes(meta[box:at], "big") if box >= 0 else 0
    start = at + 4
    if size == 1:  # a 64-bit size follows the type
        size, start = int.from_bytes(meta[at + 4 : at + 12], "big"), at + 12
    elif size == 0:
        size = len(meta) - box
    if box < 0 or size < start - box or box + size > len(meta):
        return b""
    if box + size - start > MAX_RECORD_BYTES:
        return None
    return meta[start : box + size]


def _record_sps(record: bytes, budget: list[int]) -> set[int] | None:
    """The ``chroma_format_idc`` of every SPS among a configuration record's NAL
    units (ISO/IEC 14496-15 §8.3.3.1.2), each told by its own NAL header; None when
    the units left in ``budget`` (one shared count) run out."""
    found: set[int] = set()
    pos = 23
    for _ in range(record[22]):  # numOfArrays
        if pos + 3 > len(record):
            break
        count = int.from_bytes(record[pos + 1 : pos + 3], "big")
        pos += 3
        for _ in range(count):
            if pos + 2 > len(record):
                return found
            budget[0] -= 1
            if budget[0] < 0:
                return None
            size = int.from_bytes(record[pos : pos + 2], "big")
            nal = record[pos + 2 : pos + 2 + size]
            pos += 2 + size
            sps = bool(nal) and (nal[0] >> 1) & 0x3F == _SPS
            if sps and (chroma := _sps_chroma(nal)) is not None:
                found.add(chroma)
    return found
