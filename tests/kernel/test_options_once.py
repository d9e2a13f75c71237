"""Every option of one value, in every ``certseal`` command, given twice is bad input
(``error: <option>: given more than once``, exit 2), not the last one silently
replacing the first (nu28: ``licence list --status`` given twice took the second)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator

import pytest

from certseal.cli_options import StoreOnce
from services.cli import build_parser


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


def test_every_option_of_one_value_in_every_command_is_taken_once():
    commands = list(_commands(build_parser()))
    assert len(commands) > 40  # the whole tree, not the top alone
    single = [
        (path, action.option_strings[0])
        for path, parser in commands
        for action in parser._actions
        if action.option_strings and type(action).__name__ == "_StoreAction"
    ]
    assert single == []  # argparse's plain "store" is never used: StoreOnce is
    once = [
        action
        for _, parser in commands
        for action in parser._actions
        if isinstance(action, StoreOnce) and action.option_strings
    ]
    assert len(once) > 50


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["licence", "list", "--type", "A", "--type", "B"], "type"),
        (["licence", "list", "--status", "valid", "--status", "1"], "status"),
        (
            ["licence", "issue", "--type", "T", "--holder-name", "甲", "--id-number",
             "1", "--holder-name", "乙"],
            "holder-name",
        ),
        (["audit", "list", "--limit", "5", "--limit", "5"], "limit"),
        (["--config", "a.toml", "audit", "list", "--actor", "x", "--actor", "y"], "actor"),
    ],
)  # fmt: skip
def test_an_option_given_twice_is_refused_before_anything_is_asked(argv, option):
    out = subprocess.run(
        [sys.executable, "-m", "services.cli", *argv], capture_output=True, text=True
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.splitlines()[-1] == (
        f"error: {option}: given more than once (it takes one value)"
    )
    assert out.stdout == ""


def test_repeatable_options_still_repeat():
    args = build_parser().parse_args(
        ["--config", "a.toml", "--config", "b.toml", "licence", "--as", "D", "issue", "--type",
         "T", "--holder-name", "甲", "--id-number", "1", "--field", "a=1",
         "--field", "b=2"]
    )  # fmt: skip
    assert args.config == ["a.toml", "b.toml"]
    assert args.field == ["a=1", "b=2"]
    assert not hasattr(args, StoreOnce.SEEN)  # the parse's own record is not an option
