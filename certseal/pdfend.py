"""A PDF's end section (ISO 32000-1 §7.5.5): ``startxref``, the offset of the last
cross-reference section, and ``%%EOF``.

pyHanko looks for it in the file's last 1,024 bytes only, as Acrobat's notes on the
format allow, and so do MuPDF and (within about 4 KiB) PDFium; beyond that they rebuild
the file from the object headers it holds. :func:`read_to_end` reads every file up to
its last end section and says how many bytes followed it; a file whose end section is
beyond that window (a PDF padded to a block size, bytes a mail gateway appended) is
refused with where its end is, since what a reader shows of it cannot be told. Used by
the seal service's PDF reading and sealing and by the licence file's metadata
(:mod:`certseal.licencefile`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

R = TypeVar("R")

#: what a file without an end section is refused with
NO_END = "has no end section (startxref, its offset and %%EOF: ISO 32000-1 §7.5.5)"

#: how near the file's end its last end section must start: readers look for
#: ``startxref`` in the last 1,024 bytes (pyHanko, MuPDF; PDFium about 4 KiB)
END_WINDOW = 1024

#: PDF white space (ISO 32000-1 §7.2.2), one character of it
WHITE_SPACE = rb"[\x00\t\n\x0c\r ]"

#: an end section, its parts apart by white space, and the end-of-line after it; the
#: runs possessive (``++``), so that no run is tried again from each of its bytes
_END = re.compile(
    rb"startxref"
    + WHITE_SPACE
    + rb"++[0-9]++"
    + WHITE_SPACE
    + rb"++%%EOF(?:\r\n|\r|\n)?"
)


#: what may stand between an indirect object header's parts: white space and
#: comments (ISO 32000-1 §7.2.3), in any number, as a reader's lexer skips them
APART = rb"(?:" + WHITE_SPACE + rb"|%[^\r\n]*+)++"

#: an indirect object's header (ISO 32000-1 §7.3.10): its number and generation (a
#: sign before either is read as a number by readers' lexers) and ``obj`` as a
#: keyword; every run possessive and a number starting where a run of digits starts,
#: so that a scan stays linear
OBJECT_HEADER = re.compile(
    rb"(?<![0-9])[+-]?[0-9]++"
    + APART
    + rb"[+-]?[0-9]++"
    + APART
    + rb"obj(?![A-Za-z0-9_])"
)

#: where a cross-reference section starts: ``xref`` (a table) or an object header (a
#: stream), after white space and comments
_XREF = re.compile(
    rb"(?:"
    + WHITE_SPACE
    + rb"|%[^\r\n]*+)*+(?:xref|[0-9]++"
    + APART
    + rb"[0-9]++"
    + APART
    + rb"obj(?![A-Za-z0-9_]))"
)


def pdf_end(pdf: bytes) -> tuple[int, int] | None:
    """Where ``pdf``'s last end section starts and where it ends with its
    end-of-line, or None when it has none. One scan of the bytes, linear in their
    length: about 20 ms for 64 MiB of zeros, under a second for 64 MiB made of end
    sections or near misses."""
    last = None
    for match in _END.finditer(pdf):
        last = match
    return None if last is None else (last.start(), last.end())


def too_far(pdf_bytes: int, start: int, end: int) -> str:
    """Why a file of ``pdf_bytes`` whose last end section spans ``start``..``end``
    is refused: that section starts more than :data:`END_WINDOW` bytes before the
    file's end."""
    return (
        f"its end (startxref ... %%EOF) ends at byte {end}, {pdf_bytes - end} bytes "
        f"before the file's end: PDF readers look for it in the last {END_WINDOW} "
        "bytes and otherwise rebuild the file from whatever objects it holds, so what "
        f"they show cannot be told from it; send the PDF as written (its first {end} "
        "bytes)"
    )


def read_to_end(
    pdf: bytes, read: Callable[[bytes], R], xrefs: Callable[[R], Any]
) -> tuple[R, int]:
    """``read`` (a pyHanko reader or writer over the bytes) of ``pdf`` up to its last
    end section (:func:`pdf_end`), and the number of bytes after it thus left out (0:
    none); ``xrefs`` gives what ``read`` returned's pyHanko ``XRefCache``. pyHanko
    never sees bytes after the end: it steps back through the last line one byte at
    a time (4 s for a line of 20 MB of zeros).

    A PDF reader that cannot follow a file's end and cross-references as written
    rebuilds the file from every object header in it, later ones first, so an object
    no cross-reference reaches shows in it and not in pyHanko (atk37, atk37b). Raises
    ``ValueError`` saying so for a file without an end section (:data:`NO_END`), one
    whose end section starts beyond the last :data:`END_WINDOW` bytes
    (:func:`too_far`), one with ``startxref`` after it (readers take the last), and
    one whose ``startxref`` or ``/Prev`` names no cross-reference section where it
    points (pyHanko looks a few bytes around it; readers do not). Also what
    ``read`` raises."""
    found = pdf_end(pdf)
    if found is None:
        raise ValueError(NO_END)
    start, end = found
    if len(pdf) - start > END_WINDOW:
        raise ValueError(too_far(len(pdf), start, end))
    if b"startxref" in pdf[end:]:
        raise ValueError(
            f"the bytes after its end (byte {end}) hold 'startxref': PDF readers take "
            "the last as the file's end and, finding no cross-reference there, "
            "rebuild the file from whatever objects it holds; send the PDF as "
            f"written (its first {end} bytes)"
        )
    result = read(pdf if end == len(pdf) else pdf[:end])
    cache = xrefs(result)
    for revision in range(cache.total_revisions):
        at = cache.get_xref_container_info(revision).declared_startxref
        if not _XREF.match(pdf, at):
            raise ValueError(
                f"its revision {revision}'s cross-reference section is not at byte "
                f"{at}, where its startxref or /Prev says: PDF readers then rebuild "
                "the file from whatever objects it holds"
            )
    return result, len(pdf) - end
