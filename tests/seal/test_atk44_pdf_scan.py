"""atk44: the byte scan (services.seal.pdf_scan) against pyHanko's reading.

F1 (medium): an object header with two white-space characters between its
generation and ``obj`` (``40 0  obj``, ``40 0\\r\\nobj``). The scan's header
(``certseal.pdfsyntax.HEADER_AT``) takes any white space there and is sure of the
object after it; pyHanko's header reading (``xref._read_object_header``) reads
exactly three bytes after the generation without looking at them (`` ob``) and
then fails on ``j``. Viewers (poppler, PDF.js, PDFium) read the object. Because
the scan is sure, pyHanko's reading is never asked for: an object pyHanko cannot
read is sealed (atk43 F4 rules: refused, naming it) and, written after a seal,
is not noted as unreadable (rules: MODIFIED, naming it). Fixed: the scan is sure
of an indirect object only after one white-space byte and ``obj`` (pyHanko's
reading of its header); otherwise pyHanko's reading decides.
"""

from __future__ import annotations

import io
import re

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.xref import read_object_header

from certseal.errors import CertsealError
from services.seal.pdf_scan import scan_indirect
from services.seal.pdf_verify import read_pdf_seals
from tests.seal.field_pdfs import page_pdf
from tests.seal.test_atk38c_pdf import classic_pdf
from tests.seal.test_atk38d import raw_update
from tests.seal.test_field_pdfs import keys, seal, seal_ca  # noqa: F401

_PAGE = {
    1: b"<< /Type /Catalog /Pages 2 0 R >>",
    2: b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
    3: b"<< >>",
    4: b"<< /Type /Page /Parent 2 0 R /Resources 3 0 R /Contents 5 0 R "
    b"/MediaBox [0 0 595 842] >>",
    5: b"<< /Length 20 >>\nstream\n0.5 g 0 0 10 10 re f\nendstream",
}

#: headers of the same length as ``N 0 obj\n``: white space doubled before ``obj``
_GAPS = [b"  obj", b"\r\nobj", b"\n\nobj"]


def _pyhanko_reads(body: bytes) -> object:
    stream = io.BytesIO(body)
    read_object_header(stream, strict=False)
    return generic.read_object(stream, generic.Reference(1, 0, None))


@pytest.mark.parametrize("gap", _GAPS, ids=["spaces", "crlf", "lflf"])
def test_the_scan_is_not_sure_of_a_header_pyhanko_cannot_read(gap):
    body = b"1 0" + gap + b"[5 0 R] endobj"
    with pytest.raises(Exception):  # noqa: B017 (PdfReadError: "Unexpected byte")
        _pyhanko_reads(body)
    assert not scan_indirect(body, 0, 1, 0).sure


def _gapped(pdf: bytes, number: int, gap: bytes) -> bytes:
    """``pdf`` with object ``number``'s last header written with ``gap`` (same
    length, so every offset holds)."""
    plain = b"%d 0 obj\n" % number
    at = pdf.rindex(plain)
    gapped = b"%d 0" % number + gap
    assert len(gapped) == len(plain)
    return pdf[:at] + gapped + pdf[at + len(plain) :]


@pytest.fixture(scope="module")
async def sealed_plain(seal_ca, keys) -> bytes:  # noqa: F811
    return await seal(seal_ca, keys, page_pdf())


async def test_an_object_after_the_seal_whose_header_pyhanko_misreads_is_noted(
    sealed_plain,
    seal_ca,  # noqa: F811
):
    updated = _gapped(raw_update(sealed_plain, {(40, 0): b"[1 2]"}), 40, b"  obj")
    [found] = await read_pdf_seals(updated, ca=seal_ca.cert)
    assert found.intact and found.modified, found.detail
    assert found.detail.startswith("object 40"), found.detail


async def test_sealing_an_object_whose_header_pyhanko_misreads_is_refused(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    pdf = _gapped(classic_pdf({**_PAGE, 6: b"[1 2]"}, 7), 6, b"  obj")
    with pytest.raises(CertsealError) as err:
        await seal(seal_ca, keys, pdf)
    assert "object 6 cannot be read" in err.value.message, err.value


async def test_a_page_rewritten_under_such_a_header_after_the_seal_is_modified(
    sealed_plain,
    seal_ca,  # noqa: F811
):
    """The sealed page written again after the seal, drawing a second content
    stream, under a header pyHanko misreads (viewers draw the new page): resisted,
    pyHanko's difference analysis reads the page itself."""
    reader_page = (
        b"<< /Type /Page /Parent 2 0 R /Resources << >> /Contents [41 0 R] "
        b"/MediaBox [0 0 595 842] >>"
    )
    content = b"<< /Length 22 >>\nstream\n1 0 0 rg 0 0 99 99 re f\nendstream"
    page = int(re.search(rb"/Kids\s*\[\s*(\d+) 0 R", sealed_plain)[1])
    updated = raw_update(sealed_plain, {(page, 0): reader_page, (41, 0): content})
    updated = _gapped(updated, page, b"  obj")
    [found] = await read_pdf_seals(updated, ca=seal_ca.cert)
    assert found.intact and found.modified, found.detail
