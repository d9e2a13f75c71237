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
  :data:`MAX_OFD_XML_DEPTH` elements, and no DTD (a bare ``<!DOCTYPE name>`` aside),
  entity or external reference
  (defusedxml over the standard library's expat parser); and the trees a request
  parses, charged as they are built to the package's :class:`XmlBudget`: what the
  request is admitted for (:func:`services.seal.ofd_xml.admitted_bytes`).

Every refusal is ``CertsealError`` INVALID_ARGUMENT naming the request field and the
entry. The functions are synchronous and CPU-bound: callers run them off the event loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import re
import struct
import unicodedata
import xml.etree.ElementTree as ET  # types; parsing is defusedxml
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass

from certseal.errors import CertsealError, invalid
from services.seal.ofd_xml import (
    MAX_OFD_XML_BYTES,
    EndsRequest,
    XmlBudget,
    admitted_bytes,
)
from services.seal.ofd_xml import parse_xml as parse_xml  # the package's XML
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
    many signatures or references name it; ``trees`` is what every tree parsed for it
    may take (from :func:`read_package`: what the request is admitted for; else as
    for a package of these files).
    """

    files: Mapping[str, bytes]
    parsed: dict[str, ET.Element | CertsealError] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )
    trees: XmlBudget | None = dataclasses.field(default=None, compare=False, repr=False)
    keys: dict[str, str] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if self.trees is None:
            sizes = {path: len(data) for path, data in self.files.items()}
            xml = [n for p, n in sizes.items() if p.lower().endswith(".xml")]
            admitted = admitted_bytes(0, sum(sizes.values()), max(xml, default=0))
            object.__setattr__(self, "trees", XmlBudget.for_admitted(admitted))

    @property
    def budget(self) -> XmlBudget:
        """:attr:`trees`, always set."""
        assert self.trees is not None  # __post_init__
        return self.trees

    def get(self, path: str) -> bytes | None:
        """The file at a normalised package path, or None."""
        return self.files.get(path)

    def find(self, path: str) -> str | None:
        """The file a reader unpacking the package opens for the normalised
        ``path`` (:func:`file_key`: the package holds no two names with one key),
        or None."""
        if path in self.files:
            return path
        if not self.keys and self.files:  # built once per package
            self.keys.update((file_key(name), name) for name in self.files)
        return self.keys.get(file_key(path))


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
    if path.isascii():  # NFD changes no ASCII name; casefold is lower
        # each name's trailing dots and spaces, then the names left empty: in C, a
        # path's length of work however many names it has (atk34 O1)
        trimmed = _TRAILING.sub("", path.lower())
        return _SLASHES.sub("/", trimmed).strip("/")
    names = (_name_key(name.rstrip(" .")) for name in path.split("/"))
    return "/".join(name for name in names if name)


_TRAILING = re.compile(r"[ .]+(?=/|\Z)")  # a name's trailing dots and spaces
_SLASHES = re.compile(r"/{2,}")  # the empty names between them


@functools.lru_cache(maxsize=1 << 14)
def _name_key(name: str) -> str:
    """One name's :func:`file_key` (kept: a location read in its every reading
    gives the same names again and again)."""
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", name).casefold())


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
    # what the request is admitted for (ofd_service._held), from the same sizes
    xml_sizes = [e.file_size for p, e in files.items() if p.lower().endswith(".xml")]
    largest_xml = max(xml_sizes, default=0)
    trees = XmlBudget.for_admitted(admitted_bytes(len(data), total, largest_xml))
    if only is not None:
        return OfdPackage(held, trees=trees)
    return OfdPackage(PackageFiles(data, files, held), trees=trees)


def package_xml(package: OfdPackage, path: str, field: str) -> ET.Element:
    """The package's XML file ``path``, parsed once per package (per request): a
    later call gives the same element, or raises the same refusal. Callers only
    read the elements. The tree is kept for the request, charged to its budget
    (:class:`~services.seal.ofd_xml.XmlTooLarge` past it); a file read once and
    dropped is :func:`package_xml_once`'s."""
    parsed = package.parsed.get(path)
    if parsed is None:
        data = package.get(path)
        if data is None:
            raise invalid(field, f"the package has no {path}")
        try:
            parsed = parse_xml(data, path, field, budget=package.budget)
        except EndsRequest:
            raise  # the request ends: no file's refusal to keep
        except CertsealError as exc:
            parsed = exc
        package.parsed[path] = parsed
    if isinstance(parsed, CertsealError):
        raise CertsealError(parsed.kind, parsed.message, field=field)
    return parsed


@contextlib.contextmanager
def package_xml_once(
    package: OfdPackage, path: str, field: str
) -> Iterator[ET.Element]:
    """The package's XML file ``path`` (which it holds) parsed for the block only:
    the tree already kept by :func:`package_xml`, or parsed here and given back to the
    request's budget when the block ends (so a request does not hold every page's
    tree at once)."""
    kept = package.parsed.get(path)
    if isinstance(kept, CertsealError):
        raise CertsealError(kept.kind, kept.message, field=field)
    if kept is not None:
        yield kept
        return
    with package.budget.lent():
        yield parse_xml(package.files[path], path, field, budget=package.budget)


@contextlib.contextmanager
def damage_tolerated() -> Iterator[None]:
    """A file's refusal ends the block quietly; a request past its XML budget does
    not, nor a location past reading (:class:`~services.seal.ofd_xml.EndsRequest`
    ends the request: what the file names after it would go undrawn)."""
    try:
        yield
    except EndsRequest:
        raise
    except CertsealError:
        pass


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
    """An element's text as dom4j (ofdrw) reads it, its text pieces joined (an
    element child splits them), stripped; empty for a missing element. A location
    is read by :mod:`services.seal.ofd_loc`, in every reading readers make."""
    if element is None:
        return ""
    return ((element.text or "") + "".join(e.tail or "" for e in element)).strip()
