"""``certseal run``'s broker port, from ``--broker-port`` (``make run BROKER_PORT=N``
passes it so) or ``$BROKER_PORT``: a value that is no port is ``error: <setting>:
<problem>`` with exit 2 before anything starts, never a traceback (a new user's
``make run BROKER_PORT=abc`` and ``--broker-port 70000``), and a stale export breaks
no other command (the variable was read when the parser was made, by every command).
"""

from __future__ import annotations

import pytest

from services import cli


def _run(capsys, argv: list[str]) -> tuple[int, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's refusal
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("abc", "'abc' is not a whole number"),
        ("70000", "70000 is outside 0 to 65,535"),
        ("-1", "-1 is outside 0 to 65,535"),
        ("9092.5", "'9092.5' is not a whole number"),
    ],
)
def test_a_broker_port_option_that_is_no_port_is_refused_before_anything_starts(
    tmp_path, capsys, given, problem
):
    home = tmp_path / "home"
    code, err = _run(capsys, ["run", "--home", str(home), "--broker-port", given])
    assert code == 2
    assert f"error: broker-port: {problem}" in err
    assert "Traceback" not in err
    assert not home.exists()  # nothing made, nothing started


@pytest.mark.parametrize(
    ("given", "problem"),
    [("abc", "'abc' is not a whole number"), ("99999", "99999 is outside 0 to 65,535")],
)
def test_a_broker_port_variable_that_is_no_port_is_named(
    tmp_path, capsys, monkeypatch, given, problem
):
    monkeypatch.setenv("BROKER_PORT", given)
    home = tmp_path / "home"
    code, err = _run(capsys, ["run", "--home", str(home)])
    assert code == 2
    assert f"error: BROKER_PORT: {problem}; the environment variable" in err
    assert not home.exists()


def test_a_stale_broker_port_variable_breaks_no_other_command(capsys, monkeypatch):
    monkeypatch.setenv("BROKER_PORT", "abc")
    code, err = _run(capsys, ["id", "check", "11"])
    assert code == 2
    assert err.startswith("error: identifier:"), err
    assert "BROKER_PORT" not in err and "Traceback" not in err
