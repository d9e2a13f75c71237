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
"""

from __future__ import annotations

import re
from io import BytesIO
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfReadError, PdfStreamError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.xref import ObjStreamRef

from certseal.pdfsyntax import WHITE_SPACE

#: an object stream's header entry: object number and offset
_MEMBER = re.compile(WHITE_SPACE + rb"*+[0-9]++" + WHITE_SPACE + rb"++([0-9]++)")


class Versions:
    """The versions of ``reader``'s objects (a pyHanko ``PdfFileReader``): one
    revision's (:meth:`read`), undecrypted (references and keys are never
    encrypted)."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        # object stream number → its data and each member's offset in it
        self._streams: dict[int, tuple[bytes, list[int]]] = {}

    def read(self, ref: Any, revision: int) -> Any:
        """The object ``ref`` as ``revision`` defines it (or, if it does not, the
        revision before that last did)."""
        reader = self._reader
        marker = reader.xrefs.get_historical_ref(ref, revision)
        if not isinstance(marker, ObjStreamRef):
            found = reader.get_object(ref, revision, transparent_decrypt=False)
            if isinstance(found, generic.DecryptedObjectProxy):
                return found.raw_object
            return found
        return self.member(ref, marker)

    def member(self, ref: Any, marker: ObjStreamRef) -> Any:
        """The object ``ref`` at ``marker`` (its object stream and index)."""
        reader = self._reader
        data, offsets = self._stream(marker.obj_stream_id)
        if not 0 <= marker.ix_in_stream < len(offsets):
            return generic.NullObject()  # as pyHanko, not strict
        stream = BytesIO(data)
        stream.seek(offsets[marker.ix_in_stream])
        try:
            return generic.read_object(stream, generic.Reference(ref.idnum, 0, reader))
        except (PdfStreamError, PdfReadError):
            return generic.NullObject()  # as pyHanko, not strict

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
            return super()._get_object_from_stream(idnum, stmnum, idx)
        return self._versions.member(
            generic.Reference(idnum, 0, self), ObjStreamRef(stmnum, idx)
        )


def read_linearly(reader: PdfFileReader) -> None:
    """:meth:`LinearReader.read_linearly` for ``reader``, which must be one."""
    if not isinstance(reader, LinearReader):
        raise TypeError(f"a {type(reader).__name__}, not a LinearReader")
    reader.read_linearly()
