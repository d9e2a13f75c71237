"""trial 2a (a second new user's walk-through of README on ``make run``): files of
the wrong kind, an ``--out`` whose extension names another format, and mistyped
subcommands. Each is bad input named by the option or argument the user typed
(README: errors are "named by the option or argument that gave it"), exit 2,
before any call: no stack runs here."""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certseal.checkpoints import NoteSigner
from services.cli import main
from tests.kernel.test_cli_edges import dev_ca, write_config  # noqa: F401

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF\n"
DEPT = "91350100M000100Y43"


@pytest.fixture
def files(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "IN.pdf").write_bytes(PDF)
    (tmp_path / "README.md").write_text("# certseal\n\nElectronic licences.\n")
    (tmp_path / "Makefile").write_text("run:\n\t.venv/bin/python -m services run\n")
    with zipfile.ZipFile(tmp_path / "OUT.ofd", "w") as package:
        package.writestr("OFD.xml", "<ofd:OFD/>")
    with zipfile.ZipFile(tmp_path / "some.zip", "w") as archive:
        archive.writestr("notes.txt", "minutes")
    return tmp_path


def said(capsys, *argv: str) -> tuple[int, str]:
    """The exit status and the last line printed of ``certseal argv``."""
    try:
        code = main(list(argv))
    except SystemExit as stopped:
        code = int(stopped.code or 0)
    out = capsys.readouterr()
    return code, (out.out + out.err).strip().splitlines()[-1]


INPUTS = [
    (
        f"seal --as {DEPT} pdf S OUT.ofd --out O5.pdf",
        "error: file: OUT.ofd is an OFD package (ZIP), not a PDF "
        "(seal ofd SEAL-ID FILE seals it)",
    ),
    (
        f"seal --as {DEPT} pdf S README.md --out O5.pdf",
        "error: file: README.md is not a PDF (no %PDF- header)",
    ),
    (
        f"seal --as {DEPT} ofd S IN.pdf --out O2.ofd",
        "error: file: IN.pdf is a PDF, not an OFD package "
        "(seal pdf SEAL-ID FILE seals it)",
    ),
    (
        f"seal --as {DEPT} ofd S some.zip --out O2.ofd",
        "error: file: some.zip is a ZIP archive but not an OFD package (no OFD.xml)",
    ),
    (
        "seal verify-ofd README.md",
        "error: file: README.md is not an OFD package (not a ZIP archive)",
    ),
    (
        "seal verify-ofd some.zip",
        "error: file: some.zip is a ZIP archive but not an OFD package (no OFD.xml)",
    ),
    ("seal verify-pdf README.md", "error: file: README.md is not a PDF (no %PDF- header)"),
    (
        "verify --purpose p --image IN.pdf",
        "error: image: IN.pdf is a PDF, not an image (PNG, JPEG or HEIC) (a licence "
        "file: certseal seal verify-pdf FILE verifies it)",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("line", "error"), INPUTS)
def test_a_file_of_the_wrong_kind_is_named_by_its_argument(files, capsys, line, error):
    assert said(capsys, *line.split()) == (2, error)


@pytest.mark.parametrize(
    ("name", "error"),
    [
        (
            "Makefile",
            "error: old: Makefile is not a signed checkpoint (its first lines are no "
            "origin, tree size and base64 root hash: certseal log checkpoint --out "
            "FILE writes one)",
        ),
        ("IN.pdf", "error: old: IN.pdf is a PDF, not a signed checkpoint"),
    ],
)
def test_an_old_checkpoint_of_another_kind_is_named_as_old(
    files,
    capsys,
    dev_ca,  # noqa: F811
    name,
    error,
):
    key = NoteSigner("log.example", Ed25519PrivateKey.generate()).verifier.encode()
    config = write_config(files, dev_ca, tlog_target="127.0.0.1:1")
    argv = ["--config", str(config), "log", "verify", "--old", name, "--log-key", key]
    assert said(capsys, *argv) == (2, error)


def test_a_checkpoint_whose_origin_has_a_space_is_left_to_the_note_parser(files):
    from certseal.filekinds import CHECKPOINT, what_it_is

    note = b"log example\n5\n" + b"A" * 43 + b"=\n\n\xe2\x80\x94 x\n"
    assert what_it_is(note, CHECKPOINT) is None


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (
            f"seal --as {DEPT} pdf S IN.pdf --out x.ofd",
            "error: out: x.ofd names an OFD package but the command writes a PDF",
        ),
        (
            f"seal --as {DEPT} ofd S OUT.ofd --out x.PDF",
            "error: out: x.PDF names a PDF but the command writes an OFD package (ZIP)",
        ),
        (
            f"seal --as {DEPT} document S IN.pdf --out sig.pdf",
            "error: out: sig.pdf names a PDF but the command writes a DER SES_Signature",
        ),
        (
            f"licence --as {DEPT} document X --format pdf --out x.ofd",
            "error: out: x.ofd names an OFD but --format is pdf",
        ),
        (
            "holder --as wallet file X --id-number 11010519491231002X --format ofd --out l3.pdf",
            "error: out: l3.pdf names a PDF but --format is ofd",
        ),
    ],
)
def test_an_out_named_for_another_format_is_refused(files, capsys, line, error):
    assert said(capsys, *line.split()) == (2, error)


@pytest.mark.parametrize(
    ("out", "given", "asked"),
    [("l3.ofd", None, "OFD"), ("l3.pdf", None, "PDF"), ("l3", None, "PDF"),
     ("l3", "ofd", "OFD"), ("L3.OFD", "ofd", "OFD")],
)  # fmt: skip
def test_the_licence_file_s_format_is_taken_from_out(files, capsys, out, given, asked):
    """``holder file ID --out l3.ofd`` (no --format) wrote a PDF into l3.ofd."""
    from certseal.v1 import issuer_pb2 as pb
    from services.issuer.document_cli import licence_document

    requests = []

    class Stub:
        def GetLicenceDocument(self, request):
            requests.append(request)
            return pb.GetLicenceDocumentResponse(document=b"%PDF-", seal_id="S")

    def call(_args, make, holder=False):
        return make(Stub())

    args = argparse.Namespace(identifier="X", out=out, format=given)
    assert licence_document(args, call) == 0
    assert pb.DocumentFormat.Name(requests[0].format) == f"DOCUMENT_FORMAT_{asked}"
    assert capsys.readouterr().out.startswith(f"{asked} written to {out}")


@pytest.mark.parametrize(
    "line",
    ["licence isue", "seal verfy-ofd x", "events tial", "holder --as w authorize",
     "seal --as x nope", "licnce"],
)  # fmt: skip
def test_a_mistyped_subcommand_is_named_command(capsys, line):
    code, error = said(capsys, *line.split())
    assert code == 2
    assert error.startswith("error: command: invalid choice: ")
