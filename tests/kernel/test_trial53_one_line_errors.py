"""trial53 P8: a wrong check character in an identifier an argparse ``type`` checks (a
licence type code's USCC, a ``dept:`` signer) printed the command's usage block, then
the error: bad input on a command line is one line, ``error: <field>: <problem>``,
exit status 2 (certseal.cli_parser), on every command line of the project: the
``certseal`` commands, each service's ``python -m services.<name>`` (led by its name,
as its start-up errors are) and the integrator's example."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from certseal.identifiers import make_resident_id
from services.cli import main

ROOT = Path(__file__).resolve().parents[2]
GOOD = "91350100M000100Y43"
BAD = GOOD[:-1] + "X"  # its check character is 3
ID_NUMBER = make_resident_id("11010119900307123")
ID_MISTYPED = ID_NUMBER[:17] + ("0" if ID_NUMBER[17] != "0" else "1")
LICENCE = f"1.2.156.3005.2.{GOOD}001.{GOOD}.C90MHI5MLZCUICOG.001.1"
CHECK = "check character of '91350100M000100Y4X' is 'X', expected '3'"

CASES = [
    # argparse types (certseal.cli_options.checked and the seal's signer)
    (["licence", "--as", GOOD, "list", "--type", BAD + "001"], f"type: {CHECK}"),
    (
        [
            *("licence", "--as", GOOD, "issue", "--type", BAD + "001"),
            *("--holder-name", "张三", "--id-number", ID_NUMBER),
        ],
        f"type: {CHECK}",
    ),
    (["holder-app", "grant", "app:wallet", "--type", BAD + "001"], f"type: {CHECK}"),
    (
        ["type", "add", "--code", BAD + "001", "--name", "n", "--issuers", GOOD],
        f"code: {CHECK}",
    ),
    (
        [
            *("seal", "--as", GOOD, "register", "--type", "official", "--name", "n"),
            *("--signer", f"dept:{BAD}"),
        ],
        f"signer: 'dept:{BAD}': {CHECK}",
    ),
    # checked by the command before it reads its configuration or calls
    (
        ["holder", "--as", "wallet", "usage", LICENCE, "--id-number", ID_MISTYPED],
        "id-number: check character is ",
    ),
    (
        [
            *("holder", "--as", "wallet", "authorise", LICENCE),
            *("--id-number", ID_NUMBER, "--department", BAD),
            *("--purpose", "开立银行账户", "--field", "class"),
        ],
        f"department: {CHECK}",
    ),
    (
        [
            *("feed", "entitle", "integrator:acme", "--department", BAD),
            *("--licence-type", "*", "--type", "licence.*"),
        ],
        f"department: {CHECK}",
    ),
    (["dev", "identity", f"dept:{BAD}"], f"identity: 'dept:{BAD}': {CHECK}"),
    (["licence", "--as", BAD, "get", LICENCE], f"as: {CHECK}"),
    (["seal", "--as", BAD, "get", "s-1"], f"as: {CHECK}"),
]


@pytest.mark.parametrize(
    ("argv", "said"), CASES, ids=[" ".join(a[:4]) for a, _ in CASES]
)
def test_a_wrong_check_character_is_one_line_and_exit_2(
    argv, said, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # no stack, no configuration: refused before them
    try:
        status = main(argv)
    except SystemExit as stopped:
        status = stopped.code
    err = capsys.readouterr().err
    assert status == 2, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"error: {said}"), err
    assert "usage:" not in err, err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["licence", "--as", GOOD], "error: command: licence needs a command: "),
        (["licence", "get", LICENCE], "error: as: is required; "),
        (["audit", "list", "--outcome", "maybe"], "error: outcome: invalid choice: "),
        (["audit", "list", "--limit", "0"], "error: limit: 0 is outside 1 to 10,000"),
        (["--confg", "x.toml", "audit", "verify"], "error: confg: certseal has no "),
    ],
)
def test_any_bad_command_line_is_one_line_without_the_usage(argv, said, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert len(err.splitlines()) == 1 and err.startswith(said), err


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["-m", "services.verifier", "--config", "x.toml", "--group-size", "two"],
            "services.verifier: error: group-size: invalid int value: 'two'",
        ),
        (
            ["-m", "services.issuer", "--role", "bogus"],
            "services.issuer: error: role: invalid choice: 'bogus'",
        ),
        (
            ["-m", "services.feed"],  # certseal.process.run_main's parser
            "services.feed: error: config: is required",
        ),
        (
            ["-m", "services.seal", "--confg", "x.toml"],
            "services.seal: error: confg: python -m services.seal has no option "
            "--confg; did you mean --config?",
        ),
        (
            ["examples/licence_status_table.py", "--bootstrap", "127.0.0.1:9092"],
            "error: group: is required",
        ),
    ],
    ids=["verifier", "issuer", "run_main", "typo", "example"],
)
def test_every_other_command_line_says_a_bad_one_in_one_line(argv, said):
    done = _run(*argv)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith(said), done.stderr
    assert "usage:" not in done.stderr
