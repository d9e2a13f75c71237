"""atk39b_docs: an outside reviewer's attacks on today's seal verification changes.

Found:

* D1 (high) ``pdf_form.default_appearance_fonts`` reads the fonts a sealed default
  appearance names with a regular expression (``/Name <number> Tf``) and walks only
  ``/AcroForm /Fields``, their ``/Kids`` and the pages' ``/Annots``. PDFium reads a
  /DA otherwise (``CPDF_DefaultAppearance``: ``CPDF_SimpleParser`` words, comments
  skipped, the two words before the first ``Tf``, any size word, a non-number read
  as 0, auto size) and takes a widget's /DA from its ``/Parent`` chain, which need
  not be in ``/Fields`` (``CPDF_InteractiveForm::FixPageFields`` loads a page's
  widgets). So a sealed text field "Amount" ("1000", no /AP) whose /DA names a font
  /DR lacks (drawn with a fallback) in any of these ways: a comment in the /DA
  (``/Cour %x\\n40 Tf``), a size that is no number (``/Cour x Tf``), the /DA
  inherited from a parent reached only by the widget's ``/Parent``, or the form's
  /DA with a comment: a font ``/Cour`` (ZapfDingbats) added to /DR after the seal
  is "no change", the seal VALID, while PDFium draws the amount in other glyphs.
  Fixed: every name in every /DA of the sealed revision counts, each /Parent is
  followed, and only a font may be added.
"""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from services.seal.pdf_form import default_appearance_fonts
from tests.seal.field_pdfs import assemble_pdf
from tests.seal.test_atk39_pdf import (
    _pdfium_field_pixels,
    _resource_added,
    _verdicts,
)
from tests.seal.test_field_pdfs import keys, seal, seal_ca  # noqa: F401

# -- D1: a font added to /DR that a sealed default appearance names, unread ---------


def _amount_form(
    *, form_da: bytes = b"/Helv 40 Tf 0 g", field_da: bytes | None, parent: bool
) -> bytes:
    """A page with a text field "Amount" valued "1000", no /AP, /DR holding only
    /Helv; its /DA ``field_da`` (on the field, or on a parent node the widget's
    /Parent names and /Fields does not list when ``parent``)."""
    da = b" /DA (" + field_da + b")" if field_da is not None else b""
    if parent:
        widget = b"<< /Parent 7 0 R "
        fields = b"[]"
        more = [b"<< /FT /Tx /T (Amount) /V (1000)" + da + b" /Kids [5 0 R] >>"]
    else:
        widget = b"<< /FT /Tx /T (Amount) /V (1000)" + da + b" "
        fields = b"[5 0 R]"
        more = []
    return assemble_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields " + fields + b" "
            b"/DA (" + form_da + b") /DR << /Font << /Helv 6 0 R >> >> >> >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots [5 0 R] "
            b"/Contents 4 0 R >>",
            b"<< /Length 0 >>\nstream\n\nendstream",
            widget + b"/Type /Annot /Subtype /Widget /Rect [50 600 500 700] "
            b"/P 3 0 R /F 4 >>",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
            b"/Encoding /WinAnsiEncoding >>",
            *more,
        ]
    )


#: sealed forms whose field PDFium draws with a font /Cour that /DR lacks
_NAMES_COUR = {
    "comment-in-field-da": {"field_da": b"/Cour %x\n40 Tf 0 g", "parent": False},
    "comment-before-Tf": {"field_da": b"/Cour 40 %x\nTf 0 g", "parent": False},
    "size-no-number": {"field_da": b"/Cour x Tf 0 g", "parent": False},
    "da-on-a-parent-outside-fields": {
        "field_da": b"/Cour 40 Tf 0 g",
        "parent": True,
    },
    "comment-in-form-da": {
        "form_da": b"/Cour %x\n40 Tf 0 g",
        "field_da": None,
        "parent": False,
    },
}


@pytest.mark.parametrize("kind", list(_NAMES_COUR))
def test_premise_pdfium_draws_the_field_anew_when_cour_is_added(kind):
    pdf = _amount_form(**_NAMES_COUR[kind])
    before = _pdfium_field_pixels(pdf)
    assert min(before) < 128  # "1000" drawn (with a fallback font)
    assert _pdfium_field_pixels(_resource_added(pdf, "/Cour")) != before


@pytest.mark.parametrize("kind", list(_NAMES_COUR))
def test_the_fonts_a_sealed_default_appearance_names_are_read_as_pdfium_reads_them(
    kind,
):
    pdf = _amount_form(**_NAMES_COUR[kind])
    resolver = PdfFileReader(io.BytesIO(pdf), strict=False).get_historical_resolver(0)
    named = default_appearance_fonts(resolver)
    assert named is None or "/Cour" in named


@pytest.mark.parametrize("kind", list(_NAMES_COUR))
async def test_a_font_added_that_a_sealed_field_is_drawn_with_is_a_change(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
    kind,
):
    sealed = await seal(seal_ca, keys, _amount_form(**_NAMES_COUR[kind]))
    [(intact, modified, detail)] = await _verdicts(
        _resource_added(sealed, "/Cour"), seal_ca.cert
    )
    assert intact and modified, detail
    assert "/DR/Font/Cour" in detail


async def test_control_a_plain_field_da_naming_the_added_font_is_a_change(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    form = _amount_form(field_da=b"/Cour 40 Tf 0 g", parent=False)
    sealed = await seal(seal_ca, keys, form)
    [(intact, modified, detail)] = await _verdicts(
        _resource_added(sealed, "/Cour"), seal_ca.cert
    )
    assert intact and modified, detail


async def test_a_resource_other_than_a_font_added_to_the_resources_is_a_change(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    """Only a font may be added to /DR after a seal: an appearance stream without
    resources of its own may be drawn with /DR's others (an /XObject here)."""
    sealed = await seal(seal_ca, keys, _amount_form(field_da=None, parent=False))
    writer = IncrementalPdfFileWriter(io.BytesIO(sealed), strict=False)
    writer.root["/AcroForm"]["/DR"][generic.NameObject("/XObject")] = (
        generic.DictionaryObject(
            {generic.NameObject("/Im0"): generic.DictionaryObject()}
        )
    )
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    [(intact, modified, detail)] = await _verdicts(out.getvalue(), seal_ca.cert)
    assert intact and modified, detail
    assert "/DR/XObject" in detail
