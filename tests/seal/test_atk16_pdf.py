"""atk16 F5, F6: what may be added to a sealed PDF while its seal stays VALID.

F5: a stranger's later signature may paint over the whole sealed page.

VerifyPdf excuses a form field changed after a seal when it is the field of a later
signature that holds (``pdf_verify._modified``: intact and cryptographically valid),
trusted or not, "whose appearance is then its own signer's". But a signature's
appearance is any content in any rectangle: a self-signed stranger's signature whose
widget covers the page with white and new text replaces what the page shows, and the
government seal under it is still VALID, not modified, "added after it: later
signatures only". The OFD side decided the same case the other way (atk15 F11,
``ofd_service._list_growth_checked``: a later seal that holds but is not VALID here
leaves the earlier one ``intact`` yet MODIFIED, "since every entry's stamp paints the
same pages").

Note: ``tests/seal/test_atk15_pdf.py::test_a_later_visible_signature_leaves_the_seal_valid``
asserts today's policy for a 100 pt stranger's stamp; a fix by the OFD rule turns that
one too, which is for the maintainers to decide (or a narrower rule: a later
untrusted appearance may not overlap the sealed page's content).

F6: an invisible signature field (no area) added after the seal may carry JavaScript
actions: its widget's page-open action (``/AA /PO``) or its activation action
(``/A``). pyHanko rates such an update LTA_UPDATES, which ``_modified`` takes as
"added after it: validation data only" before looking at anything else, and the
empty field is no signature, so nothing lists it: the seal is VALID and a
JavaScript-running viewer (Acrobat, Foxit) runs the added script when the page opens
(an alert that the licence is revoked, annotations over the page, a changed field).
The kind: an update pyHanko rates as validation data or signing may still add active
content (actions, JavaScript) that no seal covers; a new field's or widget's ``/A``,
``/AA`` is a change after the seal.
"""

from __future__ import annotations

import io

import pytest
from pyhanko import stamp
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.content import RawContent
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.sign import fields, signers

from certseal.v1 import seal_pb2 as pb
from tests.conftest import seal_owner
from tests.seal.field_pdfs import _certifier
from tests.seal.test_atk15_pdf import A4, _written, sealed_pdf


async def _covered_by_a_strangers_signature(pdf: bytes) -> bytes:
    """``pdf`` with a self-signed stranger's signature whose appearance is the whole
    page painted white with other words on it."""
    white = RawContent(b"1 g 0 0 595 842 re f", box=BoxConstraints(595, 842))
    style = stamp.TextStampStyle(
        stamp_text="REFUSED", background=white, background_opacity=1.0
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    signer = signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name="Stranger"),
        signer=_certifier(),
        stamp_style=style,
        new_field_spec=fields.SigFieldSpec("Stranger", on_page=0, box=A4),
    )
    signed = await signer.async_sign_pdf(writer)
    return signed.getvalue()


@pytest.mark.xfail(
    strict=True,
    reason="atk16 F5: a later signature by anyone (self-signed) whose appearance "
    "covers the sealed page leaves the seal VALID and not modified",
)
async def test_a_strangers_signature_covering_the_sealed_page_is_no_valid_seal(
    seal_stub, operator
):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal_id, pdf = await sealed_pdf(stub)
    covered = await _covered_by_a_strangers_signature(pdf)
    found = (await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=covered))).seals
    ours = next(r for r in found if r.seal_id == seal_id)
    stranger = next(r for r in found if r.field_name == "Stranger")
    assert not stranger.trusted  # nobody vouches for what now covers the page
    assert ours.verdict != "VALID", ours.detail


def _hidden_field_with_script(pdf: bytes, key: str) -> bytes:
    """An incremental update of a sealed ``pdf``: a new, unsigned signature field of
    no area (it shows nothing) carrying JavaScript, as its widget's page-open action
    (``/AA /PO``) or its activation action (``/A``)."""
    w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    fields.append_signature_field(
        w, fields.SigFieldSpec("Quiet", on_page=0, box=(0, 0, 0, 0))
    )
    script = generic.DictionaryObject(
        {
            pdf_name("/S"): pdf_name("/JavaScript"),
            pdf_name("/JS"): generic.TextStringObject("app.alert('此证照已被注销');"),
        }
    )
    action = (
        generic.DictionaryObject({pdf_name("/PO"): script}) if key == "/AA" else script
    )
    for name, _value, ref in fields.enumerate_sig_fields(w, filled_status=False):
        if name == "Quiet":
            ref.get_object()[pdf_name(key)] = action
            w.mark_update(ref)
    return _written(w)


@pytest.mark.xfail(
    strict=True,
    reason="atk16 F6: an invisible signature field carrying JavaScript actions, added "
    "after the seal, is rated 'validation data only' and the seal stays VALID",
)
@pytest.mark.parametrize("key", ["/AA", "/A"])
async def test_a_field_added_with_a_script_after_the_seal_is_a_change(
    key, seal_stub, operator
):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal_id, pdf = await sealed_pdf(stub)
    after = _hidden_field_with_script(pdf, key)
    found = (await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=after))).seals
    ours = next(r for r in found if r.seal_id == seal_id)
    assert ours.modified, ours.detail
    assert ours.verdict == "MODIFIED"
