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


def preload(reader: Any) -> int:
    """Put each object of ``reader``'s (a pyHanko ``PdfFileReader``) newest revision
    that is held in an object stream into pyHanko's object cache, read by
    :class:`Versions`: what pyHanko reads of it then costs time linear in the
    objects, not in the square of an object stream's members (atk42: reading 2,000
    form fields held in one object stream took 11 s, 8,000 about 3 minutes). The
    object cached is the one pyHanko would read and cache on first asking
    (:func:`certseal.pdfend.check_object_streams` has held, which must run first),
    as pyHanko caches it (undecrypted: an object stream's members are not encrypted
    each). Each revision's sections are read once, newest first, each object number
    they name resolved by the section itself as pyHanko resolves it; one already
    cached, or whose reading fails otherwise than as pyHanko reads it leniently
    (left to pyHanko), is left. Returns how many objects were cached."""
    xrefs = reader.xrefs
    versions = Versions(reader)
    settled: set[int] = set()
    failed: set[int] = set()  # object streams whose reading failed: left to pyHanko
    cached = 0
    for revision in reversed(range(xrefs.total_revisions)):
        data = xrefs.get_xref_data(revision)
        for number in sorted(_named(data) - settled):
            ref = generic.Reference(number, 0, reader)
            try:
                marker = data.try_resolve(ref)
            except KeyError:
                continue  # an older revision's, for generation 0
            settled.add(number)
            if not isinstance(marker, ObjStreamRef):
                continue
            if (
                marker.obj_stream_id in failed
                or reader.cache_get_indirect_object(0, number) is not None
            ):
                continue
            try:
                found = versions.member(ref, marker)
            except Exception:  # pyHanko raises it when asked, if it ever is
                failed.add(marker.obj_stream_id)
                continue
            reader.cache_indirect_object(0, number, found)
            cached += 1
    return cached


def _named(data: Any) -> set[int]:
    """The object numbers a pyHanko ``XRefSectionData`` (and its hybrid section's)
    names in any entry: the only ones its ``try_resolve`` may resolve."""
    named = {*data.xrefs_in_objstm, *data.standard_xrefs, *data.freed}
    if data.hybrid is not None:
        named |= _named(data.hybrid.xref_data)
    return named
