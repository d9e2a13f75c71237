"""atk16b: a later signature that paints on the sealed page only on interaction.

VerifyPdf makes a seal MODIFIED when a later signature that shows on a page is not
VALID here (``pdf_revisions.shows_on_a_page``). What "shows" reads is the widget's
normal appearance (``/AP /N``) and its Hidden and NoView flags. A viewer also paints
a widget's rollover appearance (``/AP /R``) while the pointer is over it and its
down appearance (``/AP /D``) while it is pressed (ISO 32000-1 §12.5.5), and a NoView
widget flagged ToggleNoView (§12.5.3, bit 9) is shown on the same events. A stranger's
signature whose widget covers the page with an empty normal appearance and a rollover
appearance that paints the page white with other words is rated as showing nothing:
the seal under it stayed VALID (F1, fixed: every appearance a viewer may paint,
and NoView only when not ToggleNoView, count in ``shows_on_a_page``).
"""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers

from certseal.v1 import seal_pb2 as pb
from tests.conftest import seal_owner
from tests.seal.field_pdfs import _certifier
from tests.seal.test_atk15_pdf import A4, _appearance, sealed_pdf

_COVER = b"1 g 0 0 595 842 re f 0 g BT /Helv 48 Tf 100 400 Td (REFUSED) Tj ET"


class _Painted:
    """A signature appearance that paints the page only on interaction."""

    def __init__(self, writer, how: str) -> None:
        self.writer, self.how = writer, how

    def apply_appearance(self, annot) -> None:
        cover = _appearance(self.writer, A4, _COVER)
        empty = _appearance(self.writer, A4, b"")
        if self.how == "/F ToggleNoView":
            annot[pdf_name("/F")] = generic.NumberObject(4 | 32 | 256)
            ap = {pdf_name("/N"): cover}
        else:
            ap = {pdf_name("/N"): empty, pdf_name(self.how.split()[1]): cover}
        annot[pdf_name("/AP")] = generic.DictionaryObject(ap)


class _PaintedStyle:
    def __init__(self, how: str) -> None:
        self.how = how

    def create_stamp(self, writer, box, text_params):
        return _Painted(writer, self.how)


async def _signed_painting_on_interaction(pdf: bytes, how: str) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    signer = signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name="Stranger"),
        signer=_certifier(),
        stamp_style=_PaintedStyle(how),  # type: ignore[arg-type]
        new_field_spec=fields.SigFieldSpec("Stranger", on_page=0, box=A4),
    )
    return (await signer.async_sign_pdf(writer)).getvalue()


@pytest.mark.parametrize("how", ["/AP /R", "/AP /D", "/F ToggleNoView"])
async def test_a_signature_painting_the_page_on_interaction_is_no_valid_seal(
    how, seal_stub, operator
):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal_id, pdf = await sealed_pdf(stub)
    signed = await _signed_painting_on_interaction(pdf, how)
    found = (await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=signed))).seals
    ours = next(r for r in found if r.seal_id == seal_id)
    assert ours.verdict == "MODIFIED", ours.detail
    assert "a visible signature not valid here (field 'Stranger'" in ours.detail
