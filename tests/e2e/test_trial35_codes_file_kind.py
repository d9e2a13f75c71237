"""trial35: ``certseal verify --codes FILE`` given a file of another kind.

The README says a file a command reads that is plainly another kind than it takes (a
PDF, an OFD package, a signature, a picture: told by its content) is named by its
argument with what it is, before any call (``error: file: OUT.ofd is an OFD package
(ZIP), not a PDF``, exit 2). ``verify --codes`` takes a text file of scanned codes, and
a user who gives it the QR picture ``verify --image`` takes (or a PDF, an OFD, a
signature) is told ``error: codes: line 1 is not UTF-8 text``: it names a line, as if
the file were a damaged text file, and not that it is a picture (or a PDF ...) nor what
takes one. A user needs the file named with what it is, exit 2, before any call.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from certseal.qr import qr_png
from services.cli import main

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF\n"


def run(capsys, *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as stopped:
        code = int(stopped.code or 0)
    return code, capsys.readouterr().err


def _png(path: Path) -> None:
    path.write_bytes(qr_png("LC1:NOT-A-REAL-CODE"))


def _pdf(path: Path) -> None:
    path.write_bytes(PDF)


def _ofd(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as package:
        package.writestr("OFD.xml", "<ofd:OFD/>")
        package.writestr("Doc_0/Document.xml", "\x00\xff")


@pytest.mark.parametrize(
    ("name", "make", "said"),
    [
        ("code.png", _png, "image"),
        ("IN.pdf", _pdf, "PDF"),
        ("OUT.ofd", _ofd, "OFD"),
    ],
)
def test_codes_file_of_another_kind_is_named(
    capsys, tmp_path, monkeypatch, name, make, said
):
    monkeypatch.chdir(tmp_path)
    make(tmp_path / name)
    code, err = run(capsys, "verify", "--purpose", "窗口办事", "--codes", name)
    assert code == 2
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"error: codes: {name} is ")
    assert said in line
    assert "UTF-8" not in line


@pytest.mark.parametrize("extra", [["--offline"], ["--offline", "--bundle", "b"]])
def test_codes_with_offline_says_why(capsys, tmp_path, monkeypatch, extra):
    """A counter with a trust bundle and a file of codes tries ``verify --offline
    --bundle counter.bundle --codes codes.txt`` (the README shows both). It is
    refused, ``error: offline: has no place with --codes: the codes come from the
    file``: true of ``code`` and ``--image``, which give codes, but not of
    ``--offline``: a user needs to be told that ``--codes`` verifies online only
    (its help says so), so it cannot be combined with a bundle."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "codes.txt").write_text("LC1:X\n")
    (tmp_path / "b").write_bytes(b"x")
    code, err = run(capsys, "verify", "--codes", "codes.txt", *extra)
    assert code == 2
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: offline: ")
    assert "online" in line
    assert "come from the file" not in line
