"""Outside attack "atk-in2" on the words a command does not take (b9dfb0d): they are
named with the command given (its usage printed above them until trial53 P8), found
by following each subcommand word of the command line, so an option's value that is also a subcommand's name (``--as list``,
``--purpose verify``) was taken for the command: ``licence --as list code ID extra``
printed the usage of ``licence list`` and said ``certseal licence list takes no more
arguments``. The command is the one argparse chose."""

from __future__ import annotations

import pytest

from services.cli import main


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("licence --as list code ID extra", "certseal licence code"),
        (
            "licence --as code list --type 91350100M000100Y43001 extra",
            "certseal licence list",
        ),
        ("seal --as pdf inspect X extra", "certseal seal inspect"),
    ],
)
def test_atk_in2_an_extra_word_is_named_with_the_command_given(
    line, command, tmp_path, capsys
):
    argv = ["--config", str(tmp_path / "nowhere.toml"), *line.split()]
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err
    # one line, naming the command (no usage block: trial53 P8)
    assert len(err.splitlines()) == 1, err
    assert err.startswith(
        f"error: arguments: {command} takes no more arguments, got 'extra'"
    ), err
