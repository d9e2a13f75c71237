"""atk33 (c): ``licence code --png NAME`` and ``licence present --png NAME`` print
``QR code written to NAME`` with NAME raw (``services/issuer/code_cli.py``,
``services/issuer/licence_cli.py``), where ``licence document --out`` and every
``seal`` command show the name escaped (``certseal.text.shown_name``, atk-last F3,
reatk R-B1/R-B2: the same kind). A name holding a line feed forges a line of the
user's choosing in the report; an escape sequence drives the terminal.

A user needs the name shown as every other line that says where a file went shows
it: escaped, one line, no control sequence reaching the terminal.

The Issuer is a test double here (``call_issuer`` answering from a stub object):
what is under test is only what the command prints.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from certseal.text import shown_name
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from services.cli import main

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
DEPT = "91350100M000100Y43"
IDENTIFIER = "11350100MB0000001X001"  # shape only: the Issuer is a double
HOSTILE = ["a\nverdict VALID\n.png", "a\x1b[2Jb.png", "a\u202egnp.png"]
IDS = ["line-feed", "escape", "bidi-override"]


def _issuer(monkeypatch: pytest.MonkeyPatch) -> None:
    stub = SimpleNamespace(
        GetLicenceCode=lambda request: pb.GetLicenceCodeResponse(
            text="LC1:EXAMPLE", png=PNG
        ),
        GetLicence=lambda request: pb.GetLicenceResponse(
            licence=licence_pb2.Licence(status=1)
        ),
        CreatePresentationCode=lambda request: pb.CreatePresentationCodeResponse(
            text="PC1:EXAMPLE", png=PNG
        ),
    )

    def call_issuer(args, service, call, **_kw):
        return call(stub)

    monkeypatch.setattr("services.issuer.licence_cli.call_issuer", call_issuer)


def _control_free(text: str) -> bool:
    return all(line.isprintable() for line in text.splitlines())


@pytest.mark.parametrize("command", ["code", "present"])
@pytest.mark.parametrize("name", HOSTILE, ids=IDS)
def test_licence_code_and_present_show_the_png_name_escaped(
    monkeypatch, tmp_path, capsys, name, command
):
    _issuer(monkeypatch)
    out = tmp_path / name
    code = main(["licence", "--as", DEPT, command, IDENTIFIER, "--png", str(out)])
    printed = capsys.readouterr().err  # the code alone is the output (trial50)
    assert code == 0
    assert out.read_bytes() == PNG
    assert f"QR code written to {shown_name(out)}" in printed, printed
    assert _control_free(printed), printed
    assert "\nverdict VALID" not in printed


@pytest.mark.parametrize("command", ["code", "present"])
def test_control_a_plain_png_name_is_shown_as_it_is(
    monkeypatch, tmp_path, capsys, command
):
    _issuer(monkeypatch)
    out = tmp_path / "code.png"
    code = main(["licence", "--as", DEPT, command, IDENTIFIER, "--png", str(out)])
    assert code == 0
    assert f"QR code written to {out}\n" in capsys.readouterr().err
