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
from typing import TypeVar

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


def read_to_end(pdf: bytes, read: Callable[[bytes], R]) -> tuple[R, int]:
    """``read`` (a pyHanko reader or writer over the bytes) of ``pdf`` up to its last
    end section (:func:`pdf_end`), and the number of bytes after it thus left out (0:
    none). pyHanko never sees bytes after the end: it steps back through the last
    line one byte at a time (4 s for a line of 20 MB of zeros).

    Raises ``ValueError`` for a file without an end section (:data:`NO_END`) and for
    one whose end section starts beyond the last :data:`END_WINDOW` bytes
    (:func:`too_far`): readers that do not find it there rebuild the file from every
    object header in it, later ones first, so an object that no cross-reference
    reaches (appended after the signed revision, before or after an end section)
    shows in them and not in pyHanko (atk37). Also what ``read`` raises."""
    found = pdf_end(pdf)
    if found is None:
        raise ValueError(NO_END)
    start, end = found
    if len(pdf) - start > END_WINDOW:
        raise ValueError(too_far(len(pdf), start, end))
    return read(pdf if end == len(pdf) else pdf[:end]), len(pdf) - end
