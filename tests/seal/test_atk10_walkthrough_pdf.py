"""atk10: the README walk-through's line that makes IN.pdf, run as written by a shell
in a fresh folder, makes a PDF that SealPdf seals (the walk-through's es256 seal) and
VerifyPdf then finds VALID."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from certseal.v1 import seal_pb2 as pb
from tests.conftest import seal_owner

REPO = Path(__file__).resolve().parents[2]


def walk_through_line() -> str:
    [line] = [
        text
        for text in (REPO / "README.md").read_text().splitlines()
        if text.startswith(".venv/bin/python -c") and "IN.pdf" in text
    ]
    return line


def test_atk10_the_walk_through_pdf_line_works_in_sh_and_bash(tmp_path):
    line = walk_through_line()
    for shell in ("sh", "bash"):
        folder = tmp_path / shell
        folder.mkdir()
        (folder / ".venv").symlink_to(REPO / ".venv")
        done = subprocess.run(
            [shell, "-c", line], cwd=folder, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert (folder / "IN.pdf").read_bytes().startswith(b"%PDF-")


async def test_atk10_the_walk_through_pdf_is_sealed_and_verifies(
    tmp_path, seal_stub, operator
):
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    made = await asyncio.create_subprocess_exec(
        "sh", "-c", walk_through_line(), cwd=tmp_path
    )
    assert await asyncio.wait_for(made.wait(), 60) == 0
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal = (
        await stub.RegisterSeal(
            pb.RegisterSealRequest(name="示例专用章", suite="es256")
        )
    ).seal
    sealed = await stub.SealPdf(
        pb.SealPdfRequest(seal_id=seal.seal_id, pdf=(tmp_path / "IN.pdf").read_bytes())
    )
    found = (await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=sealed.pdf))).seals
    assert [(r.seal_id, r.verdict) for r in found] == [(seal.seal_id, "VALID")]
