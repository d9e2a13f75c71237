"""A linearized PDF (ISO 32000-1 Annex F) read as readers open one: from its first
page's cross-reference section when its length says it was not updated since
(:func:`check_linearized`, for :func:`certseal.pdfend.read_to_end`)."""

from __future__ import annotations

import io
import re
from typing import Any

from pyhanko.pdf_utils import generic

from certseal.pdfsyntax import HEADER_AT, NAME_ESCAPE, SKIP, WHITE_RUN, unescaped

#: where poppler looks for the first ``endobj`` of a linearized file
#: (``linearizationSearchSize``)
FIRST_BYTES = 1024

#: a dictionary's /L entry (the linearized file's length, ISO 32000-1 Annex F.2) and
#: its number as a lexer takes one (sign, fraction): the name ends at white space or
#: a delimiter
_LENGTH_ENTRY = re.compile(
    rb"/L(?=[\x00\t\n\x0c\r ()<>\[\]{}/%])" + SKIP + rb"([+-]?[0-9]*+(?:\.[0-9]*+)?)"
)


def check_linearized(pdf: bytes, cache: Any) -> None:
    """Check a linearized file (ISO 32000-1 Annex F) as readers open one: when the
    dictionary of ``pdf``'s first object has ``/Linearized`` and says a length
    (``/L``) of at least the file's, readers read its cross-references from the
    section after that object (the first page's) rather than from the file's end:
    PDFium and MuPDF after the object as their lexers read it, poppler after the
    first bytes ``endobj`` in the file's first :data:`FIRST_BYTES` bytes (or from
    byte 0, rebuilding, when there are none). Each such place must be the newest
    revision's section, where pyHanko (``cache``) starts. A file updated after
    linearization says its older, shorter length and is read from its end by all.
    The first object is read with pyHanko's lexer (a string or a name holding
    ``endobj``) within its first :data:`LEXED_BYTES` (a lexer in Python costs about
    2 µs an array element: atk38c's first object of 4 Mi zeros cost 20 s); when it
    cannot be, the whole file is searched for the entries instead (a byte scan, and
    a larger first object is the rest of the file to readers too). Raises
    ``ValueError`` for a file that is not so (atk38, atk38b: a file sealed and padded,
    or made for, the /L of its sealed length showed, in poppler, objects of a section
    pyHanko never read)."""
    header = HEADER_AT.match(pdf, 0)  # readers' lexers: the first tokens N G obj
    if header is None:
        return
    after = _object_end(pdf, header, cache.reader)
    entries = pdf[header.end() : after]
    if b"#" in entries:
        entries = NAME_ESCAPE.sub(unescaped, entries)
    if _LINEARIZED.search(entries) is None:
        return
    said = [_number(found[1]) for found in _LENGTH_ENTRY.finditer(entries)]
    lengths = [length for length in said if length is not None and length >= len(pdf)]
    if not lengths:
        return
    close = pdf.find(b"endobj", 0, FIRST_BYTES)
    poppler = 0 if close < 0 else WHITE_RUN.match(pdf, close + 6).end()  # type: ignore[union-attr]
    newest = cache.get_xref_container_info(cache.total_revisions - 1)
    for first_page in (poppler, after):
        if first_page != newest.declared_startxref:
            where = "cannot be told" if first_page is None else f"byte {first_page}"
            raise ValueError(
                f"its first object says it is linearized with a length (/L) of "
                f"{lengths[0]}, not less than its {len(pdf)} bytes, but its first "
                f"page's cross-reference section ({where}) is not the one its end "
                f"names (byte {newest.declared_startxref}): PDF readers open a "
                "linearized file from its first page's section and would show "
                "other objects (ISO 32000-1 Annex F)"
            )


#: how much of a file its first object is read in with pyHanko's lexer
LEXED_BYTES = 8 * 1024

#: the key that makes a first object a linearization dictionary (Annex F.2)
_LINEARIZED = re.compile(rb"/Linearized(?![^\x00\t\n\x0c\r ()<>\[\]{}/%])")

#: white space and comments before an object's value or its end keyword, which
#: pyHanko's lexer does not skip
_ENDOBJ_GAP = re.compile(SKIP)

#: an object's end keyword, after white space and comments
_ENDOBJ = re.compile(SKIP + rb"endobj")


def _object_end(pdf: bytes, header: re.Match[bytes], reader: Any) -> int | None:
    """Where the object whose header is ``header`` ends, as a lexer reads it (its
    value, ``endobj``, the white space after), or None if it does not read within
    :data:`LEXED_BYTES` after its header."""
    stream = io.BytesIO(pdf[: header.end() + LEXED_BYTES])
    stream.seek(_ENDOBJ_GAP.match(pdf, header.end()).end())  # type: ignore[union-attr]
    try:
        generic.read_object(
            stream, generic.Reference(int(header[1]), int(header[2]), reader)
        )
    except Exception:  # whatever does not read has no end to name
        return None
    close = _ENDOBJ.match(pdf, stream.tell())
    return None if close is None else WHITE_RUN.match(pdf, close.end()).end()  # type: ignore[union-attr]


def _number(text: bytes) -> int | None:
    """A PDF number's whole part (ISO 32000-1 §7.3.3), or None for no number."""
    try:
        return int(text.split(b".")[0])
    except ValueError:  # a sign or a point alone
        return None
