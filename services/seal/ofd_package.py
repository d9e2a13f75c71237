"""An OFD package from outside, read within bounds: a ZIP of XML files (GB/T 33190 §7.3).

Everything here is bounded before it allocates:

- the ZIP: at most :data:`MAX_OFD_ENTRIES` entries, each declared size at most
  :data:`MAX_OFD_ENTRY_BYTES`, all together at most :data:`MAX_OFD_UNCOMPRESSED_BYTES`,
  no entry inflating more than :data:`MAX_OFD_RATIO` times its compressed size; the
  declared sizes come from the central directory and every read is cut at the declared
  size, so a lying header cannot inflate more (zipfile checks the CRC);
- the names: normalised to a path below the package root (no ``..`` escaping it, no
  absolute or drive path, no backslash, no NUL), unique after normalisation;
- the XML: at most :data:`MAX_OFD_XML_BYTES` per file, nesting at most
  :data:`MAX_OFD_XML_DEPTH` elements, and no DTD, entity or external reference
  (defusedxml over the standard library's expat parser).

Every refusal is ``CertsealError`` INVALID_ARGUMENT naming the request field and the
entry. The functions are synchronous and CPU-bound: callers run them off the event loop.
"""

from __future__ import annotations

import io
import posixpath
import xml.etree.ElementTree as ET  # types; parsing is defusedxml
import zipfile
from dataclasses import dataclass

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from certseal.errors import invalid

MAX_OFD_ENTRIES = 10_000
"""Files in one OFD package; a 500-page document with its resources has about 1,500."""

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

OFD_NS = "http://www.ofdspec.org/2016"


@dataclass(frozen=True)
class OfdPackage:
    """The files of an OFD package by normalised path (no leading ``/``), in ZIP order."""

    files: dict[str, bytes]

    def get(self, path: str) -> bytes | None:
        """The file at a normalised package path, or None."""
        return self.files.get(path)


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


def read_package(data: bytes, field: str = "ofd") -> OfdPackage:
    """The files of the OFD (ZIP) ``data``, read within the module's bounds.

    Raises INVALID_ARGUMENT (``field``) for anything but a bounded, well-formed ZIP.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise invalid(field, f"is not an OFD package (a ZIP file): {exc}") from None
    if len(infos) > MAX_OFD_ENTRIES:
        raise invalid(
            field, f"has {len(infos)} entries; the limit is {MAX_OFD_ENTRIES}"
        )
    total = 0
    chosen: list[tuple[str, zipfile.ZipInfo]] = []
    seen: set[str] = set()
    for info in infos:
        if info.is_dir():
            normalise(info.filename, field, entry=True)  # inside the package too
            continue
        path = normalise(info.filename, field, entry=True)
        if path in seen:
            raise invalid(field, f"holds {path!r} twice")
        seen.add(path)
        if info.flag_bits & 0x1:
            raise invalid(field, f"entry {path!r} is encrypted")
        if info.file_size > MAX_OFD_ENTRY_BYTES:
            raise invalid(
                field,
                f"entry {path!r} inflates to {info.file_size} bytes; "
                f"the limit is {MAX_OFD_ENTRY_BYTES}",
            )
        if info.file_size > RATIO_ALLOWANCE and info.file_size > MAX_OFD_RATIO * max(
            info.compress_size, 1
        ):
            raise invalid(
                field,
                f"entry {path!r} inflates {info.file_size // max(info.compress_size, 1)}"
                f" times its size; the limit is {MAX_OFD_RATIO} (a ZIP bomb?)",
            )
        total += info.file_size
        if total > MAX_OFD_UNCOMPRESSED_BYTES:
            raise invalid(
                field,
                f"inflates to more than {MAX_OFD_UNCOMPRESSED_BYTES} bytes in all",
            )
        chosen.append((path, info))
    files: dict[str, bytes] = {}
    for path, info in chosen:
        try:
            with archive.open(info) as stream:
                content = stream.read(info.file_size + 1)
        except (zipfile.BadZipFile, NotImplementedError, ValueError, EOFError) as exc:
            raise invalid(field, f"entry {path!r} cannot be read: {exc}") from None
        except Exception as exc:  # zlib.error and friends from a damaged stream
            raise invalid(field, f"entry {path!r} is damaged: {exc}") from None
        if len(content) != info.file_size:
            raise invalid(field, f"entry {path!r} is not the size its header says")
        files[path] = content
    return OfdPackage(files)


def parse_xml(data: bytes, name: str, field: str = "ofd") -> ET.Element:
    """The root element of the package's XML file ``name``, parsed within bounds.

    Raises INVALID_ARGUMENT (``field``) when it is over :data:`MAX_OFD_XML_BYTES`, nests
    deeper than :data:`MAX_OFD_XML_DEPTH`, has a DTD or entities, or is not XML.
    """
    if len(data) > MAX_OFD_XML_BYTES:
        raise invalid(
            field,
            f"{name} is {len(data)} bytes; the limit for an XML file is "
            f"{MAX_OFD_XML_BYTES}",
        )
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
