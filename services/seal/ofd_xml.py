"""The XML files of an OFD package, parsed within bounds (GB/T 33190 §7.1).

Each file: at most :data:`MAX_OFD_XML_BYTES`, nesting at most
:data:`MAX_OFD_XML_DEPTH` elements, no DTD (but a bare ``<!DOCTYPE name>``, which
declares nothing), entity or external reference (defusedxml over the standard
library's expat parser), in an encoding it can be read in.

And every request (atk16 F2): the trees it parses are charged to an
:class:`XmlBudget` *while they are parsed*, by an estimate of what they take in memory
(an element with an attribute takes about 330 bytes for the 9 bytes of ``<a b=""/>``;
a page of Chinese text objects about 6.4 times its bytes), so that a request holds no
more than it was admitted for. A package's request is admitted for
:func:`admitted_bytes`: its bytes, what its entries inflate to, and
:data:`XML_TREE_FACTOR` times its largest XML file (``ofd_service``), and its trees
may take as much (plus :data:`XML_TREE_ALLOWANCE`); a tree kept for the request stays
charged, a tree dropped after use (a page whose names were read) is given back
(:meth:`XmlBudget.lent`). Passing it is :class:`XmlTooLarge`, INVALID_ARGUMENT naming
the file: it ends the request, not only that file's use.

Pure and CPU-bound: callers run it off the event loop.
"""

from __future__ import annotations

import codecs
import contextlib
import re
import sys
import xml.etree.ElementTree as ET  # types; parsing is defusedxml
from collections.abc import Iterator
from typing import cast

from defusedxml import DefusedXmlException, DTDForbidden
from defusedxml.ElementTree import DefusedXMLParser

from certseal.errors import CertsealError, ErrorKind, invalid

MAX_OFD_XML_BYTES = 16 * 1024 * 1024
"""Bytes of one XML file that is parsed (OFD.xml, Document.xml, a page, a signature)."""

MAX_OFD_XML_DEPTH = 64
"""Nesting of elements in one XML file; OFD pages nest a handful of levels (blocks in
page blocks), GB/T 33190 sets no limit."""


XML_TREE_FACTOR = 12
"""Estimated bytes of parsed tree a package's request is admitted for by byte of its
largest XML file: a page of Chinese text objects takes about 9.4 by the estimate
(6.4 measured), the densest file of ofdrw's test OFDs 6.6 measured (docs/
architecture.md, "Parsed XML"). ``<a b=""/>`` would take 45: refused a quarter
through."""

XML_TREE_ALLOWANCE = 256 * 1024
"""Bytes of parsed trees any request may hold beyond what it is admitted for: a
small package's few files cost a few KiB each whatever their size."""


def admitted_bytes(size: int, inflated: int, largest_xml: int) -> int:
    """What a request with a package of ``size`` bytes, whose entries inflate to
    ``inflated`` and whose largest ``.xml`` entry is ``largest_xml``, is admitted
    for, and what its parsed trees may take: the package, its files, and
    :data:`XML_TREE_FACTOR` times its largest XML file (a request holds a few
    files' trees at once: the package's root, the document's, the signatures', one
    page's)."""
    return size + inflated + XML_TREE_FACTOR * min(largest_xml, MAX_OFD_XML_BYTES)


# estimated bytes of a parsed tree (CPython 3.11's C ElementTree under defusedxml's
# parser; measured with tracemalloc: an element about 80 bytes, its first child
# gives it a block of about 56;
# the dict of its attributes about 250 up to 5, then about 35 an attribute; an
# attribute's value a string, about 50 bytes plus its characters at 1, 2 or 4 bytes
# each; a text or tail about 190 plus its characters, kept as pieces to be joined;
# a file about 3 KiB for its root and its names): each rounded up
_CHUNK = 16 * 1024  # what expat is given at a time (iterparse's size)
_FILE_COST = 4096
_ELEMENT_COST = 112
_CHILDREN_COST = 64  # an element's first child gives it a children block (atk16b F2)
_ATTRIBUTES_COST = 256  # the dict of an element with attributes
_ATTRIBUTE_COST = 40  # each attribute's place in it
_VALUE_COST = 64  # an attribute's value
_TEXT_COST = 192  # a text or a tail
_NAME_COST = 256  # a name first met: the parser's cache entry (its raw and full forms)


def _text_cost(text: str | None, header: int) -> int:
    """What the string ``text`` takes: nothing for a cached one (empty, or one
    ASCII character), else ``header`` and its characters, 1, 2 or 4 bytes each
    as its widest needs."""
    if not text or (len(text) == 1 and text.isascii()):
        return 0
    widest = "\x00" if text.isascii() else max(text)
    width = 1 if widest <= "\xff" else 2 if widest <= "\uffff" else 4
    return header + len(text) * width


def _name_cost(name: str, names: set[str]) -> int:
    """What a tag or attribute name costs the first time it is met in a file."""
    if name in names:
        return 0
    names.add(name)
    return _NAME_COST + 2 * len(name)


class EndsRequest(CertsealError):
    """INVALID_ARGUMENT ending the request: not a damaged file (whose refusal a
    verifier reports and goes on, so that what the file names goes unread), so
    every handler of a file's refusal lets it through."""


class XmlTooLarge(EndsRequest):
    """A request's parsed XML would take more than its :class:`XmlBudget`."""


class XmlBudget:
    """What the parsed trees of one request may take at once, in estimated bytes.

    Used by one request's jobs, which run one after another (no lock)."""

    def __init__(self, limit: int, admitted: int = 0):
        self.limit = limit
        self.admitted = admitted
        self.held = 0
        self.peak = 0

    @classmethod
    def for_admitted(cls, admitted: int) -> XmlBudget:
        """The budget of a request admitted for ``admitted`` bytes
        (:func:`admitted_bytes`)."""
        return cls(admitted + XML_TREE_ALLOWANCE, admitted)

    def take(self, cost: int, name: str, field: str) -> None:
        """Charge ``cost`` bytes parsing the file ``name``; :class:`XmlTooLarge`
        (``field``) past the limit."""
        self.held += cost
        self.peak = max(self.peak, self.held)
        if self.held > self.limit:
            raise XmlTooLarge(
                ErrorKind.INVALID_ARGUMENT,
                f"{name} is too large to parse: the package's XML, parsed, would "
                f"take more than {self.limit} bytes (what the request is admitted "
                f"for: {self.admitted} bytes, the package, what it inflates to and "
                f"{XML_TREE_FACTOR} times its largest XML file); its elements and "
                "attributes are too many for its size",
                field=field,
            )

    def give_back(self, cost: int) -> None:
        """``cost`` bytes of trees dropped."""
        self.held -= cost

    @contextlib.contextmanager
    def lent(self) -> Iterator[None]:
        """The trees parsed in the block are dropped after it: what they took is
        given back when it ends."""
        held = self.held
        try:
            yield
        finally:
            self.held = held


# the XML declaration's encoding, whatever comes before it in the declaration: expat
# takes a version of any [A-Za-z0-9._:-] (atk-day X1: a pattern wanting [0-9.] let
# version="1.x" pass unexamined)
_DECLARATION = re.compile(
    rb"<\?xml[ \t\r\n][^>]*?[ \t\r\n]encoding[ \t\r\n]*=[ \t\r\n]*"
    rb"(['\"])([^'\"]*)\1"
)
DECODED_ENCODINGS = {"gbk", "gb2312", "gb18030"}
"""Multi-byte encodings expat cannot read that Chinese OFD producers write XML in
(GB 18030 and its subsets GBK and GB 2312): decoded here, strictly, before parsing.
The digests a signature protects are of the file's bytes as they are, not of this
decoding."""

EXPAT_ENCODINGS = {"utf-8", "utf-16", "utf-16-le", "utf-16-be", "ascii", "iso8859-1"}
"""The encodings expat reads itself (XML 1.0 §4.3.3 requires UTF-8 and UTF-16)."""

_UNREADABLE = "UTF-8, UTF-16, GB 18030, GBK, GB 2312 or a single-byte one"


def _single_byte(codec: codecs.CodecInfo) -> bool:
    """Whether ``codec`` maps each byte on its own to one character, with no state
    (a charmap codec, as cp1252 or koi8-r). Expat reads any other encoding Python
    knows byte by byte as well, and so misreads stateful ones: HZ's ``~{``,
    ISO-2022's escapes and ``unicode_escape``'s ``\\x3c`` are shifts and characters
    to a reader of that encoding and plain text to expat, so the two would see
    different names in one file."""
    module = getattr(codec.decode, "__module__", None) or ""
    table = getattr(sys.modules.get(module), "decoding_table", None)
    return isinstance(table, str) and len(table) == 256


def _decoded(data: bytes, name: str, field: str) -> bytes:
    """``data`` as expat can read it: itself when its declared encoding is one expat
    reads as its own readers do (:data:`EXPAT_ENCODINGS`, a single-byte charmap);
    re-encoded as UTF-8 (its declaration saying so) when it is one of
    :data:`DECODED_ENCODINGS`; INVALID_ARGUMENT naming the file and the encoding
    otherwise (an unknown name, another multi-byte or a stateful encoding)."""
    marked = data.startswith(codecs.BOM_UTF8)
    match = _DECLARATION.match(data, len(codecs.BOM_UTF8) if marked else 0)
    if match is None:  # no declaration (UTF-8), or UTF-16's mark: expat decides
        return data
    declared = match.group(2).decode("ascii", "replace")
    try:
        codec = codecs.lookup(declared)
    except LookupError:
        codec = None
    if marked and (codec is None or codec.name != "utf-8"):
        # expat would follow the declaration; XML 1.0 §4.3.3 makes it an error
        raise invalid(
            field,
            f"{name} begins with UTF-8's byte order mark but declares the encoding "
            f"{declared!r}",
        )
    if codec is not None and codec.name in DECODED_ENCODINGS:
        try:  # as GB 18030, a superset: producers labelling GB 2312 write GBK
            text = data.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise invalid(
                field, f"{name} is not valid {declared} (its declared encoding): {exc}"
            ) from None
        start, end = match.span(2)
        return (text[:start] + "UTF-8" + text[end:]).encode("utf-8")
    if codec is not None and codec.name == "utf-8":
        # another label of UTF-8 ("utf8"): expat knows only its own name
        start, end = match.span(2)
        return data[:start] + b"UTF-8" + data[end:]
    if codec is not None and (codec.name in EXPAT_ENCODINGS or _single_byte(codec)):
        return data
    raise invalid(
        field,
        f"{name} declares the encoding {declared!r}, which it cannot be read in "
        f"({_UNREADABLE})",
    )


def parse_xml(
    data: bytes, name: str, field: str = "ofd", *, budget: XmlBudget | None = None
) -> ET.Element:
    """The root element of the package's XML file ``name``, parsed within bounds.

    Its tree is charged to ``budget`` as it is built (a file on its own: as a
    package of that one file, :func:`admitted_bytes`); a refused file gives back
    what it took.

    Raises INVALID_ARGUMENT (``field``) when it is over :data:`MAX_OFD_XML_BYTES`, nests
    deeper than :data:`MAX_OFD_XML_DEPTH`, has a DTD or entities, is not XML, or
    declares an encoding it cannot be read in (GB 18030 and GBK are read:
    :func:`_decoded`); :class:`XmlTooLarge` when its tree would pass ``budget``.
    """
    if len(data) > MAX_OFD_XML_BYTES:
        raise invalid(
            field,
            f"{name} is {len(data)} bytes; the limit for an XML file is "
            f"{MAX_OFD_XML_BYTES}",
        )
    if budget is None:
        budget = XmlBudget.for_admitted(admitted_bytes(len(data), 0, len(data)))
    data = _decoded(data, name, field)
    before = budget.held
    try:
        return _parse(data, name, field, budget)
    except CertsealError as exc:
        budget.held = before
        # the partial tree is held by the frames of the traceback: dropped with it
        raise exc.with_traceback(None) from None
    except BaseException:
        budget.held = before
        raise


def _doctype_declared(
    name: str, system: str | None, public: str | None, has_subset: int
) -> None:
    """Refuse a document type declaration unless it is a bare name
    (``<!DOCTYPE ofd:OFD>``), which declares nothing: dom4j (ofdrw), libxml2 and
    every XML parser read the file as without it (atk33 A2: refused, a sealed
    ``OFD.xml`` with one was read as a damaged file). An external subset or an
    internal one may declare attribute defaults or entities, which readers apply
    or not: what the file says would depend on the reader."""
    if system or public or has_subset:
        raise DTDForbidden(name, system, public)


def _parse(data: bytes, name: str, field: str, budget: XmlBudget) -> ET.Element:
    """:func:`parse_xml`'s parsing: the tree built from each chunk of
    :data:`_CHUNK` bytes is charged to ``budget`` before the next is read."""
    budget.take(_FILE_COST, name, field)
    open_elements: list[ET.Element] = []
    root: ET.Element | None = None
    ended: ET.Element | None = None  # its tail is known at the next event
    names: set[str] = set()  # a new name also costs the parser's cache an entry
    parser = DefusedXMLParser(
        target=ET.TreeBuilder(),
        forbid_dtd=False,  # a bare one only: _doctype_declared
        forbid_entities=True,
        forbid_external=True,
    )
    parser.parser.StartDoctypeDeclHandler = _doctype_declared
    # not iterparse: its iterator sits in a reference cycle, so a tree refused
    # half-built would stay until the garbage collector finds it
    pull = ET.XMLPullParser(events=("start", "end"), _parser=parser)
    at, closed = 0, False
    try:
        while not closed:
            chunk = data[at : at + _CHUNK]
            at += len(chunk)
            if chunk:
                pull.feed(chunk)
            else:
                pull.close()
                closed = True
            for read in pull.read_events():
                # (event, element): start and end events only were asked for
                event, element = cast("tuple[str, ET.Element]", read)
                cost = 0
                if ended is not None:
                    cost += _text_cost(ended.tail, _TEXT_COST)
                    ended = None
                if event == "start":
                    open_elements.append(element)
                    if len(open_elements) > MAX_OFD_XML_DEPTH:
                        raise invalid(
                            field,
                            f"{name} nests elements deeper than {MAX_OFD_XML_DEPTH}",
                        )
                    if root is None:
                        root = element
                    cost += _ELEMENT_COST + _name_cost(element.tag, names)
                    if len(open_elements) > 1 and len(open_elements[-2]) == 1:
                        cost += _CHILDREN_COST
                    # items(), not .attrib: reading .attrib of an element without
                    # attributes gives it an empty dict, 128 bytes no one counted
                    attributes = element.items()
                    if attributes:
                        cost += _ATTRIBUTES_COST
                        for key, value in attributes:
                            cost += _ATTRIBUTE_COST + _name_cost(key, names)
                            cost += _text_cost(value, _VALUE_COST)
                else:
                    open_elements.pop()
                    cost += _text_cost(element.text, _TEXT_COST)
                    ended = element
                budget.take(cost, name, field)
    except DefusedXmlException:  # a bare <!DOCTYPE name> is read: _doctype_declared
        raise invalid(
            field,
            f"{name} has a document type declaration (DTD) with a subset or an external "
            "id (entities, attribute defaults), which OFD never needs",
        ) from None
    except ET.ParseError as exc:
        raise invalid(field, f"{name} is not well-formed XML: {exc}") from None
    except (ValueError, LookupError) as exc:  # an encoding expat cannot use
        match = _DECLARATION.match(data.removeprefix(codecs.BOM_UTF8))
        declared = match.group(2).decode("ascii", "replace") if match else "?"
        raise invalid(
            field,
            f"{name} declares the encoding {declared!r}, which it cannot be read in "
            f"({_UNREADABLE}): {exc}",
        ) from None
    finally:
        if not closed:
            # defusedxml's pure-Python parser and expat refer to each other until
            # the document is closed, and so hold the tree and the events not yet
            # read until the garbage collector finds them: a tree refused half-built
            # is emptied here (the elements still open hold every other)
            for element in open_elements:
                element.clear()
            for _ in pull.read_events():
                pass
    if root is None:
        raise invalid(field, f"{name} has no root element")
    return root
