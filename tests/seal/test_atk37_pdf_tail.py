"""atk37: attacks on reading a PDF up to its last end section (commit bc54b8e,
:mod:`certseal.pdfend`, :func:`services.seal.pdf_after.object_after_end`).

Each test asserts the behaviour wanted (each was xfail(strict) until fixed: an end
section beyond the last 1,024 bytes is refused, :func:`certseal.pdfend.read_to_end`). ``BLUE`` replaces page_pdf's content stream (object 5) with a full-page blue
fill: PDFium (Chrome, pypdfium2) rebuilds a file with no ``startxref`` in its last
4 KiB or so and renders every such file below blue, while certseal says its seal
holds and nothing was changed after it.
"""

from __future__ import annotations

import io
import re
import time

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from certseal.errors import CertsealError
from certseal.pdfend import pdf_end
from services.seal.pdf_after import object_after_end
from services.seal.pdf_verify import read_pdf_seals
from tests.seal.field_pdfs import Tree, page_pdf
from tests.seal.test_field_pdfs import keys, seal, seal_ca  # noqa: F401

#: page_pdf's content stream (object 5) replaced by a full-page blue fill
BLUE_BODY = b"<< /Length 26 >>\nstream\n0 0 1 rg 0 0 595 842 re f\nendstream\n"
BLUE = b"5 0 obj\n" + BLUE_BODY + b"endobj\n"
#: enough bytes after the last end section for PDFium to rebuild the file
PADDING = bytes(5_000)


@pytest.fixture(scope="module")
async def sealed(seal_ca, keys) -> bytes:  # noqa: F811
    return await seal(seal_ca, keys, page_pdf(Tree()))


def _startxref(pdf: bytes) -> int:
    """The offset the last end section of ``pdf`` names."""
    return int(re.findall(rb"startxref\s+(\d+)\s+%%EOF", pdf)[-1])


def _end_section(pdf: bytes) -> bytes:
    """An end section naming the cross-reference section ``pdf``'s last one names."""
    return b"startxref\n%d\n%%%%EOF\n" % _startxref(pdf)


def _update(pdf: bytes) -> bytes:
    """``pdf`` with an incremental update (its own xref section, /Prev) replacing
    object 5 by BLUE: an ordinary change after a seal."""
    trailer = PdfFileReader(io.BytesIO(pdf), strict=False).trailer
    size, root = int(trailer["/Size"]), trailer.raw_get("/Root").idnum
    out = pdf + b"\n"
    offset = len(out)
    out += BLUE
    xref = len(out)
    out += b"xref\n0 1\n0000000000 65535 f \n5 1\n%010d 00000 n \n" % offset
    out += (
        b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n"
        % (
            size,
            root,
            _startxref(pdf),
            xref,
        )
    )
    return out


async def _seals_hold(pdf: bytes, ca: bytes) -> bool:
    """Whether certseal says some seal of ``pdf`` holds with nothing changed after it
    (VALID); False too when it refuses ``pdf`` as INVALID_ARGUMENT ``pdf``."""
    try:
        found = await read_pdf_seals(pdf, ca=ca)
    except CertsealError as err:
        assert err.field == "pdf", err
        return False
    return any(s.intact and not s.modified for s in found)


async def test_an_object_between_two_end_sections_makes_the_seal_modified(
    sealed,
    seal_ca,  # noqa: F811
):
    """sealed + BLUE + an end section naming the signed xref again + padding: PDFium
    renders the page blue; certseal says VALID ('bytes follow the signed revision
    but are no PDF update (nothing a reader shows)')."""
    pdf = sealed + BLUE + _end_section(sealed) + PADDING
    assert not await _seals_hold(pdf, seal_ca.cert)


async def test_a_change_hidden_behind_an_end_section_naming_the_signed_xref(
    sealed,
    seal_ca,  # noqa: F811
):
    changed = _update(sealed)
    assert not await _seals_hold(changed, seal_ca.cert)  # MODIFIED, as it should be
    pdf = changed + _end_section(sealed) + PADDING
    assert not await _seals_hold(pdf, seal_ca.cert)


#: object 5's header as a PDF lexer (PDFium's, MuPDF's) reads it, the regex not
HIDDEN_HEADERS = {
    "a comment between its tokens": b"5 0%c\nobj",
    "a comment before obj at once": b"5 0 %\robj",
    "leading zeros in its number": b"00000000005 0 obj",
    "leading zeros in its generation": b"5 000000 obj",
    "more than 256 white-space bytes": b"5" + b" " * 300 + b"0 obj",
}


@pytest.mark.parametrize("header", list(HIDDEN_HEADERS))
async def test_an_object_after_the_end_is_found_however_its_header_is_spelt(
    sealed,
    seal_ca,  # noqa: F811
    header,
):
    pdf = sealed + BLUE.replace(b"5 0 obj", HIDDEN_HEADERS[header]) + PADDING
    assert object_after_end(pdf, len(sealed)) != ""
    assert not await _seals_hold(pdf, seal_ca.cert)


#: unsealed PDFs carrying BLUE where no cross-reference reaches it
def _orphaned(kind: str) -> bytes:
    unsealed = page_pdf(Tree())
    return {
        "after the end, within 1,024 bytes": unsealed + BLUE,
        "between end sections": unsealed + BLUE + _end_section(unsealed) + bytes(2_000),
        "an update hidden behind an end section": _update(unsealed)
        + _end_section(unsealed)
        + bytes(2_000),
    }[kind]


@pytest.mark.parametrize(
    "kind",
    [
        "after the end, within 1,024 bytes",
        "between end sections",
        "an update hidden behind an end section",
    ],
)
async def test_sealing_keeps_no_object_that_a_rebuilding_reader_would_show(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    kind,
):
    try:
        out = await seal(seal_ca, keys, _orphaned(kind))
    except CertsealError as err:  # refusing it is as good
        assert err.field == "pdf", err
        return
    assert not await _seals_hold(out + PADDING, seal_ca.cert)


@pytest.mark.parametrize("padding", [0, 2_000])
@pytest.mark.parametrize("digits", [b"9" * 19, b"9" * 20])
async def test_a_huge_startxref_offset_is_refused_as_pdf(
    sealed,
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    digits,
    padding,
):
    pdf = sealed + b"startxref\n" + digits + b"\n%%EOF\n" + bytes(padding)
    assert pdf_end(pdf) is not None
    with pytest.raises(CertsealError) as err:
        await read_pdf_seals(pdf, ca=seal_ca.cert)
    assert err.value.field == "pdf"
    with pytest.raises(CertsealError) as err:
        await seal(seal_ca, keys, pdf)
    assert err.value.field == "pdf"


@pytest.mark.parametrize("padding", [0, 2_000])
async def test_a_startxref_naming_an_ordinary_object_is_refused_as_pdf(
    sealed,
    seal_ca,  # noqa: F811
    padding,
):
    at = sealed.index(b"1 0 obj")
    pdf = sealed + b"startxref\n%d\n%%%%EOF\n" % at + bytes(padding)
    with pytest.raises(CertsealError) as err:
        await read_pdf_seals(pdf, ca=seal_ca.cert)
    assert err.value.field == "pdf"


async def test_a_long_tail_without_line_ends_costs_about_what_the_regexes_cost(
    sealed,
    seal_ca,  # noqa: F811
):
    pdf = sealed + bytes(16 << 20)
    started = time.process_time()
    pdf_end(pdf)
    object_after_end(pdf, len(sealed))
    scans = time.process_time() - started
    started = time.process_time()
    with pytest.raises(CertsealError):  # its end is not where readers look
        await read_pdf_seals(pdf, ca=seal_ca.cert)
    verify = time.process_time() - started
    # the regex scans are part of verification: allow them three times over and 0.5 s
    assert verify < 3 * scans + 0.5, (verify, scans)
