"""trial47 (low): ``seal pdf IN.pdf SEAL-ID --out q.pdf`` (the arguments swapped)
said ``error: file: cannot read 'SEAL-ID': No such file or directory``; ``seal
verify`` already says "arguments swapped?". A file not found where the seal id given
is a file is said as swapped arguments, with the command's order, before any call."""

from __future__ import annotations

import pytest

from tests.e2e.test_trial35_codes_file_kind import run as run_cli

SEAL = "91350100M000100Y436KW9RA56DN"
PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF\n"


def run(capsys, *argv: str) -> tuple[int, str]:
    code, err = run_cli(capsys, *argv)
    return code, err.strip().splitlines()[-1]


@pytest.mark.parametrize(("command", "name"), [("pdf", "IN.pdf"), ("ofd", "IN.ofd")])
def test_swapped_seal_arguments_are_said_as_swapped(
    command, name, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_bytes(PDF)
    code, said = run(capsys, "seal", command, name, SEAL, "--out", f"o.{command}")
    assert (code, said) == (
        2,
        f"error: file: {SEAL} is not found, and the seal id given, {name}, is a file "
        f"(arguments swapped? seal {command} SEAL-ID FILE)",
    )


def test_a_file_not_found_is_said_as_before_when_the_seal_id_is_no_file(
    capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    code, said = run(capsys, "seal", "pdf", SEAL, "IN.pdf", "--out", "o.pdf")
    assert code == 2
    assert said.startswith("error: file: ") and "arguments swapped" not in said
