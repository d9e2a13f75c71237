"""atk40: an outside attacker's tries at the PDF form rule after atk39b_docs D1
(``pdf_form.default_appearance_fonts``: every ``/name`` in every sealed /DA counts,
read with ``_DA_NAME``; an added /DR font is no change unless a name counts).

Found (each: a sealed text field "Amount" valued "1000", no /AP, whose /DA names a
font ``/Cour`` that /DR lacks, so PDFium draws it with a fallback; a font ``/Cour``
(ZapfDingbats) added to /DR after the seal is "no change", VALID, while PDFium
draws the sealed amount in other glyphs, as Chrome shows it):

* P1 (high) a NUL after the name: ``/DA (/Cour\\000 40 Tf 0 g)``. NUL is PDF
  white-space (ISO 32000-1 Table 1; PDFium's ``PDFCharIsWhitespace``), so PDFium's
  ``CPDF_SimpleParser`` reads the name ``/Cour``; ``_DA_NAME``'s class ``[^\\s...]``
  (Python's ``\\s`` has no NUL) reads ``/Cour\\x00``, which /DR/Font/Cour does not
  end with.
* P2 (high) a font word that is no name: ``/DA (XCour 40 Tf 0 g)``. PDFium's
  ``CPDF_DefaultAppearance::GetFont`` takes the word two before ``Tf`` and deletes
  its first character whatever it is (``csFontNameTag.Delete(0, 1)``), so it looks
  up ``Cour``; certseal counts only words starting with ``/``.
* P3 (high) a /DA that is a name object, not a string:
  ``/DA /#2FCour#2040#20Tf#200#20g``. PDFium reads /DA with ``GetString()``
  (``CPDF_Name::GetString`` is the decoded name, ``/Cour 40 Tf 0 g``);
  ``default_appearance_fonts`` reads only text and byte strings.

* P4 (high, beyond the form rule) a dictionary key given twice. pyHanko's parser
  keeps a key's FIRST value (``DictionaryObject.read_from_stream`` with
  ``strict=False``, as ``pdf_verify.read_pdf_seals`` reads: a warning only);
  PDFium (``CPDF_Dictionary::SetFor``) and poppler keep the LAST. An incremental
  update after the seal that redefines a sealed object with its own entries and
  then the same key again is, for pyHanko and every certseal check built on it,
  the object unchanged: VALID "nothing the document shows has changed since it was
  sealed", while the readers show the second value. Shown two ways: the page
  object with a second ``/Contents`` (a new stream painting the page red: PDFium
  and poppler draw it red), and the form's text field with a second ``/V``
  ("9999" for "1000": PDFium draws 9999).

Held: the plain /DA, ``#xx`` escapes in the name, a comment, a non-number size, a
/DA inherited from a /Parent outside /Fields (atk39b_docs); a /DA reached only via a
/Parent loop or a 40-deep chain; an indirect /DA string; a /DA on the form only;
a UTF-16 /DA and ``/Co#zzur`` (PDFium draws nothing anew); a font added under the
empty name for a /DA without ``Tf``.
"""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from services.seal.pdf_form import default_appearance_fonts
from services.seal.pdf_verify import read_pdf_seals
from tests.seal.field_pdfs import Tree, assemble_pdf, page_pdf
from tests.seal.test_atk38d import raw_update
from tests.seal.test_atk39_pdf import (
    _form_without_appearance,
    _pdfium_field_pixels,
    _poppler_red,
    _resource_added,
    _verdicts,
)
from tests.seal.test_field_pdfs import keys, seal, seal_ca  # noqa: F401


def _amount_form(da_entry: bytes) -> bytes:
    """A page with a text field "Amount" valued "1000", no /AP, its /DA entry
    ``da_entry`` as written; /DR holds only /Helv (Helvetica)."""
    return assemble_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [5 0 R] "
            b"/DA (/Helv 40 Tf 0 g) /DR << /Font << /Helv 6 0 R >> >> >> >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots [5 0 R] "
            b"/Contents 4 0 R >>",
            b"<< /Length 0 >>\nstream\n\nendstream",
            b"<< /FT /Tx /T (Amount) /V (1000) " + da_entry + b" /Type /Annot "
            b"/Subtype /Widget /Rect [50 600 500 700] /P 3 0 R /F 4 >>",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
            b"/Encoding /WinAnsiEncoding >>",
        ]
    )


#: sealed /DA entries PDFium reads as naming /Cour and certseal does not
_NAMES_COUR_UNSEEN = {
    "P1-nul-after-the-name": b"/DA (/Cour\\000 40 Tf 0 g)",
    "P2-font-word-no-name": b"/DA (XCour 40 Tf 0 g)",
    "P3-da-a-name-object": b"/DA /#2FCour#2040#20Tf#200#20g",
}


@pytest.mark.parametrize("kind", list(_NAMES_COUR_UNSEEN))
def test_premise_pdfium_draws_the_sealed_field_anew_when_cour_is_added(kind):
    pdf = _amount_form(_NAMES_COUR_UNSEEN[kind])
    before = _pdfium_field_pixels(pdf)
    assert min(before) < 128  # "1000" drawn, with a fallback font
    assert _pdfium_field_pixels(_resource_added(pdf, "/Cour")) != before


@pytest.mark.parametrize("kind", list(_NAMES_COUR_UNSEEN))
def test_the_fonts_a_sealed_da_names_include_what_pdfium_reads(kind):
    pdf = _amount_form(_NAMES_COUR_UNSEEN[kind])
    resolver = PdfFileReader(io.BytesIO(pdf), strict=False).get_historical_resolver(0)
    named = default_appearance_fonts(resolver)
    assert named is None or "/Cour" in named


@pytest.mark.parametrize("kind", list(_NAMES_COUR_UNSEEN))
async def test_a_font_added_that_pdfium_draws_the_sealed_field_with_is_a_change(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    kind,
):
    sealed = await seal(seal_ca, keys, _amount_form(_NAMES_COUR_UNSEEN[kind]))
    [(intact, modified, detail)] = await _verdicts(
        _resource_added(sealed, "/Cour"), seal_ca.cert
    )
    assert intact and modified, detail
    assert "/DR/Font/Cour" in detail


# -- P4: a key given twice in an object redefined after the seal -----------------------


def _with_key_again(pdf: bytes, number: int, extra: bytes, more=None) -> bytes:
    """``pdf`` with object ``number`` redefined by a classic update as it is (its
    dictionary as pyHanko reads it, written again) followed by ``extra`` (the same
    key again), and the objects ``more`` (number: body) defined too."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    written = io.BytesIO()
    reader.get_object(generic.Reference(number, 0)).write_to_stream(written)
    body = written.getvalue().rstrip()
    assert body.endswith(b">>")
    objects = {(number, 0): body[:-2] + b" " + extra + b" >>"}
    objects.update({(n, 0): b for n, b in (more or {}).items()})
    return raw_update(pdf, objects)


_RED = b"1 0 0 rg 0 0 595 842 re f"


def _page_repainted(sealed: bytes) -> bytes:
    """``sealed`` whose first page says ``/Contents`` a second time: a new stream
    painting the page red."""
    reader = PdfFileReader(io.BytesIO(sealed), strict=False)
    page = reader.root["/Pages"]["/Kids"].raw_get(0).idnum
    new = int(reader.trailer["/Size"])
    stream = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(_RED), _RED)
    return _with_key_again(sealed, page, b"/Contents %d 0 R" % new, {new: stream})


def _pdfium_page_red(pdf: bytes) -> bool:
    pdfium = pytest.importorskip("pypdfium2")
    document = pdfium.PdfDocument(pdf)
    document.init_forms()
    image = document[0].render(scale=0.2, may_draw_forms=True).to_pil()
    return image.convert("RGB").getpixel((image.width // 2, image.height // 2)) == (
        255,
        0,
        0,
    )


@pytest.fixture(scope="module")
async def sealed_page(seal_ca, keys) -> bytes:  # noqa: F811
    return await seal(seal_ca, keys, page_pdf(Tree()))


def test_premise_pdfium_and_poppler_take_the_last_contents(sealed_page):
    repainted = _page_repainted(sealed_page)
    assert not _pdfium_page_red(sealed_page) and _pdfium_page_red(repainted)
    assert _poppler_red(repainted)  # the page's upper middle red
    # pyHanko reads the page as it was: the first /Contents
    reader = PdfFileReader(io.BytesIO(repainted), strict=False)
    before = PdfFileReader(io.BytesIO(sealed_page), strict=False)
    assert reader.root["/Pages"]["/Kids"][0].raw_get("/Contents") == before.root[
        "/Pages"
    ]["/Kids"][0].raw_get("/Contents")


async def test_a_page_given_contents_twice_after_the_seal_is_modified(
    sealed_page,
    seal_ca,  # noqa: F811
):
    [seal_found] = await read_pdf_seals(_page_repainted(sealed_page), ca=seal_ca.cert)
    assert seal_found.intact and seal_found.modified, seal_found.detail


def _value_given_again(sealed: bytes) -> bytes:
    """The sealed form's text field "Amount" (object 5) saying /V a second time."""
    return _with_key_again(sealed, 5, b"/V (9999)")


def test_premise_pdfium_draws_the_last_value():
    form = _form_without_appearance()
    assert _pdfium_field_pixels(_value_given_again(form)) != _pdfium_field_pixels(form)


async def test_a_field_given_its_value_twice_after_the_seal_is_modified(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    sealed = await seal(seal_ca, keys, _form_without_appearance())
    [(intact, modified, detail)] = await _verdicts(
        _value_given_again(sealed), seal_ca.cert
    )
    assert intact and modified, detail
