"""Object versions of a PDF as each revision's cross-reference section defines them,
read in linear time.

pyHanko reads an object inside an object stream (ISO 32000-1 §7.5.7) by reading the
stream's header from its start until it meets the object's number, once for every
object asked for: reading every member of one stream that way is quadratic (an
object stream of 8,000 members took 160 s, of 2,000 9 s, through
:func:`services.seal.pdf_after.filled_after`, which reads every object version of
every revision). :class:`Versions` reads each stream's header once and each member
at its index. That is the object pyHanko reads (the first member with the number)
once :func:`certseal.pdfend.check_object_streams` has held, which every PDF the
seal service reads passes first (:func:`certseal.pdfend.read_to_end`,
:func:`certseal.pdfend.check_opened`); the stream is, as for pyHanko, the one its
number names in the newest revision.

An object pyHanko's parser cannot read raises :class:`UnreadableObject`, a
``PdfReadError`` naming it (atk43 F4): pyHanko's parser raises, beyond its own
errors, ``decimal.InvalidOperation`` for a number token ``Decimal`` does not take
(``1.2.3``, ``.``, ``+-.``), ``zlib.error`` for a Flate stream that does not
decompress and ``NotImplementedError`` for a filter it lacks (:data:`MALFORMED`),
which nothing caught: sealing such a PDF, or verifying any sealed PDF after an
update holding such an object, ended in an uncaught exception. A member pyHanko's
own reading would take for null says so too (its null, handed to pyHanko's
difference analysis, failed as "No container reference available").
"""

from __future__ import annotations

import decimal
import re
import zlib
from bisect import bisect_right
from io import BytesIO
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.xref import ObjStreamRef

from certseal.errors import invalid
from certseal.pdfsyntax import WHITE_SPACE
from services.seal.pdf_scan import NOTHING, UNSURE, Scan, scan, scan_indirect

#: an object stream's header entry: object number and offset
_MEMBER = re.compile(WHITE_SPACE + rb"*+[0-9]++" + WHITE_SPACE + rb"++([0-9]++)")

#: what pyHanko raises, beyond its ``PdfReadError``, for an object it cannot read:
#: a malformed token (``int('1,2')``: ValueError; ``Decimal('1.2.3')``:
#: InvalidOperation, an ArithmeticError), a Flate stream that does not decompress
#: (``zlib.error``), a filter it lacks (``NotImplementedError``), a part of another
#: type than its place needs (a member's stream no stream: AttributeError,
#: TypeError, KeyError, IndexError) or a bare assert
MALFORMED: tuple[type[BaseException], ...] = (
    PdfReadError,
    ValueError,
    ArithmeticError,
    zlib.error,
    NotImplementedError,
    AttributeError,
    TypeError,
    KeyError,
    IndexError,
    AssertionError,
)


def malformed(exc: BaseException) -> str:
    """What is wrong, in words, for one of :data:`MALFORMED` (``exc``)."""
    if isinstance(exc, decimal.DecimalException):
        return (
            "a number in it is malformed, such as 1.2.3 (ISO 32000-1 §7.3.3 allows a "
            "sign, digits and one period)"
        )
    if isinstance(exc, zlib.error):
        return f"a stream in it does not decompress (FlateDecode: {exc})"
    said = str(exc)
    if isinstance(exc, KeyError | AttributeError | TypeError | IndexError):
        return (
            f"a part of it is not what its place needs ({type(exc).__name__}: {said})"
        )
    return said or f"pyHanko's reader failed a check of it ({type(exc).__name__})"


class UnreadableObject(PdfReadError):
    """The object ``number`` (a member of object stream ``stream`` at ``index``,
    when given) cannot be read: ``why`` (:func:`malformed`)."""

    def __init__(
        self, number: int, why: str, *, stream: int | None = None, index: int = 0
    ) -> None:
        #: the object as a message names it: ``object 7`` or ``object 7 (member 2
        #: of object stream 9)``
        self.named = f"object {number}" + (
            f" (member {index} of object stream {stream})" if stream else ""
        )
        super().__init__(f"{self.named} cannot be read: {why}")
        self.why = why


def unreadable(
    number: int, exc: BaseException, *, stream: int | None = None, index: int = 0
) -> UnreadableObject:
    """:class:`UnreadableObject` for ``exc`` raised reading object ``number``
    (itself when it already is one)."""
    if isinstance(exc, UnreadableObject):
        return exc
    return UnreadableObject(number, malformed(exc), stream=stream, index=index)


class Versions:
    """The versions of ``reader``'s objects (a pyHanko ``PdfFileReader``): one
    revision's (:meth:`read`), undecrypted (references and keys are never
    encrypted)."""

    def __init__(self, reader: Any, *, noting: bool = False) -> None:
        self._reader = reader
        # object stream number → its data and each member's offset in it
        self._streams: dict[int, tuple[bytes, list[int]]] = {}
        #: with ``noting``, per revision the first object :meth:`read` could not
        #: read (:class:`UnreadableObject`), read as null
        self.unreadable: dict[int, UnreadableObject] | None = {} if noting else None
        self._ends: dict[int, list[int]] = {}  # its members' offsets, sorted
        self._file: bytes | None = None

    def scan(self, ref: Any, revision: int) -> Scan:
        """The object ``ref`` as ``revision`` defines it (as :meth:`read` finds it)
        read as bytes (:func:`services.seal.pdf_scan.scan`): a member of an object
        stream up to the next member's offset, an object in the file from its header
        at the offset its entry gives."""
        marker = self._reader.xrefs.get_historical_ref(ref, revision)
        if isinstance(marker, ObjStreamRef):
            try:
                data, offsets = self._stream(marker.obj_stream_id)
            except MALFORMED:  # its stream unreadable: :meth:`read` says so
                return UNSURE
            if not 0 <= marker.ix_in_stream < len(offsets):
                return NOTHING  # null, as pyHanko reads it
            at = offsets[marker.ix_in_stream]
            ends = self._ends.setdefault(marker.obj_stream_id, sorted(set(offsets)))
            later = bisect_right(ends, at)
            return scan(data, at, ends[later] if later < len(ends) else len(data))
        if marker is None:
            return NOTHING
        if not isinstance(marker, int):
            return UNSURE
        return scan_indirect(self._bytes(), marker, ref.idnum, ref.generation)

    def _bytes(self) -> bytes:
        """The file's bytes as the reader reads them, taken once."""
        if self._file is None:
            stream = self._reader.stream
            if hasattr(stream, "getvalue"):
                self._file = stream.getvalue()
            else:
                back = stream.tell()
                stream.seek(0)
                self._file = stream.read()
                stream.seek(back)
        return self._file

    def read(self, ref: Any, revision: int) -> Any:
        """The object ``ref`` as ``revision`` defines it (or, if it does not, the
        revision before that last did). One that cannot be read raises
        :class:`UnreadableObject`, or, ``noting``, is noted and read as null."""
        reader = self._reader
        marker = reader.xrefs.get_historical_ref(ref, revision)
        try:
            if isinstance(marker, ObjStreamRef):
                return self.member(ref, marker)
            found = reader.get_object(ref, revision, transparent_decrypt=False)
        except MALFORMED as exc:
            failed = unreadable(ref.idnum, exc)
            if self.unreadable is None:
                raise failed from None
            self.unreadable.setdefault(revision, failed)
            return generic.NullObject()
        if isinstance(found, generic.DecryptedObjectProxy):
            return found.raw_object
        return found

    def member(self, ref: Any, marker: ObjStreamRef) -> Any:
        """The object ``ref`` at ``marker`` (its object stream and index); one that
        cannot be read (nor its stream decoded) raises :class:`UnreadableObject`
        (pyHanko, not strict, reads null: its difference analysis then failed)."""
        reader = self._reader
        number, index = marker.obj_stream_id, marker.ix_in_stream
        try:
            data, offsets = self._stream(number)
            if not 0 <= index < len(offsets):
                raise PdfReadError(f"its object stream holds {len(offsets)} objects")
            stream = BytesIO(data)
            stream.seek(offsets[index])
            return generic.read_object(stream, generic.Reference(ref.idnum, 0, reader))
        except MALFORMED as exc:
            raise unreadable(ref.idnum, exc, stream=number, index=index) from None

    def _stream(self, number: int) -> tuple[bytes, list[int]]:
        """Object stream ``number``'s data and its members' offsets in it, read once
        (the header as :func:`certseal.pdfend.check_object_streams` read it)."""
        if number not in self._streams:
            found = self._reader.get_object(generic.Reference(number, 0, self._reader))
            data, offsets = found.data, []
            first, count = int(found["/First"]), int(found["/N"])
            at = 0
            for _ in range(count):
                member = _MEMBER.match(data, at, first)
                if member is None:
                    break
                offsets.append(first + int(member[1]))
                at = member.end()
            self._streams[number] = (data, offsets)
        return self._streams[number]


class LinearReader(PdfFileReader):
    """pyHanko's reader, reading a member of an object stream through
    :class:`Versions` (each stream's header once, the member at its index) once
    :meth:`read_linearly` is called: reading every object, of any revision, then
    costs time linear in the objects, not in the square of a stream's members
    (atk42: 2,000 form fields in one object stream took 11 s to seal or verify,
    rewritten in an update after a seal 13 s to verify). Call it only once
    :func:`certseal.pdfend.check_object_streams` has held (after
    :func:`certseal.pdfend.check_opened`): then :class:`Versions` reads the object
    pyHanko's own reading would. Before, pyHanko reads as it does."""

    _versions: Versions | None = None

    def read_linearly(self) -> None:
        """From now on, read object stream members through :class:`Versions`."""
        self._versions = Versions(self)

    def _get_object_from_stream(self, idnum: int, stmnum: int, idx: int) -> Any:
        if self._versions is None:
            try:
                return super()._get_object_from_stream(idnum, stmnum, idx)
            except MALFORMED as exc:
                raise unreadable(idnum, exc, stream=stmnum, index=idx) from None
        return self._versions.member(
            generic.Reference(idnum, 0, self), ObjStreamRef(stmnum, idx)
        )

    def _read_object(self, ref: Any, marker: Any, *args: Any, **kwargs: Any) -> Any:
        """pyHanko's reading of one object, what it raises for one it cannot read
        that no caller of it expects (a malformed number's
        ``decimal.InvalidOperation``, an ArithmeticError) raised as
        :class:`UnreadableObject`, naming it; what pyHanko's callers may catch and
        tolerate (``PdfReadError``, ``ValueError``) is left as it is."""
        try:
            return super()._read_object(ref, marker, *args, **kwargs)
        except ArithmeticError as exc:
            raise unreadable(ref.idnum, exc) from None


def read_linearly(reader: PdfFileReader) -> None:
    """:meth:`LinearReader.read_linearly` for ``reader``, which must be one."""
    if not isinstance(reader, LinearReader):
        raise TypeError(f"a {type(reader).__name__}, not a LinearReader")
    reader.read_linearly()


def refuse_renamed(reader: Any, refs: Any) -> None:
    """Refuse, INVALID_ARGUMENT ``pdf``, sealing ``reader``'s file when an object
    among ``refs`` (those the seal's revision writes, pyHanko's writer's objects)
    is in use in its last revision and holds a name pyHanko reads as another
    (:func:`services.seal.pdf_scan.name_problem`), at any depth, its strings and
    stream data aside: pyHanko's writer writes every name it read as UTF-8, so a
    page whose resources, written in it, name a form ``/#E9`` (Latin-1) while its
    content draws ``/#C3#A9`` would draw the form once sealed, which it did not
    before (atk43 F2b). Objects the seal does not write keep their bytes."""
    versions = Versions(reader)
    last = reader.xrefs.total_revisions - 1
    for generation, number in sorted(refs):
        odd = versions.scan(generic.Reference(number, generation), last).odd
        if odd:
            raise invalid(
                "pdf",
                f"the PDF holds the name {odd} in object {number}, which the seal "
                "rewrites: its bytes are no UTF-8 (or escape a control byte), and "
                "pyHanko's writer would write it as another name, so the sealed PDF "
                "could show otherwise than the one sent; rename it (UTF-8) and seal "
                "that",
            )
