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

import contextlib
import posixpath
import struct
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from certseal.errors import invalid

MAX_OFD_ENTRIES = 10_000
"""Files in one OFD package; a 500-page document with its resources has about 1,500."""


def normalise(name: str, field: str, *, base: str = "", entry: bool = False) -> str:
    """A package path as a key of :attr:`OfdPackage.files`.

    ``name`` is a ZIP entry name or an OFD ``ST_Loc``: absolute (``/Doc_0/...``, from
    the package root) or relative to the directory ``base`` (GB/T 33190 §7.2). Raises
    INVALID_ARGUMENT (``field``) for a path that leaves the package, a drive or
    backslash path, a NUL or an empty name, and for a ZIP ``entry`` name that is
    absolute (APPNOTE 4.4.17: entry names have no leading slash).
    """
    if entry and name.startswith("/"):
        raise invalid(field, f"entry {name[:80]!r} is an absolute path")
    if not name or "\x00" in name or "\\" in name or len(name) > 1024:
        raise invalid(field, f"{name[:80]!r} is not a path inside the package")
    if ":" in name.split("/", 1)[0]:
        raise invalid(field, f"{name[:80]!r} is a drive or URL, not a package path")
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
"""The highest "version needed to extract" accepted (APPNOTE 6.3; Python's zipfile
reads no later one). OFD producers write 10 or 20."""

_EOCD = struct.Struct("<4s4H2LH")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")
_DESCRIPTOR = struct.Struct("<3L")
_ZIP64 = 0xFFFFFFFF
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


def _extra_fields(extra: bytes, what: str, field: str) -> dict[int, bytes]:
    """The extra fields of a header (APPNOTE 4.5: id, size, data), which must cover
    ``extra`` exactly and name each id once."""
    fields: dict[int, bytes] = {}
    at = 0
    while at < len(extra):
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

    UTF-8 when flagged (bit 11) or ASCII; otherwise the Info-ZIP Unicode Path field
    when it is of this very name (its CRC; commons-compress, which ofdrw reads with,
    prefers it); otherwise UTF-8 if the bytes are. A Unicode Path field naming another
    file than the header is refused: readers that honour it and readers that do not
    would open two different files.
    """
    shown = raw[:80].decode("latin-1")
    text: str | None = None
    if flags & 0x800 or raw.isascii():
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid(
                field, f"entry {shown!r} is flagged UTF-8 but is not"
            ) from None
    unicode_path = extra.get(_UNICODE_PATH)
    if unicode_path is not None:
        alias: str | None = None
        if (
            len(unicode_path) >= 5
            and unicode_path[0] == 1
            and int.from_bytes(unicode_path[1:5], "little") == zlib.crc32(raw)
        ):
            with contextlib.suppress(UnicodeDecodeError):
                alias = unicode_path[5:].decode("utf-8")
        if alias is None or (text is not None and alias != text):
            raise invalid(
                field,
                f"entry {shown!r} has a Unicode Path field naming another file",
            )
        text = alias
    if text is None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid(
                field,
                f"entry {shown!r}: its name is neither UTF-8 nor ASCII (readers "
                "would decode it differently)",
            ) from None
    return text


def _zip64_agrees(
    extra: dict[int, bytes], sizes: tuple[int, int], zero_ok: bool
) -> bool:
    """Whether a ZIP64 extended information field, if any, gives the header's own
    sizes (uncompressed, compressed) where it gives them: a package within the
    bounds never needs ZIP64, and readers differ on which of two sizes they take."""
    data = extra.get(0x0001)
    if data is None:
        return True
    for index, size in enumerate(sizes):
        if len(data) >= 8 * (index + 1):
            value = int.from_bytes(data[8 * index : 8 * index + 8], "little")
            if value != size and not (zero_ok and value == 0):
                return False
    return True


def _end_of_directory(data: bytes, field: str) -> tuple[int, int, int]:
    """(entries, directory offset, directory end) from the end of central directory
    record, which must be the last bytes of ``data`` (its comment included) and the
    only one: no data after it, no ZIP64 records, no second record in the comment."""
    search_from = max(0, len(data) - _EOCD.size - 0xFFFF)
    at = data.rfind(b"PK\x05\x06", search_from)
    while at != -1:
        if at + _EOCD.size <= len(data):
            comment = int.from_bytes(data[at + 20 : at + 22], "little")
            if at + _EOCD.size + comment == len(data):
                break
        at = data.rfind(b"PK\x05\x06", search_from, at)
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
    if at >= 20 and data[at - 20 : at - 16] == b"PK\x06\x07":
        raise invalid(
            field, "uses ZIP64, which a package within the bounds never needs"
        )
    if disk or cd_disk or here != total:
        raise invalid(field, "is a ZIP split over several disks")
    if total == 0xFFFF or size == _ZIP64 or offset == _ZIP64:
        raise invalid(
            field, "uses ZIP64, which a package within the bounds never needs"
        )
    if offset + size != at:
        raise invalid(
            field,
            "the ZIP's central directory does not end where its end record begins "
            "(bytes before the ZIP, or between the directory and its end record)",
        )
    if total > MAX_OFD_ENTRIES:
        raise invalid(field, f"has {total} entries; the limit is {MAX_OFD_ENTRIES}")
    return total, offset, at


def declared_size(data: bytes, field: str = "ofd") -> int:
    """The bytes the ZIP ``data`` declares its entries inflate to (its central
    directory's sizes; :func:`read_package` holds every entry to them): what reading
    it will take, for admission. Cheap: reads the directory only, inflates nothing.

    Raises INVALID_ARGUMENT (``field``) for a ZIP whose directory cannot be read.
    """
    total, at, end = _end_of_directory(data, field)
    declared = 0
    for _ in range(total):
        if at + _CENTRAL.size > end or data[at : at + 4] != b"PK\x01\x02":
            raise invalid(field, "the ZIP's central directory is damaged")
        header = _CENTRAL.unpack_from(data, at)
        declared += header[9]
        at += _CENTRAL.size + header[10] + header[11] + header[12]
    return declared


def zip_entries(data: bytes, field: str) -> list[ZipEntry]:
    """The entries of the ZIP ``data``, each checked so that every ZIP reader sees
    the same files (see :func:`read_package`)."""
    total, directory_at, end = _end_of_directory(data, field)
    at = directory_at
    entries: list[ZipEntry] = []
    expected_local = 0  # the local entries cover the bytes before the directory
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
        if needed > MAX_ZIP_VERSION:
            raise invalid(
                field,
                f"{what} needs ZIP version {needed / 10:g} to extract; the highest "
                f"read is {MAX_ZIP_VERSION / 10:g}",
            )
        if flags & _FLAGS_REFUSED:
            raise invalid(field, f"{what} is encrypted")
        if method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise invalid(
                field, f"{what} uses compression method {method}; OFD uses deflate"
            )
        if _ZIP64 in (csize, usize, offset) or disk:
            raise invalid(
                field,
                f"{what} uses ZIP64, which a package within the bounds never needs",
            )
        if not _zip64_agrees(extra, (usize, csize), zero_ok=False):
            raise invalid(field, f"{what} gives two different sizes (ZIP64 field)")
        descriptor = bool(flags & 0x08)
        if descriptor and method == zipfile.ZIP_STORED:
            raise invalid(
                field, f"{what} is stored with a data descriptor (its end is unknown)"
            )
        # its local header: right where the previous entry ended, and agreeing
        if offset != expected_local:
            raise invalid(
                field,
                f"{what} does not start where the previous entry ends (bytes before "
                "it that the directory does not list, or entries out of order)",
            )
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
        known = (lcrc, lcsize, lusize)
        if descriptor:
            sizes_agree = all(
                v in (0, c) for v, c in zip(known, (crc, csize, usize), strict=True)
            )
        else:
            sizes_agree = known == (crc, csize, usize)
        if (
            lraw != raw
            or _entry_name(lraw, lflags, lextra, field) != name
            or lflags != flags
            or lmethod != method
            or lneeded > MAX_ZIP_VERSION
            or not sizes_agree
            or not _zip64_agrees(lextra, (usize, csize), zero_ok=descriptor)
        ):
            raise invalid(
                field,
                f"{what}: its local header and its central directory header differ "
                "(name, flags, method, CRC or sizes)",
            )
        expected_local = data_at + csize
        if descriptor:
            gap = (
                16 if data[expected_local : expected_local + 4] == b"PK\x07\x08" else 12
            )
            at_descriptor = expected_local + gap - 12
            if at_descriptor + 12 > end or _DESCRIPTOR.unpack_from(
                data, at_descriptor
            ) != (crc, csize, usize):
                raise invalid(
                    field, f"{what}'s data descriptor differs from its directory header"
                )
            expected_local += gap
        if expected_local > end:
            raise invalid(field, f"{what}'s data runs into the central directory")
        directory = name.endswith("/")
        path = normalise(name, field, entry=True)
        if directory and usize:
            raise invalid(field, f"{what} is a directory holding data")
        entries.append(
            ZipEntry(path, directory, flags, method, crc, csize, usize, data_at)
        )
    if at != end:
        raise invalid(
            field, "the ZIP's central directory holds more than its end record counts"
        )
    if expected_local != directory_at:
        raise invalid(
            field,
            "bytes between the last entry and the central directory are listed by "
            "no entry",
        )
    return entries


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


class PackageFiles(Mapping[str, bytes]):
    """A package's files: the held ones as bytes, the others inflated when read."""

    def __init__(
        self, data: bytes, entries: dict[str, ZipEntry], held: dict[str, bytes]
    ):
        self._data = data
        self._entries = entries
        self._held = held

    def __getitem__(self, path: str) -> bytes:
        held = self._held.get(path)
        if held is not None:
            return held
        return inflate(self._data, self._entries[path], "ofd")

    def __contains__(self, path: object) -> bool:
        return path in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
