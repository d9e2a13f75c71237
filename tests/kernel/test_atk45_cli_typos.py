"""atk45: the mistyped option named before what it left missing
(:func:`certseal.cli_names.unknown_option`): command lines where it named the wrong
word, or missed the typo (F1-F4, fixed). Each is checked without the stack: ``main`` refuses the
command line before any call."""

from __future__ import annotations

import re

import pytest

from services.cli import main

DEPT = "91350100M000100Y43"


def last_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err.splitlines()[-1]


@pytest.mark.parametrize(
    "argv",
    [
        ["licence", "revoke", "CODE", "--reason", "lost"],
        ["licence", "document", "CODE", "--out", "o.pdf"],
        ["holder", "usage", "CODE", "--id-number", "110101199003074258"],
    ],
)
def test_a_missing_group_option_is_said_as_missing(argv, capsys):
    last = last_error(argv, capsys)
    assert last.startswith("error: as: is required"), last


def test_a_value_with_a_space_after_a_dash_is_no_option(capsys):
    last = last_error(
        ["licence", "--as", DEPT, "amend", "CODE", "--holder-name", "-Li Wei"], capsys
    )
    assert last.startswith("error: reason: is required"), last
    assert "Li Wei" not in last


def test_a_negative_decimal_value_is_no_option(capsys):
    last = last_error(
        ["seal", "--as", DEPT, "pdf", "S", "f.pdf", "--x-mm", "-.5"], capsys
    )
    assert last.startswith("error: out: is required"), last


@pytest.mark.parametrize("dash", ["\u2014out", "\u2013out", "\u2010\u2010out"])
def test_an_option_typed_with_a_unicode_dash_is_named(dash, capsys):
    last = last_error(
        ["licence", "--as", DEPT, "document", "CODE", dash, "o.pdf"], capsys
    )
    assert dash in last, last


@pytest.mark.parametrize(
    "argv",
    [
        # held: a value equal to a command word, a value after '=', a short option
        ["licence", "--as", "document", "document", "CODE", "--outt", "o.pdf"],
        ["seal", "--as", "pdf", "pdf", "--outt", "o.pdf"],
        ["seal", "pdf", "pdf", "--outt", "o.pdf"],
        ["licence", "--as=document", "document", "CODE", "--outt=o.pdf"],
    ],
)
def test_held_a_typo_after_repeated_command_words_is_named(argv, capsys):
    last = last_error(argv, capsys)
    assert "has no option --outt; did you mean --out?" in last, last


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["seal", "--as", DEPT, "pdf", "S", "f.pdf", "--p", "1"], "p"),
        (["licence", "--as", DEPT, "list", "--id", "1"], "id"),
        (["seal", "--as", DEPT, "pdf", "S", "f.pdf", "--=1"], r"[\w-]+"),
    ],
)
def test_an_ambiguous_abbreviation_is_a_field_and_its_problem(argv, field, capsys):
    last = last_error(argv, capsys)
    assert re.match(f"error: {field}: ", last), last
    assert "--config" not in last, last


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        # trial45: an option mistyped before the command word; argparse took its
        # value for the command ("invalid choice: '91350100M000100Y43'")
        (["licence", "--ass", DEPT, "get", "X"], "error: ass: certseal licence has no "
         "option --ass; did you mean --as?"),
        (["holder", "--ass", "wallet", "file", "X"], "error: ass: certseal holder has "
         "no option --ass; did you mean --as?"),
        (["--confg", "x.toml", "audit", "verify"], "error: confg: certseal has no "
         "option --confg; did you mean --config?"),
        # a mistyped command is still said as one
        (["licence", "--as", DEPT, "gett", "X"], "error: command: invalid choice: "
         "'gett'"),
    ],
)  # fmt: skip
def test_an_option_mistyped_before_the_command_is_named(argv, said, capsys):
    assert last_error(argv, capsys).startswith(said)


@pytest.mark.parametrize(
    ("name", "kinds", "named"),
    [
        # trial45: a PDF was written as x.docx, a PNG as x.jpg, without a word
        ("x.docx", ("a PDF",), "an office document"),
        ("x.WPS", ("a PDF", "an OFD package (ZIP)"), "an office document"),
        ("x.jpg", ("a PNG image",), "an image of another format"),
        ("x.heic", ("a PNG image",), "an image of another format"),
    ],
)
def test_an_output_named_as_another_kind_is_refused(tmp_path, name, kinds, named):
    from certseal.cli_options import check_output
    from certseal.errors import CertsealError

    with pytest.raises(CertsealError) as refused:
        check_output(str(tmp_path / name), "out", kinds)
    assert refused.value.field == "out"
    assert f"names {named} but the command writes {kinds[0]}" in str(refused.value)


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        ("x.png", ("a PNG image",)),
        ("checkpoint.txt", ("a signed checkpoint",)),  # a checkpoint is text
        ("licence.zip", ("an OFD package (ZIP)",)),  # an OFD is a ZIP
        ("licence", ("a PDF",)),
    ],
)
def test_an_output_named_as_its_kind_or_no_kind_is_taken(tmp_path, name, kinds):
    from certseal.cli_options import check_output

    assert check_output(str(tmp_path / name), "out", kinds).name == name
