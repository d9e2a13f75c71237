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
over :data:`certseal.bounds.MAX_DOCUMENT_BYTES` decoded; not UTF-8: pdf.js decodes
every packet as UTF-8 whatever its XML declaration says, and skips one that is not)
counts by its bytes, so one changed after a seal is a title change too.

pdf40: the packet was read in the encoding its declaration or BOM named (an
ISO-8859-1 packet read as pdf.js never does), its text with every white space run
made one space (a title of two ``rdf:li`` pdf.js shows joined, ``AB``, read as
``A B``; U+3000 runs read as one space) and Ghostscript's ``\\376\\377`` octal text
(pdf.js reads it as UTF-16) as written. Each is now read as pdf.js reads it
(:class:`_Text`, :func:`_repaired`); /Info /Title as
:func:`services.seal.pdf_strings.info_title` reads it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError

from certseal.bounds import MAX_DOCUMENT_BYTES, MAX_XMP_MARKUP
from services.seal.pdf_strings import info_title

#: Dublin Core's namespace, as XMP writes it (ISO 16684-1), and without its slash
_DC = ("http://purl.org/dc/elements/1.1/", "http://purl.org/dc/elements/1.1")


@dataclass(frozen=True)
class Titles:
    """The titles a revision gives viewers."""

    #: /Info /Title as pdf.js shows it, "" when none
    info: str
    #: the XMP title pdf.js shows (the last dc:title element's text), "" when none,
    #: "(an XMP packet that cannot be read)" when the packet does not read
    xmp: str
    #: a digest of how the packet reads: every title with where it sits and whether
    #: pdf.js reads the stream at all; of its bytes when it does not read
    xmp_read: bytes = b""
    #: how /Info /Title reads (:func:`info_title`)
    info_read: bytes = b""


UNREADABLE = Titles("(unreadable)", "(unreadable)", b"unreadable", b"unreadable")


class _Refused(Exception):
    """An entity declared or referred to in an XMP packet: never expanded."""


#: bytes of a packet handed to expat at a time
_PIECE = 1 << 20

#: characters of a title's text kept as read; a longer one is kept as its start and
#: a digest of all of it
_KEPT = 1000


#: what JavaScript's ``trim()`` strips (ECMA-262 WhiteSpace and LineTerminator)
_JS_SPACE = (
    "\t\n\v\f\r \xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000\ufeff")
)
#: a run of ASCII white space, one space in a browser's ``document.title``
_ASCII_RUN = re.compile(r"[\t\n\f\r ]+")


class _Text:
    """A title's text as pdf.js shows it in a browser's tab: its text nodes joined
    (``textContent``; pdf.js's SimpleXMLParser drops a node of spaces, tabs and line
    ends only, not a CDATA section), JavaScript's ``trim()`` at both ends, and each
    run of ASCII white space one space (``document.title``); other white space
    (NBSP, U+3000) kept as written. Read a piece at a time: its first :data:`_KEPT`
    characters and a digest of all of it (a long text is never copied whole)."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.kept = (
            self.digest.copy()
        )  # of the text up to its last unstripped character
        self.start: list[str] = []
        self.length = 0  # characters read, trailing white space too
        self.kept_length = 0
        self.space = False  # the last character read is an ASCII space
        self.node = ""  # the open text node: "" none, "space" white only so far, "text"

    def add(self, data: str, cdata: bool = False) -> None:
        """``data``: more of the open text node (a CDATA section, a node of its own,
        is kept whatever it holds)."""
        if self.node != "text" and not cdata:
            if not data.strip(" \t\n\r"):
                self.node = "space" if data or self.node else ""
                return
            if self.node == "space":  # the node's white start, one space once read
                data = " " + data
        self.node = "text"
        if not self.length:
            data = data.lstrip(_JS_SPACE)
        data = _ASCII_RUN.sub(" ", data)
        if self.space and data[:1] == " ":
            data = data[1:]
        if not data:
            return
        body = data.rstrip(_JS_SPACE)
        if body:
            self._read(body)
            self.kept, self.kept_length = self.digest.copy(), self.length
        self._read(data[len(body) :])
        self.space = data[-1] == " "

    def _read(self, piece: str) -> None:
        self.digest.update(piece.encode("utf-8", "surrogatepass"))
        if self.length < _KEPT:
            self.start.append(piece[: _KEPT - self.length])
        self.length += len(piece)

    def end_node(self) -> None:
        """A tag, comment, processing instruction or CDATA section: the text node
        ends."""
        self.node = ""

    def text(self) -> str:
        start = "".join(self.start)[: self.kept_length]
        if self.kept_length <= _KEPT:
            return start
        return f"{start}... (sha256 {self.kept.hexdigest()})"


#: Ghostscript's octal UTF-16 text in a packet, which pdf.js reads as UTF-16
#: (``MetadataParser._repair``): a text after a tag starting ``\376\377``
_GHOSTSCRIPT = re.compile(r">\\376\\377([^<]+)")
_OCTAL = re.compile(r"\\([0-3])([0-7])([0-7])")
_NAMED = {"amp": "&", "apos": "'", "gt": ">", "lt": "<", "quot": '"'}
_NAMED_REF = re.compile(r"&(amp|apos|gt|lt|quot);")


def _utf16_text(match: re.Match[str]) -> str:
    """One Ghostscript text as pdf.js rewrites it: octal escapes and the five named
    references made characters, their UTF-16 code units taken two at a time as one
    code, written as itself if printable ASCII, else as a character reference (an
    odd last unit: pdf.js writes ``&#xaN;``, which it reads as a line feed)."""
    codes = _OCTAL.sub(lambda m: chr(int(m[1], 8) * 64 + int(m[2] + m[3], 8)), match[1])
    codes = _NAMED_REF.sub(lambda m: _NAMED[m[1]], codes)
    units = codes.encode("utf-16-be", "surrogatepass")
    out = [">"]
    for at in range(0, len(units), 4):
        if at + 2 == len(units):
            out.append("&#xa;")
            break
        code = int.from_bytes(units[at : at + 2]) * 256 + int.from_bytes(
            units[at + 2 : at + 4]
        )
        if 32 <= code < 127 and code not in (38, 60, 62):
            out.append(chr(code))
        else:
            written = format(0x10000 + code, "x")[1:]
            if int(written, 16) > 0x10FFFF:  # pdf.js throws and skips the packet
                raise _Refused
            out.append(f"&#x{written};")
    return "".join(out)


#: characters of Ghostscript text rewritten in one packet; a packet with more does
#: not read (counted by its bytes): titles are short, and the rewriting a loop
_REPAIRED = 1 << 20


def _repaired(text: str) -> str:
    """``text`` as pdf.js hands it to its XML parser: anything before the first
    ``<`` dropped, Ghostscript's octal UTF-16 texts rewritten (:func:`_utf16_text`),
    :data:`_REPAIRED` characters at most."""
    text = text[max(text.find("<"), 0) :]
    if "\\376\\377" not in text:
        return text
    left = [_REPAIRED]

    def rewritten(match: re.Match[str]) -> str:
        left[0] -= len(match[1])
        if left[0] < 0:
            raise _Refused
        return _utf16_text(match)

    return _GHOSTSCRIPT.sub(rewritten, text)


def _refuse(*_: Any) -> int:
    """Any entity declared, skipped or referred to: the packet is not read."""
    raise _Refused


def xmp_titles(xml: bytes, repair: bool = True) -> list[tuple[bool, str]] | None:
    """Every title of an XMP packet in document order, as ``(shown, text)``:
    ``shown`` when pdf.js reads it (an element named ``dc:title`` once lower-cased,
    a child of ``rdf:Description`` in an ``rdf:RDF`` that is the root or its child),
    ``text`` its text as pdf.js shows it (:class:`_Text`; an attribute's value
    kept whole). The packet is read as pdf.js reads it: as UTF-8 whatever its
    declaration or BOM says (None when it is not UTF-8: pdf.js skips it), anything
    before the first ``<`` dropped, Ghostscript's octal UTF-16 texts rewritten
    (:func:`_repaired`; as written when not ``repair``, as other readers show
    them). None for a packet that does not parse, or declares or
    refers to an entity. A title inside a title is read as part of the outer one.
    Linear in ``xml`` (expat, no tree kept, each namespace prefix a stack of its
    own), within :data:`MAX_XMP_MARKUP` tags; callers bound its size."""
    try:
        packet = xml.decode("utf-8")  # pdf.js: decodeURIComponent(escape())
        packet = _repaired(packet) if repair else packet[max(packet.find("<"), 0) :]
    except (UnicodeDecodeError, _Refused):
        return None
    if packet.count("<") > MAX_XMP_MARKUP:
        return None
    parser = expat.ParserCreate("utf-8")  # the declared encoding is not read
    parser.buffer_text, parser.buffer_size = True, _PIECE  # a handler call per text
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
                read.add(value, cdata=True)
                found.append((False, read.text()))
        if title:
            title[2].end_node()
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
        if title:
            title[2].end_node()
        names.pop()
        for prefix in declared.pop():
            spaces[prefix].pop()
        if title and title[0] == len(names):
            found.append((title[1], title[2].text()))
            title.clear()

    cdata = [False]

    def text(data: str) -> None:
        if title:
            title[2].add(data, cdata[0])

    def boundary(*_: Any) -> None:
        if title:
            title[2].end_node()

    def section(opened: bool) -> Any:
        def handler() -> None:
            boundary()
            cdata[0] = opened

        return handler

    parser.StartElementHandler = started
    parser.EndElementHandler = ended
    parser.CharacterDataHandler = text
    parser.CommentHandler = boundary
    parser.ProcessingInstructionHandler = boundary
    parser.StartCdataSectionHandler = section(True)
    parser.EndCdataSectionHandler = section(False)
    try:
        # a piece at a time, so that no text reaches a handler larger than one
        for start in range(0, len(packet), _PIECE):
            parser.Parse(packet[start : start + _PIECE].encode("utf-8"), False)
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


#: an XML declaration's encoding (XML 1.0 §4.3.3)
_DECLARED = re.compile(rb"<\?xml\s[^>]*?encoding\s*=\s*[\"']([^\"']*)")

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
    assert data is not None  # read: titles came from it
    # pdf40: the encoding its declaration names, which readers other than pdf.js
    # follow (a UTF-8 packet declared ISO-8859-1 reads otherwise there)
    declared = _DECLARED.match(data, max(data.find(b"<"), 0))
    named = declared[1].lower() if declared else b"utf-8"
    out.update(b"encoding %d %s " % (len(named), named.replace(b"utf8", b"utf-8")))
    written = []  # Ghostscript's octal UTF-16 as readers that do not repair it show it
    if b"\\376\\377" in data:
        written = [(False, "as written")] + (xmp_titles(data, False) or [])
    for shown, text in titles + written:
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
    shown, info_read = info_title(title)
    if isinstance(info, generic.StreamObject):  # no viewer reads a stream as /Info
        shown, info_read = "", hashlib.sha256(b"in a stream " + info_read).digest()
    xmp, read = _xmp(resolver)
    return Titles(shown, xmp, read, info_read)


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
        (then.info, now.info, then.info_read != now.info_read),
        (then.xmp, now.xmp, then.xmp_read != now.xmp_read),
    ):
        if changed:
            said = (
                "the title viewers show changed after it: "
                f"{before[:80]!r} to {after[:80]!r}"
            )
            if before == after:  # pdf40: the same text written another way
                said += " (written another way, which some viewers show otherwise)"
            return said
    return ""
