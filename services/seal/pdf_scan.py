"""An object's bytes read without pyHanko's parser: what it names, whether pyHanko
must read it at all, and the names pyHanko reads as another.

pyHanko's lexer costs about 4 µs a token. Reading every object in use before
sealing (:func:`services.seal.pdf_twice.refuse_sealing`) and every object version
when verifying (:func:`services.seal.pdf_after.filled_after`) cost seconds for a
megabyte array nothing refers to (atk43 F3: 3.4 s of CPU to seal 1.2 MiB, 2.6 s to
verify 0.8 MiB after the seal). :func:`scan` reads an object's bytes with regular
expressions (a run of numbers, references and plain names is one step) and says
whether it is *sure*: no dictionary in it gives a key twice, nothing in it is
outside the plain syntax below, and the object numbers it names are exactly those
pyHanko's reading would find. Only an object it is not sure of is read by pyHanko
(and heard, :mod:`services.seal.pdf_twice`): so every key given twice that pyHanko
meets is still heard, while a large object of plain syntax costs regular
expressions, not tokens.

Plain syntax, anything else making the scan unsure: numbers (``-1.5``), references
``N G R`` with one or two white-space characters between the parts (pyHanko tells
a reference by 20 bytes of look-ahead), names pyHanko reads (every byte from ``!``
to ``~``, ``#`` followed by two hex digits), literal strings with the escapes
pyHanko reads, hex strings, ``true``, ``false``, ``null``, arrays, dictionaries
whose keys are names, each once as pyHanko compares them, and a stream's
``stream`` after the object's dictionary (its data is not read); nesting to
:data:`MAX_SURE_NESTING`. No comment (``%``) inside an object.

A name pyHanko reads as another (:func:`name_problem`, atk43 F2): pyHanko decodes
a name's bytes as UTF-8 and, when they are not, as Latin-1, so ``/#E9`` and
``/#C3#A9`` are one name to it and two to every viewer (they compare bytes), and
its writer writes every name as UTF-8 (``/#E9`` becomes ``/#C3#A9``) and an
escaped byte below 0x10 with one hex digit (``/a#09`` becomes ``/a#9``, read back
as another name or not at all). :func:`scan` reports the first such name in the
object, strings and stream data aside, sure or not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from certseal.pdfsyntax import HEADER_AT
from certseal.text import shown_name

#: nesting a sure scan reads; deeper objects are left to pyHanko's reading, which
#: refuses beyond :data:`services.seal.pdf.MAX_PDF_NESTING` (at least this)
MAX_SURE_NESTING = 32

_WHITE = b"\x00\t\n\x0c\r "
_DELIMITERS = b"()<>[]{}/%"


def _class(chars: bytes) -> bytes:
    return b"[" + b"".join(re.escape(bytes((c,))) for c in chars) + b"]"


_WS = _class(_WHITE)
_BREAK = _class(_WHITE + _DELIMITERS)
#: where a number, keyword or name ends: white space, a delimiter, or the end
_ENDS = rb"(?=" + _BREAK + rb"|\Z)"
#: a name byte that needs no second look: printable, no delimiter, no ``#``
_PLAIN = _class(bytes(c for c in range(0x21, 0x7F) if c not in _DELIMITERS + b"#"))
_NUMBER = rb"[+\-]?(?:[0-9]++(?:\.[0-9]*+)?|\.[0-9]++)"
_SPACE = re.compile(_WS + rb"*+")

#: numbers and references in a row, one step (in a dictionary: one value)
_NUMBERS = re.compile(rb"(?:(?:" + _NUMBER + rb"|R)" + _ENDS + _WS + rb"*+)++")
#: in an array: numbers, references, plain names, keywords and strings that hold no
#: ``R`` (so no reference is read in one) in a row, one step
_ROW = re.compile(
    rb"(?:(?:(?:"
    + _NUMBER
    + rb"|R|true|false|null|/"
    + _PLAIN
    + rb"*+)"
    + _ENDS
    + rb"|\([^()\\R]*+\)|<[0-9A-Fa-f]*+>)"
    + _WS
    + rb"*+)++"
)
#: in a dictionary, where a key comes: a plain key and a value of one token (a
#: reference too), one pair
_PAIR = re.compile(
    rb"/("
    + _PLAIN
    + rb"*+)"
    + _ENDS
    + _WS
    + rb"*+(?:[0-9]{1,9}[\t\n\x0c\r ]{1,2}[0-9]{1,5}[\t\n\x0c\r ]{1,2}R|"
    + _NUMBER
    + rb"|true|false|null|/"
    + _PLAIN
    + rb"*+)"
    + _ENDS
    + _WS
    + rb"*+"
)
#: such pairs in a row, one step
_PAIRS = re.compile(rb"(?:" + _PAIR.pattern + rb")++")
#: a reference as pyHanko tells one (its look-ahead is 20 bytes): the number named
_REFERENCE = re.compile(
    rb"(?<![^\x00\t\n\x0c\r ()<>\[\]{}])([0-9]{1,9})[\t\n\x0c\r ]{1,2}[0-9]{1,5}"
    rb"[\t\n\x0c\r ]{1,2}R(?![A-Za-z])(?=[\s\S])"
)
#: an ``R`` standing alone, each of which a reference must explain
_LONE_R = re.compile(rb"(?<![^\x00\t\n\x0c\r ()<>\[\]{}])R" + _ENDS)

_TOKEN = re.compile(
    rb"(?P<name>/[^\x00\t\n\x0c\r ()<>\[\]{}/%]*+)"
    rb"|(?P<open><<)|(?P<close>>>)|(?P<array>\[)|(?P<array_end>\])"
    rb"|(?P<hex><[0-9A-Fa-f\x00\t\n\x0c\r ]*+>)"
    rb"|(?P<string>\()"
    rb"|(?P<keyword>[A-Za-z]++)"
    + _ENDS
    + rb"|(?P<comment>%[^\r\n]*+)|(?P<other>[\s\S])"
)
#: a byte after a run of numbers that makes pyHanko's look-ahead see further
_GLUED = frozenset(bytes((c,)) for c in b"0123456789+-.\x0b")
#: a run's tokens (Python's own split takes no NUL for white space)
_TOKENS = re.compile(rb"[^\x00\t\n\x0c\r ]++")
#: a literal string's bytes up to its next parenthesis, escapes pyHanko reads
#: (ISO 32000-1 §7.3.4.2: an escaped end of line, ``\\ddd`` octal) kept whole
_STRING_PART = re.compile(rb"(?:[^()\\]++|\\[nrtbf()\\ /%<>\[\]#_&$0-7\r\n])*+")
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_PLAIN_NAME = re.compile(_PLAIN + rb"*+")


@dataclass(frozen=True)
class Scan:
    """What :func:`scan` read of one object: ``sure`` (see the module), the object
    numbers it names (exact when sure), and the first name pyHanko reads as another
    (shown, :func:`name_problem`) or ""."""

    sure: bool = True
    numbers: frozenset[int] = frozenset()
    odd: str = ""


NOTHING = Scan()
"""An object pyHanko reads as null (none where its cross-reference points)."""

UNSURE = Scan(sure=False)


def name_problem(raw: bytes) -> str:
    """Why pyHanko does not read the name ``raw`` (its bytes after ``/``) as viewers
    do, or "": a byte outside ``!``..``~`` or a ``#`` not followed by two hex digits
    (pyHanko refuses it; viewers read it); once unescaped, bytes that are no UTF-8
    (pyHanko reads them as Latin-1 and writes UTF-8) or one below 0x10 (written
    back with one hex digit)."""
    if _PLAIN_NAME.fullmatch(raw):
        return ""
    if any(c < 0x21 or c > 0x7E for c in raw):
        return "a byte pyHanko does not read in a name"
    if raw.count(b"#") != len(_NAME_ESCAPE.findall(raw)):
        return "an escape pyHanko does not read"
    unescaped = _NAME_ESCAPE.sub(lambda m: bytes((int(m[1], 16),)), raw)
    if any(c < 0x10 for c in unescaped):
        return "a byte pyHanko's writer writes as another"
    try:
        unescaped.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes that are no UTF-8, which pyHanko reads as Latin-1"
    return ""


def _key(raw: bytes) -> str:
    """The name ``raw`` as pyHanko compares dictionary keys: its unescaped bytes
    as UTF-8, else Latin-1 (called only for a name it reads)."""
    unescaped = _NAME_ESCAPE.sub(lambda m: bytes((int(m[1], 16),)), raw)
    try:
        return unescaped.decode("utf-8")
    except UnicodeDecodeError:
        return unescaped.decode("latin-1")


def scan_indirect(data: bytes, at: int, number: int, generation: int) -> Scan:
    """The object ``number generation`` whose header stands at ``at`` of the file
    ``data``; unsure when no such header is there (pyHanko's reading decides)."""
    header = HEADER_AT.match(data, at)
    if header is None or (int(header[1]), int(header[2])) != (number, generation):
        return UNSURE
    # pyHanko takes one white-space byte after the generation, then any three bytes
    # as ``obj``: two white-space bytes there (``40 0  obj``) it cannot read, which
    # other readers read (atk44 F1): then its reading decides, not this scan
    gap = data[header.end(2) : header.end(2) + 4]
    if len(gap) < 4 or gap[0] not in _WHITE or gap[1:] != b"obj":
        return UNSURE
    return scan(data, header.end(), len(data))


def scan(data: bytes, at: int, end: int) -> Scan:
    """The object whose bytes start at ``at`` of ``data`` (up to ``end``): read up to
    its end, or when unsure up to an ``endobj`` or ``stream`` keyword or ``end``.
    Linear in those bytes; a run of plain syntax is one step."""
    reader = _Scanner(data, end)
    reader.read(at)
    return Scan(reader.sure, frozenset(reader.numbers), reader.odd)


class _Scanner:
    """One :func:`scan`: a stack of open arrays (None) and dictionaries (their keys
    so far, and whether a key comes next)."""

    def __init__(self, data: bytes, end: int) -> None:
        self.data, self.end = data, end
        self.sure = True
        self.numbers: set[int] = set()
        self.odd = ""
        self.stack: list[list | None] = []

    def read(self, pos: int) -> None:
        data, end, stack = self.data, self.end, self.stack
        while True:
            pos = _SPACE.match(data, pos, end).end()  # type: ignore[union-attr]
            if pos >= end:
                self.sure = False  # the object does not end
                return
            top = stack[-1] if stack else None
            if stack and top is None:
                row = _ROW.match(data, pos, end)
                if row is not None:
                    self._references(pos, row.end(), values=None)
                    pos = row.end()
                    continue
            elif top is not None and top[1]:
                row = _PAIRS.match(data, pos, end)
                if row is not None:
                    self._pairs(top[0], pos, row.end())
                    pos = row.end()
                    continue
            numbers = _NUMBERS.match(data, pos, end)
            if numbers is not None:
                in_array = bool(stack) and top is None
                self._references(pos, numbers.end(), None if in_array else 1)
                pos = numbers.end()
                if self._value():
                    return
                continue
            token = _TOKEN.match(data, pos, end)
            assert token is not None  # its last branch takes any byte
            kind, pos = token.lastgroup, token.end()
            if top is not None and top[1] and kind not in ("name", "close"):
                self.sure = False  # a dictionary key that is no name
            if kind == "name":
                self._name(token.group()[1:], top)
                if top is not None and top[1]:
                    top[1] = False
                    continue
            elif kind == "open":
                stack.append([set(), True])
                if len(stack) > MAX_SURE_NESTING:
                    self.sure = False
                continue
            elif kind == "array":
                stack.append(None)
                if len(stack) > MAX_SURE_NESTING:
                    self.sure = False
                continue
            elif kind in ("close", "array_end"):
                if not stack or (kind == "close") != (top is not None):
                    self.sure = False
                    if not stack:
                        return
                elif top is not None and not top[1]:
                    self.sure = False  # a key without a value
                stack.pop()
            elif kind == "string":
                pos = self._string(pos)
            elif kind == "keyword" and token.group() not in (
                b"true",
                b"false",
                b"null",
            ):
                self.sure = False
                if token.group() in (b"endobj", b"stream", b"obj"):
                    return
                continue
            elif kind in ("comment", "other"):
                self.sure = False
                continue
            if self._value():
                return

    def _value(self) -> bool:
        """A value has been read: True when it is the object itself."""
        if not self.stack:
            return True
        top = self.stack[-1]
        if top is not None:
            top[1] = True  # a key comes next
        return False

    def _references(self, start: int, stop: int, values: int | None) -> None:
        """The references in the run ``start``..``stop``; unsure unless every lone
        ``R`` is one as pyHanko tells them and, where ``values`` is given (a
        dictionary's value, the object itself), the run is that many values."""
        data = self.data
        limit = min(stop + 1, self.end)  # the byte after an R, which pyHanko looks at
        found = _REFERENCE.findall(data, start, limit)
        if len(found) != len(_LONE_R.findall(data, start, stop)):
            self.sure = False
        self.numbers.update(int(n) for n in found)
        if data[stop : stop + 1] in _GLUED:
            self.sure = False  # a number goes on in a way pyHanko's look-ahead may read
        if values is not None:
            tokens = len(_TOKENS.findall(data, start, stop))
            if tokens - 2 * len(found) != 1:
                self.sure = False
        top = self.stack[-1] if self.stack else None
        if values is not None and top is not None and top[1]:
            self.sure = False  # a number where a key goes

    def _pairs(self, keys: set[str], start: int, stop: int) -> None:
        """The plain pairs ``start``..``stop`` of a dictionary whose keys so far are
        ``keys``: unsure when a key comes again."""
        found = [m[1].decode("ascii") for m in _PAIR.finditer(self.data, start, stop)]
        if len(set(found)) != len(found) or not keys.isdisjoint(found):
            self.sure = False  # given twice: pyHanko's reading is heard
        keys.update(found)
        self._references(start, stop, values=None)

    def _name(self, raw: bytes, top: list | None) -> None:
        problem = name_problem(raw)
        if problem and not self.odd:
            self.odd = shown_name("/" + raw[:40].decode("latin-1"))
        if top is None or not top[1]:
            return
        if problem and problem.startswith("a byte pyHanko does not"):
            self.sure = False
            return
        if problem.startswith("an escape"):
            self.sure = False
            return
        key = _key(raw)
        if key in top[0]:
            self.sure = False  # given twice: pyHanko's reading is heard
        top[0].add(key)

    def _string(self, pos: int) -> int:
        """Past the literal string whose ``(`` ends before ``pos``; unsure on an
        escape pyHanko does not read or a string that does not end."""
        data, end, depth = self.data, self.end, 1
        while True:
            pos = _STRING_PART.match(data, pos, end).end()  # type: ignore[union-attr]
            if pos >= end:
                self.sure = False
                return end
            byte = data[pos]
            if byte == 0x5C:  # a backslash _STRING_PART did not take
                self.sure = False
                pos += 2
                continue
            pos += 1
            depth += 1 if byte == 0x28 else -1
            if depth == 0:
                return pos
