"""atk42: an object stream of many members (ISO 32000-1 §7.5.7).

pyHanko reads an object stream's member by reading the stream's header from its start
until it meets the object's number, once for every object asked for: reading N members
of one stream costs time in N squared. A form of 2,000 fields in one object stream
took 11 s of CPU in ``enumerate_sig_fields`` alone (sealing runs it on a thread that
cannot be stopped; verification's worker process hits its time limit); 8,000 about
three minutes; the fields rewritten in an update after a seal, pyHanko's difference
analysis read each old version so (not cached): 13 s to verify 2,000. Fixed
(``pdf_versions.LinearReader``): once the file is opened and its object streams
checked, pyHanko's reader reads each member through ``Versions`` (each stream's
header once, the member at its index).
"""

from __future__ import annotations

import io
import time

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from services.seal.pdf_verify import read_pdf_seals
from services.seal.pdf_versions import LinearReader
from tests.seal.test_atk38_pdf_streams import object_stream, stream_update
from tests.seal.test_field_pdfs import keys, seal, seal_ca  # noqa: F401

_FIRST = 6  # the first field's object number


def form_in_one_stream(fields: int) -> bytes:
    """A one-page PDF whose form has ``fields`` text fields (each its own widget),
    all in one object stream (object 4) a cross-reference stream (object 5) names:
    1 catalog, 2 pages, 3 page."""
    refs = b" ".join(b"%d 0 R" % (_FIRST + i) for i in range(fields))
    plain = {
        1: b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [%s] >> >>" % refs,
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        4: object_stream([(_FIRST + i, _field(i, i)) for i in range(fields)]),
    }
    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    entries = {0: (0, 0, 65535)}
    for number, body in plain.items():
        entries[number] = (1, len(out), 0)
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    for i in range(fields):
        entries[_FIRST + i] = (2, 4, i)
    xref = len(out)
    entries[5] = (1, xref, 0)
    size = _FIRST + fields
    data = b"".join(
        t.to_bytes(1, "big") + a.to_bytes(4, "big") + b.to_bytes(2, "big")
        for t, a, b in (entries[n] for n in range(size))
    )
    out += (
        b"5 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Length %d >>\n"
        b"stream\n" % (size, len(data))
    )
    out += data + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def test_premise_the_form_reads_as_written():
    reader = PdfFileReader(io.BytesIO(form_in_one_stream(3)), strict=False)
    fields = reader.root["/AcroForm"]["/Fields"]
    assert [str(f.get_object()["/T"]) for f in fields] == ["F0", "F1", "F2"]


def _field(i: int, value: int) -> bytes:
    return (
        b"<< /FT /Tx /T (F%d) /V (%d) /Type /Annot /Subtype /Widget "
        b"/Rect [0 0 0 0] /P 3 0 R >>" % (i, value)
    )


def _rewritten(pdf: bytes, fields: int, value: int) -> bytes:
    """``pdf`` updated: every field written again, into a new object stream."""
    stream = int(PdfFileReader(io.BytesIO(pdf), strict=False).trailer["/Size"])
    members = [(_FIRST + i, _field(i, value)) for i in range(fields)]
    entries = {_FIRST + i: (2, stream, i) for i in range(fields)}
    return stream_update(pdf, {stream: object_stream(members)}, entries)


def test_the_linear_reader_reads_what_pyhanko_reads_in_every_revision():
    pdf = _rewritten(form_in_one_stream(50), 50, 7)
    lazy = PdfFileReader(io.BytesIO(pdf), strict=False)
    linear = LinearReader(io.BytesIO(pdf), strict=False)
    linear.read_linearly()
    for revision in (0, 1, None):
        for number in range(1, _FIRST + 51):
            ref_lazy = generic.Reference(number, 0, lazy)
            ref_linear = generic.Reference(number, 0, linear)
            expected = lazy.get_object(ref_lazy, revision)
            assert linear.get_object(ref_linear, revision) == expected, number
    assert linear.get_object(generic.Reference(_FIRST + 1, 0, linear))["/V"] == "7"
    assert linear.get_object(generic.Reference(_FIRST + 1, 0, linear), 0)["/V"] == "1"


def _within(seconds: float, spent: float) -> None:
    assert spent < seconds, f"{spent:.2f} s of CPU"


@pytest.mark.parametrize("fields", [2000])  # quadratic: 11 s, linear: 0.5 s
async def test_a_form_in_one_object_stream_seals_and_verifies_in_linear_time(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    fields,
):
    pdf = form_in_one_stream(fields)
    start = time.process_time()
    sealed = await seal(seal_ca, keys, pdf)
    sealing = time.process_time() - start
    start = time.process_time()
    verdicts = await read_pdf_seals(sealed, ca=seal_ca.cert)
    verifying = time.process_time() - start
    assert [(s.intact, s.modified) for s in verdicts] == [(True, False)]
    _within(5, sealing)
    _within(5, verifying)


@pytest.mark.parametrize(("fields", "seconds"), [(2000, 5)])  # quadratic: 12.6 s
async def test_a_form_rewritten_after_the_seal_verifies_in_linear_time(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    fields,
    seconds,
):
    """pyHanko's difference analysis reads each field's version of the sealed
    revision, which an update has since rewritten: not cached, each read alone."""
    updated = _rewritten(
        await seal(seal_ca, keys, form_in_one_stream(fields)), fields, 0
    )
    start = time.process_time()
    verdicts = await read_pdf_seals(updated, ca=seal_ca.cert)
    _within(seconds, time.process_time() - start)
    assert [s.intact for s in verdicts] == [True]
