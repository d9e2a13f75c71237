"""A command line's value that names nothing, or a log level there is not, is bad
input like any other: one line, exit 2 (certseal.cli_parser). ``--as ''`` acted as
the CLI's operator, who sees every event; ``run --home ''`` made the whole dev stack
in the current folder; a service's ``--log-level LOUD`` (or ``debug``) was the
logging module's ValueError with its traceback. atk57: every other option too
(``verify --verifier ''`` asked the configured verifier, ``events tail --token ''``
read from the default position, ``seal list --owner ''`` listed the caller's own
seals): an empty value is refused by every option of every command
(certseal.cli_options.refuse_blank), and the integrator's example says an
unreachable broker or a database it cannot open in one line, not a traceback."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from certseal.cli_parser import log_level
from services.cli import build_parser, main

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
    (["verify", "--verifier", "", "LC1:x"], "verifier: is empty: give a value\n"),
    (["verify", "--group", " ", "LC1:x"], "group: is empty: give a value\n"),
    (["events", "tail", "--token", ""], "token: is empty: give a value\n"),
    (["seal", "list", "--owner", ""], "owner: is empty: give a value\n"),
    # trial56: a typed option said its empty value as a wrong one of its kind
    (["licence", "--as", GOOD, "issue", "--type", ""], "type: is empty: give a value"),
    (["licence", "--as", GOOD, "list", "--status", " "], "status: is empty: give"),
    (["events", "tail", "--since", ""], "since: is empty: give a value"),
    (["licence", "get", ""], "identifier: is empty: give a value\n"),
    (["verify", ""], "code: is empty: give a value\n"),
    (["type", "add", "--issuers", "", "--code", "x"], "issuers: is empty"),
    # atk59: what shows as nothing is as empty (a zero-width space, a BOM)
    (["verify", "--verifier", "\u200b", "LC1:x"], "verifier: is empty"),
    (["events", "tail", "--as", "\ufeff "], "as: is empty"),
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


#: actions that take no value from the command line
_NO_VALUE = (
    argparse._StoreConstAction,
    argparse._HelpAction,
    argparse._VersionAction,
    argparse._CountAction,
    argparse._SubParsersAction,
)


def _value_actions(
    parser: argparse.ArgumentParser, path: list[str]
) -> Iterator[tuple[list[str], argparse.Action]]:
    """(the command words, an action taking a value) of ``parser`` and its commands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for word, sub in action.choices.items():
                yield from _value_actions(sub, [*path, word])
        elif not isinstance(action, _NO_VALUE):
            yield path, action


ACTIONS = list(_value_actions(build_parser(), []))


def test_no_option_or_argument_defaults_to_an_empty_value():
    # a default text goes through the parser's reading like a typed one: a blank
    # one would be refused as if typed (``certseal verify --image x.png``)
    assert len(ACTIONS) > 150
    blank_defaults = [
        f"{' '.join(path)} {action.dest}"
        for path, action in ACTIONS
        if isinstance(action.default, str)
        and action.default != argparse.SUPPRESS
        and not action.default.strip()
    ]
    assert blank_defaults == []


@pytest.mark.parametrize(
    ("path", "option"),
    sorted(
        {
            (tuple(path), action.option_strings[0])
            for path, action in ACTIONS
            if action.option_strings
        }
    ),
)
def test_an_empty_value_of_any_option_is_one_line_exit_2(path, option, capsys):
    # the kind, not the examples: typed or not, of named choices or not, every option
    # of every command says an empty value as such (trial56: ``--type ''`` was "''
    # is not a licence type code")
    for empty in ("", "  ", "\u200b"):
        with pytest.raises(SystemExit) as stopped:
            main([*path, option, empty])
        err = capsys.readouterr().err
        assert stopped.value.code == 2
        assert err.splitlines() == [err.strip()], err
        assert err.startswith(f"error: {option.lstrip('-')}: is empty: give "), err


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
    (
        ["services.issuer", "--config", "x.toml", "--log-level", ""],
        "services.issuer: error: log-level: is empty: give a value",
    ),
    (["services.seal", "--config", ""], "services.seal: error: config: is empty"),
    (
        ["services.verifier", "--config", "x.toml", "--data-dir", " "],
        "services.verifier: error: data-dir: is empty",
    ),
    (
        ["services.verifier", "--config", "x.toml", "--group", ""],
        "services.verifier: error: group: is empty: give a value",
    ),
    (
        ["services.verifier", "--config", "x.toml", "--metrics-listen", " "],
        "services.verifier: error: metrics-listen: is empty",
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


EXAMPLE = str(ROOT / "examples" / "licence_status_table.py")


def _example(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, EXAMPLE, *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--bootstrap", "", "--group", "g"], "bootstrap: is empty: give HOST:PORT"),
        (["--bootstrap", "h:1", "--group", " "], "group: is empty: give a consumer"),
        (["--bootstrap", "h:1", "--group", "g", "--db", ""], "db: is empty"),
        (["--bootstrap", "127.0.0.1:abc", "--group", "g"], "bootstrap: '127.0.0.1:a"),
        (["--bootstrap", "h:1", "--group", "a", "--group", "b"], "group: given more"),
        (
            ["--bootstrap", "h:1", "--group", "g", "--db", "/proc/no/such.sqlite"],
            "db: cannot open '/proc/no/such.sqlite': unable to open database file",
        ),
    ],
)
def test_the_example_says_bad_input_in_one_line(argv, said, tmp_path):
    done = _example(*argv, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith(f"error: {said}"), done.stderr
    assert list(tmp_path.iterdir()) == []  # no database made for a refused command


def test_the_example_says_an_unreachable_broker_without_a_traceback(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    db = tmp_path / "t.sqlite"
    done = _example(
        "--bootstrap", address, "--group", "g", "--db", str(db), cwd=tmp_path
    )
    assert done.returncode == 1, done.stderr
    said = f"error: bootstrap: no Kafka broker answered at {address}"
    assert done.stderr.splitlines()[-1] == said, done.stderr
    assert "Traceback" not in done.stderr and "Unclosed" not in done.stderr
    assert done.stdout == ""  # no "applied 0 events", as if it had run
