"""reatk (b): an outside re-attack of how the CLI shows a name a user gave
(``certseal.text.shown_name`` / ``one_line``, atk-last F3 and its "same kind" fix
for the lines saying where a file was written).

R-B1: ``seal inspect --maker-cert NAME`` prints ``seal maker's certificate written
to NAME`` with NAME raw (``services/seal/cli.py``): a name holding a line feed
forges a line of the user's choosing (``error: ...``) and an escape sequence drives
the terminal. The F3 fixes escaped ``--out`` of ``seal document/pdf/ofd`` and
``log``, not this option.

R-B2: ``bundle fetch --out NAME`` prints ``NAME: bundle N of group ...`` with NAME
raw (``services/verifier/cli.py``), where the line about an unreadable held bundle
just above it shows the name escaped.

A user needs each such name shown as every refusal shows it: as it is when it
prints, else quoted with its control characters escaped (one line, no control
sequence reaching the terminal).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from certseal.text import shown_name
from services.cli import main
from tests.verifier.test_cli_bundle_out import ca, verifier

__all__ = ["ca", "verifier"]  # fixtures used here

OFDRW = Path(__file__).parents[1] / "seal" / "data" / "ofdrw"
# a line feed forging a line, an ANSI sequence, a right-to-left override
HOSTILE = ["a\nerror: forged", "a\x1b[2Jb", "a\u202egnp.pem", "a\u200bb"]
IDS = ["line-feed", "escape", "bidi-override", "zero-width"]


def _control_free(text: str) -> bool:
    """Whether no line of ``text`` holds a character that does not print."""
    return all(line.isprintable() for line in text.splitlines())


@pytest.mark.parametrize("name", HOSTILE, ids=IDS)
def test_seal_inspect_shows_the_maker_cert_name_escaped(tmp_path, capsys, name):
    out = tmp_path / name
    code = main(
        ["seal", "inspect", "--maker-cert", str(out), str(OFDRW / "UserV4.esl")]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert out.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    # a user needs: the name shown escaped, no forged line, no terminal control
    assert f"seal maker's certificate written to {shown_name(out)}" in printed
    assert _control_free(printed), printed
    assert "\nerror: forged" not in printed


def test_seal_inspect_with_a_name_of_invalid_utf8_ends_cleanly(tmp_path):
    # a name of bytes that are no UTF-8 (surrogateescape: 0xff is '\\udcff'), printed
    # where stdout is strict UTF-8, as in a user's en_US.UTF-8 or zh_CN.UTF-8 locale
    out = os.fsencode(tmp_path) + b"/maker\xff.pem"
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from services.cli import main; sys.exit(main())",
            "seal",
            "inspect",
            "--maker-cert",
            out,
            str(OFDRW / "UserV4.esl"),
        ],
        capture_output=True,
        cwd=Path(__file__).parents[2],
        env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"},
        timeout=120,
        check=False,
    )
    err = run.stderr.decode(errors="replace")
    # a user needs: the certificate written and said so, no traceback, exit 0
    assert "Traceback" not in err, err
    assert run.returncode == 0, err
    assert b"maker\\udcff.pem" in run.stdout, run.stdout
    assert os.path.exists(out)


def test_control_seal_inspect_shows_a_plain_maker_cert_name(tmp_path, capsys):
    out = tmp_path / "maker.pem"
    code = main(
        ["seal", "inspect", "--maker-cert", str(out), str(OFDRW / "UserV4.esl")]
    )
    assert code == 0
    assert f"seal maker's certificate written to {out}\n" in capsys.readouterr().out


@pytest.mark.parametrize("name", HOSTILE, ids=IDS)
def test_bundle_fetch_shows_the_out_name_escaped(verifier, tmp_path, capsys, name):
    # a bundle named as another kind of file is refused by its name (atk46 F7):
    # named .bundle, the hostile part stays in the name shown
    out = tmp_path / f"{name}.bundle"
    assert main(["bundle", "fetch", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.stat().st_size > 0
    # a user needs: the name shown escaped, no forged line, no terminal control
    assert printed.startswith(f"{shown_name(out)}: bundle 1 of group"), printed
    assert _control_free(printed), printed


def test_control_bundle_fetch_shows_a_plain_out_name(verifier, tmp_path, capsys):
    out = tmp_path / "counter.bundle"
    assert main(["bundle", "fetch", "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"{out}: bundle 1 of group")
