"""trial (a new user's walk-through) 3: ``seal verify IN.pdf IN.ses`` (the arguments
swapped) got ``verdict MALFORMED … not DER``, exit 1: a verdict on a signature never
given. Every seal command reading a signature, a PDF or an OFD now tells a file of
another kind by its content before any call: ``error: <argument>: NAME is <kind>, not
<what it takes>``, exit 2, with swapped arguments said as such."""

import zipfile

import pytest

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF\n"
SIGNATURE = b"\x30\x05" + b"\x02\x03\x01\x00\x01"  # one DER SEQUENCE, all of the file


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stack here: a refusal comes before any call
    (tmp_path / "IN.pdf").write_bytes(PDF)
    (tmp_path / "IN.ses").write_bytes(SIGNATURE)
    (tmp_path / "notes.txt").write_bytes(b"minutes of the meeting\n")
    with zipfile.ZipFile(tmp_path / "IN.ofd", "w") as package:
        package.writestr("OFD.xml", "<ofd:OFD/>")
    return tmp_path


def _run(capsys, *argv):
    from services.cli import main

    try:
        code = main(["seal", *argv])
    except SystemExit as stopped:
        code = stopped.code
    captured = capsys.readouterr()
    return code, (captured.out + captured.err).strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ("verify", "IN.pdf", "IN.ses"),
            "error: signature: IN.pdf is a PDF, not an SES_Signature "
            "(arguments swapped?)",
        ),
        (
            ("verify", "notes.txt", "IN.ses"),
            "error: signature: notes.txt is not DER, so not an SES_Signature "
            "(arguments swapped?)",
        ),
        (
            ("verify", "IN.ofd", "notes.txt"),
            "error: signature: IN.ofd is an OFD package (ZIP), not an SES_Signature "
            "(seal verify-ofd FILE verifies a sealed one)",
        ),
        (
            ("verify", "notes.txt", "notes.txt"),
            "error: signature: notes.txt is not DER, so not an SES_Signature",
        ),
        (
            ("verify-pdf", "IN.ofd"),
            "error: file: IN.ofd is an OFD package (ZIP), not a PDF "
            "(seal verify-ofd FILE takes it)",
        ),
        (
            ("verify-pdf", "IN.ses"),
            "error: file: IN.ses is a DER SES_Signature, not a PDF "
            "(seal verify SIGNATURE FILE takes it)",
        ),
        (
            ("verify-ofd", "IN.pdf"),
            "error: file: IN.pdf is a PDF, not an OFD package "
            "(seal verify-pdf FILE takes it)",
        ),
        (
            ("inspect", "IN.pdf"),
            "error: file: IN.pdf is a PDF, not an SES_Signature "
            "(seal verify-pdf FILE takes it)",
        ),
    ],
)
def test_an_input_of_another_kind_is_named_before_any_call(files, capsys, argv, said):
    code, last = _run(capsys, *argv)
    assert (code, last) == (2, said)


@pytest.mark.parametrize(
    "argv",
    [
        ("verify", "IN.ses", "IN.pdf"),  # any document may be signed: a PDF too
        ("verify", "IN.ses", "notes.txt"),
        ("verify-pdf", "IN.pdf"),
        ("verify-ofd", "IN.ofd"),
        # a PDF and an OFD are told by their content alone: a text file given as one
        # is refused here (tests/kernel/test_trial2a_cli.py), not left to the service
    ],
)
def test_an_input_of_its_kind_goes_on_to_the_service(files, capsys, argv):
    _, last = _run(capsys, *argv)
    assert last.startswith("error: config: no configuration"), last
