"""A service took the last of an option given twice, where ``certseal`` refuses it;
an unknown option of 100,000 characters was echoed twice in full, a 200 KB error
line (certseal.cli_parser, certseal.cli_names)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from certseal.cli_parser import OneLineParser
from services.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_a_huge_unknown_option_is_echoed_cut(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["-" + "x" * 100_000])
    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert err.splitlines() == [err.strip()] and len(err) < 400, len(err)
    assert "(100,001 characters)" in err and err.startswith("error: xxx"), err


def test_huge_extra_words_are_echoed_cut(capsys):
    with pytest.raises(SystemExit):
        main(["verify", "LC1:A", "y" * 50_000])
    err = capsys.readouterr().err
    assert len(err) < 600 and "(50,000 characters)" in err, len(err)


def test_a_service_parser_refuses_an_option_given_twice(capsys):
    parser = OneLineParser(prog="python -m services.x", lead="services.x: ")
    parser.add_argument("--group")
    parser.add_argument("--config", action="append")
    args = parser.parse_args(["--config", "a", "--config", "b", "--group", "g"])
    assert args.config == ["a", "b"] and args.group == "g"
    assert not hasattr(args, "_given_once")
    with pytest.raises(SystemExit) as stopped:
        parser.parse_args(["--group", "a", "--group", "b"])
    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert (
        err == "services.x: error: group: given more than once (it takes one value)\n"
    )


@pytest.mark.parametrize(
    "argv",
    [
        (
            ["services.verifier", "--config", "x.toml", "--group", "a", "--group", "b"],
            "services.verifier: error: group: given more than once",
        ),
        (
            [
                *("services.feed", "--config", "x.toml"),
                *("--log-level", "INFO", "--log-level", "DEBUG"),
            ],
            "services.feed: error: log-level: given more than once",
        ),
    ],
)
def test_a_service_refuses_an_option_given_twice(argv):
    done = subprocess.run(
        [sys.executable, "-m", *argv[0]],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith(argv[1]), done.stderr


def test_a_verifier_rebuilding_again_gives_its_reason_once():
    """A verifier's rebuild starts it again with ``--rebuilding REASON`` added; a
    second rebuild gives only its own, not two its parser would refuse."""
    from services.verifier.__main__ import _without_rebuilding

    argv = ["--config", "a.toml", "--rebuilding", "corrupt", "--group", "g"]
    assert _without_rebuilding(argv) == ["--config", "a.toml", "--group", "g"]
    assert _without_rebuilding(["--rebuilding=x", "--worker", "w"]) == [
        "--worker",
        "w",
    ]
