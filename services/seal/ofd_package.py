"""An OFD package from outside, read within bounds: a ZIP of XML files (GB/T 33190 §7.3).

Everything here is bounded before it allocates:

- the ZIP: at most :data:`MAX_OFD_ENTRIES` entries, each declared size at most
  :data:`MAX_OFD_ENTRY_BYTES`, all together at most :data:`MAX_OFD_UNCOMPRESSED_BYTES`,
  no entry inflating more than :data:`MAX_OFD_RATIO` times its compressed size; the
  declared sizes come from the central directory and every read is cut at the declared
  size, so a lying header cannot inflate more (the CRC is checked); the ZIP itself is
  read one way only (:mod:`services.seal.ofd_zip`);
- the names: normalised to a path below the package root (no ``..`` escaping it, no
  absolute or drive path, no backslash, no NUL, no colon), unique after normalisation
  and as the file systems readers unpack to take them (:func:`file_key`);
- the XML: at most :data:`MAX_OFD_XML_BYTES` per file, nesting at most
  :data:`MAX_OFD_XML_DEPTH` elements, and no DTD, entity or external reference
  (defusedxml over the standard library's expat parser).

Every refusal is ``CertsealError`` INVALID_ARGUMENT naming the request field and the
entry. The functions are synchronous and CPU-bound: callers run them off the event loop.
"""

from __future__ import annotations

import codecs
import dataclasses
import io
import itertools
import re
import struct
import unicodedata
import xml.etree.ElementTree as ET  # types; parsing is defusedxml
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from certseal.errors import CertsealError, invalid
from services.seal.ofd_zip import ZipEntry, inflate, zip_entries

MAX_OFD_ENTRY_BYTES = 64 * 1024 * 1024
"""Uncompressed bytes of one file in the package (a large embedded image)."""

MAX_OFD_UNCOMPRESSED_BYTES = 256 * 1024 * 1024
"""Uncompressed bytes of all files together: an eighth of the seal service's memory."""

MAX_OFD_RATIO = 200
"""How many times its compressed size one entry may inflate to, beyond the first MiB
(XML deflates about 10:1, a blank page's image a few hundred to one at most)."""

RATIO_ALLOWANCE = 1024 * 1024
"""Entries inflating to at most this many bytes are not held to :data:`MAX_OFD_RATIO`."""

MAX_OFD_XML_BYTES = 16 * 1024 * 1024
"""Bytes of one XML file that is parsed (OFD.xml, Document.xml, a page, a signature)."""

MAX_OFD_XML_DEPTH = 64
"""Nesting of elements in one XML file; OFD pages nest a handful of levels (blocks in
page blocks), GB/T 33190 sets no limit."""

MAX_OFD_NAME_DEPTH = 64
"""Folders above one file in the package; OFD packages nest four or five
(``Doc_0/Pages/Page_0/Res/``)."""

OFD_NS = "http://www.ofdspec.org/2016"


@dataclass(frozen=True)
class OfdPackage:
    """The files of an OFD package by normalised path (no leading ``/``), in ZIP order.

    ``files`` is read-only. From :func:`read_package`, XML files and small files are
    held inflated; a larger file (an image, a font) is inflated again from the ZIP
    each time it is read, so a request holds its compressed package and its XML, not
    every inflated resource at once (each is digested once per CheckMethod:
    :class:`services.seal.ofd.OfdDocument`). ``parsed`` caches each XML file parsed
    (or its refusal) for this package, so a file is parsed once per request however
    many signatures or references name it.
    """

    files: Mapping[str, bytes]
    parsed: dict[str, ET.Element | CertsealError] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )

    def get(self, path: str) -> bytes | None:
        """The file at a normalised package path, or None."""
        return self.files.get(path)


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


_SHORT_NAME = re.compile(r"[^.~]{1,6}~[0-9]+(\.[^.]{0,3})?")


def file_key(path: str) -> str:
    """The file a normalised package ``path`` is on the file systems readers unpack
    packages to (ofdrw-reader unpacks to a folder), so that names such a file system
    merges are one name here (atk15c F3, atk16 F1): letter case ignored (Windows,
    macOS), canonically equivalent Unicode one (macOS: NFC ``é`` and NFD ``e`` with
    U+0301, a CJK compatibility ideograph and its unified one), and each name's
    trailing dots and spaces dropped, a name of nothing else with them (Win32:
    ``Content.xml.`` is ``Content.xml``, ``Doc_0/.../x`` is ``Doc_0/x``)."""
    parts = []
    for part in path.split("/"):
        part = part.rstrip(" .")
        if part:
            folded = unicodedata.normalize("NFD", part).casefold()
            parts.append(unicodedata.normalize("NFD", folded))
    return "/".join(parts)


def short_name(path: str) -> bool:
    """Whether a name of ``path`` has the shape of a Windows short (8.3) name, such
    as ``PUBLIC~1.XML``, which Windows may take as another, long name's file."""
    return any(_SHORT_NAME.fullmatch(part) for part in path.split("/"))


HELD_BYTES = 256 * 1024
"""Files up to this size, and XML files, are held inflated by :func:`read_package`;
larger ones are inflated again when read."""


def read_package(
    data: bytes, field: str = "ofd", *, only: Collection[str] | None = None
) -> OfdPackage:
    """The files of the OFD (ZIP) ``data``, read within the module's bounds.

    One reading of the ZIP only, the one every reader shares
    (:func:`services.seal.ofd_zip.zip_entries`): the local entries, in the order of
    their offsets, cover the bytes before the central directory exactly, each local
    header agreeing with its directory header (a data descriptor too); the end
    record is the last bytes and the only one; ZIP64 fields read only where a header
    defers to them; no encryption, methods other than stored and deflate, or version
    needed above 6.3; names ASCII or flagged UTF-8, unique after normalisation and
    by :func:`file_key` (case, Unicode form, trailing dots and spaces: the file
    systems readers unpack to would merge them), none shaped like a Windows short
    name, at most :data:`MAX_OFD_NAME_DEPTH` folders deep, no file also a folder. Every entry is
    inflated once here (CRC, exact sizes) and, when ``only`` is given, only the
    files it names are kept (the others are then absent).

    Raises INVALID_ARGUMENT (``field``) for anything but a bounded, well-formed ZIP.
    """
    try:
        entries = zip_entries(data, field)
    except struct.error as exc:  # a header cut short by the end of the data
        raise invalid(field, f"is not an OFD package (a ZIP file): {exc}") from None
    total = 0
    files: dict[str, ZipEntry] = {}
    folded: dict[str, str] = {}
    for entry in entries:
        path = entry.path
        key = file_key(path)
        if key in folded:
            if folded[key] == path:
                raise invalid(field, f"holds {path!r} twice")
            raise invalid(
                field,
                f"holds {folded[key]!r} and {path!r}: the same name ignoring case, "
                "Unicode form and trailing dots or spaces (one file where a reader "
                "unpacks it)",
            )
        folded[key] = path
        if short_name(path):
            raise invalid(
                field,
                f"entry {path[:80]!r} has the shape of a Windows short name (8.3), "
                "which Windows may take as another file's",
            )
        if path.count("/") > MAX_OFD_NAME_DEPTH:
            raise invalid(
                field,
                f"entry {path[:80]!r} is more than {MAX_OFD_NAME_DEPTH} folders deep",
            )
        if entry.directory:
            continue
        if entry.file_size > MAX_OFD_ENTRY_BYTES:
            raise invalid(
                field,
                f"entry {path!r} inflates to {entry.file_size} bytes; "
                f"the limit is {MAX_OFD_ENTRY_BYTES}",
            )
        if entry.file_size > RATIO_ALLOWANCE and entry.file_size > MAX_OFD_RATIO * max(
            entry.compress_size, 1
        ):
            raise invalid(
                field,
                f"entry {path!r} inflates "
                f"{entry.file_size // max(entry.compress_size, 1)}"
                f" times its size; the limit is {MAX_OFD_RATIO} (a ZIP bomb?)",
            )
        total += entry.file_size
        if total > MAX_OFD_UNCOMPRESSED_BYTES:
            raise invalid(
                field,
                f"inflates to more than {MAX_OFD_UNCOMPRESSED_BYTES} bytes in all",
            )
        files[path] = entry
    # a file that is also a folder: sorted with "/" as the lowest character, a
    # name is followed at once by a name below it if any is (linear in the names)
    ordered = sorted(key.replace("/", "\x00") for key in folded)
    for key, after in itertools.pairwise(ordered):
        path = folded[key.replace("\x00", "/")]
        if path in files and after.startswith(key + "\x00"):
            raise invalid(field, f"holds {path!r} both as a file and as a folder")
    held: dict[str, bytes] = {}
    for path, entry in files.items():
        content = inflate(data, entry, field)
        if only is not None:
            if path in only:
                held[path] = content
        elif entry.file_size <= HELD_BYTES or (
            path.lower().endswith(".xml") and entry.file_size <= MAX_OFD_XML_BYTES
        ):
            held[path] = content
        del content
    if only is not None:
        return OfdPackage(held)
    return OfdPackage(PackageFiles(data, files, held))


_DECLARATION = re.compile(
    rb"<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(['\"])[0-9.]+\1"
    rb"[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(['\"])([^'\"]{0,64})\2"
)
DECODED_ENCODINGS = {"gbk", "gb2312", "gb18030"}
"""Multi-byte encodings expat cannot read that Chinese OFD producers write XML in
(GB 18030 and its subsets GBK and GB 2312): decoded here, strictly, before parsing.
The digests a signature protects are of the file's bytes as they are, not of this
decoding."""


def _decoded(data: bytes, name: str, field: str) -> bytes:
    """``data`` as expat can read it: itself when its declared encoding is one expat
    knows; re-encoded as UTF-8 (its declaration saying so) when it is one of
    :data:`DECODED_ENCODINGS`; INVALID_ARGUMENT naming the file and the encoding
    otherwise (an unknown name, or another multi-byte encoding)."""
    match = _DECLARATION.match(data)
    if match is None:  # no declaration (UTF-8), or a BOM: expat decides
        return data
    declared = match.group(3).decode("ascii", "replace")
    try:
        codec = codecs.lookup(declared).name
    except LookupError:
        codec = ""
    if codec not in DECODED_ENCODINGS:
        # expat reads single-byte encodings Python knows; others fail in parse_xml
        return data
    try:  # as GB 18030, a superset: producers labelling GB 2312 write GBK
        text = data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise invalid(
            field, f"{name} is not valid {declared} (its declared encoding): {exc}"
        ) from None
    start, end = match.span(3)
    return (text[:start] + "UTF-8" + text[end:]).encode("utf-8")


def parse_xml(data: bytes, name: str, field: str = "ofd") -> ET.Element:
    """The root element of the package's XML file ``name``, parsed within bounds.

    Raises INVALID_ARGUMENT (``field``) when it is over :data:`MAX_OFD_XML_BYTES`, nests
    deeper than :data:`MAX_OFD_XML_DEPTH`, has a DTD or entities, is not XML, or
    declares an encoding it cannot be read in (GB 18030 and GBK are read:
    :func:`_decoded`).
    """
    if len(data) > MAX_OFD_XML_BYTES:
        raise invalid(
            field,
            f"{name} is {len(data)} bytes; the limit for an XML file is "
            f"{MAX_OFD_XML_BYTES}",
        )
    data = _decoded(data, name, field)
    depth = 0
    root: ET.Element | None = None
    try:
        for event, element in iterparse(
            io.BytesIO(data),
            events=("start", "end"),
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        ):
            if event == "start":
                depth += 1
                if depth > MAX_OFD_XML_DEPTH:
                    raise invalid(
                        field,
                        f"{name} nests elements deeper than {MAX_OFD_XML_DEPTH}",
                    )
                if root is None:
                    root = element
            else:
                depth -= 1
    except DefusedXmlException as exc:
        raise invalid(
            field, f"{name} has a DTD or entities, which OFD never needs ({exc})"
        ) from None
    except ET.ParseError as exc:
        raise invalid(field, f"{name} is not well-formed XML: {exc}") from None
    except (ValueError, LookupError) as exc:  # an encoding expat cannot use
        match = _DECLARATION.match(data.removeprefix(codecs.BOM_UTF8))
        declared = match.group(3).decode("ascii", "replace") if match else "?"
        raise invalid(
            field,
            f"{name} declares the encoding {declared!r}, which it cannot be read in "
            f"(UTF-8, UTF-16, GB 18030, GBK, GB 2312 or a single-byte one): {exc}",
        ) from None
    if root is None:
        raise invalid(field, f"{name} has no root element")
    return root


def local(tag: str) -> str:
    """An element's name without its namespace."""
    return tag.rsplit("}", 1)[-1]


def child(element: ET.Element, name: str) -> ET.Element | None:
    """The first child named ``name`` (any namespace: producers differ)."""
    for item in element:
        if local(item.tag) == name:
            return item
    return None


def children(element: ET.Element, name: str) -> list[ET.Element]:
    """Every child named ``name`` (any namespace)."""
    return [item for item in element if local(item.tag) == name]


def text_of(element: ET.Element | None) -> str:
    """An element's text, stripped; empty for a missing element."""
    return (element.text or "").strip() if element is not None else ""
