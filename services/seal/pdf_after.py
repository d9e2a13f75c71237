"""What came after a PDF signature that still holds, in a seal officer's words.

pyHanko says how much of the file a signature covers (``coverage``) and what the
revisions after it changed (its modification level). A signed PDF with bytes
appended after its last ``%%EOF`` that are no PDF update (no cross-reference
section: a reader never sees them) covers its revision only and has no revision
after it; trial 2a saw such a file said to have "nothing added after it": bytes
were added, only nothing a reader shows. Split from
:mod:`services.seal.pdf_verify` by size.

Every file is read up to its last end section (:func:`certseal.pdfend.read_to_end`,
which refuses one whose end is not in its last 1,024 bytes); an indirect object after
that end makes every signature modified (:func:`object_after_end`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel

from certseal.pdfsyntax import APART, OBJECT_HEADER

#: what was added after a signature that still holds, in a seal officer's words
ADDED = {
    ModificationLevel.NONE: "nothing added after it",
    # pyHanko allows validation data (DSS, document timestamps) and the document's
    # information dictionary and XMP metadata at this level
    ModificationLevel.LTA_UPDATES: (
        "added after it: validation data or document properties (title, author, "
        "metadata) only"
    ),
    ModificationLevel.FORM_FILLING: "added after it: later signatures only",
}


def filled_after(reader: Any) -> dict[int, str]:
    """Per revision of ``reader`` (a pyHanko ``PdfFileReader``), the note on an
    object it defines that the revision before already refers to, at a number that
    revision could not yet assign (at or above its ``/Size``, ISO 32000-1 §7.5.5):
    every reader shows it where the older object names it, while pyHanko's change
    analysis takes it for a new object nothing older reaches (an orphan, allowed at
    LTA_UPDATES), since it assumes no revision refers to a number not yet defined
    (atk38c: a page naming object 500, which no revision defined, sealed; an update
    defining 500 as a blue fill verified VALID). A signature made before such a
    revision is modified. Reads the graph of each revision before one that defines
    new objects."""
    found: dict[int, str] = {}
    for revision in range(1, reader.xrefs.total_revisions):
        before = reader.get_historical_resolver(revision - 1)
        new = {
            (ref.idnum, ref.generation)
            for ref in reader.xrefs.explicit_refs_in_revision(revision)
            if before.is_ref_unassignable(ref)
        }
        if not new:
            continue
        named = new & {
            (ref.idnum, ref.generation)
            for ref in before.collect_dependencies(before.trailer_view)
        }
        if named:
            number, generation = min(named)
            found[revision] = (
                f"object {number} {generation}, which the document already named "
                f"before it was defined, defined after it (revision {revision}): "
                "readers show it where it is named"
            )
    return found


def changes_after(reader: Any, pdf: bytes, end: int) -> Callable[[int], str]:
    """For a signature of ``reader``'s file ``pdf`` (read up to ``end``), by the
    revision it signed: why what came after it changes what readers show though
    pyHanko's change analysis allows it, or "": an object after the file's end
    (:func:`object_after_end`: every signature), one named before it was defined
    (:func:`filled_after`: signatures before that revision)."""
    header = object_after_end(pdf, end)
    filled = sorted(filled_after(reader).items())

    def said(signed: int) -> str:
        if header:
            return object_after_note(header)
        return next((note for revision, note in filled if revision > signed), "")

    return said


#: how pyHanko's change check names an object, said as a reader would
_REFERENCE = re.compile(r"Reference\(idnum=(\d+), generation=(\d+)\)")


def unexplained_note(result: object) -> str:
    """The note on a change pyHanko's difference analysis could not explain (its
    ``SuspiciousModification``, ``result``): its first line, objects named as
    ``object N G`` rather than Python's ``Reference(idnum=N, generation=G)``."""
    why = _REFERENCE.sub(r"object \1 \2", str(result or "?").splitlines()[0])
    return f"a change after it that is no signing (pyHanko: {why[:200]})"


#: a signed last revision with bytes after it that no cross-reference reaches
TRAILING_BYTES = (
    "bytes follow the signed revision but are no PDF update (nothing a reader shows)"
)


def object_after_end(pdf: bytes, end: int) -> str:
    """The first indirect object header (``12 0 obj``) after ``pdf``'s last end
    section, which ends at ``end`` (:func:`certseal.pdfend.pdf_end`), or "" when
    none follows it. Such an object is reached by no cross-reference: a reader that
    rebuilds a file it cannot read as written takes it over the signed object of the
    same number, so what it shows is not what was signed. Linear in the bytes after
    the end, at most 1,024 of them (:func:`certseal.pdfend.read_to_end`)."""
    found = OBJECT_HEADER.search(pdf, end)
    if found is None:
        return ""
    return re.sub(APART, b" ", found.group()).decode("latin-1")[:80]


def object_after_note(header: str) -> str:
    """Why every signature is modified when :func:`object_after_end` found ``header``."""
    return (
        f"a PDF object ({header!r}) follows the file's end, which no cross-reference "
        "reaches: a reader that rebuilds the file shows it instead of what was signed"
    )


def after_note(
    signature: EmbeddedPdfSignature, status: Any, modified: bool, tail: int = 0
) -> str:
    """The note on what came after ``signature`` (pyHanko's ``status`` of it), with
    pyHanko's modification level for those who read it; ``tail``: the bytes after
    the file's end that :func:`certseal.pdfend.read_to_end` left out."""
    level = status.modification_level
    name = level.name if level is not None else "unknown"
    if level not in ADDED:
        return f"changed after it (pyHanko level {name})"
    if modified:  # found by certseal's own checks, which pyHanko's level lacks
        return f"changed after it (pyHanko's level {name} does not show this change)"
    if level is ModificationLevel.NONE and _bytes_after(signature, status, tail):
        return f"{TRAILING_BYTES} (pyHanko level {name})"
    return f"{ADDED[level]} (pyHanko level {name})"


def coverage_note(status: Any, tail: int = 0) -> str:
    """``coverage`` and pyHanko's level of it (:func:`_coverage`)."""
    coverage = _coverage(status, tail)
    return f"coverage {coverage.name if coverage else '?'}"


def _coverage(status: Any, tail: int) -> Any:
    """pyHanko's coverage of the signature ``status`` is of; ENTIRE_REVISION, not
    ENTIRE_FILE, when ``tail`` bytes that pyHanko never saw followed what it read."""
    coverage = status.coverage
    if coverage is SignatureCoverageLevel.ENTIRE_FILE and tail:
        return SignatureCoverageLevel.ENTIRE_REVISION
    return coverage


def _bytes_after(signature: EmbeddedPdfSignature, status: Any, tail: int) -> bool:
    """Whether bytes follow ``signature``'s revision, the file's last, that are
    no revision: it covers its revision, not the entire file."""
    if _coverage(status, tail) is not SignatureCoverageLevel.ENTIRE_REVISION:
        return False
    revision = signature.signed_revision
    return revision is not None and (
        revision == signature.reader.xrefs.total_revisions - 1
    )
