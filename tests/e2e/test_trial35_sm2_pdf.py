"""trial35: ``seal pdf`` with an sm2 seal, as a new user tries the README's seal
walk-through with ``--suite sm2`` (the stack has an SM2 seal CA for it).

The seal service refuses it, rightly (pyHanko has no SM2 mechanism), but the CLI says
``error: suite: PDFs are sealed by es256 and ed25519 seals; this seal is sm2 ...``:
``suite`` is no option or argument of ``seal pdf`` (its usage: ``seal-id file --out
...``), while the README says errors name the command's own options and arguments as
its usage shows them. What is at fault is the seal the user gave: a user needs
``error: seal-id: ...`` naming it, and nothing sealed or audited as a use.
"""

from __future__ import annotations

from tests.conftest import blank_pdf
from tests.conftest import seal_owner as new_seal_owner


async def test_sm2_seal_for_a_pdf_names_the_seal_id(operator, cli, tmp_path):
    owner = await new_seal_owner(operator)
    code, out = await cli(
        "seal", "--as", owner, "register", "--type", "official", "--name", "测试章",
        "--suite", "sm2",
    )  # fmt: skip
    assert code == 0, out
    seal_id = out.split("seal        ", 1)[1].split()[0]
    pdf = tmp_path / "in.pdf"
    pdf.write_bytes(blank_pdf())
    out_pdf = tmp_path / "out.pdf"
    code, out = await cli(
        "seal", "--as", owner, "pdf", seal_id, str(pdf), "--out", str(out_pdf)
    )  # fmt: skip
    assert code != 0
    assert not out_pdf.exists()
    line = out.strip().splitlines()[-1]
    assert line.startswith("error: seal-id: "), line
    assert "sm2" in line and "seal document" in line
