"""atk-last (b): an outsider's attacks on the CLI's file checks by kind
(``certseal/filekinds.py``, ``services/seal/cli_inputs.py``, ``certseal/files.py``).

Held: a FIFO, a directory, a symbolic link to ``/dev/stdin`` and an empty file are
refused by the argument that named them, without blocking.

F5: the kind of an input was told by opening its path again (``zipfile.ZipFile(name)``,
``stat``), not from the bytes the command holds: a file swapped after the read
decided the check. A user needs the bytes the command sends judged.

F3: a file name is echoed into the refusal as it is. A name holding a line feed
makes one refusal print as two ``error:`` lines (the second one the name's author
wrote); a name holding an escape sequence drives the user's terminal. Elsewhere
certseal never prints outside text with control characters (``certseal/text.py``;
``cannot read`` already shows the name quoted). A user needs one line naming the
file as it is, control characters shown escaped.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import pytest

from services.cli import main

DEPT = "91350100M000100Y43"
PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF\n"
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def run(capsys, *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as stopped:
        code = int(stopped.code or 0)
    out = capsys.readouterr()
    return code, out.err


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "IN.pdf").write_bytes(PDF)
    with zipfile.ZipFile(tmp_path / "IN.ofd", "w") as package:
        package.writestr("OFD.xml", "<ofd:OFD/>")
    return tmp_path


FORGED = "x\nerror: file: everything is fine"
ESCAPE = "x\x1b[2J\x1b[31mred"


C1 = "x\x9b2J\r\x85error: file: fine"  # CSI as one C1 byte, a carriage return, NEL


@pytest.mark.parametrize(
    "name", [FORGED, ESCAPE, C1], ids=["line-feed", "escape", "c1-and-return"]
)
@pytest.mark.parametrize(
    ("content", "argv"),
    [
        (b"", "seal verify-ofd {}"),
        (b"# notes\n", "seal verify-ofd {}"),
        (b"# notes\n", "seal verify-pdf {}"),
        (PDF, f"seal --as {DEPT} ofd S {{}} --out O.ofd"),
        (PDF, "verify --purpose p --image {}"),
    ],
    ids=["empty", "not-ofd", "not-pdf", "pdf-for-ofd", "pdf-as-image"],
)
def test_a_refused_file_is_named_on_one_line(here, capsys, name, content, argv):
    (here / name).write_bytes(content)
    words = [name if w == "{}" else w for w in argv.split()]
    code, err = run(capsys, *words)
    assert code == 2, err
    assert err.startswith("error: "), err
    assert err.count("\n") == 1, err  # one line
    assert not CONTROL.search(err.rstrip("\n")), err


@pytest.mark.parametrize("out", ["a\nb.ofd", "a\x1b[2Jb.ofd"], ids=["lf", "escape"])
def test_a_refused_out_name_is_shown_on_one_line(here, capsys, out):
    code, err = run(capsys, "seal", "--as", DEPT, "pdf", "S", "IN.pdf", "--out", out)
    assert code == 2, err
    assert err.startswith("error: out: "), err
    assert err.count("\n") == 1, err
    assert not CONTROL.search(err.rstrip("\n")), err
    assert repr(out) in err, err  # the name, shown escaped and quoted


def test_a_plain_name_is_shown_as_it_is(here, capsys):
    (here / "会议 notes.txt").write_bytes(b"# notes\n")
    code, err = run(capsys, "seal", "verify-ofd", "会议 notes.txt")
    assert (code, err) == (
        2,
        "error: file: 会议 notes.txt is not an OFD package (not a ZIP archive)\n",
    )


def test_control_a_plain_name_is_one_line(here, capsys):
    (here / "notes.txt").write_bytes(b"# notes\n")
    code, err = run(capsys, "seal", "verify-ofd", "notes.txt")
    assert (code, err.count("\n")) == (2, 1), err


@pytest.mark.parametrize("what", ["fifo", "folder", "stdin-link"])
def test_a_file_that_is_no_regular_file_is_refused_without_waiting(here, capsys, what):
    # held: opened without blocking, refused by the argument that named it
    if what == "fifo":
        os.mkfifo(here / "f")
    elif what == "folder":
        (here / "f").mkdir()
    else:
        os.mkfifo(here / "pipe")
        (here / "f").symlink_to(here / "pipe")
    code, err = run(capsys, "seal", "verify-ofd", "f")
    assert code == 2, err
    assert err.startswith("error: file: "), err


def test_an_input_is_told_by_the_bytes_read_not_by_its_path_again(
    here, capsys, monkeypatch
):
    import services.seal.cli_inputs as cli_inputs

    with zipfile.ZipFile(here / "notes.ofd", "w") as archive:
        archive.writestr("notes.txt", "minutes")  # a ZIP, no OFD.xml
    read = cli_inputs.read_input_file

    def read_then_swapped(name, field, limit, **kw):  # type: ignore[no-untyped-def]
        data = read(name, field, limit, **kw)
        # the path now names another file (an editor's save, another process)
        os.replace(here / "IN.ofd", name)
        return data

    monkeypatch.setattr(cli_inputs, "read_input_file", read_then_swapped)
    code, err = run(capsys, "seal", "verify-ofd", "notes.ofd")
    # the bytes the command holds (and would send) are no OFD package
    assert (code, err) == (
        2,
        "error: file: notes.ofd is a ZIP archive but not an OFD package (no OFD.xml)\n",
    )


def test_a_signature_is_told_by_the_bytes_read_not_by_its_size_again(
    here, capsys, monkeypatch
):
    import services.seal.cli_inputs as cli_inputs

    (here / "S.ses").write_bytes(b"\x30\x03\x02\x01\x05")  # one DER SEQUENCE
    read = cli_inputs.read_input_file

    def read_then_grown(name, field, limit, **kw):  # type: ignore[no-untyped-def]
        data = read(name, field, limit, **kw)
        if name == "S.ses":  # the path now holds more than the bytes read
            (here / name).write_bytes(b"\x30\x03\x02\x01\x05 and more")
        return data

    monkeypatch.setattr(cli_inputs, "read_input_file", read_then_grown)
    code, err = run(capsys, "seal", "verify", "IN.pdf", "S.ses")
    # the bytes read as the document are a signature: the arguments are swapped
    assert (code, err) == (
        2,
        "error: signature: IN.pdf is a PDF, not an SES_Signature (arguments swapped?)\n",
    )


def test_any_refusal_quoting_outside_text_is_printed_on_one_line(capsys):
    # a service's message that quotes a user's text with a line feed or an escape
    # (not only a path shown here) still prints as one line, escaped
    import argparse

    from certseal.cli import run_command
    from certseal.errors import invalid

    def refuse(_args):  # type: ignore[no-untyped-def]
        raise invalid("name", "'x\nerror: ok: fine\x1b[2J' is taken")

    parser = argparse.ArgumentParser()
    parser.set_defaults(func=refuse, command="c")
    assert run_command(parser, []) == 2
    assert capsys.readouterr().err == (
        "error: name: 'x\\nerror: ok: fine\\x1b[2J' is taken\n"
    )


def test_an_output_swapped_for_a_fifo_after_its_check_is_refused_without_waiting(
    here,
):
    # the output was a PDF when checked; a FIFO came there while the service
    # answered: the second look must not block on it, nor write through it
    import threading

    from certseal.cli_options import check_output, write_output
    from certseal.errors import CertsealError

    out = here / "O.pdf"
    out.write_bytes(PDF)
    check_output(str(out), "out", ("a PDF",))
    out.unlink()
    os.mkfifo(out)
    said: list[str] = []

    def write() -> None:
        try:
            write_output(str(out), PDF, "out")
        except CertsealError as exc:
            said.append(f"{exc.field}: {exc.message}")

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    writer.join(10)
    if writer.is_alive():  # blocked opening the FIFO: release it, then fail
        os.close(os.open(out, os.O_WRONLY | os.O_NONBLOCK))
        writer.join(10)
        pytest.fail("write_output blocked on a FIFO")
    assert said == [
        f"out: {out} is not a regular file (a device, a FIFO): give a FILE"
    ], said


def test_an_out_name_against_format_is_shown_escaped():
    import argparse

    from certseal.errors import CertsealError
    from services.issuer.document_cli import document_format

    out = "l3\x1b[2J.ofd"
    with pytest.raises(CertsealError) as err:
        document_format(argparse.Namespace(out=out, format="pdf"))
    assert err.value.message == f"{out!r} names an OFD but --format is pdf"
