"""trial2b 7: --help. Options that repeat did not say so (``events tail
--department``, ``feed entitle --type`` …), nor a webhook's filter what leaving it
out means; ``certseal holder -h`` had no description (nor had any subcommand);
``holder file --format`` said only "default pdf"; ``seal register --signer`` named
three identity kinds where its refusal listed six."""

import argparse

import pytest

from services.cli import build_parser


def _parsers(parser, path="certseal"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for word, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {word}")


def _option(path, option):
    parsers = dict(_parsers(build_parser()))
    (found,) = [a for a in parsers[path]._actions if option in a.option_strings]
    return found


def test_every_option_that_repeats_says_so():
    silent = [
        f"{path} {max(action.option_strings, key=len)}"
        for path, parser in _parsers(build_parser())
        for action in parser._actions
        if isinstance(action, argparse._AppendAction)
        and "repeatable" not in (action.help or "")
    ]
    assert silent == []


def test_every_command_describes_itself_in_its_help(capsys):
    bare = [path for path, parser in _parsers(build_parser()) if not parser.description]
    assert bare == []
    with pytest.raises(SystemExit):
        build_parser().parse_args(["holder", "-h"])
    assert "a holder's app: licence file, authorisations" in capsys.readouterr().out


@pytest.mark.parametrize("option", ["--department", "--licence-type", "--type"])
def test_a_webhooks_filter_says_what_leaving_it_out_means(option):
    assert "left out: " in _option("certseal feed webhook", option).help


def test_the_file_format_says_its_choices():
    for path in ("certseal holder file", "certseal licence document"):
        said = _option(path, "--format").help
        assert "pdf or ofd" in said and "extension" in said, said


def test_the_signer_kinds_said_are_those_taken(capsys):
    from services.cli import main
    from services.seal.registration import SIGNER_KINDS

    said = _option("certseal seal register", "--signer").help
    assert all(f"{kind}:<" in said for kind in SIGNER_KINDS), said
    argv = ["seal", "--as", "91350100M000100Y43", "register", "--type", "official",
            "--name", "n", "--signer", "console:x"]  # fmt: skip
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert stopped.value.code == 2 and err.startswith("error: signer: "), err
    named = {kind for kind in ("app", "auditor", "dept", "integrator", "operator",
                               "service", "console") if f"{kind}:<" in err}  # fmt: skip
    assert named == SIGNER_KINDS, err
