"""atk16 F5, F6: what may be added to a sealed PDF while its seal stays VALID.

F5: a stranger's later signature painted over the whole sealed page. VerifyPdf
excused a form field changed after a seal when it was the field of a later signature
that holds (intact and cryptographically valid), trusted or not; a self-signed
stranger's signature whose widget covers the page with white and new words left the
government seal under it VALID, "added after it: later signatures only". Now (as the
OFD side decided, atk15 F11) a later signature that shows on a page must itself be
VALID here (``pdf_service._painted_over_checked``): a stranger's, an untrusted or an
unverifiable one that shows makes the seal MODIFIED, the detail naming its field; an
invisible one, or a seal VALID here, still leaves it VALID.

F6: an invisible signature field (no area) added after the seal carried JavaScript
actions (its widget's page-open action ``/AA /PO``, its activation action ``/A``).
pyHanko rates such an update LTA_UPDATES, which was taken as "added after it:
validation data only", and the empty field is no signature, so nothing listed it: the
seal was VALID and a JavaScript-running viewer ran the script when the page opened.
The kind: active content (``/A``, ``/AA`` of any field, widget or annotation, a page's
``/AA``, the catalog's ``/OpenAction`` and ``/AA``, ``/Names /JavaScript``) added,
changed or removed after the seal, whatever level pyHanko gives the update, makes it
MODIFIED, saying where (``services/seal/pdf_revisions.py``).
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
from tests.conftest import blank_pdf, seal_owner
from tests.seal.field_pdfs import _certifier
from tests.seal.test_atk15_pdf import A4, _written, sealed_pdf, with_text_field


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
    assert ours.verdict == "MODIFIED", ours.detail
    assert ours.intact and ours.modified
    assert "a visible signature not valid here (field 'Stranger'" in ours.detail


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
    assert (
        f"active content (actions, JavaScript) added or changed after it: field "
        f"'Quiet' {key}" in ours.detail
    ), ours.detail


def _script(text: str) -> generic.DictionaryObject:
    return generic.DictionaryObject(
        {
            pdf_name("/S"): pdf_name("/JavaScript"),
            pdf_name("/JS"): generic.TextStringObject(text),
        }
    )


async def _signed_by_stranger(
    pdf: bytes, *, box=A4, into: str = "", script_key: str = ""
) -> bytes:
    """``pdf`` signed by a self-signed stranger: in a new field "Stranger" with
    ``box`` (of no area: invisible), or into the existing empty field ``into``; with
    ``script_key``, the new field carries a script there in the signed revision."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    name = into or "Stranger"
    if not into:
        fields.append_signature_field(
            writer, fields.SigFieldSpec(name, on_page=0, box=box)
        )
    if script_key:
        for field_name, _value, ref in fields.enumerate_sig_fields(writer):
            if field_name == name:
                ref.get_object()[pdf_name(script_key)] = _script("app.alert('!');")
                writer.mark_update(ref)
    signer = signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name=name), signer=_certifier()
    )
    return (await signer.async_sign_pdf(writer)).getvalue()


def _with_empty_field(pdf: bytes) -> bytes:
    """``pdf`` with an empty signature field "Approver" drawn on page 0 (a box that
    shows where to sign), made before any seal."""
    w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    fields.append_signature_field(
        w,
        fields.SigFieldSpec(
            "Approver", on_page=0, box=(300, 100, 500, 160), empty_field_appearance=True
        ),
    )
    return _written(w)


async def _verified(stub, pdf: bytes, seal_id: str):
    found = (await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=pdf))).seals
    return next(r for r in found if r.seal_id == seal_id), found


async def test_a_stranger_filling_a_drawn_empty_field_after_the_seal_is_a_change(
    seal_stub, operator
):
    """The same kind (F5): the stranger's appearance goes into a signature field
    that was there, empty, when the seal signed."""
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal_id, pdf = await sealed_pdf(stub, _with_empty_field(blank_pdf()))
    ours, _ = await _verified(stub, pdf, seal_id)
    assert ours.verdict == "VALID", ours.detail  # an empty field is no change
    signed = await _signed_by_stranger(pdf, into="Approver")
    ours, found = await _verified(stub, signed, seal_id)
    assert ours.verdict == "MODIFIED", ours.detail
    assert "a visible signature not valid here (field 'Approver'" in ours.detail
    assert [r.verdict for r in found if r.field_name == "Approver"] == [
        "UNTRUSTED_SEAL"
    ]


async def test_an_invisible_strangers_signature_leaves_the_seal_valid(
    seal_stub, operator
):
    """A later signature that shows nothing (no area) paints nothing over the seal:
    signing after a seal stays allowed (ISO 32000-1 §12.8.2.2), listed with its own
    verdict."""
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal_id, pdf = await sealed_pdf(stub)
    signed = await _signed_by_stranger(pdf, box=(0, 0, 0, 0))
    ours, found = await _verified(stub, signed, seal_id)
    assert (ours.verdict, ours.modified) == ("VALID", False), ours.detail
    assert "added after it: later signatures only" in ours.detail
    assert [r.verdict for r in found if r.field_name == "Stranger"] == [
        "UNTRUSTED_SEAL"
    ]


async def test_a_seal_over_a_strangers_page_leaves_the_earlier_seal_modified(
    seal_stub, operator
):
    """Seal, a stranger's page-covering signature, then a second seal VALID here: the
    first seal is MODIFIED by the stranger's appearance (a VALID seal after it does
    not vouch for what came between); the second, with nothing after it, is VALID."""
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal_id, pdf = await sealed_pdf(stub)
    covered = await _covered_by_a_strangers_signature(pdf)
    second_id, twice = await sealed_pdf(stub, covered)
    first, found = await _verified(stub, twice, seal_id)
    second = next(r for r in found if r.seal_id == second_id)
    assert first.verdict == "MODIFIED", first.detail
    assert "(field 'Stranger': UNTRUSTED_SEAL)" in first.detail
    assert second.verdict == "VALID", second.detail


def _with_scripted_form(pdf: bytes) -> bytes:
    """``pdf`` (a form with the text field "decision") whose field formats its value
    with a script (/AA /F) and jumps to page 1 when clicked (/A GoTo): active
    content that was there before any seal."""
    w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    page_ref, _ = w.find_page_for_modification(0)
    field = w.root["/AcroForm"]["/Fields"][0]
    field[pdf_name("/AA")] = generic.DictionaryObject(
        {pdf_name("/F"): w.add_object(_script("event.value = '已批准';"))}
    )
    field[pdf_name("/A")] = generic.DictionaryObject(
        {
            pdf_name("/S"): pdf_name("/GoTo"),
            # a null (its repr names an address) and a boolean: written by value
            pdf_name("/D"): generic.ArrayObject(
                [page_ref, pdf_name("/FitH"), generic.NullObject()]
            ),
            pdf_name("/NewWindow"): generic.BooleanObject(False),
        }
    )
    w.mark_update(_field_ref(w))
    return _written(w)


def _field_ref(w: IncrementalPdfFileWriter) -> generic.IndirectObject:
    """The reference to the form's first field, "decision"."""
    return w.root["/AcroForm"]["/Fields"].raw_get(0)


def _script_changed(pdf: bytes) -> bytes:
    """An update of ``pdf``: the field's format script, the same object, rewritten."""
    w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    action_ref = w.root["/AcroForm"]["/Fields"][0]["/AA"].raw_get("/F")
    action_ref.get_object()[pdf_name("/JS")] = generic.TextStringObject(
        "event.value = '已注销';"
    )
    w.mark_update(action_ref)
    return _written(w)


def _script_removed(pdf: bytes) -> bytes:
    """An update of ``pdf``: the field's format script taken away."""
    w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    del w.root["/AcroForm"]["/Fields"][0][pdf_name("/AA")]
    w.mark_update(_field_ref(w))
    return _written(w)


def _document_script(pdf: bytes, where: str) -> bytes:
    """An update of ``pdf`` adding a script where a viewer runs it on opening: the
    catalog's /OpenAction, its /Names /JavaScript, or page 1's /AA /O."""
    w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    action = w.add_object(_script("app.alert('此证照已被注销');"))
    if where == "/OpenAction":
        w.root[pdf_name("/OpenAction")] = action
        w.update_root()
    elif where == "/Names":
        tree = generic.DictionaryObject(
            {
                pdf_name("/Names"): generic.ArrayObject(
                    [generic.TextStringObject("notice"), action]
                )
            }
        )
        w.root[pdf_name("/Names")] = generic.DictionaryObject(
            {pdf_name("/JavaScript"): w.add_object(tree)}
        )
        w.update_root()
    else:
        page_ref, _ = w.find_page_for_modification(0)
        page_ref.get_object()[pdf_name("/AA")] = generic.DictionaryObject(
            {pdf_name("/O"): action}
        )
        w.mark_update(page_ref)
    return _written(w)


@pytest.mark.parametrize(
    "change, where",
    [
        ("/OpenAction", "the catalog's /OpenAction"),
        ("/Names", "the document JavaScript (/Names /JavaScript)"),
        ("page /AA", "page 1 /AA"),
        ("script changed", "field 'decision' /AA"),
        ("script removed", "field 'decision' /AA"),
        ("in a stranger's signed field", "field 'Stranger' /AA"),
    ],
)
async def test_active_content_added_or_changed_after_the_seal_is_a_change(
    change, where, seal_stub, operator
):
    """F6's kind: wherever a viewer finds a script to run, added, changed or taken
    away after the seal (also in the revision of a later signature that holds)."""
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal_id, pdf = await sealed_pdf(
        stub, _with_scripted_form(with_text_field(blank_pdf(), "Approved"))
    )
    ours, _ = await _verified(stub, pdf, seal_id)
    assert ours.verdict == "VALID", ours.detail  # scripts sealed with it are its own
    if change == "script changed":
        after = _script_changed(pdf)
    elif change == "script removed":
        after = _script_removed(pdf)
    elif change == "in a stranger's signed field":
        after = await _signed_by_stranger(pdf, box=(0, 0, 0, 0), script_key="/AA")
    else:
        after = _document_script(pdf, change)
    ours, _ = await _verified(stub, after, seal_id)
    assert (ours.verdict, ours.intact, ours.modified) == ("MODIFIED", True, True)
    assert (
        "active content (actions, JavaScript) added or changed after it: " + where
        in ours.detail
    ), ours.detail


async def test_sealed_scripts_stay_the_seals_when_more_seals_follow(
    seal_stub, operator
):
    """A form sealed with its scripts (one naming the page a later seal adds its
    widget to) and then sealed again by a seal VALID here: the first seal stays VALID,
    its scripts unchanged."""
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal_id, pdf = await sealed_pdf(
        stub, _with_scripted_form(with_text_field(blank_pdf(), "Approved"))
    )
    second_id, twice = await sealed_pdf(stub, pdf)
    first, found = await _verified(stub, twice, seal_id)
    assert (first.verdict, first.modified) == ("VALID", False), first.detail
    assert "added after it: later signatures only" in first.detail
    assert [r.verdict for r in found if r.seal_id == second_id] == ["VALID"]
