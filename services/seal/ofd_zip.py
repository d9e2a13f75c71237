"""The ZIP layer of an OFD package (GB/T 33190 §7.3), read one way only.

A ZIP can be read from its central directory (Python's zipfile, most libraries) or by
walking its local headers (streaming readers such as ofdrw-reader's); a package that
reads differently the two ways is two documents under one seal. So this layer does not
use zipfile's reader: it reads the end record, the directory and every local header
with :mod:`struct`, checks that they describe the same entries and cover the bytes
exactly, and inflates each entry with :mod:`zlib` to exactly its declared size
(APPNOTE.TXT 6.3 for the format). :mod:`services.seal.ofd_package` applies the
package's bounds and builds the :class:`~services.seal.ofd_package.OfdPackage`.

Every refusal is ``CertsealError`` INVALID_ARGUMENT naming the request field and the
entry. Pure and CPU-bound: callers run it off the event loop.
"""

from __future__ import annotations

import posixpath
import struct
import zipfile
import zlib
from dataclasses import dataclass

from certseal.errors import invalid
from services.seal.ofd_zip_end import ZIP64, end_of_directory


def normalise(name: str, field: str, *, base: str = "", entry: bool = False) -> str:
    """A package path as a key of :attr:`OfdPackage.files`.

    ``name`` is a ZIP entry name or an OFD ``ST_Loc``: absolute (``/Doc_0/...``, from
    the package root) or relative to the directory ``base`` (GB/T 33190 §7.2). Raises
    INVALID_ARGUMENT (``field``) for a path that leaves the package, a drive or
    backslash path, a NUL or an empty name, a colon anywhere (a drive, a URL, or an
    NTFS stream: Windows opens ``x.xml::$DATA`` as ``x.xml``; atk16 F1), and for a
    ZIP ``entry`` name that is absolute (APPNOTE 4.4.17: entry names have no leading
    slash).
    """
    if entry and name.startswith("/"):
        raise invalid(field, f"entry {name[:80]!r} is an absolute path")
    if not name or "\x00" in name or "\\" in name or len(name) > 1024:
        raise invalid(field, f"{name[:80]!r} is not a path inside the package")
    if ":" in name:
        raise invalid(
            field,
            f"{name[:80]!r} is a drive, URL or file stream, not a package path",
        )
    joined = name.lstrip("/") if name.startswith("/") else posixpath.join(base, name)
    parts: list[str] = []
    for part in joined.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise invalid(field, f"{name[:80]!r} leaves the package")
            parts.pop()
        else:
            parts.append(part)
    if not parts:
        raise invalid(field, f"{name[:80]!r} names no file")
    return "/".join(parts)


MAX_ZIP_VERSION = 63
"""The highest "version needed to extract" (APPNOTE 6.3, Python's); OFDs have 10, 20."""

_CENTRAL = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")
_DESCRIPTOR = struct.Struct("<3L")
_DESCRIPTOR64 = struct.Struct("<L2Q")
_FLAGS_REFUSED = 0x0001 | 0x0040 | 0x2000  # encrypted, strong encryption, masked
_UNICODE_PATH = 0x7075  # Info-ZIP Unicode Path extra field (APPNOTE 4.6.9)


@dataclass(frozen=True)
class ZipEntry:
    """One entry as its central directory header gives it, checked against its local
    header: where its data is and what it inflates to."""

    path: str  # normalised; "" for a directory entry
    directory: bool
    flags: int
    method: int
    crc: int
    compress_size: int
    file_size: int
    data_at: int


MAX_ZIP_EXTRA_FIELDS = 8
"""Extra fields one header may carry (producers write a few: ZIP64, times, a Unicode
path; ofdrw's test OFDs one). 400 headers of 16,383 took 7.5 s to read (atk16 F4)."""


def _extra_fields(extra: bytes, what: str, field: str) -> dict[int, bytes]:
    """The extra fields of a header (APPNOTE 4.5: id, size, data), which must cover
    ``extra`` exactly, name each id once and be :data:`MAX_ZIP_EXTRA_FIELDS` at most."""
    fields: dict[int, bytes] = {}
    at = 0
    while at < len(extra):
        if len(fields) == MAX_ZIP_EXTRA_FIELDS:
            raise invalid(
                field, f"{what} has more than {MAX_ZIP_EXTRA_FIELDS} extra fields"
            )
        if at + 4 > len(extra):
            raise invalid(field, f"{what} has a truncated extra field")
        tag, size = struct.unpack_from("<2H", extra, at)
        if at + 4 + size > len(extra) or tag in fields:
            raise invalid(field, f"{what} has a malformed extra field")
        fields[tag] = extra[at + 4 : at + 4 + size]
        at += 4 + size
    return fields


def _entry_name(raw: bytes, flags: int, extra: dict[int, bytes], field: str) -> str:
    """An entry's name as every reader sees it, or INVALID_ARGUMENT.

    ASCII, or UTF-8 flagged as such (bit 11): a non-ASCII name without the flag is
    read as CP 437, GBK or UTF-8 depending on the reader (ofdrw's default charset,
    Chinese Windows, 7-Zip), so it is refused. An Info-ZIP Unicode Path field
    (commons-compress prefers it) must name exactly the name's own bytes read as
    UTF-8: readers that honour it and readers that ignore it would otherwise open
    two different files (atk15c F2).
    """
    shown = raw[:80].decode("utf-8", "backslashreplace")
    if not raw.isascii() and not flags & 0x800:
        raise invalid(
            field,
            f"entry {shown!r}: its name is not ASCII and not flagged UTF-8 (readers "
            "would decode it differently: CP 437, GBK or UTF-8)",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid(field, f"entry {shown!r} is flagged UTF-8 but is not") from None
    unicode_path = extra.get(_UNICODE_PATH)
    if unicode_path is not None and not (
        len(unicode_path) >= 5
        and unicode_path[0] == 1
        and int.from_bytes(unicode_path[1:5], "little") == zlib.crc32(raw)
        and unicode_path[5:] == raw
    ):
        raise invalid(
            field, f"entry {shown!r} has a Unicode Path field naming another file"
        )
    return text


def _zip64_agrees(extra: dict[int, bytes], sizes: tuple[int, int]) -> bool:
    """Whether a ZIP64 extended information field, if any, gives the header's own
    sizes (uncompressed, compressed) where it gives them, when the header's sizes do
    not defer to it: readers differ on which of two sizes they take."""
    data = extra.get(0x0001)
    if data is None:
        return True
    for index, size in enumerate(sizes):
        if len(data) >= 8 * (index + 1):
            value = int.from_bytes(data[8 * index : 8 * index + 8], "little")
            if value != size:
                return False
    return True


@dataclass(frozen=True)
class _Central:
    """One central directory header, its ZIP64 values resolved."""

    raw: bytes
    name: str
    needed: int
    flags: int
    method: int
    crc: int
    compress_size: int
    file_size: int
    offset: int


def _central(data: bytes, field: str) -> tuple[list[_Central], int, int]:
    """The central directory's headers in its order, the directory's offset and
    end. A header's 0xFFFFFFFF sizes or offset are read from its ZIP64 field, which
    must hold exactly those values, the flagged ones being a leading run of
    (uncompressed size, compressed size, offset) so that every reader takes each
    value from the same place; a header giving no 0xFFFFFFFF must agree with its
    ZIP64 field if it has one."""
    total, at, end = end_of_directory(data, field)
    directory_at = at
    headers: list[_Central] = []
    for _ in range(total):
        if at + _CENTRAL.size > end or data[at : at + 4] != b"PK\x01\x02":
            raise invalid(field, "the ZIP's central directory is damaged")
        (
            _sig,
            _made_by,
            needed,
            flags,
            method,
            _time,
            _date,
            crc,
            csize,
            usize,
            name_len,
            extra_len,
            comment_len,
            disk,
            _internal,
            _external,
            offset,
        ) = _CENTRAL.unpack_from(data, at)
        name_at = at + _CENTRAL.size
        at = name_at + name_len + extra_len + comment_len
        if at > end:
            raise invalid(field, "the ZIP's central directory is damaged")
        raw = data[name_at : name_at + name_len]
        extra = _extra_fields(
            data[name_at + name_len : name_at + name_len + extra_len],
            f"entry {raw[:80].decode('latin-1')!r}",
            field,
        )
        name = _entry_name(raw, flags, extra, field)
        what = f"entry {name[:80]!r}"
        values = [usize, csize, offset]
        flagged = [value == ZIP64 for value in values]
        if disk:
            raise invalid(field, f"{what} is on another disk")
        if any(flagged):
            zip64 = extra.get(0x0001, b"")
            count = sum(flagged)
            if (
                flagged != [True] * count + [False] * (3 - count)
                or len(zip64) != 8 * count
            ):
                raise invalid(
                    field, f"{what}'s ZIP64 field does not give what its header defers"
                )
            values[:count] = struct.unpack(f"<{count}Q", zip64)
            usize, csize, offset = values
        elif not _zip64_agrees(extra, (usize, csize)):
            raise invalid(field, f"{what} gives two different sizes (ZIP64 field)")
        headers.append(
            _Central(raw, name, needed, flags, method, crc, csize, usize, offset)
        )
    if at != end:
        raise invalid(
            field, "the ZIP's central directory holds more than its end record counts"
        )
    return headers, directory_at, end


def declared_sizes(data: bytes, field: str = "ofd") -> list[tuple[str, int]]:
    """What each entry of the ZIP ``data`` declares it inflates to, by its name as
    written (its central directory's sizes; :func:`read_package` holds every entry
    to them), for admission: reads the directory only, inflates nothing. Raises
    INVALID_ARGUMENT (``field``) for a ZIP whose directory cannot be read."""
    headers, _at, _end = _central(data, field)
    return [(header.name, header.file_size) for header in headers]


def declared_size(data: bytes, field: str = "ofd") -> int:
    """The bytes all entries of ``data`` declare (:func:`declared_sizes`)."""
    return sum(size for _name, size in declared_sizes(data, field))


_SCANNED = (b"PK\x03\x04", b"PK\x01\x02", b"PK\x07\x08", b"PK\x05\x06")
"""Signatures a streaming reader scans a stored entry with a data descriptor for
to find its end (commons-compress): such an entry must hold none."""


def _local_entry(
    data: bytes, header: _Central, end: int, field: str
) -> tuple[ZipEntry, int]:
    """The entry ``header`` describes, checked against its local header (and data
    descriptor), and where it ends (at most ``end``)."""
    what = f"entry {header.name[:80]!r}"
    offset = header.offset
    if offset + _LOCAL.size > end or data[offset : offset + 4] != b"PK\x03\x04":
        raise invalid(field, f"{what} has no local header where the directory says")
    (
        _lsig,
        lneeded,
        lflags,
        lmethod,
        _ltime,
        _ldate,
        lcrc,
        lcsize,
        lusize,
        lname_len,
        lextra_len,
    ) = _LOCAL.unpack_from(data, offset)
    lname_at = offset + _LOCAL.size
    data_at = lname_at + lname_len + lextra_len
    lraw = data[lname_at : lname_at + lname_len]
    lextra = _extra_fields(
        data[lname_at + lname_len : data_at], f"{what}'s local header", field
    )
    descriptor = bool(header.flags & 0x08)
    zip64 = lextra.get(0x0001)
    sizes_read = True
    if ZIP64 in (lcsize, lusize):
        # commons-compress and Python's force_zip64: both sizes in a ZIP64 field
        if (lcsize, lusize) != (ZIP64, ZIP64) or zip64 is None or len(zip64) != 16:
            sizes_read = False
        else:
            lusize, lcsize = struct.unpack("<2Q", zip64)
    elif not _zip64_agrees(lextra, (lusize, lcsize)):
        sizes_read = False
    central = (header.crc, header.compress_size, header.file_size)
    known = (lcrc, lcsize, lusize)
    if descriptor:  # zero until the descriptor gives them
        sizes_agree = all(v in (0, c) for v, c in zip(known, central, strict=True))
    else:
        sizes_agree = known == central
    # bit 11 says how to read a non-ASCII name; an ASCII one reads alike either way
    ignored = 0x800 if header.raw.isascii() else 0
    if (
        lraw != header.raw
        or _entry_name(lraw, lflags, lextra, field) != header.name
        or (lflags ^ header.flags) & ~ignored
        or lmethod != header.method
        or lneeded > MAX_ZIP_VERSION
        or not sizes_read
        or not sizes_agree
    ):
        raise invalid(
            field,
            f"{what}: its local header and its central directory header differ "
            "(name, flags, method, CRC or sizes)",
        )
    data_end = data_at + header.compress_size
    if descriptor:
        if header.method == zipfile.ZIP_STORED and any(
            data.find(sig, data_at, data_end) != -1 for sig in _SCANNED
        ):
            raise invalid(
                field,
                f"{what} is stored with a data descriptor and holds a ZIP signature "
                "(a streaming reader would end it there)",
            )
        form = _DESCRIPTOR64 if zip64 is not None else _DESCRIPTOR
        signed = data[data_end : data_end + 4] == b"PK\x07\x08"
        at_descriptor = data_end + 4 * signed
        if at_descriptor + form.size > end or form.unpack_from(data, at_descriptor) != (
            header.crc,
            header.compress_size,
            header.file_size,
        ):
            raise invalid(
                field, f"{what}'s data descriptor differs from its directory header"
            )
        data_end = at_descriptor + form.size
    if data_end > end:
        raise invalid(field, f"{what}'s data runs into the central directory")
    entry = ZipEntry(
        normalise(header.name, field, entry=True),
        header.name.endswith("/"),
        header.flags,
        header.method,
        header.crc,
        header.compress_size,
        header.file_size,
        data_at,
    )
    return entry, data_end


def zip_entries(data: bytes, field: str) -> list[ZipEntry]:
    """The entries of the ZIP ``data`` in its directory's order, each checked so
    that every ZIP reader sees the same files (see :func:`read_package`): taken in
    the order of their offsets (a directory may list them in another), the local
    entries cover the bytes before the directory exactly."""
    headers, directory_at, _end = _central(data, field)
    entries: list[ZipEntry | None] = [None] * len(headers)
    expected_local = 0
    for index in sorted(range(len(headers)), key=lambda i: headers[i].offset):
        header = headers[index]
        if header.offset != expected_local:
            raise invalid(
                field,
                f"entry {header.name[:80]!r} does not start where the previous entry "
                "ends (bytes before it that the directory does not list, or two "
                "entries at one place)",
            )
        if header.needed > MAX_ZIP_VERSION:
            raise invalid(
                field,
                f"entry {header.name[:80]!r} needs ZIP version {header.needed / 10:g} "
                f"to extract; the highest read is {MAX_ZIP_VERSION / 10:g}",
            )
        if header.flags & _FLAGS_REFUSED:
            raise invalid(field, f"entry {header.name[:80]!r} is encrypted")
        if header.method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise invalid(
                field,
                f"entry {header.name[:80]!r} uses compression method "
                f"{header.method}; OFD uses deflate",
            )
        entry, expected_local = _local_entry(data, header, directory_at, field)
        if entry.directory and entry.file_size:
            raise invalid(
                field, f"entry {header.name[:80]!r} is a directory holding data"
            )
        entries[index] = entry
    if expected_local != directory_at:
        raise invalid(
            field,
            "bytes between the last entry and the central directory are listed by "
            "no entry",
        )
    return [entry for entry in entries if entry is not None]


def inflate(data: bytes, entry: ZipEntry, field: str) -> bytes:
    """An entry's bytes: exactly its declared size, its deflate stream ending exactly
    at its compressed size, and its CRC-32 right."""
    raw = memoryview(data)[entry.data_at : entry.data_at + entry.compress_size]
    what = f"entry {entry.path!r}"
    if entry.method == zipfile.ZIP_STORED:
        content = bytes(raw)
    else:
        inflater = zlib.decompressobj(-15)
        try:
            content = inflater.decompress(raw, entry.file_size + 1)
        except zlib.error as exc:
            raise invalid(field, f"{what} is damaged: {exc}") from None
        if not inflater.eof or inflater.unconsumed_tail or inflater.unused_data:
            raise invalid(
                field,
                f"{what}'s deflate data does not end where its compressed size says",
            )
    if len(content) != entry.file_size:
        raise invalid(field, f"{what} is not the size its header says")
    if zlib.crc32(content) != entry.crc:
        raise invalid(field, f"{what} fails its CRC check")
    return content
