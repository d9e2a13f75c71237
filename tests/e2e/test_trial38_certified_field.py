"""trial38 finding 3: ``seal pdf`` of a PDF certified for form filling, with no
``--field``, said "name one of its empty signature fields (field_name)", the
request field, which no CLI user types. The request field stays the error's field
(the CLI names it as its option, ``field``); the text names none."""

from __future__ import annotations

from pyhanko.sign.fields import MDPPerm

from tests.conftest import seal_owner
from tests.seal.field_pdfs import certify, page_pdf


async def test_a_certified_pdf_s_refusal_names_the_option(operator, cli, tmp_path):
    owner = await seal_owner(operator)
    code, out = await cli(
        "seal", "--as", owner, "register", "--type", "official", "--name", "表单章",
        "--suite", "es256",
    )  # fmt: skip
    assert code == 0, out
    seal_id = out.split("seal        ", 1)[1].split()[0]
    pdf = tmp_path / "form.pdf"
    pdf.write_bytes(
        await certify(page_pdf(), MDPPerm.FILL_FORMS, empty_fields=("Approval",))
    )
    code, out = await cli(
        "seal",
        "--as",
        owner,
        "pdf",
        seal_id,
        str(pdf),
        "--out",
        str(tmp_path / "o.pdf"),
    )
    assert code == 1 and out.startswith("error: field: the PDF is certified "), out
    assert out.endswith(
        "would break its certification, so name one of its empty signature fields: "
        "Approval\n"
    ), out
    assert "field_name" not in out
    code, out = await cli(
        "seal", "--as", owner, "pdf", seal_id, str(pdf), "--out", str(tmp_path / "o.pdf"),
        "--field", "Approval",
    )  # fmt: skip
    assert code == 0, out
