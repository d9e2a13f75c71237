"""Every option of one value, in every ``certseal`` command, given twice is bad input
(``error: <option>: given more than once``, exit 2), not the last one silently
replacing the first (nu28: ``licence list --status`` given twice took the second)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from certseal.cli_actions import StoreOnce
from services.cli import build_parser

REPO = Path(__file__).resolve().parents[2]


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
        (["licence", "list", "--type", "91350100M000100Y43001", "--type", "91350100M000100Y43001"], "type"),
        (["licence", "list", "--status", "valid", "--status", "1"], "status"),
        (
            ["licence", "issue", "--type", "91350100M000100Y43001", "--holder-name", "甲", "--id-number",
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
         "91350100M000100Y43001", "--holder-name", "甲", "--id-number", "1", "--field", "a=1",
         "--field", "b=2"]
    )  # fmt: skip
    assert args.config == ["a.toml", "b.toml"]
    assert args.field == ["a=1", "b=2"]
    assert not hasattr(args, StoreOnce.SEEN)  # the parse's own record is not an option


def test_a_default_at_fault_under_a_lone_config_file_says_the_stack_file_was_replaced(
    tmp_path,
):
    """nu29: ``--config mine.toml`` (an operator's ``[cli]`` identity alone) met the
    built-in ``tls.ca_file``, unsaid that ``--config`` had replaced the stack's
    ``.certseal/config.toml`` rather than layering over it."""
    mine = tmp_path / "mine.toml"
    mine.write_text('[cli]\nissuer_target = "127.0.0.1:1"\n')

    def department_list() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.cli", "--config", str(mine),
             "department", "list"],
            capture_output=True, text=True, cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip

    alone = department_list()  # no stack here: nothing was replaced
    assert alone.returncode == 2, alone.stderr
    assert alone.stderr.startswith("error: tls.ca_file: "), alone.stderr
    assert "replace" not in alone.stderr
    (tmp_path / ".certseal").mkdir()
    (tmp_path / ".certseal" / "config.toml").write_text("")
    replaced = department_list()
    assert replaced.returncode == 2, replaced.stderr
    assert replaced.stderr.startswith("error: tls.ca_file: "), replaced.stderr
    assert replaced.stderr.rstrip().endswith(
        " (not set in the --config files: its default; --config files replace "
        ".certseal/config.toml: give it first, then yours, to layer yours over it)"
    ), replaced.stderr
