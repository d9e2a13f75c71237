"""The chroma format an HEVC picture of a HEIC file is coded in, read from the
sequence parameter sets (SPS) of its ``hvcC`` boxes (ISO/IEC 14496-15 §8.3.3,
``HEVCDecoderConfigurationRecord``; ITU-T H.265 §7.3.2.2, ``seq_parameter_set_rbsp``).

A HEIC's format decides what decoding it costs (:mod:`certseal.heic`), and the
record's own ``chroma_format_idc`` field is a header the decoder does not check
against the SPS it decodes with (atk33c H1: an 8-bit 4:4:4 picture whose record said
4:2:0 was held to 4:2:0's pixel limit and took twice the budget). So the SPS NAL units
the records carry are read too, as far as ``chroma_format_idc`` (the first fields of
the SPS), and the costliest format any of them names counts. Pure; bounded by the
file's size (at most :data:`~certseal.bounds.MAX_IMAGE_BYTES`): every ``hvcC`` box is
read once, every NAL unit at most once.
"""

from __future__ import annotations

__all__ = ["MAX_RECORDS", "MAX_RECORD_BYTES", "coded_chroma"]

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
"""Bytes of one ``hvcC`` record read at most (one holds a few hundred)."""


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
    or in an SPS it carries (444 past :data:`MAX_RECORDS` records); None when the
    file holds no record that says one."""
    meta = _meta(data)
    found: set[int] = set()
    at, records = meta.find(b"hvcC"), 0
    while at != -1:
        records += 1
        if records > MAX_RECORDS:
            return 444
        size = int.from_bytes(meta[at - 4 : at], "big") if at >= 4 else 0
        record = meta[at + 4 : at - 4 + min(size, MAX_RECORD_BYTES)]
        at = meta.find(b"hvcC", at + 4)
        if len(record) < 23 or record[0] != 1:
            continue  # no configuration record (the four letters in other bytes)
        found.add(record[16] & 0x03)
        found.update(_record_sps(record))
    ranked = [_CHROMA[c] for c in found if c in _CHROMA]
    return max(ranked, key=[0, 420, 422, 444].index) if ranked else None


def _record_sps(record: bytes) -> set[int]:
    """The ``chroma_format_idc`` of every SPS a configuration record's NAL unit
    arrays carry (ISO/IEC 14496-15 §8.3.3.1.2)."""
    found: set[int] = set()
    pos = 23
    for _ in range(record[22]):  # numOfArrays
        if pos + 3 > len(record):
            break
        kind = record[pos] & 0x3F
        count = int.from_bytes(record[pos + 1 : pos + 3], "big")
        pos += 3
        for _ in range(count):
            if pos + 2 > len(record):
                return found
            size = int.from_bytes(record[pos : pos + 2], "big")
            nal = record[pos + 2 : pos + 2 + size]
            pos += 2 + size
            if kind == _SPS and (chroma := _sps_chroma(nal)) is not None:
                found.add(chroma)
    return found
