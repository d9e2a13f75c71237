"""atk37b: attacks on reading a PDF up to its last end section
(:mod:`certseal.pdfend`, :func:`services.seal.pdf_after.object_after_end`).

The design keeps readers from rebuilding a file (and so showing objects no
cross-reference reaches) by refusing a file whose end section is not in its last
1,024 bytes. Readers rebuild for other reasons too, and certseal does not see them:

* a tail (≤ 1 KiB, "no PDF update") holding the word ``startxref`` that is no end
  section to certseal's regex (no digits, a comment, no ``%%EOF``): MuPDF, poppler,
  PDFium and pdf.js take the LAST ``startxref`` as the file's end, find no
  cross-reference there and rebuild the file from every object header in it;
* a PDF to be sealed whose ``startxref`` is a few bytes off, which pyHanko corrects
  (``_attempt_startxref_correction``) and PDFium and poppler do not: they rebuild;
* an object header spelt with a signed generation (``5 +0 obj``), which the
  header regex misses and PDFium's and MuPDF's lexers read as object 5.

With an object the cross-reference does not reach (``ORPHAN``: object 5 again, a
full-page blue fill, after the real one) rebuilding readers show the page blue while
certseal said its seal held and nothing was changed. Each test asserts the behaviour
wanted (each was xfail(strict) until fixed: :func:`certseal.pdfend.read_to_end`
refuses a tail holding ``startxref`` and a cross-reference section not where its
offset says, and the header regex reads signed numbers); the ``premise`` tests show
that PDFium (pypdfium2) renders these files blue.
"""

from __future__ import annotations

import re

import pytest

from certseal.errors import CertsealError
from services.seal.pdf_after import object_after_end
from tests.seal.field_pdfs import Tree, page_pdf
from tests.seal.test_atk37_pdf_tail import BLUE, BLUE_BODY, _seals_hold
from tests.seal.test_field_pdfs import keys, seal, seal_ca  # noqa: F401

#: tails that are no end section to certseal (pdfend._END) but hold ``startxref``,
#: which readers search backwards for and, finding no cross-reference at it, rebuild
TRIGGERS = {
    "startxref alone": b"startxref\n",
    "startxref and an offset, no %%EOF": b"startxref\n1\n",
    "a comment after startxref": b"startxref %c\n1\n%%EOF\n",
    "a vertical tab after startxref": b"startxref\x0b1\n%%EOF\n",
}

#: object 5's header as PDFium's and MuPDF's lexers read it, the regex not
SIGNED_HEADERS = {
    "a plus generation": b"5 +0 obj",
    "a plus number and generation": b"+5 +0 obj",
    "a minus generation": b"5 -0 obj",
}


def _startxref(pdf: bytes) -> int:
    return int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])


def _with_orphan(pdf: bytes, off_by: int = 0) -> bytes:
    """``pdf`` (one classic xref section) with BLUE, a second object 5 that no
    cross-reference reaches, just before its xref table; its ``startxref`` moved
    with the table, and ``off_by`` bytes more."""
    at = pdf.rindex(b"\nxref\n") + 1
    old = _startxref(pdf)
    out = pdf[:at] + BLUE + pdf[at:]
    return out.replace(
        b"startxref\n%d\n" % old, b"startxref\n%d\n" % (old + len(BLUE) + off_by)
    )


def _pdfium_blue(pdf: bytes) -> bool:
    """Whether PDFium renders the first page's upper middle blue."""
    pdfium = pytest.importorskip("pypdfium2")
    image = pdfium.PdfDocument(pdf)[0].render(scale=0.2).to_pil().convert("RGB")
    return image.getpixel((image.width // 2, image.height // 4)) == (0, 0, 255)


@pytest.fixture(scope="module")
async def sealed(seal_ca, keys) -> bytes:  # noqa: F811
    return await seal(seal_ca, keys, page_pdf(Tree()))


@pytest.fixture(scope="module")
async def sealed_orphan(seal_ca, keys) -> bytes:  # noqa: F811
    """page_pdf with an orphaned object 5, sealed: certseal seals it today."""
    return await seal(seal_ca, keys, _with_orphan(page_pdf(Tree())))


# -- 1. a tail holding "startxref" makes readers rebuild ---------------------------


async def test_premise_a_startxref_tail_makes_pdfium_show_the_orphan(
    sealed_orphan,
    seal_ca,  # noqa: F811
):
    assert not _pdfium_blue(sealed_orphan)  # as sealed, PDFium shows the signed page
    pdf = sealed_orphan + TRIGGERS["a comment after startxref"]
    assert _pdfium_blue(pdf)  # PDFium rebuilt it: the page is blue
    assert not await _seals_hold(pdf, seal_ca.cert)  # and certseal no longer VALID


@pytest.mark.parametrize("trigger", list(TRIGGERS))
async def test_a_tail_holding_startxref_is_no_harmless_tail(
    sealed_orphan,
    seal_ca,  # noqa: F811
    trigger,
):
    assert await _seals_hold(sealed_orphan, seal_ca.cert)
    assert not await _seals_hold(sealed_orphan + TRIGGERS[trigger], seal_ca.cert)


# -- 2. a startxref pyHanko corrects and readers do not ----------------------------


@pytest.mark.parametrize("off_by", [-3, 2, 3])
async def test_premise_pdfium_rebuilds_a_file_whose_startxref_is_off(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    off_by,
):
    # PDFium rebuilds the file as sent, as it would have rebuilt the sealed one
    assert _pdfium_blue(_with_orphan(page_pdf(Tree()), off_by))


@pytest.mark.parametrize("off_by", [-3, 2, 3])
async def test_sealing_refuses_a_pdf_whose_startxref_readers_cannot_follow(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    off_by,
):
    try:
        out = await seal(seal_ca, keys, _with_orphan(page_pdf(Tree()), off_by))
    except CertsealError as err:  # refusing it is as good
        assert err.field == "pdf", err
        return
    assert not await _seals_hold(out, seal_ca.cert)


# -- 3. object headers the header regex misses -------------------------------------


async def test_premise_pdfium_takes_a_plus_generation_header(
    sealed,
    seal_ca,  # noqa: F811
):
    hidden = b"\n5 +0 obj\n" + BLUE_BODY + b"endobj\n"
    pdf = sealed + hidden + TRIGGERS["a comment after startxref"]
    assert _pdfium_blue(pdf)
    assert not await _seals_hold(pdf, seal_ca.cert)


@pytest.mark.parametrize("header", list(SIGNED_HEADERS))
async def test_an_object_after_the_end_with_a_signed_generation_is_found(
    sealed,
    seal_ca,  # noqa: F811
    header,
):
    pdf = sealed + b"\n" + SIGNED_HEADERS[header] + b"\n" + BLUE_BODY + b"endobj\n"
    assert object_after_end(pdf, len(sealed)) != ""
    assert not await _seals_hold(pdf, seal_ca.cert)
