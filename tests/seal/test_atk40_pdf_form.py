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

Held: the plain /DA, ``#xx`` escapes in the name, a comment, a non-number size, a
/DA inherited from a /Parent outside /Fields (atk39b_docs); a /DA reached only via a
/Parent loop or a 40-deep chain; an indirect /DA string; a /DA on the form only;
a UTF-16 /DA and ``/Co#zzur`` (PDFium draws nothing anew); a font added under the
empty name for a /DA without ``Tf``.
"""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from services.seal.pdf_form import default_appearance_fonts
from tests.seal.field_pdfs import assemble_pdf
from tests.seal.test_atk39_pdf import _pdfium_field_pixels, _resource_added, _verdicts
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


@pytest.mark.xfail(
    strict=True, reason="atk40: a /DA's font read otherwise than PDFium reads it"
)
@pytest.mark.parametrize("kind", list(_NAMES_COUR_UNSEEN))
def test_the_fonts_a_sealed_da_names_include_what_pdfium_reads(kind):
    pdf = _amount_form(_NAMES_COUR_UNSEEN[kind])
    resolver = PdfFileReader(io.BytesIO(pdf), strict=False).get_historical_resolver(0)
    named = default_appearance_fonts(resolver)
    assert named is None or "/Cour" in named


@pytest.mark.xfail(
    strict=True,
    reason="atk40: a font added that PDFium draws a sealed field with stays VALID",
)
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
