"""The end of an OFD package's ZIP (APPNOTE 6.3.10, 4.3.16): its end of central
directory record, and a ZIP64 end record and locator before it, read as strictly as
:mod:`services.seal.ofd_zip` reads the rest (kept apart for the floor plan's size)."""

from __future__ import annotations

import struct

from certseal.errors import invalid
from certseal.pdfend import CUT_SHORT

MAX_OFD_ENTRIES = 10_000
"""Files in one OFD package; a 500-page document with its resources has about 1,500."""
_EOCD = struct.Struct("<4s4H2LH")
_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")
#: a 32-bit field's value deferring to the ZIP64 record
ZIP64 = 0xFFFFFFFF


def end_of_directory(data: bytes, field: str) -> tuple[int, int, int]:
    """(entries, directory offset, directory end) from the end of central directory
    record, which must be the last bytes of ``data`` (its comment included) and the
    only one: no data after it, no second record in the comment. A ZIP64 end record
    and locator (``zip -fz``) are read when they sit right before it, agree with it
    and describe one disk; the directory then ends where the ZIP64 record begins."""
    search_from = max(0, len(data) - _EOCD.size - 0xFFFF)
    at = data.rfind(b"PK\x05\x06", search_from)
    while at != -1:
        if at + _EOCD.size <= len(data):
            comment = int.from_bytes(data[at + 20 : at + 22], "little")
            if at + _EOCD.size + comment == len(data):
                break
        at = data.rfind(b"PK\x05\x06", search_from, at)
    if at == -1 and data.startswith(b"PK\x03\x04") and b"PK\x05\x06" not in data:
        # a ZIP's start and no end record at all: the rest never came (trial49)
        raise invalid(
            field, f"is an OFD package (a ZIP file) without its end: {CUT_SHORT}"
        )
    if at == -1:
        raise invalid(
            field,
            "is not an OFD package (a ZIP file): no end of central directory record "
            "ends it (bytes after the ZIP?)",
        )
    (_sig, disk, cd_disk, here, total, size, offset, comment) = _EOCD.unpack_from(
        data, at
    )
    tail = data[at + _EOCD.size :]
    if any(sig in tail for sig in (b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07")):
        raise invalid(field, "the ZIP comment holds a second end of directory record")
    end = at
    if at >= _LOCATOR.size and data[at - _LOCATOR.size : at - 16] == b"PK\x06\x07":
        locator = at - _LOCATOR.size
        (_lsig, _ldisk, record, disks) = _LOCATOR.unpack_from(data, locator)
        if record + _ZIP64_END.size != locator or disks != 1:
            raise invalid(field, "its ZIP64 end record is not where its locator says")
        z64 = _ZIP64_END.unpack_from(data, record)
        if z64[0] != b"PK\x06\x06" or z64[1] != _ZIP64_END.size - 12:
            raise invalid(field, "its ZIP64 end record is damaged")
        values = (disk, cd_disk, here, total, size, offset)
        deferred = (0xFFFF,) * 4 + (ZIP64,) * 2
        if any(
            v not in (w, d) for v, w, d in zip(values, z64[4:], deferred, strict=True)
        ):
            raise invalid(field, "its ZIP64 end record and its end record differ")
        disk, cd_disk, here, total, size, offset = z64[4:]
        end = record
    elif total == 0xFFFF or size == ZIP64 or offset == ZIP64:
        raise invalid(field, "defers to a ZIP64 end record it does not have")
    if disk or cd_disk or here != total:
        raise invalid(field, "is a ZIP split over several disks")
    if offset + size != end:
        raise invalid(
            field,
            "the ZIP's central directory does not end where its end record begins "
            "(bytes before the ZIP, or between the directory and its end record)",
        )
    if total > MAX_OFD_ENTRIES:
        raise invalid(field, f"has {total} entries; the limit is {MAX_OFD_ENTRIES}")
    return total, offset, end
