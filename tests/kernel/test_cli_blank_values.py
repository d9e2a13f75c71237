"""A command line's value that names nothing, or a log level there is not, is bad
input like any other: one line, exit 2 (certseal.cli_parser). ``--as ''`` acted as
the CLI's operator, who sees every event; ``run --home ''`` made the whole dev stack
in the current folder; a service's ``--log-level LOUD`` (or ``debug``) was the
logging module's ValueError with its traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from certseal.cli_parser import log_level
from services.cli import main

ROOT = Path(__file__).resolve().parents[2]
GOOD = "91350100M000100Y43"
LICENCE = f"1.2.156.3005.2.{GOOD}001.{GOOD}.C90MHI5MLZCUICOG.001.1"

BLANK = [
    (["seal", "--as", "", "list", "--owner", GOOD], "as: is empty"),
    (["seal", "--as", "  ", "get", "s-1"], "as: is empty"),
    (["events", "tail", "--as", ""], "as: is empty"),
    (["events", "tail", "--as", " \t"], "as: is empty"),
    (["licence", "--as", "", "get", LICENCE], "as: is empty"),
    (
        ["holder", "--as", " ", "usage", LICENCE, "--id-number", "1"],
        "as: is empty",
    ),
    (["run", "--home", ""], "home: is empty"),
    (["run", "--home", "   "], "home: is empty"),
    (["--config", "", "audit", "verify"], "config: is empty"),
    (["--config", " ", "audit", "verify"], "config: is empty"),
]


@pytest.mark.parametrize(
    ("argv", "said"), BLANK, ids=[" ".join(a[:3]) for a, _ in BLANK]
)
def test_a_blank_value_is_refused_and_nothing_is_written(
    argv, said, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    err = capsys.readouterr().err
    assert stopped.value.code == 2, err
    assert err.splitlines() == [err.strip()] and err.startswith(f"error: {said}"), err
    assert list(tmp_path.iterdir()) == []  # no .certseal, pg/, tls/, run.lock


def test_a_blank_output_file_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "in.pdf"
    source.write_bytes(b"%PDF-1.7\n")
    argv = ["seal", "--as", GOOD, "pdf", "s-1", str(source), "--out", " "]
    try:
        status = main(argv)
    except SystemExit as stopped:
        status = stopped.code
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("error: out: is empty"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.pdf"]


def test_a_log_level_is_one_of_the_five_in_any_case():
    assert log_level("debug") == "DEBUG" and log_level("Warning") == "WARNING"
    with pytest.raises(Exception, match="LOUD is no log level"):
        log_level("LOUD")


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


SERVICES = [
    (
        ["services.issuer", "--config", "x.toml", "--log-level", "LOUD"],
        "services.issuer: error: log-level: LOUD is no log level",
    ),
    *(
        (
            [f"services.{name}", "--config", "x.toml", "--log-level", "loud"],
            f"services.{name}: error: log-level: loud is no log level",
        )
        for name in ("seal", "feed", "console", "tlog")
    ),
    (["services.seal", "--config", ""], "services.seal: error: config: is empty"),
    (
        ["services.verifier", "--config", "x.toml", "--data-dir", " "],
        "services.verifier: error: data-dir: is empty",
    ),
]


@pytest.mark.parametrize(
    ("argv", "said"), SERVICES, ids=[" ".join(a[:1] + a[-2:]) for a, _ in SERVICES]
)
def test_a_service_says_a_bad_option_in_one_line(argv, said):
    done = _run(*argv)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith(said), done.stderr
