"""An XMP packet's title as pdf.js shows it: its text (:class:`ShownText`) and the
packet read with pdf.js's own XML parser (:func:`pdfjs_reading`).

pdf.js does not read XMP with an XML parser: ``src/core/xml_parser.js``
(``XMLParserBase.parseXml``, ``SimpleXMLParser``) scans the markup with
``indexOf``. Where a packet is well-formed XML without a DOCTYPE it builds the tree
expat builds; elsewhere the two part ways. atk41d: a DOCTYPE whose internal subset
holds ``]>`` inside a comment, ``<!DOCTYPE x [<!-- ]><rdf:RDF>...FORGED... -->]>``,
ends for pdf.js at that ``]>``, and the rdf:RDF written in the comment is its
document: its tab said FORGED while expat read the comment as a comment and the
sealed title, and the seal stayed VALID. The same holds for a processing instruction
written without data (``<?a?>``: pdf.js takes ``a?`` for its target and reads on to
the next ``?>``), a DOCTYPE's literal holding ``>`` or ``[``, ``] >`` ending a
subset. So the packet is read here by pdf.js's steps too (our code, written from
its behaviour), and :mod:`services.seal.pdf_title` counts the title it shows, and
a packet the two read as different markup (:attr:`PdfjsReading.markup`) by its
bytes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from certseal.bounds import MAX_XMP_MARKUP

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


class ShownText:
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


def markup_event(kind: str, name: str = "") -> bytes:
    """One piece of a packet's markup as both readings record it, in document
    order: ``<`` an element (its name as written), ``>`` its end, ``?`` a processing
    instruction (its target), ``!`` a comment, ``[`` a CDATA section, ``D`` a
    DOCTYPE."""
    return kind.encode() + name.encode("utf-8", "surrogatepass") + b"\0"


class _Thrown(Exception):
    """pdf.js throws while reading the packet; its catalog then skips it."""


class _Stopped(Exception):
    """``parseXml`` reports an error and stops: pdf.js reads no document."""


_WS = re.compile(r"[ \n\r\t]*")  # pdf.js's isWhitespace: these four only
_NAME = re.compile(r"[^ \n\r\t>/]*")
_ATTRIBUTE = re.compile(r"[^ \n\r\t=]*")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_DIGITS = {10: re.compile(r"[0-9]*"), 16: re.compile(r"[0-9A-Fa-f]*")}


def _code_point(text: str, radix: int) -> str:
    """``String.fromCodePoint(parseInt(text, radix))``: leading white space and a
    sign skipped, ``0x`` too in base 16, then the digits up to the first other
    character; none, or outside Unicode, throws."""
    text = text.lstrip(_JS_SPACE)
    sign = text[:1]
    text = text[1:] if sign in ("+", "-") else text
    if radix == 16 and text[:2] in ("0x", "0X"):
        text = text[2:]
    digits = _DIGITS[radix].match(text)
    value = digits[0].lstrip("0") if digits and digits[0] else None
    if value is None or len(value) > 7:  # NaN, or past U+10FFFF
        raise _Thrown
    code = int(value or "0", radix)
    if (sign == "-" and code) or code > 0x10FFFF:
        raise _Thrown
    return chr(code)


def _entity(name: str) -> str:
    if name[:2] == "#x":
        return _code_point(name[2:], 16)
    if name[:1] == "#":
        return _code_point(name[1:], 10)
    return _NAMED.get(name, f"&{name};")  # any other name left as written


def _resolved(text: str) -> str:
    """``XMLParserBase._resolveEntities``: each ``&...;`` (from an ``&`` to the
    first ``;`` after at least one other character) read once, left to right; in
    time linear in ``text``."""
    if "&" not in text:
        return text
    out, done, at = [], 0, 0
    while (amp := text.find("&", at)) >= 0:
        semi = text.find(";", amp + 1)
        if semi < 0:
            break
        if semi == amp + 1:
            at = semi
            continue
        out += [text[done:amp], _entity(text[amp + 1 : semi])]
        done = at = semi + 1
    out.append(text[done:])
    return "".join(out)


def _match_end(pattern: re.Pattern[str], s: str, at: int) -> int:
    found = pattern.match(s, at)
    return found.end() if found else at


def _start_tag(s: str, at: int) -> tuple[str, int] | None:
    """``XMLParserBase._parseContent``: a start tag's name and where its attributes
    end, or None when malformed. Each attribute value's entities are resolved (and
    may throw), though the metadata reader keeps none."""
    pos = _match_end(_NAME, s, at)
    name = s[at:pos]
    pos = _match_end(_WS, s, pos)
    while pos < len(s) and s[pos] not in ">/?":
        pos = _match_end(_ATTRIBUTE, s, _match_end(_WS, s, pos))
        pos = _match_end(_WS, s, pos)
        if s[pos : pos + 1] != "=":
            return None
        pos = _match_end(_WS, s, pos + 1)
        quote = s[pos : pos + 1]
        end = s.find(quote, pos + 1) if quote in ("'", '"') else -1
        if end < 0:
            return None
        _resolved(s[pos + 1 : end])
        pos = _match_end(_WS, s, end + 1)
    return name, pos


@dataclass
class _Fragment:
    """An element's children, as far as the title needs them: ``role`` "top" (the
    document's), "doc" (the document element's), "rdf", "desc" (an
    ``rdf:description``'s there), "title" (under its ``dc:title``), "none"."""

    role: str
    title: ShownText | None = None
    root: bool = False  # the document element's


class _Tree:
    """What pdf.js's SimpleXMLParser (names lower-cased) and MetadataParser make of
    the nodes: the document element, its first ``rdf:rdf`` child (or itself), that
    one's ``rdf:description`` children, and the text under each of their
    ``dc:title`` children (the last one shown). No tree is kept."""

    def __init__(self) -> None:
        self.fragment = _Fragment("top")
        self.stack: list[_Fragment] = []
        self.root = ""  # the document element: "" none yet, "text", "rdf", "other"
        self.root_closed = False  # its end read: its children's parentNode set
        self.first_child = ""  # the document element's: "rdf" or "other"
        self.rdf_found = False
        self.title: ShownText | None = None  # the last dc:title

    def _node(self, name: str | None) -> _Fragment:
        """A node added to the open fragment, an element named ``name`` (lower-cased)
        or a text node (None); the fragment its children go to."""
        role = self.fragment.role
        if role == "top":
            if self.root:
                return _Fragment("none")
            self.root = "text" if name is None else "other"
            self.root = "rdf" if name == "rdf:rdf" else self.root
            return _Fragment("rdf" if self.root == "rdf" else "doc", root=True)
        if role == "doc":
            self.first_child = self.first_child or (
                "rdf" if name == "rdf:rdf" else "other"
            )
            if name == "rdf:rdf" and not self.rdf_found:
                self.rdf_found = True
                return _Fragment("rdf")
        if role == "rdf" and name == "rdf:description":
            return _Fragment("desc")
        if role == "desc" and name == "dc:title":
            self.title = ShownText()
            return _Fragment("title", self.title)
        return _Fragment("title" if role == "title" else "none", self.fragment.title)

    def element(self, name: str, closed: bool) -> None:
        child = self._node(name.lower())
        if not closed:
            self.stack.append(self.fragment)
            self.fragment = child

    def end(self) -> None:
        """An end tag, whatever its name: ``this._stack.pop() || []``."""
        leaving = self.fragment
        self.fragment = self.stack.pop() if self.stack else _Fragment("none")
        self.root_closed = self.root_closed or leaving.root

    def text(self, text: str) -> None:
        self._node(None)
        if self.fragment.title is not None:
            self.fragment.title.add(text, cdata=True)

    def shown(self) -> str | None:
        if not self.root:
            return None  # parseFromString: no document element
        if (
            self.root == "other"
            and self.first_child == "other"
            and not self.root_closed
        ):
            raise _Thrown  # nextSibling of a node whose parentNode is null
        found = self.root == "rdf" or (self.root == "other" and self.rdf_found)
        return self.title.text() if found and self.title is not None else ""


@dataclass(frozen=True)
class PdfjsReading:
    #: the dc:title pdf.js shows ("" none), None when it reads no document
    title: str | None
    #: a digest of the markup as read (:func:`markup_event`, in document order)
    markup: bytes


def _markup(s: str, at: int, tree: _Tree, events: Any) -> int:
    """The markup starting with ``<`` at ``at``, read as ``parseXml`` reads it;
    where the next node starts."""
    j = at + 1
    kind = s[j : j + 1]
    if kind == "/":
        end = s.find(">", j + 1)
        if end < 0:
            raise _Stopped
        tree.end()
        events.update(markup_event(">"))
        return end + 1
    if kind == "?":
        name_end = _match_end(_NAME, s, j + 1)
        end = s.find("?>", _match_end(_WS, s, name_end))
        if end < 0:
            raise _Stopped
        if s[j + 1 : name_end] != "xml":  # the XML declaration: no PI to expat
            events.update(markup_event("?", s[j + 1 : name_end]))
        return end + 2
    if kind == "!":
        if s[j + 1 : j + 3] == "--":
            end, skip, event = s.find("-->", j + 3), 3, "!"
        elif s[j + 1 : j + 8] == "[CDATA[":
            end, skip, event = s.find("]]>", j + 8), 3, "["
            if end >= 0:
                tree.text(s[j + 8 : end])
        elif s[j + 1 : j + 8] == "DOCTYPE":
            end, skip, event = s.find(">", j + 8), 1, "D"
            # a "[" before that ">" (looked for there only: linear) opens an
            # internal subset, which pdf.js ends at the next "]>", wherever it is
            if end >= 0 and s.find("[", j + 8, end) >= 0:
                end, skip = s.find("]>", j + 8), 2
        else:
            raise _Stopped
        if end < 0:
            raise _Stopped
        events.update(markup_event(event))
        return end + skip
    tag = _start_tag(s, j)
    if tag is None:
        raise _Stopped
    name, end = tag
    closed = s[end : end + 2] == "/>"
    if not closed and s[end : end + 1] != ">":
        raise _Stopped
    tree.element(name, closed)
    events.update(markup_event("<", name) + (markup_event(">") if closed else b""))
    return end + (2 if closed else 1)


def pdfjs_reading(packet: str) -> PdfjsReading:
    """``packet`` (as pdf.js hands it to its parser: decoded as UTF-8, repaired) read
    by ``XMLParserBase.parseXml``'s steps, and the title ``MetadataParser`` takes
    from it. Linear in ``packet``: each step finds its end with ``str.find``; within
    :data:`MAX_XMP_MARKUP` tags and entity references (a reference costs a Python
    call), else read as no document (the caller then counts the packet by its
    bytes)."""
    if packet.count("<") > MAX_XMP_MARKUP or packet.count("&") > MAX_XMP_MARKUP:
        return PdfjsReading(None, b"")  # not read here: the caller counts its bytes
    tree, events = _Tree(), hashlib.sha256()
    at = 0
    try:
        while at < len(packet):
            if packet[at] == "<":
                at = _markup(packet, at, tree, events)
                continue
            end = packet.find("<", at)
            end = len(packet) if end < 0 else end
            text = _resolved(packet[at:end])
            if text.strip(" \n\r\t"):  # a node of white space only is dropped
                tree.text(text)
            at = end
        return PdfjsReading(tree.shown(), events.digest())
    except (_Stopped, _Thrown):
        return PdfjsReading(None, events.digest())
