"""Attack on 6d1c270 (an output option never replaces a file of another kind):
files the first-KiB tests of ``OUTPUT_KINDS`` take for the command's kind, an
unreadable file told as an unwritable folder, and a file of another kind put in
place between the check and the write."""

from __future__ import annotations

import os
import types

import pytest

from certseal.cli_options import check_output
from certseal.errors import CertsealError
from certseal.identifiers import random_resident_id
from services.cli import main
from services.issuer import holder_cli

#: (id, the option's kind, the user's file: name and bytes), none of the kind
NOT_THE_KIND = [
    (
        "pem-private-key-for-maker-cert",
        "a PEM certificate",
        "key.pem",
        b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n"
        b"-----END PRIVATE KEY-----\n",
    ),
    (
        "text-starting-with-digit-zero-for-der",
        "a DER SES_Signature",
        "notes.txt",
        b"0 open issues\n- none\n",
    ),
    (
        "csv-starting-with-zero-for-der",
        "a DER SES_Signature",
        "counts.csv",
        b"0,1,2\n3,4,5\n",
    ),
    (
        "readme-mentioning-pdf-header",
        "a PDF",
        "README.md",
        b"# certseal\n\nA sealed file starts with %PDF-1.7; keep me.\n",
    ),
    (
        "csv-whose-second-line-is-a-number-for-checkpoint",
        "a signed checkpoint",
        "counts.csv",
        b"count\n42\n",
    ),
    (
        "word-document-for-ofd",
        "an OFD package (ZIP)",
        "report",  # named .docx it is refused by its name first (trial45)
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\x00\x00\x00\x00"
        b"\x00\x00\x00\x00\x00\x00\x00\x00\x13\x00\x00\x00[Content_Types].xml",
    ),
]


@pytest.mark.parametrize(
    ("kind", "name", "data"),
    [pytest.param(k, n, d, id=i) for i, k, n, d in NOT_THE_KIND],
)
def test_a_file_that_only_looks_like_the_kind_is_not_replaced(
    kind, name, data, tmp_path
):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(CertsealError) as err:
        check_output(str(path), "out", (kind,))
    assert err.value.field == "out"
    assert "refusing to replace it" in str(err.value)
    assert path.read_bytes() == data


def test_an_unreadable_file_is_named_as_the_file_not_its_folder(tmp_path, monkeypatch):
    path = tmp_path / "sealed.pdf"
    path.write_bytes(b"%PDF-1.7\n")
    opened = os.open

    def no_read(name, flags, *args, **kwargs):  # as a file of mode 0200 is to its user
        if os.fspath(name) == str(path) and not flags & (os.O_WRONLY | os.O_RDWR):
            raise PermissionError(13, "Permission denied", str(name))
        return opened(name, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_read)
    with pytest.raises(CertsealError) as err:
        check_output(str(path), "out", ("a PDF",))
    assert err.value.field == "out"
    assert f"cannot write in {tmp_path}" not in str(err.value)
    assert str(path) in str(err.value)


def test_a_file_of_another_kind_made_during_the_call_is_not_replaced(
    tmp_path, monkeypatch, capsys
):
    out = tmp_path / "README.md"
    kept = b"# certseal\n\nKeep me.\n"

    def call(args, request, holder=True):  # the service answers; meanwhile...
        out.write_bytes(kept)
        return types.SimpleNamespace(
            document=b"%PDF-1.7\n%%EOF\n", document_digest="00", seal_id="s"
        )

    monkeypatch.setattr(holder_cli, "_call", call)
    argv = ["--config", str(tmp_path / "nowhere.toml"), "holder", "--as", "wallet"]
    holder = random_resident_id()  # checked before the call (trial 4)
    argv += ["file", "ID", "--id-number", holder, "--out", str(out)]
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert out.read_bytes() == kept
    assert code == 2 and err.startswith("error: out: "), err
