"""A dictionary key given twice: pyHanko keeps the first value, viewers the last.

pyHanko's parser, non-strict as certseal reads, keeps a repeated key's FIRST value
and drops the rest; PDFium (``CPDF_Dictionary::SetFor``), poppler and pdf.js keep
the LAST. So every certseal check built on pyHanko's reading (its difference
analysis, the form's drawing inputs, the objects a revision names) compares
something other than what viewers draw: atk40 P4, a page redefined after the seal
with a second ``/Contents`` naming a red fill, and a field with a second ``/V``,
verified VALID "nothing the document shows has changed" while PDFium and poppler
drew the second value.

pyHanko's own parser says where it meets one: it logs "Multiple definitions in
dictionary at byte 0x.. for key /K" on its ``pyhanko.pdf_utils.generic`` logger,
once a key. certseal listens there (:class:`_Listener`, a ``logging.Filter``
installed once): while :func:`hearing` is active in a thread or task, each such
record is counted in what it yields (:class:`Heard`) and dropped, so a dictionary
of 100,000 repeated keys neither floods the log nor costs a handler's time; other
records, and all of them outside :func:`hearing`, go on as logging is configured.
Reading each object version in :func:`hearing` tells which version gives a key
twice; the later values themselves are never known, so what they might name is
judged conservatively.

:class:`TwiceFinder`, told each object version as
:func:`services.seal.pdf_after.filled_after` reads it, finds per revision what
makes every signature before it modified (:class:`Twice`):

* an object or trailer (a cross-reference stream's dictionary, a hybrid file's
  too) written in it that gives a key twice, at any depth;
* an object written or freed in it whose earlier version gave a key twice (the
  rewrite may change what viewers read while the first values stay);
* any object written or freed in it while an object in use before it (or the
  trailer before it) gives a key twice: the value pyHanko dropped may name it, and
  pyHanko's analysis, never seeing that reference, may take it for an orphan.
* an object written in it that holds a name pyHanko reads as another, or one
  written or freed whose earlier version held one (:meth:`TwiceFinder.names`,
  atk43 F2: ``/#E9`` and ``/#C3#A9`` are one name to pyHanko, two to viewers).

Only an object version :func:`services.seal.pdf_scan.scan` is not sure of is
parsed by pyHanko and heard: one the scan is sure of gives no key twice (atk43
F3: a megabyte array nothing reaches cost seconds in pyHanko's lexer).

And per revision whether any object in use there gives a key twice
(:attr:`Twice.unread`): the form rule then counts every font as one a default
appearance may name (:func:`services.seal.pdf_form.default_appearance_fonts`).

A signature field or signature dictionary giving a key twice is not verified
(:func:`signature_refused`), and a PDF whose current revision gives a key twice is
not sealed (:func:`refuse_sealing`): pyHanko's writer writes the objects it
rewrites with the first values, so the sealed document would look otherwise than
the one submitted.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.xref import XRefSectionType, read_object_header

from certseal.errors import invalid
from certseal.text import shown_name
from services.seal.pdf_versions import Versions

#: pyHanko's record of a key given again (``DictionaryObject.read_from_stream``)
_MULTIPLE = re.compile(
    r"Multiple definitions in dictionary at byte 0x[0-9a-fA-F]+ for key (.*)",
    re.DOTALL,
)


class Heard:
    """The keys given twice heard while :func:`hearing` was active: how many, and
    the first (a name, ``/Contents``), or ""."""

    __slots__ = ("count", "first")

    def __init__(self) -> None:
        self.count = 0
        self.first = ""

    def __bool__(self) -> bool:
        return self.count > 0

    @property
    def key(self) -> str:
        """The first key, as a message shows it (at most 40 characters)."""
        return shown_name(self.first[:40])


_HEARING: ContextVar[Heard | None] = ContextVar("certseal_pdf_twice", default=None)


class _Listener(logging.Filter):
    """Counts pyHanko's record of a key given twice into the active :class:`Heard`
    and drops it; passes every other record, and every record when none is active,
    unless the configuration had turned the logger off below :attr:`floor`
    (:func:`_listening`)."""

    #: records below this level were off before certseal turned the logger on
    floor = logging.NOTSET

    def filter(self, record: logging.LogRecord) -> bool:
        heard = _HEARING.get()
        if heard is not None and isinstance(record.msg, str):
            found = _MULTIPLE.fullmatch(record.msg)
            if found:
                heard.count += 1
                heard.first = heard.first or found[1]
                return False
        return record.levelno >= self.floor


_LOCK = threading.Lock()


def _listener() -> _Listener:
    """The listener on pyHanko's parser's logger, installed once."""
    log = generic.logger
    with _LOCK:
        for installed in log.filters:
            if type(installed).__name__ == _Listener.__name__:
                return installed  # type: ignore[return-value]
        listener = _Listener()
        log.addFilter(listener)
        return listener


def _listening() -> None:
    """Make sure pyHanko's parser's warnings reach the listener: a configuration
    that set its logger (or ``pyhanko``'s) above WARNING or disabled it would
    otherwise hide every key given twice. Its logger is then turned on at WARNING
    and the listener drops what the configuration had kept off; ``logging.disable``
    of WARNING, which no logger overrides, is refused (RuntimeError)."""
    log = generic.logger
    if log.isEnabledFor(logging.WARNING):
        return
    listener = _listener()
    with _LOCK:
        if not log.isEnabledFor(logging.WARNING):
            off = logging.CRITICAL + 1 if log.disabled else log.getEffectiveLevel()
            listener.floor = max(listener.floor, off)
            log.disabled = False
            log.setLevel(logging.WARNING)
    if not log.isEnabledFor(logging.WARNING):
        raise RuntimeError(
            "pyHanko's parser warnings are disabled (logging.disable), so a PDF key "
            "given twice cannot be found"
        )


@contextmanager
def hearing() -> Iterator[Heard]:
    """The keys given twice pyHanko's parser meets in this thread or task until the
    block ends (their records dropped); nested, the innermost hears them."""
    _listening()
    heard = Heard()
    token = _HEARING.set(heard)
    try:
        yield heard
    finally:
        _HEARING.reset(token)


class _Lenient:
    """A handler stub for :func:`_check_listener`: non-strict, as certseal reads."""

    strict = False

    def get_pdf_handler(self) -> _Lenient:
        return self


def _check_listener() -> None:
    """Fail at import, not silently at every verification, if pyHanko no longer
    says where it meets a key given twice as the listener reads it."""
    _listener()
    lenient: Any = _Lenient()
    with hearing() as heard:
        generic.DictionaryObject.read_from_stream(BytesIO(b"<< /A 1 /A 2 >>"), lenient)
    if heard.first != "/A":
        raise RuntimeError(
            "pyHanko's parser no longer logs a PDF key given twice as certseal reads "
            "it (services/seal/pdf_twice.py)"
        )


_check_listener()


# -- per revision ----------------------------------------------------------------------


#: what a rewrite after a seal that viewers read otherwise is said as
REWRITTEN = (
    "a part of the document was rewritten after sealing in a form viewers read "
    "differently"
)


@dataclass
class Twice:
    """Per revision: why it makes a signature of an earlier revision modified
    (:data:`REWRITTEN` and what), and which revisions have an object in use (or a
    trailer) that gives a key twice."""

    notes: dict[int, str] = field(default_factory=dict)
    unread: set[int] = field(default_factory=set)

    def after(self, signed: int) -> str:
        """The note on the first revision after ``signed`` that has one, or ""."""
        later = [revision for revision in self.notes if revision > signed]
        return self.notes[min(later)] if later else ""


class TwiceFinder:
    """What keys given twice say of each revision of ``reader`` (:attr:`found`),
    told each object version as :func:`services.seal.pdf_after.filled_after` reads
    it (:meth:`start` a revision, :meth:`read` each object it defines, :meth:`end`
    it), so each version is parsed once for both: pyHanko caches no historical
    object."""

    def __init__(self, reader: Any) -> None:
        self.found = Twice()
        self._trailers = trailers_twice(reader)
        self._twice: dict[int, str] = {}  # number in use → the key it gives twice
        self._odd: dict[int, str] = {}  # number in use → a name pyHanko misreads
        self._notes: list[str] = []
        self._unread = ""  # the note on writing while an object in use gave one

    def start(
        self, revision: int, defined: Iterable[Any], freed: Iterable[Any]
    ) -> None:
        """A revision that defines ``defined`` and frees ``freed``: what it rewrites
        that gave a key twice is noted and forgotten, and so is that it writes
        anything while an object in use (or the trailer) gives a key twice."""
        key = self._trailers.get(revision, "")
        self._notes = [f"a key given twice: {key} in the trailer"] if key else []
        written = sorted({ref.idnum for ref in (*defined, *freed)})
        given = self._given_before(revision) if revision and written else ""
        self._unread = f"object {written[0]} written while {given}" if given else ""
        for number in written:
            if number in self._twice:
                self._notes.append(
                    f"object {number}, which gave {self._twice.pop(number)} twice, "
                    "rewritten"
                )
            if number in self._odd:
                self._notes.append(
                    f"object {number}, which held the name {self._odd.pop(number)} "
                    "(pyHanko reads it as another name), rewritten"
                )

    def _given_before(self, revision: int) -> str:
        """What in use in the revision before ``revision`` gives a key twice (an
        object, else its trailer), or ""."""
        for number, key in self._twice.items():
            return f"object {number} gives {key} twice"
        key = self._trailers.get(revision - 1, "")
        return f"the trailer gives {key} twice" if key else ""

    def read(self, ref: Any, read: Any) -> Any:
        """``read()``, the object ``ref`` as the revision started defines it, heard."""
        with hearing() as heard:
            value = read()
        if heard:
            self._twice[ref.idnum] = heard.key
            self._notes.append(f"a key given twice: {heard.key} in object {ref.idnum}")
        return value

    def names(self, ref: Any, odd: str) -> None:
        """The object ``ref`` as the revision started defines it holds ``odd``, a
        name pyHanko reads as another (:func:`services.seal.pdf_scan.name_problem`),
        or none (""): pyHanko's difference analysis, comparing names as it decodes
        them, takes ``/#E9`` and ``/#C3#A9`` for one, viewers for two (atk43 F2)."""
        if odd:
            self._odd[ref.idnum] = odd
            self._notes.append(
                f"the name {odd} (pyHanko reads it as another name) in object "
                f"{ref.idnum}"
            )

    def end(self, revision: int) -> None:
        """The revision started has been read."""
        if self._unread:
            self._notes.append(f"{self._unread}: a value pyHanko drops may name it")
        if revision and self._notes:
            self.found.notes[revision] = (
                f"{REWRITTEN} ({self._notes[0]}, revision {revision})"
            )
        if self._twice or revision in self._trailers:
            self.found.unread.add(revision)


def trailers_twice(reader: Any) -> dict[int, str]:
    """Per revision, the key its trailer (or cross-reference stream's dictionary, a
    hybrid file's stream too) gives twice, where one does: each read again where
    pyHanko read it on opening, heard."""
    found: dict[int, str] = {}
    xrefs = reader.xrefs
    for revision in range(xrefs.total_revisions):
        meta = xrefs.get_xref_container_info(revision)
        places = []
        if meta.xref_section_type == XRefSectionType.STREAM:
            places.append((meta.start_location, True))
        else:
            places.append((meta.end_location, False))
            hybrid = xrefs.get_xref_data(revision).hybrid
            if hybrid is not None:
                places.append((hybrid.meta_info.start_location, True))
        for where, stream in places:
            with hearing() as heard:
                _dictionary_at(reader, where, stream)
            if heard:
                found[revision] = heard.key
                break
    return found


def _dictionary_at(reader: Any, where: int, stream: bool) -> None:
    """Read the trailer at ``where`` again (a cross-reference stream's object there
    if ``stream``), as pyHanko's ``XRefBuilder`` read it."""
    data = reader.stream
    back = data.tell()
    try:
        data.seek(where)
        container: Any = generic.TrailerReference(reader)
        if stream:
            number, generation = read_object_header(data, strict=False)
            container = generic.Reference(number, generation, pdf=reader)
        generic.DictionaryObject.read_from_stream(data, container)
    finally:
        data.seek(back)


# -- objects in use: a signature's, and a PDF to be sealed ------------------------------


def _holder(value: Any) -> Any:
    """The object ``value`` is (a reference) or is written in (its container): the
    indirect object to read again, or None for the trailer."""
    if isinstance(value, generic.IndirectObject):
        return value.reference
    container = getattr(value, "container_ref", None)
    return container if isinstance(container, generic.Reference) else None


def _current_key(reader: Any, ref: Any) -> str:
    """The key the current version of the object ``ref`` (None: the last trailer)
    gives twice, or ""."""
    last = reader.xrefs.total_revisions - 1
    if ref is None:
        return trailers_twice(reader).get(last, "")
    with hearing() as heard:
        reader.get_object(ref, last, transparent_decrypt=False)
    return heard.key


def signature_refused(
    reader: Any, field_ref: Any, read: dict[Any, str] | None = None
) -> str:
    """Why a signature field (``field_ref``) whose object, or its signature
    dictionary's (its ``/V``), gives a key twice is not verified, or "": a
    ``/ByteRange`` or ``/Contents`` twice is read by pyHanko as the first and by a
    validator keeping the last as the last, and a ``/V`` twice names two
    signatures, so what certseal checks is not surely what a viewer's validator
    checks. Each is read again, heard (pyHanko had cached it); one written inside
    another object, that object; each object once for all fields sharing ``read``."""
    read = {} if read is None else read
    field = field_ref.get_object()
    value = field.raw_get("/V") if "/V" in field else None
    holders = {_holder(field_ref), _holder(field)}
    if value is not None:
        holders.add(_holder(value))
    for holder in sorted(holders, key=lambda ref: (ref is not None, str(ref))):
        if holder not in read:
            read[holder] = _current_key(reader, holder)
        key = read[holder]
        if key:
            return (
                f"its signature dictionary gives {key} twice, so another validator "
                "may check other bytes or another signature than certseal reads"
            )
    return ""


def refuse_sealing(reader: Any) -> None:
    """Refuse, INVALID_ARGUMENT ``pdf``, a PDF whose current revision gives a key
    twice in an object in use or a trailer: pyHanko's writer writes the objects the
    seal rewrites with the first values, so a page saying ``/Contents`` twice would
    show the second before sealing and the first after, under a VALID seal."""
    xrefs = reader.xrefs
    current: dict[int, tuple[Any, int]] = {}  # number → (ref, revision defining it)
    for revision in range(xrefs.total_revisions):
        for ref in xrefs.refs_freed_in_revision(revision):
            current.pop(ref.idnum, None)
        for ref in xrefs.explicit_refs_in_revision(revision):
            current[ref.idnum] = (ref, revision)
    where, key = "", ""
    trailers = trailers_twice(reader)
    if trailers:
        where, key = "the trailer", next(iter(trailers.values()))
    versions = Versions(reader)
    for number in sorted(current):
        if key:
            break
        ref, revision = current[number]
        if versions.scan(ref, revision).sure:
            continue  # gives no key twice (atk43 F3: read as bytes, not parsed)
        with hearing() as heard:
            versions.read(ref, revision)
        where, key = f"object {number}", heard.key
    if key:
        raise invalid(
            "pdf",
            f"the PDF gives a key twice ({key} in {where}), which PDF readers read "
            "differently; save it again with a PDF editor and seal that",
        )
