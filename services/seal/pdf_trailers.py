"""What a revision's own trailer leaves out that pyHanko takes from an older one.

ISO 32000-1 §7.5.6: an incremental update's trailer "shall contain all the entries
except the Prev entry (if present) from the previous trailer". pyHanko does not
trust files to (``TrailerDictionary.raw_get``): a key a revision's trailer (a
table's, or a cross-reference stream's dictionary) leaves out is taken from the
newest older trailer that has it. PDFium does the same; poppler and pdf.js read
the newest trailer alone (poppler keeps the first trailer it meets, pdf.js its
``topDict``). So where the newest trailer leaves a key out, those readers read
another file than pyHanko does (atk43 F1):

* ``/Root``: no catalog, so poppler rebuilds the file from every ``N G obj`` in it
  (the last of each number winning) and shows an object no cross-reference lists,
  a page written again in the update, while pyHanko's difference analysis, reading
  the file as written, found nothing changed (VALID);
* ``/Encrypt``: they read the file as not encrypted, its strings and streams as
  stored (garbled), pyHanko decrypted;
* ``/ID`` in an encrypted file: the file key of the standard security handler
  (revisions 2 to 4, §7.6.3.3 Algorithm 2) takes in its first string; without it
  nothing decrypts (certseal counts it for any encrypted file);
* ``/Info`` holding a ``/Title``: they show no such title (pdf.js in its tab, the
  others in the title bar under /DisplayDocTitle); what else /Info holds (author,
  subject) no viewer shows, so an /Info without /Title left out is no change.

``/Size`` is never taken over: pyHanko reads each section's own (a trailer without
one is refused on opening), and ``/Prev``, ``/XRefStm`` and a stream's own keys
are the revision's alone. An ``/ID`` left out of an unencrypted file names the file
to no reader that shows it.

What follows from it: a PDF whose newest trailer leaves such a key out is not
sealed (:func:`refuse_left_out`: the sealed revision's trailer, written by pyHanko
from its view, names them all, so poppler would show the file as written after
sealing and the rebuilt one before); a signature is modified when, once anything
follows it, a trailer from its own revision on leaves one out
(:func:`trailers_after`: its signer saw what those readers showed then, and they
show another file now). A /Root that is no reference to a dictionary is refused
(:func:`check_catalog`): no reader finds the document's pages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import EncryptedObjAccess

from certseal.errors import invalid

#: what a reader of the newest trailer alone makes of the file without each key
_MISSED = {
    "/Root": "finds no document catalog and rebuilds the file from every object in "
    "it, so it may show objects no cross-reference lists",
    "/Encrypt": "reads the encrypted file as not encrypted",
    "/ID": "cannot work out the encrypted file's key",
    "/Info": "shows no document title from its /Info",
}


def _raw(reader: Any, key: str, revision: int) -> Any:
    """``key`` of ``revision``'s trailer as pyHanko reads it (taken from an older
    trailer if its own leaves it out), or None when no trailer up to it has it."""
    try:
        return reader.trailer.raw_get(key, EncryptedObjAccess.RAW, revision=revision)
    except KeyError:
        return None


def _taken_over(reader: Any, key: str, revision: int) -> bool:
    """Whether ``revision``'s own trailer leaves ``key`` out and an older one has
    it. pyHanko's ``raw_get`` returns the very object an older trailer holds: the
    same object as for the revision before, when this one's own has none."""
    if revision == 0:
        return False
    value = _raw(reader, key, revision)
    return value is not None and value is _raw(reader, key, revision - 1)


def _titled(reader: Any, info: Any, revision: int) -> bool:
    """Whether the /Info ``info`` names, as ``revision`` reads it, holds a /Title
    (unreadable: counted as holding one)."""
    try:
        if isinstance(info, generic.IndirectObject):
            info = reader.get_object(
                info.reference, revision, transparent_decrypt=False
            )
        if isinstance(info, generic.DecryptedObjectProxy):
            info = info.raw_object
        return not isinstance(info, generic.DictionaryObject) or "/Title" in info
    except Exception:  # unreadable: what viewers show cannot be told
        return True


def left_out(reader: Any, revision: int) -> list[str]:
    """The keys ``revision``'s own trailer leaves out that pyHanko takes from an
    older trailer and whose absence changes what poppler and pdf.js show (the
    module's list)."""
    found = [key for key in ("/Root", "/Encrypt") if _taken_over(reader, key, revision)]
    if _raw(reader, "/Encrypt", revision) is not None and _taken_over(
        reader, "/ID", revision
    ):
        found.append("/ID")
    if _taken_over(reader, "/Info", revision) and _titled(
        reader, _raw(reader, "/Info", revision), revision
    ):
        found.append("/Info")
    return found


def _said(keys: list[str]) -> str:
    return "; ".join(
        f"without {key} a reader that reads it alone {_MISSED[key]}" for key in keys
    )


def _what(value: Any) -> str:
    """A PDF value's kind, as a message names it ("null", "a number")."""
    for kind, said in (
        (generic.NullObject, "null"),
        (generic.BooleanObject, "a boolean"),
        (int, "a number"),
        (generic.FloatObject, "a number"),
        (generic.NameObject, "a name"),
        (str, "a string"),
        (bytes, "a string"),
        (generic.StreamObject, "a stream"),
        (generic.DictionaryObject, "a dictionary"),
        (generic.ArrayObject, "an array"),
    ):
        if isinstance(value, kind):
            return said
    return type(value).__name__


def trailer_notes(reader: Any) -> dict[int, str]:
    """Per revision of ``reader`` whose own trailer leaves out a key that counts
    (:func:`left_out`), or gives a /Root that is no reference, the note on it."""
    found: dict[int, str] = {}
    for revision in range(reader.xrefs.total_revisions):
        root = _raw(reader, "/Root", revision)
        keys = left_out(reader, revision)
        if root is not None and not isinstance(root, generic.IndirectObject):
            found[revision] = (
                f"the trailer of revision {revision} gives /Root as {_what(root)}, "
                "not a reference to the document catalog, which PDF readers do not "
                "read alike"
            )
        elif keys:
            found[revision] = (
                f"the trailer of revision {revision} leaves out "
                f"{', '.join(keys)}, which pyHanko takes from an older trailer and "
                f"poppler and pdf.js do not: {_said(keys)}"
            )
    return found


def trailers_after(reader: Any) -> Callable[[int], str]:
    """For a signature by the revision it signed: the note on the first trailer
    from that revision on that leaves out a key that counts, once any revision
    follows it, or "" (:func:`trailer_notes`)."""
    notes = sorted(trailer_notes(reader).items())
    last = reader.xrefs.total_revisions - 1

    def said(signed: int) -> str:
        if signed >= last:
            return ""
        return next((note for revision, note in notes if revision >= signed), "")

    return said


def refuse_left_out(reader: Any) -> None:
    """Refuse, INVALID_ARGUMENT ``pdf``, a PDF whose newest trailer leaves out a key
    that counts (:func:`left_out`): sealed, the new trailer names it, so poppler
    and pdf.js would show another document after sealing than before."""
    last = reader.xrefs.total_revisions - 1
    keys = left_out(reader, last)
    if keys:
        raise invalid(
            "pdf",
            f"its newest trailer leaves out {', '.join(keys)}, which pyHanko takes "
            "from an older trailer and poppler and pdf.js do not (ISO 32000-1 §7.5.6: "
            f"each trailer repeats the one before): {_said(keys)}; save it again with "
            "a PDF editor and seal that",
        )


def check_catalog(reader: Any) -> None:
    """Refuse, INVALID_ARGUMENT ``pdf``, a PDF whose trailer's /Root (as pyHanko
    reads it) is no reference (ISO 32000-1 §7.5.5: an indirect reference to the
    catalog) or names no dictionary (pyHanko said
    "'NullObject' object has no attribute 'reference'", or failed an assert).
    Needs no password: an encrypted catalog is read undecrypted."""
    last = reader.xrefs.total_revisions - 1
    root = _raw(reader, "/Root", last)
    if root is None:
        raise invalid("pdf", "its trailer has no /Root (the document catalog)")
    if not isinstance(root, generic.IndirectObject):
        raise invalid(
            "pdf",
            f"its trailer's /Root is {_what(root)}, not a reference to the document "
            "catalog (ISO 32000-1 §7.5.5: an indirect reference), which PDF readers "
            "do not read alike",
        )
    catalog = reader.get_object(root.reference, transparent_decrypt=False)
    if isinstance(catalog, generic.DecryptedObjectProxy):
        catalog = catalog.raw_object
    if not isinstance(catalog, generic.DictionaryObject):
        raise invalid(
            "pdf",
            f"its trailer's /Root names object {root.idnum}, which is "
            f"{_what(catalog)}, not the document catalog (a dictionary): no reader "
            "finds its pages",
        )
