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
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfDecodeLimitError, PdfStreamError

from certseal.bounds import MAX_PDF_REVISIONS
from certseal.errors import invalid
from certseal.pdflinear import check_linearized
from certseal.pdfsyntax import (
    HEADER_AT,
    NAME_ESCAPE,
    OBJECT_HEADER,
    SKIP,
    WHITE_SPACE,
    unescaped,
)

R = TypeVar("R")

#: what a file without an end section is refused with
NO_END = "has no end section (startxref, its offset and %%EOF: ISO 32000-1 §7.5.5)"

#: how near the file's end its last end section must start: readers look for
#: ``startxref`` in the last 1,024 bytes (pyHanko, MuPDF; PDFium about 4 KiB)
END_WINDOW = 1024

#: an end section, its parts apart by white space, and the end-of-line after it; the
#: runs possessive (``++``), so that no run is tried again from each of its bytes
_END = re.compile(
    rb"startxref"
    + WHITE_SPACE
    + rb"++([0-9]++)"
    + WHITE_SPACE
    + rb"++%%EOF(?:\r\n|\r|\n)?"
)


#: a cross-reference table's keyword, where a ``startxref`` or ``/Prev`` points
_TABLE_AT = re.compile(SKIP + rb"xref(?=" + WHITE_SPACE + rb")")

#: a table's subsection header (ISO 32000-1 §7.5.4): first object number, count
_SUBSECTION = re.compile(WHITE_SPACE + rb"*+([0-9]++) ++([0-9]++)[ \t]*+(?:\r\n|\r|\n)")

#: a table's entry: 10-digit offset, 5-digit generation, ``n`` or ``f`` and its
#: two-byte end (one byte, or three, as some writers put it, too)
_ENTRY = re.compile(rb"([0-9]{10}) ([0-9]{5}) ([nf])(?: \r\n| \r| \n|\r\n|\r|\n)")

#: the end of a table's subsections
_TRAILER = re.compile(WHITE_SPACE + rb"*+trailer")


def pdf_end(pdf: bytes) -> tuple[int, int] | None:
    """Where ``pdf``'s last end section starts and where it ends with its
    end-of-line, or None when it has none. One scan of the bytes, linear in their
    length: about 20 ms for 64 MiB of zeros, under a second for 64 MiB made of end
    sections or near misses."""
    last = None
    for match in _END.finditer(pdf):
        last = match
    return None if last is None else (last.start(), last.end())


#: what a file that looks cut short is told to do
CUT_SHORT = "it looks cut short (a transfer that stopped?): get the whole file again"


def too_far(pdf_bytes: int, start: int, end: int, cut_short: bool) -> str:
    """Why a file of ``pdf_bytes`` whose last end section spans ``start``..``end``
    is refused: that section starts more than :data:`END_WINDOW` bytes before the
    file's end. ``cut_short``: PDF objects follow it (the rest of a file whose own
    end was cut off: its first ``end`` bytes are then an older revision, not the
    file as written, so they are not offered). What to do comes first: a refusal's
    words are bounded (``certseal.errors``)."""
    if cut_short:
        return (
            f"{CUT_SHORT}: PDF objects with no end of their own follow its last end "
            f"section (at byte {start}, {pdf_bytes - start} bytes before the file's "
            "end)"
        )
    return (
        f"its last end section (startxref ... %%EOF) starts at byte {start}, "
        f"{pdf_bytes - start} bytes before the file's end: PDF readers look for it "
        f"in the last {END_WINDOW} bytes and "
        "otherwise rebuild the file from whatever objects it holds, so what they "
        f"show cannot be told; if what follows it is padding, its first {end} bytes "
        "are the PDF"
    )


#: the bytes from a last ``startxref`` to the file's end when the file was cut
#: within its end section: a start of one, with nothing after
_END_CUT = re.compile(
    rb"startxref"
    + WHITE_SPACE
    + rb"*+[0-9]*+"
    + WHITE_SPACE
    + rb"*+(?:%(?:%(?:EO?)?)?)?"
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
    no cross-reference reaches shows in it and not in pyHanko (atk37, atk37b,
    atk37c). Raises
    ``ValueError`` saying so for a file without an end section (:data:`NO_END`), one
    whose end section starts beyond the last :data:`END_WINDOW` bytes
    (:func:`too_far`), one whose last ``startxref`` is not its end section's (readers
    take the last), one whose ``startxref`` names no cross-reference section before
    it (:func:`_misplaced`: checked before pyHanko reads, which would otherwise fail
    in its own words or look a few bytes around), one whose cross-references a
    reader would not follow as pyHanko did (:func:`check_cross_references`), and a
    linearized file readers would read from another section than its end names
    (:func:`check_linearized`). Also what ``read`` raises."""
    found = pdf_end(pdf)
    last = pdf.rfind(b"startxref")
    if last > (-1 if found is None else found[0]) and _END_CUT.fullmatch(pdf, last):
        raise ValueError(f"{CUT_SHORT}: it ends within its end section (byte {last})")
    if found is None:
        raise ValueError(NO_END)
    start, end = found
    if last > start:
        raise ValueError(
            f"its last 'startxref' (byte {last}) is not followed by an offset and "
            "'%%EOF' (ISO 32000-1 §7.5.5): PDF readers take the last as the file's "
            f"end and, finding no cross-reference there, {_REBUILD_AT}; its last "
            f"complete end section ends at byte {end}"
        )
    if len(pdf) - start > END_WINDOW:
        cut_short = OBJECT_HEADER.search(pdf, end) is not None
        raise ValueError(too_far(len(pdf), start, end, cut_short))
    declared = int(_END.match(pdf, start)[1])  # type: ignore[index]
    if declared >= start or _section_at(pdf, declared) is None:
        raise ValueError(_misplaced("its last", declared, start))
    read_part = pdf if end == len(pdf) else pdf[:end]
    result = read(read_part)
    cache = xrefs(result)
    check_cross_references(read_part, cache)
    if not _encrypted(cache):  # else once it is opened: check_opened
        check_object_streams(cache)
    check_linearized(pdf, cache)
    return result, len(pdf) - end


def check_cross_references(pdf: bytes, cache: Any) -> None:
    """Check ``pdf``'s cross-references as a reader that rebuilds a file it cannot
    follow would find them, pyHanko's ``XRefCache`` of it being ``cache``: each
    revision's section where its ``startxref`` or ``/Prev`` points (pyHanko looks a
    few bytes around), a table read as ISO 32000-1 §7.5.4 writes one (no entry
    pyHanko's ``int()`` takes and a reader does not, no type but ``n`` or ``f``, no
    object listed twice), and at each in-use entry's offset that object's header,
    ``N G obj`` in plain digits. Where pyHanko and readers resolve an entry
    differently it must be unambiguous: an object number in use in one generation
    only, across every revision (atk38: pyHanko takes the entry a reference's
    generation names, PDFium the newest whatever its generation), and below each
    revision's ``/Size`` (§7.5.5: one more than the highest object number; atk38b:
    pyHanko's difference analysis takes an object at or above the signed revision's
    ``/Size`` for one added later, so an update could rewrite it after a seal).
    Compressed objects: :func:`check_object_streams`. Raises ``ValueError`` naming
    the first that is not (atk37b, atk37c, atk38, atk38b: PDFium and poppler showed
    an object pyHanko did not read). Linear in the number of entries."""
    generations: dict[int, tuple[int, int]] = {}
    highest = 0
    for revision in range(cache.total_revisions):
        at = cache.get_xref_container_info(revision).declared_startxref
        kind = _section_at(pdf, at)
        sections = _sections(cache, revision)
        if kind == "table":  # read here; pyHanko's reading of it left out
            entries = _table_entries(pdf, _TABLE_AT.match(pdf, at).end())  # type: ignore[union-attr]
            sections = sections[1:]
        elif kind == "stream":
            entries = []
        else:
            raise ValueError(_misplaced(f"its revision {revision}'s", at, len(pdf)))
        compressed: dict[int, Any] = {}
        for section in sections:
            entries += _stream_entries(section)
            compressed.update(section.xrefs_in_objstm)
        for number, generation, offset in entries:
            header = HEADER_AT.match(pdf, offset)
            if header is None or (int(header[1]), int(header[2])) != (
                number,
                generation,
            ):
                raise ValueError(
                    f"its cross-reference puts object {number} {generation} at byte "
                    f"{offset}, where no '{number} {generation} obj' stands: {_REBUILD}"
                )
        in_use = [(n, g) for n, g, _ in entries] + [(n, 0) for n in compressed]
        for number, generation in in_use:
            first = generations.setdefault(number, (generation, revision))
            if first[0] != generation:
                raise ValueError(
                    f"its object {number} is in use in generation {first[0]} "
                    f"(revision {first[1]}) and {generation} (revision {revision}): "
                    "PDF readers differ in which they show (pyHanko the one a "
                    "reference names, PDFium the newest)"
                )
        highest = max([highest, *(number for number, _ in in_use)])
        size = _size(cache, revision)
        if highest >= size:
            raise ValueError(
                f"its object {highest} is in use in revision {revision}, whose /Size "
                f"is {size} (ISO 32000-1 §7.5.5: one more than the highest object "
                "number): pyHanko would take a change to it after a seal for an "
                "object added later"
            )


def _sections(cache: Any, revision: int) -> list[Any]:
    """pyHanko's sections of ``revision``: its own, and a table's /XRefStm stream
    (ISO 32000-1 §7.5.8.4)."""
    data = cache.get_xref_data(revision)
    return [data] if data.hybrid is None else [data, data.hybrid.xref_data]


def _size(cache: Any, revision: int) -> int:
    """``revision``'s trailer /Size (ISO 32000-1 §7.5.5); ValueError without a
    whole one."""
    try:
        size = cache.reader.trailer.raw_get("/Size", revision=revision)
    except KeyError:
        size = None
    if not isinstance(size, int) or size < 0:
        raise ValueError(f"its revision {revision}'s trailer has no whole /Size")
    return int(size)


def _encrypted(cache: Any) -> bool:
    """Whether the file's trailer names an encryption dictionary (ISO 32000-1 §7.6),
    whatever pyHanko makes of it."""
    return "/Encrypt" in cache.reader.trailer


def check_revisions(cache: Any, *, adding: int = 0) -> None:
    """Refuse, INVALID_ARGUMENT ``pdf``, a file whose pyHanko ``XRefCache`` is
    ``cache`` with more than :data:`~certseal.bounds.MAX_PDF_REVISIONS` revisions,
    ``adding`` those sealing adds counted (atk39pdf F3: checking what each revision
    changed costs time in their number squared)."""
    count = cache.total_revisions
    if count + adding <= MAX_PDF_REVISIONS:
        return
    most = MAX_PDF_REVISIONS - adding
    raise invalid(
        "pdf",
        f"has {count:,} revisions (the original and each update saved onto it: a "
        f"signature, a timestamp, an edit); a PDF {'sealed' if adding else 'verified'} "
        f"here may have at most {most:,} (MAX_PDF_REVISIONS), as checking what each "
        "revision changed takes time that grows with the square of their number; a "
        "document signed by many parties has tens",
    )


def check_opened(cache: Any) -> None:
    """:func:`check_object_streams` for a file :func:`read_to_end` left it to (one
    whose trailer has /Encrypt), once it is opened with its password; nothing for
    the others (atk38c: an empty /Encrypt, which pyHanko takes for none, left the
    check undone)."""
    if _encrypted(cache):
        check_object_streams(cache)


def check_object_streams(cache: Any) -> None:
    """Check that each compressed entry (ISO 32000-1 §7.5.7) of every revision of the
    file whose pyHanko ``XRefCache`` is ``cache`` names the index where its object
    stream, as pyHanko resolves it, holds that object first (atk38: pyHanko takes
    the first member with the number, PDFium and poppler the member at the index).
    Decodes the object streams: for an encrypted file, once it is opened. Raises
    ``ValueError`` for one that does not, or names no object stream. A stream whose
    data does not decode (a Flate stream that does not decompress, a filter pyHanko
    lacks: atk43 F4, ``zlib.error`` was uncaught) holds nothing pyHanko reads: it is
    left to whoever reads its members, who finds them unreadable."""
    members: dict[int, dict[int, int] | None] = {}
    for revision in range(cache.total_revisions):
        for section in _sections(cache, revision):
            for number, where in section.xrefs_in_objstm.items():
                stream = where.obj_stream_id
                if stream not in members:
                    members[stream] = _members(cache.reader, stream)
                listed = members[stream]
                if listed is None:
                    continue
                found = listed.get(number)
                if found != where.ix_in_stream:
                    held = (
                        "does not hold it"
                        if found is None
                        else f"holds it first at {found}"
                    )
                    raise ValueError(
                        f"its cross-reference puts object {number} at index "
                        f"{where.ix_in_stream} of object stream {stream}, which "
                        f"{held}: PDF readers take the object at that index, pyHanko "
                        "the first with its number"
                    )


#: an object stream's header entry (ISO 32000-1 §7.5.7): object number, offset
_MEMBER = re.compile(WHITE_SPACE + rb"*+([0-9]++)" + WHITE_SPACE + rb"++[0-9]++")


def _members(reader: Any, stream: int) -> dict[int, int] | None:
    """Object stream ``stream``'s members as pyHanko resolves it (the newest
    revision's object; pyHanko reads every revision's compressed objects from it):
    each object number and the index of its first member; None when its data does
    not decode (beyond the decode limits: PdfDecodeLimitError). ValueError for an
    object that is no object stream or a header that does not list its ``/N``
    members."""
    found = reader.get_object(generic.Reference(stream, 0, reader))
    if not isinstance(found, generic.StreamObject) or found.get("/Type") != "/ObjStm":
        raise ValueError(
            f"its cross-reference names object {stream} as an object stream, which "
            "it is not (ISO 32000-1 §7.5.7)"
        )
    count, first = found.get("/N"), found.get("/First")
    if (
        not isinstance(count, int)
        or not isinstance(first, int)
        or min(count, first) < 0
    ):
        raise ValueError(f"its object stream {stream} has no whole /N and /First")
    try:
        data = found.data
    except PdfDecodeLimitError:
        raise
    except (PdfStreamError, zlib.error, NotImplementedError):
        return None
    header, at = data[:first], 0
    members: dict[int, int] = {}
    for index in range(count):
        member = _MEMBER.match(header, at)
        if member is None:
            raise ValueError(
                f"its object stream {stream}'s header does not list its {count} "
                "objects (ISO 32000-1 §7.5.7)"
            )
        members.setdefault(int(member[1]), index)
        at = member.end()
    return members


#: what a reader does with a file whose cross-references do not hold as written
_REBUILD_AT = "rebuild the file from whatever objects it holds"
_REBUILD = "PDF readers then " + _REBUILD_AT


def _section_at(pdf: bytes, at: int) -> str | None:
    """The kind of cross-reference section (ISO 32000-1 §7.5.4, §7.5.8) that starts
    at byte ``at`` of ``pdf``, after white space and comments: ``"table"`` (the
    ``xref`` keyword), ``"stream"`` (an object header) or None."""
    if _TABLE_AT.match(pdf, at):
        return "table"
    header = HEADER_AT.match(pdf, at)
    if header is None:
        return None
    # its dictionary, up to its stream: pyHanko asserts /Type /XRef there, and an
    # offset naming another object (the catalog after the header's comment) failed in
    # pyHanko's words ("negative seek value", "startxref loop": trial38)
    limit = header.end() + _XREF_DICT_BYTES
    stream = pdf.find(b"stream", header.end(), limit)
    named = NAME_ESCAPE.sub(
        unescaped, pdf[header.end() : limit if stream < 0 else stream]
    )
    return "stream" if _XREF_TYPE.search(named) else None


#: how far into an object at a startxref offset its /Type /XRef is looked for
_XREF_DICT_BYTES = 64 * 1024

#: a cross-reference stream's type entry (ISO 32000-1 §7.5.8.2)
_XREF_TYPE = re.compile(rb"/Type" + SKIP + rb"/XRef(?![^\x00\t\n\x0c\r ()<>\[\]{}/%])")


def _misplaced(whose: str, at: int, size: int) -> str:
    """Why a file whose revision (``whose``: "its last", "its revision 2's") has no
    cross-reference section at byte ``at``, where its ``startxref`` or ``/Prev``
    says, is refused; ``size``: the bytes the section must lie in."""
    past = f" (past the {size} bytes it must lie in)" if at >= size else ""
    return (
        f"{whose} cross-reference section is not at byte {at}{past}, where its "
        f"startxref or /Prev says: {_REBUILD}"
    )


def _table_entries(pdf: bytes, at: int) -> list[tuple[int, int, int]]:
    """The in-use entries (number, generation, offset) of the table whose
    subsections start at ``at``; ValueError for one that does not read as §7.5.4
    writes it, or lists an object twice."""
    found: list[tuple[int, int, int]] = []
    seen: set[int] = set()
    while _TRAILER.match(pdf, at) is None:
        subsection = _SUBSECTION.match(pdf, at)
        if subsection is None:
            raise ValueError(
                f"its cross-reference table breaks off at byte {at}: {_REBUILD}"
            )
        first, count = int(subsection[1]), int(subsection[2])
        at = subsection.end()
        for number in range(first, first + count):
            entry = _ENTRY.match(pdf, at)
            if entry is None or number in seen:
                why = (
                    "lists it twice"
                    if entry
                    else "does not read as ISO 32000-1 §7.5.4 writes it"
                )
                raise ValueError(
                    f"its cross-reference table's entry for object {number} (byte "
                    f"{at}) {why}: {_REBUILD}"
                )
            seen.add(number)
            if entry[3] == b"n":
                found.append((number, int(entry[2]), int(entry[1])))
            at = entry.end()
    return found


def _stream_entries(data: Any) -> list[tuple[int, int, int]]:
    """The in-use entries of pyHanko's reading of a cross-reference stream (its
    ``XRefSectionData``): binary fields, which no ``int()`` misreads."""
    return [
        (number, generation, offset)
        for number, (generation, offset) in data.standard_xrefs.items()
    ]
