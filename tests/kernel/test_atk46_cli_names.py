"""atk46: how the CLI names a bad command line after atk45's fixes
(certseal/cli_names.py: ``unknown_option``, ``typed_dash``, ``argument_problem``,
``_ambiguous``, ``unrecognised``). Each is refused before any call, so no stack is
needed. argparse itself is the reference for what the command line means."""

from __future__ import annotations

import re

import pytest

from tests.kernel.test_atk45_cli_typos import last_error

DEPT = "91350100M000100Y43"
ID_NUMBER = "110101199003074258"
#: ``error: <field>: <problem>``, the field one word of the usage's names
SHAPE = re.compile(r"error: [a-z][a-z0-9-]*(\[\d+\])?: \S")


@pytest.mark.parametrize(
    ("argv", "typed"),
    [
        (["licence", "--as", DEPT, "gett", "X", "--out", "o.pdf"], "gett"),
        (["licence", "--as", DEPT, "isue", "--type", "T", "--holder-name", "Li Wei"],
         "isue"),
        (["licnce", "--as", DEPT, "get", "X"], "licnce"),
        (["--config", "c.toml", "sael", "--as", DEPT, "get", "S"], "sael"),
        (["holder", "--as", "app:w", "fiel", "X", "--id-number", ID_NUMBER], "fiel"),
    ],
)  # fmt: skip
def test_a_mistyped_command_is_named_though_its_options_follow(argv, typed, capsys):
    last = last_error(argv, capsys)
    assert last.startswith(f"error: command: invalid choice: '{typed}'"), last


@pytest.mark.parametrize(
    ("argv", "value", "missing"),
    [
        (["licence", "--as", DEPT, "amend", "CODE", "--holder-name", "\u2014Li Wei"],
         "Li Wei", "reason"),
        (["licence", "--as", DEPT, "amend", "CODE", "--holder-name", "\u2013\u5f20\u4e09"],
         "\u5f20\u4e09", "reason"),
        (["holder", "--as", "app:w", "authorise", "CODE", "--id-number", ID_NUMBER,
          "--purpose", "\u2014\u5f00\u7acb\u8d26\u6237", "--department", DEPT],
         "\u5f00\u7acb\u8d26\u6237", "field"),
        (["seal", "--as", DEPT, "pdf", "S", "\u2014draft.pdf"], "draft", "out"),
    ],
)  # fmt: skip
def test_a_value_starting_with_a_unicode_dash_is_no_option(
    argv, value, missing, capsys
):
    last = last_error(argv, capsys)
    assert value not in last, last
    assert last.startswith(f"error: {missing}: is required"), last


@pytest.mark.parametrize(
    ("argv", "value"),
    [
        (["holder", "--as", "app:w", "file", "X", "--out", "o.pdf",
          "--id=110101 199003074258"], "199003074258"),
        (["licence", "--as", DEPT, "list", "--id=Li Wei"], "Li Wei"),
        (["seal", "--as", DEPT, "pdf", "S", "f.pdf", "--out", "o.pdf",
          "--p=Li Wei"], "Li Wei"),
    ],
)  # fmt: skip
def test_an_ambiguous_abbreviation_with_a_spaced_value_is_a_field(argv, value, capsys):
    last = last_error(argv, capsys)
    assert SHAPE.match(last), last
    assert value not in last, last


def test_a_top_level_typo_with_its_value_attached_is_named_as_the_top_levels(capsys):
    spaced = last_error(["--confg", "x.toml", "audit", "verify"], capsys)
    attached = last_error(["--confg=x.toml", "audit", "verify"], capsys)
    assert "did you mean --config?" in spaced, spaced
    assert attached == spaced, (attached, spaced)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        # held: argparse's reading of values that start with a dash
        (["licence", "--as", DEPT, "amend", "CODE", "--holder-name", "-Li Wei"],
         "error: reason: is required"),
        (["seal", "--as", DEPT, "pdf", "S", "f.pdf", "--x-mm", "-5"],
         "error: out: is required"),
        (["seal", "--as", DEPT, "pdf", "S", "f.pdf", "--x-mm=-.5"],
         "error: out: is required"),
        # held: a negative number typed with a minus sign is no typed dash
        (["seal", "--as", DEPT, "pdf", "S", "f.pdf", "--x-mm", "\u22125"],
         "error: x-mm: invalid float value"),
        # held: an abbreviation with its value attached
        (["licence", "--as", DEPT, "list", "--id=" + ID_NUMBER], "error: id: "),
        # held: a group option after the command word is said as missing, as argparse
        (["licence", "get", "X", "--as", DEPT], "error: as: is required"),
        # held: a mistyped group option with '=' before the command
        (["licence", "--ass=" + DEPT, "get", "X"], "error: ass: certseal licence has "
         "no option --ass; did you mean --as?"),
    ],
)  # fmt: skip
def test_held_argparse_readings(argv, said, capsys):
    last = last_error(argv, capsys)
    assert last.startswith(said), last
    assert ID_NUMBER not in last and "Li Wei" not in last, last


@pytest.mark.parametrize(
    "extra", ["-Li Wei", "-5", "\u2014Li Wei"], ids=["space", "negative", "em-dash"]
)
def test_a_leftover_value_is_no_option(extra, capsys):
    last = last_error(["licence", "--as", DEPT, "get", "X", extra], capsys)
    assert last.startswith("error: arguments: "), last


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["licence", "--as", DEPT, "--reason", "lost", "revoke", "CODE"], "revoke"),
        (["seal", "--as", DEPT, "--page", "2", "pdf", "S", "f.pdf", "--out", "o.pdf"],
         "pdf"),
    ],
)  # fmt: skip
def test_an_option_before_its_command_word_is_said_to_go_after_it(
    argv, command, capsys
):
    last = last_error(argv, capsys)
    assert "did you mean --as?" not in last, last
    assert command in last, last
