"""PDF's lexical pieces (ISO 32000-1 §7.2, §7.3) as readers' lexers take them, for
the byte scans of :mod:`certseal.pdfend` and :mod:`certseal.pdflinear`: white space,
comments, indirect object headers, names' escapes. Every run possessive (``++``), so
that a scan of a file from outside stays linear. Pure."""

from __future__ import annotations

import re

#: PDF white space (ISO 32000-1 §7.2.2), one character of it
WHITE_SPACE = rb"[\x00\t\n\x0c\r ]"

#: one white-space character or comment (ISO 32000-1 §7.2.3), as a reader's lexer
#: skips them
_GAP = rb"(?:" + WHITE_SPACE + rb"|%[^\r\n]*+)"

#: what may stand between an indirect object header's parts: any white space and
#: comments, at least one
APART = _GAP + rb"++"

#: white space and comments, or nothing
SKIP = _GAP + rb"*+"


def header(number: bytes) -> bytes:
    """An indirect object's header (ISO 32000-1 §7.3.10): its number and generation
    (each ``number``) and ``obj`` as a keyword, every run possessive."""
    return number + APART + number + APART + rb"obj(?![A-Za-z0-9_])"


#: an object header anywhere: a sign before either number is read as a number by
#: readers' lexers, and a number starts where a run of digits starts, so that a scan
#: stays linear
OBJECT_HEADER = re.compile(rb"(?<![0-9])" + header(rb"[+-]?[0-9]++"))

#: an object header as a reader takes one where a cross-reference points: plain
#: digits (pyHanko reads them with ``int()``, which takes ``0_1``; readers do not)
#: and the ``obj`` keyword (pyHanko does not look at it: atk37c)
HEADER_AT = re.compile(SKIP + header(rb"([0-9]++)"))

#: a run of white space, or none
WHITE_RUN = re.compile(WHITE_SPACE + rb"*+")

#: a name's escaped character (ISO 32000-1 §7.3.5), as a reader's lexer reads it
NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")


def unescaped(escaped: re.Match[bytes]) -> bytes:
    """The character a name's ``#xx`` escape stands for."""
    return bytes([int(escaped[1], 16)])
