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

atk41d: two faults of one reading. (1) expat stood for pdf.js, which reads the
packet with a parser of its own (``indexOf``, no grammar): a DOCTYPE whose subset
comment held ``]>`` made pdf.js read a forged rdf:RDF written in that comment while
expat read the sealed title. The packet is now read by pdf.js's steps as well
(:func:`services.seal.pdf_xmp.pdfjs_reading`), the title it shows is counted, and a
packet with a DOCTYPE, or whose markup or shown title the two readings disagree on,
is counted by its bytes too. (2) a title was kept as its joined text, as pdf.js
shows it, while readers of XMP as XMP (Acrobat, exiftool, PDF 2.0 readers) choose
an item of its language alternative by xml:lang: the languages swapped read alike.
Each title's form (:attr:`_Reading.forms`: its elements with their languages and
attributes, each one's own text, in order) is now counted as well.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError

from certseal.bounds import MAX_DOCUMENT_BYTES, MAX_XMP_MARKUP
from services.seal.pdf_strings import info_title
from services.seal.pdf_xmp import ShownText as _Text
from services.seal.pdf_xmp import markup_event, pdfjs_reading

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


def _packet(xml: bytes, repair: bool = True) -> str | None:
    """An XMP packet as pdf.js hands it to its parser: decoded as UTF-8 whatever its
    declaration or BOM says (None when it is not UTF-8: pdf.js skips it), anything
    before the first ``<`` dropped, Ghostscript's octal UTF-16 texts rewritten
    (:func:`_repaired`; as written when not ``repair``, as other readers show
    them)."""
    try:
        packet = xml.decode("utf-8")  # pdf.js: decodeURIComponent(escape())
        return _repaired(packet) if repair else packet[max(packet.find("<"), 0) :]
    except (UnicodeDecodeError, _Refused):
        return None


@dataclass(frozen=True)
class _Reading:
    """An XMP packet as an XML parser (expat) reads it (:func:`_read`)."""

    #: every title in document order: (shown by pdf.js, text as its tab shows it)
    titles: list[tuple[bool, str]]
    #: each title's form, as readers that read XMP as XMP choose from it (ISO
    #: 16684-1 §8.2.2.4: the x-default item of a language alternative, or the
    #: first): a digest of its elements in order (namespace, local name, the
    #: xml:lang in effect, its attributes as written) and each one's own text
    forms: list[bytes]
    #: its markup in document order (:func:`services.seal.pdf_xmp.markup_event`)
    markup: bytes
    #: it has a DOCTYPE
    doctype: bool


def _record(*fields: Any) -> bytes:
    """One entry of a title's form, unambiguous (JSON, ASCII)."""
    return json.dumps(fields).encode() + b"\n"


def xmp_titles(xml: bytes, repair: bool = True) -> list[tuple[bool, str]] | None:
    """Every title of an XMP packet (:func:`_packet`) in document order, as
    ``(shown, text)`` (:attr:`_Reading.titles`); None when it does not read."""
    packet = _packet(xml, repair)
    reading = _read(packet) if packet is not None else None
    return reading.titles if reading is not None else None


def _read(packet: str) -> _Reading | None:
    """``packet`` read by expat: every element or attribute whose local name is
    ``title`` in any case, under the prefix ``dc`` in any case or the Dublin Core
    namespace; ``shown`` when pdf.js reads it (an element named ``dc:title`` once
    lower-cased, a child of ``rdf:Description`` in an ``rdf:RDF`` that is the root
    or its child), its text as pdf.js shows it (:class:`_Text`; an attribute's
    value kept whole) and its form (:attr:`_Reading.forms`). None for a packet that
    does not parse, or declares or refers to an entity. A title inside a title is
    read as part of the outer one. Linear in ``packet`` (expat, no tree kept, each
    namespace prefix a stack of its own), within :data:`MAX_XMP_MARKUP` tags;
    callers bound its size."""
    if packet.count("<") > MAX_XMP_MARKUP:
        return None
    parser = expat.ParserCreate("utf-8")  # the declared encoding is not read
    parser.buffer_text, parser.buffer_size = True, _PIECE  # a handler call per text
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.EntityDeclHandler = _refuse
    parser.SkippedEntityHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    found: list[tuple[bool, str]] = []
    forms: list[bytes] = []
    markup, doctype = hashlib.sha256(), [False]
    names: list[str] = []  # the open elements' names as written, lower-cased
    langs: list[str | None] = []  # the xml:lang in effect in each open element
    declared: list[list[str]] = []  # the prefixes each open element declares
    spaces: dict[str, list[str]] = {}  # prefix ("": the default) to its URIs
    # the open outermost title: depth, shown, its text, its form, the open
    # element's own text
    title: list[Any] = []

    def named(name: str, default: bool) -> str:
        """``{uri}local`` when its prefix is bound, else as written."""
        prefix, _, local = name.rpartition(":")
        uris = spaces.get(prefix) if prefix or default else None
        return f"{{{uris[-1]}}}{local}" if uris else name

    def is_title(name: str, default: bool) -> bool:
        prefix, _, local = name.rpartition(":")
        if local.lower() != "title":
            return False
        uris = spaces.get(prefix) if prefix or default else None
        return prefix.lower() == "dc" or bool(uris and uris[-1] in _DC)

    def own_text() -> None:
        """The open element's text read so far into the title's form."""
        if title:
            if text := title[4].text():
                title[3].update(_record("text", text))
            title[2].end_node()
            title[4] = _Text()

    def started(name: str, attributes: dict[str, str]) -> None:
        markup.update(markup_event("<", name))
        mine = [k[6:] for k in attributes if k == "xmlns" or k.startswith("xmlns:")]
        for prefix in mine:
            spaces.setdefault(prefix, []).append(
                attributes["xmlns:" + prefix if prefix else "xmlns"]
            )
        declared.append(mine)
        lang = attributes.get("xml:lang", langs[-1] if langs else None)
        langs.append(lang)
        for key, value in attributes.items():
            if is_title(key, default=False):
                read = _Text()
                read.add(value, cdata=True)
                found.append((False, read.text()))
                forms.append(hashlib.sha256(_record("@", lang, read.text())).digest())
        own_text()
        lower = name.lower()
        if not title and is_title(name, default=True):
            shown = (
                lower == "dc:title"
                and names[-1:] == ["rdf:description"]
                and names[-2:-1] == ["rdf:rdf"]
                and len(names) in (2, 3)
            )
            title[:] = [len(names), shown, _Text(), hashlib.sha256(), _Text()]
        if title:
            written = (
                (named(k, False), v)
                for k, v in attributes.items()
                if k != "xmlns" and not k.startswith("xmlns:")
            )
            title[3].update(_record("<", named(name, True), lang, sorted(written)))
        names.append(lower)

    def ended(_name: str) -> None:
        markup.update(markup_event(">"))
        own_text()
        if title:
            title[3].update(_record(">"))
        names.pop()
        langs.pop()
        for prefix in declared.pop():
            spaces[prefix].pop()
        if title and title[0] == len(names):
            found.append((title[1], title[2].text()))
            forms.append(title[3].digest())
            title.clear()

    cdata = [False]

    def text(data: str) -> None:
        if title:
            title[2].add(data, cdata[0])
            title[4].add(data, cdata[0])

    def boundary(kind: str, name: str = "") -> None:
        markup.update(markup_event(kind, name))
        if title:
            title[2].end_node()
            title[4].end_node()

    def section(opened: bool) -> Any:
        def handler() -> None:
            if opened:
                boundary("[")
            elif title:
                title[2].end_node()
                title[4].end_node()
            cdata[0] = opened

        return handler

    def doctype_started(*_: Any) -> None:
        doctype[0] = True
        markup.update(markup_event("D"))

    parser.StartElementHandler = started
    parser.EndElementHandler = ended
    parser.CharacterDataHandler = text
    parser.CommentHandler = lambda _data: boundary("!")
    parser.ProcessingInstructionHandler = lambda target, _data: boundary("?", target)
    parser.StartCdataSectionHandler = section(True)
    parser.EndCdataSectionHandler = section(False)
    parser.StartDoctypeDeclHandler = doctype_started
    try:
        # a piece at a time, so that no text reaches a handler larger than one
        for start in range(0, len(packet), _PIECE):
            parser.Parse(packet[start : start + _PIECE].encode("utf-8"), False)
        parser.Parse(b"", True)
    except (expat.ExpatError, _Refused, ValueError, UnicodeError):
        return None
    return _Reading(found, forms, markup.digest(), doctype[0])


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
    packet = (
        _packet(data) if data is not None and len(data) <= MAX_DOCUMENT_BYTES else None
    )
    reading = _read(packet) if packet is not None else None
    pdfjs = pdfjs_reading(packet) if packet is not None else None
    by_pdfjs = pdfjs.title if pdfjs is not None else None
    out = hashlib.sha256(b"read by pdf.js" if read else b"not read by pdf.js")
    if reading is None:
        out.update(b"unread " + hashlib.sha256(stream.encoded_data).digest())
        return by_pdfjs or _UNREAD_PACKET, out.digest()
    assert data is not None  # read: the reading came from it
    shown_texts = [text for shown, text in reading.titles if shown]
    if (  # atk41d: markup pdf.js reads otherwise than XML readers, by its bytes
        reading.doctype
        or pdfjs is None
        or pdfjs.markup != reading.markup
        or by_pdfjs != (shown_texts or [""])[-1]
    ):
        out.update(b"read two ways " + hashlib.sha256(data).digest())
    shows = (by_pdfjs or "").encode("utf-8", "replace")
    out.update(b"pdf.js shows %d " % len(shows) + shows)
    # pdf40: the encoding its declaration names, which readers other than pdf.js
    # follow (a UTF-8 packet declared ISO-8859-1 reads otherwise there)
    declared = _DECLARED.match(data, max(data.find(b"<"), 0))
    named = declared[1].lower() if declared else b"utf-8"
    out.update(b"encoding %d %s " % (len(named), named.replace(b"utf8", b"utf-8")))
    read_titles = list(zip(reading.titles, reading.forms, strict=True))
    if b"\\376\\377" in data:  # Ghostscript's octal UTF-16 as readers that do not
        written = _packet(data, repair=False)  # repair it show it
        as_written = _read(written) if written is not None else None
        read_titles.append(((False, "as written"), b""))
        if as_written is not None:
            read_titles += zip(as_written.titles, as_written.forms, strict=True)
    for (shown, text), form in read_titles:
        out.update(b"%d %d " % (shown, len(text)) + text.encode("utf-8", "replace"))
        out.update(form)
    shown_texts = shown_texts or [t for _, t in reading.titles]
    return by_pdfjs or (shown_texts[-1] if shown_texts else ""), out.digest()


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
