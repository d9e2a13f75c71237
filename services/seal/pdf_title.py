"""The title a PDF's revision gives viewers, read as loosely as the most permissive
common reader reads it, and whether it changed after a signature.

Viewers show the document information dictionary's /Title (ISO 32000-1 §14.3.3)
and the XMP metadata's dc:title (§14.3.2): pdf.js in its tab always, the others in
their title bar when /ViewerPreferences /DisplayDocTitle asks. pdf.js reads the
packet loosely (``src/core/metadata_parser.js``): any filter decoded, no size
bound, a DOCTYPE skipped, junk before the first tag dropped, names matched as
written and lower-cased (``dc:title`` whatever namespace its prefix names, or
``DC:Title``), the last one among ``rdf:Description``'s children shown. atk39pdf F1:
a packet added after a seal whose title certseal's ElementTree reading (Dublin
Core's namespace, the first ``dc:title``, a plain packet of 64 KiB without a DTD)
took for none verified VALID while pdf.js showed "FORGED". So every element or
attribute whose local name is ``title`` in any case, under the prefix ``dc`` in any
case or the Dublin Core namespace with or without its last slash, is read with
where it sits (:func:`xmp_titles`); a packet that does not read at all (declared
entities, refused: none is ever expanded; not XML; a filter pyHanko cannot decode;
over :data:`certseal.bounds.MAX_DOCUMENT_BYTES` decoded) counts by its bytes, so
one changed after a seal is a title change too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError

from certseal.bounds import MAX_DOCUMENT_BYTES, MAX_XMP_MARKUP

#: Dublin Core's namespace, as XMP writes it (ISO 16684-1), and without its slash
_DC = ("http://purl.org/dc/elements/1.1/", "http://purl.org/dc/elements/1.1")


@dataclass(frozen=True)
class Titles:
    """The titles a revision gives viewers."""

    #: /Info /Title, "" when none
    info: str
    #: the XMP title pdf.js shows (the last dc:title element's text), "" when none,
    #: "(an XMP packet that cannot be read)" when the packet does not read
    xmp: str
    #: a digest of how the packet reads: every title with where it sits and whether
    #: pdf.js reads the stream at all; of its bytes when it does not read
    xmp_read: bytes = b""


UNREADABLE = Titles("(unreadable)", "(unreadable)", b"unreadable")


class _Refused(Exception):
    """An entity declared or referred to in an XMP packet: never expanded."""


#: bytes of a packet handed to expat at a time
_PIECE = 1 << 20

#: characters of a title's text kept as read; a longer one is kept as its start and
#: a digest of all of it
_KEPT = 1000


class _Text:
    """A title's text as pdf.js's ``textContent``, each run of white space made one
    space and the ends stripped, read a piece at a time: its first :data:`_KEPT`
    characters and a digest of all of it (a long text is never copied whole)."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.start: list[str] = []
        self.length = 0
        self.space = False  # white space read since the last word

    def add(self, data: str) -> None:
        words = data.split()
        if words:
            piece = " " if self.length and (self.space or data[0].isspace()) else ""
            piece += " ".join(words)
            self.digest.update(piece.encode("utf-8", "surrogatepass"))
            if self.length < _KEPT:
                self.start.append(piece[: _KEPT - self.length])
            self.length += len(piece)
        self.space = bool(data) and (data[-1].isspace() or (self.space and not words))

    def text(self) -> str:
        start = "".join(self.start)
        if self.length <= _KEPT:
            return start
        return f"{start}... (sha256 {self.digest.hexdigest()})"


def _refuse(*_: Any) -> int:
    """Any entity declared, skipped or referred to: the packet is not read."""
    raise _Refused


def xmp_titles(xml: bytes) -> list[tuple[bool, str]] | None:
    """Every title of an XMP packet in document order, as ``(shown, text)``:
    ``shown`` when pdf.js reads it (an element named ``dc:title`` once lower-cased,
    a child of ``rdf:Description`` in an ``rdf:RDF`` that is the root or its child),
    ``text`` its character data with every descendant's, as pdf.js's
    ``textContent``, white space runs made one space (an attribute's value so too).
    None for a packet that does not parse, or declares or refers to an entity.
    Anything before the first ``<`` is dropped, as pdf.js does. A title inside a
    title is read as part of the outer one. Linear in ``xml`` (expat, no tree kept,
    each namespace prefix a stack of its own), within :data:`MAX_XMP_MARKUP` tags;
    callers bound its size."""
    if xml.count(b"<") > MAX_XMP_MARKUP:
        return None
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.EntityDeclHandler = _refuse
    parser.SkippedEntityHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    found: list[tuple[bool, str]] = []
    names: list[str] = []  # the open elements' names as written, lower-cased
    declared: list[list[str]] = []  # the prefixes each open element declares
    spaces: dict[str, list[str]] = {}  # prefix ("": the default) to its URIs
    title: list[Any] = []  # the open outermost title: depth, shown, its text

    def is_title(name: str, default: bool) -> bool:
        prefix, _, local = name.rpartition(":")
        if local.lower() != "title":
            return False
        uris = spaces.get(prefix) if prefix or default else None
        return prefix.lower() == "dc" or bool(uris and uris[-1] in _DC)

    def started(name: str, attributes: dict[str, str]) -> None:
        mine = [k[6:] for k in attributes if k == "xmlns" or k.startswith("xmlns:")]
        for prefix in mine:
            spaces.setdefault(prefix, []).append(
                attributes["xmlns:" + prefix if prefix else "xmlns"]
            )
        declared.append(mine)
        for key, value in attributes.items():
            if is_title(key, default=False):
                read = _Text()
                read.add(value)
                found.append((False, read.text()))
        lower = name.lower()
        if not title and is_title(name, default=True):
            shown = (
                lower == "dc:title"
                and names[-1:] == ["rdf:description"]
                and names[-2:-1] == ["rdf:rdf"]
                and len(names) in (2, 3)
            )
            title[:] = [len(names), shown, _Text()]
        names.append(lower)

    def ended(_name: str) -> None:
        names.pop()
        for prefix in declared.pop():
            spaces[prefix].pop()
        if title and title[0] == len(names):
            found.append((title[1], title[2].text()))
            title.clear()

    def text(data: str) -> None:
        if title:
            title[2].add(data)

    parser.StartElementHandler = started
    parser.EndElementHandler = ended
    parser.CharacterDataHandler = text
    try:
        # a piece at a time, so that no text reaches a handler larger than one
        at = max(xml.find(b"<"), 0)
        for start in range(at, len(xml), _PIECE):
            parser.Parse(xml[start : start + _PIECE], False)
        parser.Parse(b"", True)
    except (expat.ExpatError, _Refused, ValueError, UnicodeError):
        return None
    return found


def _resolved(resolver: Any, value: Any) -> Any:
    """``value`` read in ``resolver``'s revision: an indirect one as that revision
    has it (a trailer's or dictionary's reference otherwise resolves to the newest
    revision's object: atk38d, /Info retitled in place after a seal), an encrypted
    one decrypted."""
    if isinstance(value, generic.IndirectObject):
        value = resolver.get_object(value.reference)
    # a value inside an encrypted file's object (trial38c: an encrypted file's
    # /ViewerPreferences) is a proxy until decrypted
    return value.decrypted if isinstance(value, generic.DecryptedObjectProxy) else value


#: what a packet that does not read shows, as said in a detail
_UNREAD_PACKET = "(an XMP packet that cannot be read)"


def _xmp(resolver: Any) -> tuple[str, bytes]:
    """The XMP title pdf.js shows from ``resolver``'s revision and a digest of how
    its packet reads (:class:`Titles`); ("", b"") when the catalog has none."""
    if "/Metadata" not in resolver.root:
        return "", b""
    raw = resolver.root.raw_get("/Metadata")
    stream = _resolved(resolver, raw)
    if not isinstance(stream, generic.StreamObject):
        return "", hashlib.sha256(b"no stream: " + repr(stream).encode()).digest()
    # pdf.js reads only an indirect stream of /Type /Metadata, /Subtype /XML
    read = (
        isinstance(raw, generic.IndirectObject)
        and stream.get("/Type") == "/Metadata"
        and stream.get("/Subtype") == "/XML"
    )
    try:
        data = stream.data  # decoded within the reader's decode limits
    except Exception:  # a filter pyHanko cannot decode: the packet by its bytes
        data = None
    titles = (
        xmp_titles(data)
        if data is not None and len(data) <= MAX_DOCUMENT_BYTES
        else None
    )
    out = hashlib.sha256(b"read by pdf.js" if read else b"not read by pdf.js")
    if titles is None:
        out.update(b"unread " + hashlib.sha256(stream.encoded_data).digest())
        return _UNREAD_PACKET, out.digest()
    for shown, text in titles:
        out.update(b"%d %d " % (shown, len(text)) + text.encode("utf-8", "replace"))
    shown_texts = [text for shown, text in titles if shown] or [t for _, t in titles]
    return (shown_texts[-1] if shown_texts else ""), out.digest()


def titles(resolver: Any) -> Titles:
    """The titles ``resolver``'s revision gives viewers: the document information
    dictionary's /Title and its XMP metadata's titles (:func:`_xmp`)."""
    trailer = resolver.trailer_view
    info = _resolved(resolver, trailer.raw_get("/Info")) if "/Info" in trailer else None
    title = (
        _resolved(resolver, info.raw_get("/Title"))
        if isinstance(info, generic.DictionaryObject) and "/Title" in info
        else None
    )
    xmp, read = _xmp(resolver)
    return Titles("" if title is None else str(title), xmp, read)


def titles_or_unread(reader: Any, revision: int) -> Titles:
    """:func:`titles` of ``revision``, or :data:`UNREADABLE` when its objects do not
    read: a title that reads in one revision and not in another is a change."""
    try:
        return titles(reader.get_historical_resolver(revision))
    except (PdfError, KeyError, ValueError, TypeError, AttributeError):
        return UNREADABLE


def title_changed(reader: Any, signed: int, now: Titles) -> str:
    """Why a signature of revision ``signed`` is modified when the document's title
    changed after it (``now``: the newest revision's, :func:`titles_or_unread`), in
    /Info or in its XMP metadata (how its packet reads, :func:`_xmp`), or "".
    Viewers show it: pdf.js in its tab always, the others in their title bar when
    the catalog's /ViewerPreferences /DisplayDocTitle asks (ISO 32000-1 §12.2, as
    Chromium's PDFs do). pyHanko allows both changes at LTA_UPDATES (trial38b: a
    retitled Chromium PDF verified VALID; trial38c: pdf.js shows the title of any
    PDF). A later update that keeps the titles (pyHanko's writer rewrites the XMP
    packet each time), or changes other properties (author, subject), is none."""
    then = titles_or_unread(reader, signed)
    for before, after, changed in (
        (then.info, now.info, then.info != now.info),
        (then.xmp, now.xmp, then.xmp_read != now.xmp_read),
    ):
        if changed:
            return (
                "the title viewers show changed after it: "
                f"{before[:80]!r} to {after[:80]!r}"
            )
    return ""
