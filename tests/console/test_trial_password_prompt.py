"""trial (a new user's walk-through) 10: Ctrl-C at ``console account add``'s password
prompt stopped the command (exit 130) with the line ``password: `` left open, so the
shell's prompt followed it on the same line. The line is ended first now."""

import getpass
import io
import sys

import pytest


@pytest.mark.parametrize("at", ["password: ", "again: "])
def test_ctrl_c_at_the_password_prompt_ends_its_line(at, monkeypatch, capsys):
    from services.cli import main

    def typed(prompt):
        sys.stderr.write(prompt)  # getpass writes its prompt, then reads
        if prompt == at:
            raise KeyboardInterrupt
        return "secret"

    stdin = io.StringIO()
    stdin.isatty = lambda: True
    monkeypatch.setattr(sys, "stdin", stdin)
    monkeypatch.setattr(getpass, "getpass", typed)
    code = main(
        ["console", "account", "add", "zhang.san", "--department",
         "91350100M000100Y43", "--role", "clerk"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 130
    assert err.endswith(f"{at}\n"), repr(err)
