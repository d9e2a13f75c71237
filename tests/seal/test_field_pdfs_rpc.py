"""PDFs from the field through SealPdf / VerifyPdf and ``certseal seal pdf`` (issue 15):
each refusal is FAILED_PRECONDITION or INVALID_ARGUMENT naming its field, never
INTERNAL; a password opens an encrypted PDF; a certified form is sealed into its
empty field and its certification stays valid."""

from __future__ import annotations

import grpc
import pytest
from pyhanko.sign.fields import MDPPerm

from certseal.v1 import seal_pb2 as pb
from tests.conftest import run_certseal, seal_owner
from tests.seal.field_pdfs import (
    OWNER_PASSWORD,
    USER_PASSWORD,
    Page,
    Tree,
    certify,
    encrypt,
    page_pdf,
    recipient,
)


def field_of(err) -> str:
    return dict(err.value.trailing_metadata()).get("certseal-error-field", "")


async def _es256_seal(seal_stub, operator):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal = (
        await stub.RegisterSeal(pb.RegisterSealRequest(name="示例公司", suite="es256"))
    ).seal
    return owner, stub, seal


async def _refusal(call) -> tuple[str, str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code().name, field_of(err), err.value.details() or ""


async def test_encrypted_pdf_through_the_rpcs(seal_stub, operator):
    _, stub, seal = await _es256_seal(seal_stub, operator)
    pdf = encrypt(page_pdf(), "aes-256")
    code, field, details = await _refusal(
        stub.SealPdf(pb.SealPdfRequest(seal_id=seal.seal_id, pdf=pdf))
    )
    assert (code, field) == ("FAILED_PRECONDITION", "password")
    assert "AES-256" in details
    code, field, _ = await _refusal(
        stub.SealPdf(pb.SealPdfRequest(seal_id=seal.seal_id, pdf=pdf, password="no"))
    )
    assert (code, field) == ("INVALID_ARGUMENT", "password")
    sealed = (
        await stub.SealPdf(
            pb.SealPdfRequest(seal_id=seal.seal_id, pdf=pdf, password=USER_PASSWORD)
        )
    ).pdf
    code, field, _ = await _refusal(stub.VerifyPdf(pb.VerifyPdfRequest(pdf=sealed)))
    assert (code, field) == ("FAILED_PRECONDITION", "password")
    found = (
        await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=sealed, password=OWNER_PASSWORD))
    ).seals
    assert [(r.seal_id, r.verdict) for r in found] == [(seal.seal_id, "VALID")]

    public_key = encrypt(page_pdf(), "pubkey", to=recipient())
    code, field, details = await _refusal(
        stub.SealPdf(pb.SealPdfRequest(seal_id=seal.seal_id, pdf=public_key))
    )
    assert (code, field) == ("FAILED_PRECONDITION", "pdf")
    assert "public-key" in details


async def test_certified_pdfs_through_the_rpcs(seal_stub, operator):
    _, stub, seal = await _es256_seal(seal_stub, operator)
    locked = await certify(page_pdf(), MDPPerm.NO_CHANGES)
    code, field, details = await _refusal(
        stub.SealPdf(pb.SealPdfRequest(seal_id=seal.seal_id, pdf=locked))
    )
    assert (code, field) == ("FAILED_PRECONDITION", "pdf")
    assert "no changes allowed" in details

    form = await certify(page_pdf(), MDPPerm.FILL_FORMS, empty_fields=("Approval",))
    code, field, details = await _refusal(
        stub.SealPdf(pb.SealPdfRequest(seal_id=seal.seal_id, pdf=form))
    )
    assert (code, field) == ("FAILED_PRECONDITION", "field_name")
    assert "Approval" in details
    code, field, _ = await _refusal(
        stub.SealPdf(
            pb.SealPdfRequest(
                seal_id=seal.seal_id, pdf=form, field_name="Approval", x_mm=50
            )
        )
    )
    assert (code, field) == ("INVALID_ARGUMENT", "field_name")
    sealed = (
        await stub.SealPdf(
            pb.SealPdfRequest(seal_id=seal.seal_id, pdf=form, field_name="Approval")
        )
    ).pdf
    found = {
        r.field_name: r
        for r in (await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=sealed))).seals
    }
    # the certifier (not a seal of this platform) is intact and not modified
    assert found["Author"].intact and not found["Author"].modified
    assert found["Author"].verdict == "UNTRUSTED_SEAL"
    assert (found["Approval"].seal_id, found["Approval"].verdict) == (
        seal.seal_id,
        "VALID",
    )


async def test_rotated_page_and_placement_errors_through_the_rpcs(seal_stub, operator):
    _, stub, seal = await _es256_seal(seal_stub, operator)
    rotated = page_pdf(Tree(pages=[Page(rotate=90)], media_box=None))
    sealed = (
        await stub.SealPdf(
            pb.SealPdfRequest(seal_id=seal.seal_id, pdf=rotated, x_mm=200, y_mm=20)
        )
    ).pdf  # 200 mm across a landscape A4 (297 mm): only fits the visible page
    found = (await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=sealed))).seals
    assert [r.verdict for r in found] == ["VALID"]
    code, field, details = await _refusal(
        stub.SealPdf(
            pb.SealPdfRequest(seal_id=seal.seal_id, pdf=rotated, x_mm=20, y_mm=200)
        )
    )
    assert (code, field) == ("INVALID_ARGUMENT", "y_mm")
    assert "visible page" in details
    tilted = page_pdf(Tree(pages=[Page(rotate=45)]))
    code, field, _ = await _refusal(
        stub.SealPdf(pb.SealPdfRequest(seal_id=seal.seal_id, pdf=tilted))
    )
    assert (code, field) == ("INVALID_ARGUMENT", "pdf")


async def test_cli_seals_an_encrypted_certified_form_into_its_field(
    config, issuer, seal_app, seal_stub, operator, tmp_path
):
    owner, _, seal = await _es256_seal(seal_stub, operator)
    form = encrypt(page_pdf(), "aes-128")
    source, sealed = tmp_path / "form.pdf", tmp_path / "sealed.pdf"
    source.write_bytes(form)
    password = tmp_path / "password"
    password.write_text(USER_PASSWORD + "\n")

    async def cli(*argv: str) -> tuple[int, str]:
        return await run_certseal(
            config,
            tmp_path,
            *argv,
            issuer_target=f"localhost:{issuer.port}",
            seal_target=f"localhost:{seal_app.port}",
        )

    code, out = await cli(
        "seal", "--as", owner, "pdf", seal.seal_id, str(source), "--out", str(sealed)
    )
    # the missing password is the user's to give: the option named, exit 2
    assert code == 2 and "error: password-file:" in out, out
    assert "--password-file FILE" in out, out
    code, out = await cli(
        "seal", "--as", owner, "pdf", seal.seal_id, str(source), "--out", str(sealed),
        "--password-file", str(password),
    )  # fmt: skip
    assert code == 0, out
    code, out = await cli(
        "seal", "verify-pdf", str(sealed), "--password-file", str(password)
    )
    assert code == 0 and "VALID" in out and "1 seal(s)" in out, out
    wrong = tmp_path / "wrong.pw"
    wrong.write_text("not-the-password\n")
    code, out = await cli(
        "seal", "verify-pdf", str(sealed), "--password-file", str(wrong)
    )
    # words39: the password in the file is the one refused, and what to do
    assert code == 2, out
    assert (
        f"error: password-file: the password in {wrong} is not this PDF's password: "
        "check it with whoever sent the PDF" in out
    ), out

    certified = await certify(page_pdf(), MDPPerm.FILL_FORMS, empty_fields=("签章",))
    source.write_bytes(certified)
    code, out = await cli(
        "seal", "--as", owner, "pdf", seal.seal_id, str(source), "--out", str(sealed)
    )
    assert code == 1 and "error: field:" in out and "签章" in out, out  # --field
    code, out = await cli(
        "seal", "--as", owner, "pdf", seal.seal_id, str(source), "--out", str(sealed),
        "--field", "签章",
    )  # fmt: skip
    assert code == 0, out
    code, out = await cli("seal", "verify-pdf", str(sealed))
    assert "签章: VALID" in out and "2 seal(s)" in out, out
