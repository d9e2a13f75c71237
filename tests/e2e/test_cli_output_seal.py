"""fix-cli 1: ``seal pdf --out`` into no folder sealed the PDF first: a ``seal.use``
row in the audit log and a ``document.sealed`` event for a file nobody received.
Now the option is refused before the seal service is asked."""

from __future__ import annotations

import asyncpg

from tests.conftest import blank_pdf
from tests.conftest import seal_owner as new_seal_owner


async def _seal_and_pdf(operator, cli, tmp_path):  # type: ignore[no-untyped-def]
    """A new seal owner, an es256 seal of it registered through the CLI, and a
    blank PDF to seal."""
    owner = await new_seal_owner(operator)
    code, out = await cli(
        "seal", "--as", owner, "register", "--type", "official", "--name", "测试章",
        "--suite", "es256",
    )  # fmt: skip
    assert code == 0, out
    pdf = tmp_path / "in.pdf"
    pdf.write_bytes(blank_pdf())
    return owner, out.split("seal        ", 1)[1].split()[0], pdf


async def test_a_pdf_is_not_sealed_for_an_output_that_cannot_be_written(
    operator, cli, config, tmp_path
):
    owner, seal_id, pdf = await _seal_and_pdf(operator, cli, tmp_path)
    nowhere = tmp_path / "nonexistent" / "dir" / "X.pdf"
    code, out = await cli(
        "seal", "--as", owner, "pdf", seal_id, str(pdf), "--out", str(nowhere)
    )  # fmt: skip
    assert (code, out.strip()) == (
        2,
        f"error: out: {nowhere.parent} is not a folder: give FILE in one",
    )
    db = await asyncpg.connect(config.database.dsn())
    try:
        used = await db.fetchval(
            "select count(*) from audit_log where subject = $1 and action = 'seal.use'",
            seal_id,
        )
        assert used == 0  # nothing sealed, so nothing audited nor announced
        sealed = tmp_path / "X.pdf"
        code, out = await cli(
            "seal", "--as", owner, "pdf", seal_id, str(pdf), "--out", str(sealed)
        )  # fmt: skip
        assert code == 0 and sealed.read_bytes().startswith(b"%PDF"), out
        used = await db.fetchval(
            "select count(*) from audit_log where subject = $1 and action = 'seal.use'",
            seal_id,
        )
        assert used == 1  # the control: a seal that was made is audited
    finally:
        await db.close()


async def test_an_output_file_of_another_kind_is_never_replaced(
    operator, cli, config, tmp_path
):
    """A new user's second trial: ``seal pdf --out README.md`` (and ``seal
    document``, ``seal ofd``, ``licence code --png``, ``licence document``) replaced
    README.md, a Makefile, pyproject.toml with what the command wrote. An existing
    file the command would replace must be of the kind it writes (a sealed PDF over
    a PDF, as a walk-through run twice does) or empty; anything else is refused
    before anything is sealed, and left as it was."""
    owner, seal_id, pdf = await _seal_and_pdf(operator, cli, tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("# certseal\n\nKeep me.\n")
    for command in (
        ("pdf", seal_id, str(pdf), "--out", str(readme)),
        ("document", seal_id, str(pdf), "--out", str(readme)),
    ):
        code, out = await cli("seal", "--as", owner, *command)
        assert code == 2, out
        assert out.strip().startswith(f"error: out: {readme} exists and is not a")
        assert "refusing to replace it" in out
    assert readme.read_text() == "# certseal\n\nKeep me.\n"
    db = await asyncpg.connect(config.database.dsn())
    try:
        used = await db.fetchval(
            "select count(*) from audit_log where subject = $1 and action = 'seal.use'",
            seal_id,
        )
    finally:
        await db.close()
    assert used == 0
    # a PDF over a PDF (the input itself: an incremental update keeps its bytes) and
    # an empty file are replaced
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    for target in (pdf, empty):
        code, out = await cli(
            "seal", "--as", owner, "pdf", seal_id, str(pdf), "--out", str(target)
        )  # fmt: skip
        assert code == 0, out
        assert target.read_bytes().startswith(b"%PDF")


async def test_a_written_file_with_an_escape_in_its_name_is_shown_escaped(
    operator, cli, tmp_path
):
    # atk-last F3: the success line named --out raw, so a name with an escape
    # sequence drove the terminal of whoever ran the command
    owner, seal_id, pdf = await _seal_and_pdf(operator, cli, tmp_path)
    sealed = tmp_path / "x\x1b[2Jy.pdf"
    code, out = await cli(
        "seal", "--as", owner, "pdf", seal_id, str(pdf), "--out", str(sealed)
    )  # fmt: skip
    assert code == 0 and sealed.read_bytes().startswith(b"%PDF"), out
    assert f"sealed PDF written to {str(sealed)!r} (SHA-256 " in out, out
    assert "\x1b" not in out, out
