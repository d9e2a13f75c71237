"""A command that writes a file checks it can before it does anything, and writes it
whole or not at all (fix-cli 1: ``seal pdf --out /nonexistent/dir/X.pdf`` sealed the
PDF, audited and announced it, then could not write it)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from certseal.cli_options import OutputFile, write_output
from certseal.errors import CertsealError
from services.cli import build_parser, main

#: every command that writes a file, with its option; the config named does not
#: exist, so a command that reaches for its configuration (or a service) before
#: checking its output says ``error: config: ...`` instead
WRITERS = [
    ("out", "seal --as 91350100M000100Y43 pdf S {input} --out {out}"),
    ("out", "seal --as 91350100M000100Y43 ofd S {input} --out {out}"),
    ("out", "seal --as 91350100M000100Y43 document S {input} --out {out}"),
    ("maker-cert", "seal inspect {input} --maker-cert {out}"),
    ("png", "licence --as 91350100M000100Y43 code ID --png {out}"),
    ("png", "licence --as 91350100M000100Y43 present ID --png {out}"),
    ("out", "licence --as 91350100M000100Y43 document ID --out {out}"),
    ("out", "holder --as wallet file ID --id-number 1 --out {out}"),
    ("out", "log checkpoint --out {out}"),
    ("out", "bundle fetch --out {out}"),
]


def _run(line: str, tmp_path: Path, out: str, capsys) -> tuple[int, str]:
    source = tmp_path / "in.pdf"
    source.write_bytes(b"%PDF-1.7\n")
    argv = ["--config", str(tmp_path / "nowhere.toml")]
    argv += [w.format(input=source, out=out) for w in line.split()]
    code = main(argv)
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize(("option", "line"), WRITERS)
def test_an_output_in_no_folder_is_refused_before_anything_else(
    option, line, tmp_path, capsys
):
    out = tmp_path / "no such folder" / "x"
    code, err = _run(line, tmp_path, str(out), capsys)
    assert (code, err) == (
        2,
        f"error: {option}: {out.parent} is not a folder: give FILE in one",
    )


@pytest.mark.parametrize(("option", "line"), WRITERS)
def test_an_output_that_is_a_folder_or_not_a_file_is_refused(
    option, line, tmp_path, capsys
):
    code, err = _run(line, tmp_path, str(tmp_path), capsys)
    assert (code, err) == (
        2,
        f"error: {option}: {tmp_path} is a folder: give a FILE (in it, or elsewhere)",
    )
    code, err = _run(line, tmp_path, "/dev/null", capsys)  # a rename would replace it
    assert (code, err) == (
        2,
        f"error: {option}: /dev/null is not a regular file (a device, a FIFO): "
        "give a FILE",
    )


def test_an_output_in_a_folder_that_takes_no_file_is_refused(tmp_path, capsys):
    # /sys takes no new file, even from root (a mode bit would not stop root)
    code, err = _run(WRITERS[0][1], tmp_path, "/sys/x.pdf", capsys)
    assert (code, err) == (2, "error: out: cannot write in /sys: permission denied")


def test_every_option_naming_a_written_file_is_checked_first():
    """Options named like an output file are :class:`OutputFile` actions, so
    ``run_command`` checks them before the command runs."""

    def options(parser: argparse.ArgumentParser):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from options(sub)
            elif action.dest in {"out", "png", "maker_cert"}:
                yield parser.prog, action

    found = list(options(build_parser()))
    assert len(found) == len(WRITERS)
    for prog, action in found:
        assert isinstance(action, OutputFile), (prog, action.option_strings)


def test_a_write_replaces_the_file_whole_and_leaves_no_scratch(tmp_path):
    target = tmp_path / "x.pdf"
    target.write_bytes(b"old")
    (tmp_path / "x.pdf.tmp").write_bytes(b"the user's own")  # never clobbered
    old = os.umask(0o022)
    try:
        write_output(target, b"new", "out")
    finally:
        os.umask(old)
    assert target.read_bytes() == b"new"
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.pdf", "x.pdf.tmp"]


def test_a_write_that_fails_leaves_no_part_and_names_the_option(tmp_path):
    target = tmp_path / "x.pdf"
    target.mkdir()  # made a folder after the check: the rename fails
    with pytest.raises(CertsealError) as err:
        write_output(target, b"new", "out")
    assert str(err.value).startswith(f"out: cannot write {target}: ")
    assert [p.name for p in tmp_path.iterdir()] == ["x.pdf"]
    assert not any(target.iterdir())
