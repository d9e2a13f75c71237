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
from collections import Counter
from collections.abc import Callable
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel

from certseal.certificates import name_values
from certseal.errors import invalid
from certseal.pdfend import CUT_SHORT
from certseal.pdfsyntax import APART, OBJECT_HEADER
from certseal.text import shown_name
from services.seal.pdf_title import title_changed, titles_or_unread
from services.seal.pdf_versions import Versions

#: what was added after a signature that still holds, in a seal officer's words
ADDED = {
    ModificationLevel.NONE: "nothing the document shows has changed since it was sealed",
    # pyHanko allows validation data (DSS, document timestamps) and the document's
    # information dictionary and XMP metadata at this level
    ModificationLevel.LTA_UPDATES: (
        "nothing the document shows has changed since it was sealed; added after "
        "it: validation data or document properties no viewer shows (author, "
        "subject, metadata other than the title) only"
    ),
    ModificationLevel.FORM_FILLING: "added after it: later signatures only",
}


def filled_after(reader: Any, twice: Any = None) -> dict[int, str]:
    """Per revision of ``reader`` (a pyHanko ``PdfFileReader``), the note on an
    object it defines that the revision before already refers to, at a number that
    revision could not yet assign (at or above its ``/Size``, ISO 32000-1 §7.5.5):
    every reader shows it where the older object names it, while pyHanko's change
    analysis takes it for a new object nothing older reaches (an orphan, allowed at
    LTA_UPDATES), since it assumes no revision refers to a number not yet defined
    (atk38c: a page naming object 500, which no revision defined, sealed; an update
    defining 500 as a blue fill verified VALID). A signature made before such a
    revision is modified; so is one made before a revision that writes an object
    pyHanko cannot read (:func:`unreadable_note`; read as null here).

    "Refers to" is by number alone (PDFium takes an object whatever generation a
    reference names, atk38d: 500 0 R named, 500 1 obj defined after the seal), from
    the revision's trailer or any object in use in it, reached or not (more than
    what readers reach: no genuine writer names a number it has not assigned). Each
    object version is read once, where its revision's cross-reference section puts
    it, and the numbers it names kept until a later revision redefines or frees it:
    linear in the objects of all revisions (atk39pdf F3: reading each revision's
    whole graph through pyHanko's ``get_last_change``, a walk back over the
    revisions for every object, cost objects times revisions squared: 1,000
    objects and 400 one-object updates, 137 s; pyHanko's own reading of an object
    stream's members is quadratic too, :mod:`services.seal.pdf_versions`). ``twice`` (a
    :class:`services.seal.pdf_twice.TwiceFinder`) hears each version read, so that
    none is parsed twice."""
    found: dict[int, str] = {}
    xrefs = reader.xrefs
    names: dict[int, set[int]] = {}  # object number → the numbers its version names
    named: Counter[int] = Counter()  # number → how many objects in use name it
    versions = Versions(reader, noting=True)
    for revision in range(xrefs.total_revisions):
        defined = xrefs.explicit_refs_in_revision(revision)
        if revision:
            size = xrefs.get_xref_container_info(revision - 1).size
            trailer = _numbers_named(
                reader.get_historical_resolver(revision - 1).trailer_view
            )
            early = {
                r.idnum
                for r in defined
                if r.idnum >= size and (named[r.idnum] > 0 or r.idnum in trailer)
            }
            if early:
                found[revision] = (
                    f"object {min(early)}, which the document already named before it "
                    f"was defined, defined after it (revision {revision}): readers show "
                    "it where it is named"
                )
        freed = xrefs.refs_freed_in_revision(revision)
        if twice is not None:
            twice.start(revision, defined, freed)
        gone: list[tuple[Any, set[int]]] = [(r, set()) for r in freed]
        read = [(r, _named(versions, r, revision, twice)) for r in defined]
        if twice is not None:
            twice.end(revision)
        for ref, numbers in gone + read:
            named.subtract(names.pop(ref.idnum, set()))
            names[ref.idnum] = numbers
            named.update(numbers)
    for revision, failed in (versions.unreadable or {}).items():
        found.setdefault(revision, unreadable_note(failed, revision))
    return found


def unreadable_note(failed: Any, revision: int) -> str:
    """The note on an object revision ``revision`` writes that pyHanko cannot read
    (``failed``, a :class:`services.seal.pdf_versions.UnreadableObject`; atk43 F4:
    a number ``1.2.3`` appended after a seal made verification fail): readers that
    read it otherwise (PDFium reads ``1.2.3`` as 1.2) may show it."""
    return (
        f"{failed.named}, written after it (revision {revision}), cannot be read, so "
        f"what PDF readers make of it cannot be told: {failed.why}"
    )


def _named(versions: Versions, ref: Any, revision: int, twice: Any) -> set[int]:
    """The numbers the version of ``ref`` ``revision`` defines names: read as bytes
    (:meth:`services.seal.pdf_versions.Versions.scan`, atk43 F3: a megabyte array
    nothing reaches cost seconds in pyHanko's lexer) and, only where that scan is
    not sure, by pyHanko, its keys given twice heard by ``twice`` if any
    (:meth:`services.seal.pdf_twice.TwiceFinder.read`); ``twice`` is told the names
    pyHanko reads as another (:meth:`~services.seal.pdf_twice.TwiceFinder.names`)."""
    scanned = versions.scan(ref, revision)
    if twice is not None:
        twice.names(ref, scanned.odd)
    if scanned.sure:
        return set(scanned.numbers)
    if twice is None:
        return _numbers_named(versions.read(ref, revision))
    return _numbers_named(twice.read(ref, lambda: versions.read(ref, revision)))


def _numbers_named(value: Any) -> set[int]:
    """The object numbers ``value`` refers to (a stream's dictionary, not its data),
    walked without recursion (its nesting is bounded by the reader)."""
    found: set[int] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, generic.DecryptedObjectProxy):
            item = item.raw_object
        if isinstance(item, generic.IndirectObject):
            found.add(item.idnum)
        elif isinstance(item, dict):
            stack.extend(dict.values(item))
        elif isinstance(item, list):
            stack.extend(item)
    return found


def changes_after(
    reader: Any, pdf: bytes, end: int, signed: bool, twice: Any = None
) -> Callable[[int], str]:
    """For a signature of ``reader``'s file ``pdf`` (read up to ``end``), by the
    revision it signed: why what came after it changes what readers show though
    pyHanko's change analysis allows it, or "": an object after the file's end
    (:func:`object_after_end`: every signature), one named before it was defined
    (:func:`filled_after`: signatures before that revision), the title viewers show
    (:func:`services.seal.pdf_title.title_changed`); ``twice`` is told every
    object version read (:func:`filled_after`). A file with no
    signature (``signed`` False) and an object after its end is refused,
    INVALID_ARGUMENT ``pdf``, as one that looks cut short (trial38: a sealed PDF cut
    just after its unsealed original's end said "0 seal(s)")."""
    header = object_after_end(pdf, end)
    if header and not signed:
        raise invalid(
            "pdf", f"cannot be read as a PDF: {CUT_SHORT}: {object_after_note(header)}"
        )
    filled = sorted(filled_after(reader, twice).items())
    titles = titles_or_unread(reader, reader.xrefs.total_revisions - 1)

    def said(signed: int) -> str:
        if header:
            return object_after_note(header)
        filled_later = (note for revision, note in filled if revision > signed)
        return next(filled_later, "") or title_changed(reader, signed, titles)

    return said


#: how pyHanko's change check names an object, said as a reader would
_REFERENCE = re.compile(r"Reference\(idnum=(\d+), generation=(\d+)\)")


#: pyHanko's change check's findings (the start of its message), in a clerk's words
_FINDINGS = (
    (
        "There are unexplained xrefs",
        "objects added or replaced that no signing explains",
    ),
    (
        "Dict keys differ",
        "entries of a dictionary (a page, the catalog) added or removed",
    ),
    ("Values for dict key", "an entry of a dictionary (a page, the catalog) changed"),
    ("Unexpected change to page tree", "pages added, removed or moved"),
    ("Annotations", "annotations deleted"),
    ("The newly added annotations", "annotations added (comments, drawings, stamps)"),
    ("Fields", "form fields deleted"),
    ("More form fields added", "form fields added"),
    ("Update clobbers or reuses", "an object replaced in a way no signing explains"),
    ("The refs", "objects deleted (freed)"),
)


def unexplained_note(result: object, said: str = "") -> str:
    """The note on a change pyHanko's difference analysis could not explain (its
    ``SuspiciousModification``, ``result``): what it found in a clerk's words
    (``said`` when certseal knows better, :func:`annotations_added`; trial38:
    "There are unexplained xrefs ..." read as jargon), then pyHanko's first line for
    those who read it, objects named as ``object N G`` rather than Python's
    ``Reference(idnum=N, generation=G)``."""
    why = _REFERENCE.sub(r"object \1 \2", str(result or "?").splitlines()[0])
    found = said or next((t for start, t in _FINDINGS if why.startswith(start)), "")
    return f"{found or 'a change that is no signing'} (pyHanko: {why[:160]})"


#: how many page-tree nodes and annotations :func:`annotations_added` reads in one
#: revision; a larger file's change is said as pyHanko's (:data:`_FINDINGS`)
MAX_ANNOTATIONS_READ = 100_000


def annotations_added(reader: Any, signed: int) -> str:
    """The note on annotations that are no form field (comments, stamps, drawings:
    no /Widget) added to a page after revision ``signed`` of ``reader``: listed in
    its /Annots (the page's own array or one it names, however rewritten) now and
    on no page then (one moved is no addition); "" when there is none, or the pages hold more than
    :data:`MAX_ANNOTATIONS_READ` (words39: a comment added after a seal was said as
    "objects added or replaced that no signing explains"). An annotation on no page
    shows nowhere: no change (pyHanko takes it for an orphan). Read only for a seal
    already modified, so it costs nothing in the common case."""
    last = reader.xrefs.total_revisions - 1
    try:
        then = _page_annotations(reader.get_historical_resolver(signed))
        now = _page_annotations(reader.get_historical_resolver(last))
        added = {ref: page for ref, page in now.items() if ref not in then}
    except Exception:  # unreadable or too large: said as pyHanko's finding
        return ""
    if not added:
        return ""
    pages = sorted(set(added.values()))
    what = (
        "an annotation (comment, stamp or drawing) was"
        if len(added) == 1
        else f"{len(added)} annotations (comments, stamps or drawings) were"
    )
    where = ", ".join(str(p) for p in pages[:8]) + (", ..." if pages[8:] else "")
    return f"{what} added to page{'' if len(pages) == 1 else 's'} {where} after it"


def _page_annotations(resolver: Any) -> dict[int, int]:
    """The object number of every annotation on a page of ``resolver``'s revision
    that is no widget, and its page's number (counted from 1, the first page that
    lists it), the page tree walked without recursion, each node once (as
    :func:`services.seal.pdf_revisions.inventory` walks it); ValueError past
    :data:`MAX_ANNOTATIONS_READ`."""
    found: dict[int, int] = {}
    stack, seen, number, left = [resolver.root.raw_get("/Pages")], set(), 0, 0
    while stack:
        left += 1
        if left > MAX_ANNOTATIONS_READ:
            raise ValueError("too many pages and annotations")
        node_ref = stack.pop()
        if isinstance(node_ref, generic.IndirectObject):
            if node_ref.idnum in seen:
                continue
            seen.add(node_ref.idnum)
        node = node_ref.get_object()
        if not isinstance(node, generic.DictionaryObject):
            continue
        kind = node.get("/Type")
        if kind == "/Pages" or ("/Kids" in node and kind != "/Page"):
            stack.extend(reversed(list(node.get("/Kids", []))))
            continue
        number += 1
        annots = node.get("/Annots", [])
        for annot_ref in annots if isinstance(annots, generic.ArrayObject) else []:
            left += 1
            if not isinstance(annot_ref, generic.IndirectObject):
                continue  # §12.5.2: each is indirect; a direct one has no identity
            annot = annot_ref.get_object()
            if isinstance(annot, generic.DictionaryObject) and not _is_widget(annot):
                found.setdefault(annot_ref.idnum, number)
    return found


def _is_widget(annot: generic.DictionaryObject) -> bool:
    """A form field's widget (a later seal's, a field's): said by the form's rules."""
    return bool(annot.get("/Subtype") == "/Widget")


#: a signature whose signed bytes no longer hash to what it signed (trial38: a file
#: re-saved whole, or its last byte cut, read as a forgery)
SIGNED_BYTES_CHANGED = (
    "the bytes it signed changed (the file was re-saved, cut or altered after it): "
    "ask for the file as it was sealed"
)

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
    """Why every signature is modified, or a file is not sealed, when
    :func:`object_after_end` found ``header``: the file was cut short, or something
    appended that a reader shows."""
    return (
        f"a PDF object ({header!r}) follows the file's end, which no cross-reference "
        "reaches: a reader that rebuilds the file shows it, not the file as written"
    )


def after_notes(
    signature: EmbeddedPdfSignature, status: Any, why: str, tail: int = 0
) -> list[str]:
    """The notes on what came after ``signature`` (pyHanko's ``status`` of it);
    ``tail``: the bytes after the file's end that
    :func:`certseal.pdfend.read_to_end` left out. Unchanged (no ``why``): what was
    added in a clerk's words, then pyHanko's coverage and modification level for
    those who read it (words39b: "coverage ENTIRE_FILE, nothing added after it"
    came first). Changed: ``why``, what changed in a clerk's words, first, and pyHanko's own
    finding after it (words39: "changed after it (pyHanko's level LTA_UPDATES does
    not show this change)" named no change a clerk knows)."""
    level = status.modification_level
    name = level.name if level is not None else "unknown"
    coverage = coverage_note(status, tail)
    if why:
        if not status.intact:  # the change is inside the signed bytes (trial41)
            after = (
                "nothing was added after them"
                if level is ModificationLevel.NONE
                else f"after them modification level {name}"
            )
            return [
                f"{why}; pyHanko's own finding: {coverage}, the signed bytes do not "
                f"match the signature's digest, {after}"
            ]
        missed = level in ADDED and status.intact  # found by certseal's own checks
        return [
            f"{why}; pyHanko's own finding: {coverage}, modification level {name}"
            + (", which does not count this change" if missed else "")
        ]
    pyhanko = f"; pyHanko's own finding: {coverage}, modification level {name}"
    if level not in ADDED:  # never unchanged (pdf_verify._modified)
        return [f"changed after it{pyhanko}"]
    if level is ModificationLevel.NONE and _bytes_after(signature, status, tail):
        return [TRAILING_BYTES + pyhanko]
    return [ADDED[level] + pyhanko]  # plain words first (words39b)


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


#: why a certificate of the platform's seal CA is not trusted here (pyHanko's AdES
#: sub-indication of its path), in a clerk's words; any other named as pyHanko names it
_UNTRUSTED = {
    "OUT_OF_BOUNDS_NO_POE": "its certificate had expired",
    "OUT_OF_BOUNDS_NOT_REVOKED": "its certificate had expired",
    "NOT_YET_VALID": "its certificate was not yet valid",
    "REVOKED_NO_POE": "its certificate is revoked",
}


def signer_named(status: Any) -> str:
    """Who signed, by pyHanko's ``status`` of the signature: its certificate
    subject's common name, else its organisation, as a message shows outside text
    (:func:`certseal.text.shown_name`: one line, nothing that does not print)."""
    values = dict(reversed(name_values(status.signing_cert.subject)))
    who = values.get("common_name") or values.get("organization_name") or ""
    return shown_name(who[:80]) if who else "a certificate that names no one"


def untrusted_note(status: Any) -> str:
    """Who signed a signature whose certificate is not trusted here and why, or ""
    for one that is (words39: a stranger's signature showed no seal name and no
    reason): ``signed by NAME: not a seal of this platform (...)`` when no path
    reaches the platform's seal CA (none found, or the certificate is not one a
    path takes: self-signed), else what fails on the path."""
    problem = status.trust_problem_indic
    if problem is None:
        return ""
    why = (
        "not a seal of this platform (its certificate does not chain to the "
        "platform's seal CA)"
    )
    if status.validation_path is not None:
        why = _UNTRUSTED.get(problem.name) or (
            f"its certificate's path to the platform's seal CA fails ({problem.name})"
        )
    return f"signed by {signer_named(status)}: {why}"
