"""A PDF's end section (ISO 32000-1 §7.5.5): ``startxref``, the offset of the last
cross-reference section, and ``%%EOF``.

pyHanko looks for it in the file's last 1,024 bytes only, as Acrobat's notes on the
format allow. A file with more after its end (a PDF padded to a block size by a scanner
or an archive, bytes a mail gateway or a download appended) was "cannot be read as a
PDF", while the same file with 1,000 such bytes was read. :func:`read_to_end` reads it
up to its last end section, as readers that search the whole file do, and says how
many bytes it left out, so that what is said of a file does not hang on the length of
bytes no reader shows. Used by the seal service's PDF reading and sealing and by the
licence file's metadata (:mod:`certseal.licencefile`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

R = TypeVar("R")

#: pyHanko's words (``PdfReadError``) for a file whose end section is not in its last
#: 1,024 bytes
_NO_END = ("EOF marker not found", "startxref not found")

#: PDF white space (ISO 32000-1 §7.2.2), a run of 1 to 256 of it
WHITE_SPACE = rb"[\x00\t\n\x0c\r ]{1,256}"

#: an end section, its parts apart by white space, and the end-of-line after it
_END = re.compile(
    rb"startxref"
    + WHITE_SPACE
    + rb"[0-9]{1,20}"
    + WHITE_SPACE
    + rb"%%EOF(?:\r\n|\r|\n)?"
)


def pdf_end(pdf: bytes) -> int | None:
    """The offset just past ``pdf``'s last end section and its end-of-line, or None
    when it has none. One scan of the bytes, linear in their length: about 20 ms for
    64 MiB of zeros, under a second for 64 MiB made of end sections or near misses."""
    end = None
    for match in _END.finditer(pdf):
        end = match.end()
    return end


def read_to_end(pdf: bytes, read: Callable[[bytes], R]) -> tuple[R, int]:
    """``read(pdf)`` (a pyHanko reader or writer over the bytes), or, when pyHanko
    finds no end section in the last 1,024 bytes, ``read`` of ``pdf`` up to its last
    one (:func:`pdf_end`); with the number of bytes after the end thus left out (0:
    none). Raises what ``read`` raises: pyHanko's ``PdfReadError`` when the file has
    no end section at all."""
    try:
        return read(pdf), 0
    except Exception as exc:  # pyHanko's PdfReadError, told by its words
        end = pdf_end(pdf) if str(exc) in _NO_END else None
        if end is None or end == len(pdf):
            raise
    return read(pdf[:end]), len(pdf) - end
