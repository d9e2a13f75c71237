"""A new user's rough edges of the ``certseal`` CLI (cli-edges), each checked without
the stack: bad input is ``error: <field>: <problem>`` naming the option or argument as
typed, exit 2, never a traceback."""

from __future__ import annotations

import argparse
import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from certseal.cli_options import whole_number
from certseal.devpki import DevCA
from services.cli import build_parser, main

#: DNS answers that no such host exists (RFC 6761: .invalid never resolves)
NO_HOST = "nosuchhost.invalid:50052"


@pytest.fixture(scope="module")
def dev_ca(tmp_path_factory) -> DevCA:
    return DevCA(tmp_path_factory.mktemp("cli-edges-ca"))


def write_config(folder: Path, ca: DevCA, **targets: str) -> Path:
    """A configuration of the ``[cli]`` identity and ``targets`` (``issuer_target``
    and the like)."""
    op = ca.identity("operator:ops")
    lines = [f'cert_file = "{op.cert_file}"', f'key_file = "{op.key_file}"']
    lines += [f'{key} = "{value}"' for key, value in targets.items()]
    path = folder / "cli.toml"
    path.write_text(
        f'[tls]\nca_file = "{ca.ca_file}"\n[cli]\n' + "\n".join(lines) + "\n"
    )
    return path


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, (out.out + out.err).strip()


@pytest.mark.parametrize(
    ("setting", "field", "line"),
    [
        ("", "verifier", f"verify --verifier {NO_HOST} --purpose p LC1:AAAA"),
        ("", "verifier", f"verifier status --verifier {NO_HOST}"),
        ("verifier_target", "cli.verifier_target", "verify --purpose p LC1:AAAA"),
        ("verifier_target", "cli.verifier_target", "bundle fetch --out {tmp}/b"),
        ("issuer_target", "cli.issuer_target", "department list"),
        ("seal_target", "cli.seal_target", "seal get S"),
        ("feed_target", "cli.feed_target", "events tail"),
        ("tlog_target", "cli.tlog_target", "log checkpoint"),
    ],
)
def test_a_host_dns_does_not_know_is_bad_input(
    setting, field, line, dev_ca, tmp_path, capsys
):
    """cli-edges 2: ``verify --verifier nosuchhost:50052`` exited 1, while the README
    says a host not found is the setting's fault, exit 2."""
    targets = {setting: NO_HOST} if setting else {}
    config = write_config(tmp_path, dev_ca, **targets)
    argv = ["--config", str(config), *line.format(tmp=tmp_path).split()]
    code, out = run(capsys, *argv)
    assert (code, out.splitlines()[-1].split(" is not found")[0]) == (
        2,
        f"error: {field}: the host of {NO_HOST}",
    )


ROOT = Path(__file__).resolve().parents[2]


# Runs the command by one of its entries (``run``, as ``python -m`` or pip's script runs
# it), with a thread that writes to a pipe once the command has set its interrupt
# hook: Python's own start and site import (before the module's first line, and which
# no program can make quiet) is then never what a SIGINT of the test lands in, however
# slow this machine is at the moment
_HOOKED = """
import os, runpy, sys, threading, time
fd, before = int(sys.argv.pop(1)), sys.excepthook
def watch():
    while sys.excepthook is before:
        time.sleep(0.0002)
    os.write(fd, b"hooked")
    os.close(fd)
threading.Thread(target=watch, daemon=True).start()
"""
_AS_MODULE = 'runpy.run_module("services.cli", run_name="__main__", alter_sys=True)'


def _interrupted(run: str, delay: float, dev_ca, tmp_path) -> tuple[int, str]:
    """Exit status and stderr of ``certseal verify`` (a target that takes no
    connection keeps it waiting) run by ``run``, SIGINT sent ``delay`` seconds after
    its hook is set."""
    config = write_config(tmp_path, dev_ca)
    args = ["--config", str(config), "verify", "--verifier", "10.255.255.1:50052"]
    args += ["--purpose", "p", "LC1:A"]
    read, write = os.pipe()
    child = subprocess.Popen(
        [sys.executable, "-c", _HOOKED + run, str(write), *args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(write,),
    )
    os.close(write)
    with os.fdopen(read, "rb") as hooked:
        assert hooked.read() == b"hooked", run
    time.sleep(delay)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    return child.returncode, err.decode()


def test_a_ctrl_c_while_the_command_loads_exits_130_quietly(dev_ca, tmp_path):
    """cli-edges 7: Ctrl-C in the CLI's first half second (its modules loading)
    printed a traceback ending in KeyboardInterrupt. SIGINT is sent at points from
    the hook being set to the call."""
    for delay in (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6):
        assert _interrupted(_AS_MODULE, delay, dev_ca, tmp_path) == (130, ""), delay


# a Ctrl-C as the command's event loop is being made (asyncio.run's first step)
_LOOP_CUT = """
import asyncio.base_events, runpy
def cut(self, *args, **kwargs):
    raise KeyboardInterrupt
asyncio.base_events.BaseEventLoop.__init__ = cut
"""


def test_a_ctrl_c_as_the_event_loop_is_made_exits_130_quietly(dev_ca, tmp_path):
    """A SIGINT that cut the event loop while it was made (CI, 2026-12-06, at 0.4 s
    in the test above) exited 130 but printed what Python reports as it clears the
    call away: the half-made loop's ``__del__`` failing ("Exception ignored in ...
    no attribute '_thread_id'") and the coroutine "never awaited"."""
    config = write_config(tmp_path, dev_ca)
    args = ["--config", str(config), "verify", "--verifier", "10.255.255.1:50052"]
    done = subprocess.run(
        [sys.executable, "-c", _LOOP_CUT + _AS_MODULE, *args, "--purpose", "p", "X"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "default"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (130, "")


@pytest.mark.parametrize("entry", ["python -m services", "the certseal script"])
def test_the_command_s_other_entries_exit_130_quietly_too(entry, dev_ca, tmp_path):
    """The hooks are set only when the process is the command (``runs_as``): its
    other two entries are it too. The script is pip's console script's text."""
    script = tmp_path / "certseal"
    script.write_text(
        "import sys\nfrom services.cli import main\n"
        "if __name__ == '__main__':\n    sys.exit(main())\n"
    )
    run = {
        "python -m services": _AS_MODULE.replace('"services.cli"', '"services"'),
        "the certseal script": f"runpy.run_path({str(script)!r}, run_name='__main__')",
    }[entry]
    for delay in (0.0, 0.3):
        assert _interrupted(run, delay, dev_ca, tmp_path) == (130, ""), delay


def test_the_command_sets_its_interrupt_hook_before_its_other_imports():
    """The hook covers the command's loading only if it is set before the modules that
    take the time (grpc, cryptography, the services): services/cli.py's first
    statement after the hook's own import is its call."""
    tree = ast.parse((ROOT / "services" / "cli.py").read_text())
    body = [
        node
        for node in tree.body
        if not isinstance(node, ast.Expr) or not isinstance(node.value, ast.Constant)
    ]
    kinds = [ast.unparse(node) for node in body[:3]]
    assert kinds == [
        "from __future__ import annotations",
        "from certseal.interrupt import interrupt_exits_quietly, interrupted, "
        "loading_ended, runs_as",
        "interrupt_exits_quietly(runs_as('services.cli', script='certseal'))",
    ]


def test_an_interrupt_no_code_caught_is_exit_130_with_no_traceback(tmp_path):
    """In the command's process; a program that only imports services.cli keeps
    Python's own (tests/kernel/test_atk36_interrupts.py)."""
    done = _python(_IN_THE_COMMAND + "raise KeyboardInterrupt")
    assert (done.returncode, done.stderr) == (130, b"")
    done = _python(_IN_THE_COMMAND + "raise ValueError('kept')")  # others as before
    assert done.returncode == 1
    assert b"Traceback" in done.stderr
    assert b"ValueError: kept" in done.stderr
    done = _python("import services.cli\nraise KeyboardInterrupt")
    assert done.stderr.splitlines()[-1] == b"KeyboardInterrupt"


#: a script's first lines: the process is the command (``runs_as`` said so)
_IN_THE_COMMAND = (
    "from certseal.interrupt import interrupt_exits_quietly, loading_ended\n"
    "interrupt_exits_quietly(True)\n"
)


def _python(script: str) -> subprocess.CompletedProcess[bytes]:
    """``python -c script`` with this checkout's packages, run to its end."""
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=60,
    )


def _groups(parser, path=()):
    """(words, choices) of every group of commands: ``licence`` -> issue, amend, …"""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            if path:
                yield path, list(action.choices)
            for name, sub in action.choices.items():
                yield from _groups(sub, (*path, name))


def test_a_group_given_no_command_names_the_commands_it_takes(capsys):
    """cli-edges 5: ``error: arguments: the following arguments are required:
    licence_command`` (seal_command, config_command, …): argparse's own name."""
    groups = list(_groups(build_parser()))
    assert len(groups) > 10
    for words, choices in groups:
        argv = list(words)
        if words[0] in ("licence", "seal"):  # their --as comes before the command
            argv.insert(1, "--as=91350100M000100Y43")
        with pytest.raises(SystemExit) as exited:
            main(argv)
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert exited.value.code == 2
        assert err == (
            f"error: command: {' '.join(words)} needs a command: {', '.join(choices)}"
        )
    with pytest.raises(SystemExit):
        main([])
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .startswith("error: command: certseal needs a command: id, audit, ")
    )


def test_a_missing_argument_or_option_is_named_as_typed(capsys):
    for argv, said in (
        (["seal", "get"], "error: seal-id: is required"),
        (["licence", "--as", "91350100M000100Y43", "issue"], "error: type: is "
         "required (so are --holder-name, --id-number)"),
    ):  # fmt: skip
        with pytest.raises(SystemExit):
            main(argv)
        assert capsys.readouterr().err.splitlines()[-1].startswith(said)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        # trial44: a mistyped required option was said as the option missing
        (["seal", "--as", "91350100M000100Y43", "pdf", "S", "f.pdf", "--outt",
          "o.pdf"], "error: outt: certseal seal pdf has no option --outt; did you "
         "mean --out?"),
        (["seal", "--as", "91350100M000100Y43", "revoke", "S", "--reasn=lost"],
         "error: reasn: certseal seal revoke has no option --reasn; did you mean "
         "--reason?"),
        (["seal", "get", "--sealid", "x"], "error: sealid: certseal seal get has "
         "no option --sealid"),
    ],
)  # fmt: skip
def test_an_unknown_option_is_named_before_what_it_left_missing(argv, said, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith(said)


@pytest.mark.parametrize(
    "argv",
    [
        # an abbreviation argparse takes, a value attached with =, a negative number,
        # words after --, an option of the group before the command: what is missing
        # is still the fault
        ["seal", "--as", "91350100M000100Y43", "pdf", "S", "f.pdf", "--pag", "1"],
        ["seal", "--as=91350100M000100Y43", "revoke", "S"],
        ["seal", "--as", "91350100M000100Y43", "pdf", "S", "f.pdf", "--x-mm", "-3"],
        ["seal", "--as", "91350100M000100Y43", "revoke", "--", "-S"],
    ],
)
def test_a_missing_option_is_still_said_when_nothing_was_mistyped(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert ": is required" in last and "has no option" not in last, last


@pytest.mark.parametrize(
    "line", ["seal get NOSUCHSEAL", "seal --as 91350100M000100Y43 revoke NOSUCHSEAL "
             "--reason r"]
)  # fmt: skip
def test_a_request_field_is_named_as_the_command_shows_it(
    line, dev_ca, tmp_path, capsys, monkeypatch
):
    """cli-edges 6: ``error: seal_id: seal NOSUCHSEAL not found``: the seal service's
    request field, where the usage shows the argument ``seal-id``."""
    from certseal.errors import not_found
    from services.seal import cli as seal_cli

    def refused(*args, **kwargs):
        raise not_found("seal NOSUCHSEAL", field="seal_id")

    monkeypatch.setattr(seal_cli, "call_service", refused)
    # --as's department taken as known (services.seal.cli_as asks the seal service)
    monkeypatch.setattr(seal_cli, "seal_identity", lambda cfg, code: ("c", "k"))
    config = write_config(tmp_path, dev_ca)
    code, out = run(capsys, "--config", str(config), *line.split())
    assert (code, out) == (1, "error: seal-id: seal NOSUCHSEAL not found")
    code, out = run(capsys, "--config", str(config), "dev", "identity", "bogus")
    assert code == 2 and out.startswith("error: identity: 'bogus' is not an identity")


def test_a_licence_file_no_seal_may_seal_says_how_to_get_one(
    dev_ca, tmp_path, capsys, monkeypatch
):
    """cli-edges 6: ``licence document`` for a department with no seal the issuer
    may use said ``error: seal: … owner_code: …`` without docs/holder.md's remedy."""
    from certseal.errors import CertsealError, ErrorKind
    from services.issuer import cli_call, licence_cli

    dept = "91350100M000100Y43"

    def refused(*args, **kwargs):
        raise CertsealError(
            ErrorKind.FAILED_PRECONDITION,
            f"sealing through the seal service: {dept} has no active official "
            "es256 or ed25519 seal that service:issuer may use",
            field="seal",
        )

    monkeypatch.setattr(licence_cli, "department_identity", lambda cfg, code: ("", ""))
    monkeypatch.setattr(cli_call, "call_service", refused)  # where it is called
    config = write_config(tmp_path, dev_ca)
    code, out = run(
        capsys, "--config", str(config), "licence", "--as", dept, "document",
        "1.2.156.3005.2.X", "--out", str(tmp_path / "l.pdf"),
    )  # fmt: skip
    assert code == 1
    assert out.startswith(f"error: seal: sealing through the seal service: {dept} has")
    assert (
        f"certseal seal --as {dept} register --type official --name NAME --suite "
        f"es256 --signer dept:{dept} --signer service:issuer" in out
    )


def test_a_holder_file_no_seal_may_seal_says_the_same_remedy(
    dev_ca, tmp_path, capsys, monkeypatch
):
    """trial 6: ``holder file`` met the same refusal as ``licence document`` without
    the ``seal register … --signer service:issuer`` command: one message for both,
    the department taken from the seal service's words."""
    from certseal.errors import CertsealError, ErrorKind
    from certseal.identifiers import random_resident_id
    from services.issuer import cli_call, holder_cli

    dept = "91350100M000100Y43"

    def refused(*args, **kwargs):
        raise CertsealError(
            ErrorKind.FAILED_PRECONDITION,
            f"sealing through the seal service: {dept} has no active official "
            "es256 or ed25519 seal that service:issuer may use",
            field="seal",
        )

    monkeypatch.setattr(holder_cli, "_app_identity", lambda cfg, app: ("", ""))
    monkeypatch.setattr(cli_call, "call_service", refused)
    config = write_config(tmp_path, dev_ca)
    code, out = run(
        capsys, "--config", str(config), "holder", "--as", "wallet", "file",
        "1.2.156.3005.2.X", "--id-number", random_resident_id(),
        "--out", str(tmp_path / "l.pdf"),
    )  # fmt: skip
    assert code == 1
    assert out.startswith(f"error: seal: sealing through the seal service: {dept} has")
    assert (
        f"certseal seal --as {dept} register --type official --name NAME --suite "
        f"es256 --signer dept:{dept} --signer service:issuer" in out
    )


def test_a_department_without_the_seal_owner_role_is_told_that_step_first(
    dev_ca, tmp_path, capsys, monkeypatch
):
    """``holder file`` for a department that lacks the seal_owner role hinted only
    ``seal --as D register …``, which that department cannot do: the role step first."""
    from certseal.errors import CertsealError, ErrorKind
    from certseal.identifiers import random_resident_id
    from services.issuer import cli_call, holder_cli
    from services.seal.licence_files import LACKS_SEAL_OWNER

    dept = "91350100M000100Y43"

    def refused(*args, **kwargs):
        raise CertsealError(
            ErrorKind.FAILED_PRECONDITION,
            f"sealing through the seal service: {dept} has no active official "
            f"es256 or ed25519 seal that service:issuer may use{LACKS_SEAL_OWNER}",
            field="seal",
        )

    monkeypatch.setattr(holder_cli, "_app_identity", lambda cfg, app: ("", ""))
    monkeypatch.setattr(cli_call, "call_service", refused)
    config = write_config(tmp_path, dev_ca)
    code, out = run(
        capsys, "--config", str(config), "holder", "--as", "wallet", "file",
        "1.2.156.3005.2.X", "--id-number", random_resident_id(),
        "--out", str(tmp_path / "l.pdf"),
    )  # fmt: skip
    assert code == 1
    role = out.index(f"certseal department roles {dept} --roles ROLES,seal_owner")
    assert role < out.index(f"certseal seal --as {dept} register --type official")


def test_run_from_another_folder_says_where_it_looked_and_how_to_point(
    tmp_path, capsys, monkeypatch
):
    """cli-edges 10: from another folder, ``error: department: no configuration at
    .certseal/config.toml: start the stack with 'make run'``: the command's name as
    the field, a relative path, and no word of --config or of the checkout."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "no-checkout" / ".venv"))
    code, out = run(capsys, "department", "list")
    assert code == 1
    assert out.startswith(
        f"error: config: no configuration at {elsewhere}/.certseal/config.toml (the "
        "default, .certseal/config.toml, is looked for in the current folder): run "
        "certseal from the checkout where 'make run' runs"
    )
    assert out.endswith("or pass --config FILE")
    # the checkout whose .venv runs the command is named, with its file
    checkout = tmp_path / "checkout"
    (checkout / ".certseal").mkdir(parents=True)
    (checkout / ".certseal" / "config.toml").write_text("")
    monkeypatch.setattr(sys, "prefix", str(checkout / ".venv"))
    code, out = run(capsys, "department", "list")
    assert code == 1
    assert (
        f"run certseal from {checkout}, or pass --config "
        f"{checkout}/.certseal/config.toml (repeatable: then --config "
        f"{checkout}/.certseal/local.toml for its local settings)"
    ) in out


def test_a_configuration_that_is_not_toml_is_the_config_s_fault(
    tmp_path, capsys, monkeypatch
):
    (tmp_path / ".certseal").mkdir()
    (tmp_path / ".certseal" / "config.toml").write_text("[cli\n")
    monkeypatch.chdir(tmp_path)
    code, out = run(capsys, "department", "list")
    assert code == 2
    assert out.startswith(
        "error: config: configuration file .certseal/config.toml is not valid TOML: "
    )


EMPTY_INPUTS = [
    ("file", "seal --as {d} pdf S {e} --out {tmp}/o.pdf"),
    ("file", "seal --as {d} ofd S {e} --out {tmp}/o.ofd"),
    ("file", "seal --as {d} document S {e} --out {tmp}/o.ses"),
    ("signature", "seal verify {e} {e}"),
    ("file", "seal verify-pdf {e}"),
    ("file", "seal verify-ofd {e}"),
    ("file", "seal inspect {e}"),
    ("picture", "seal --as {d} register --type official --name n --picture {e}"),
    ("code", "verify --purpose p {e}"),
    ("image", "verify --purpose p --image {e}"),
    ("bundle", "verify --offline --bundle {e} LC1:AAAA"),
    ("old", "log verify --old {e} --log-key {key}"),
    ("secret-file", "feed webhook w --integrator integrator:x --url https://x "
     "--secret-file {e}"),
    ("password-file", "console account add n --department {d} --role clerk "
     "--password-file {e}"),
]  # fmt: skip


@pytest.mark.parametrize(("field", "line"), EMPTY_INPUTS)
def test_an_empty_input_file_is_said_to_be_empty(field, line, dev_ca, tmp_path, capsys):
    """cli-edges 8: an empty PDF gave ``error: pdf: is required``, the seal
    service's request field, as if no file had been given."""
    from certseal.checkpoints import NoteSigner

    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    signer = NoteSigner("log.example", Ed25519PrivateKey.generate())
    key = signer.verifier.encode()
    config = write_config(tmp_path, dev_ca)
    words = line.format(d="91350100M000100Y43", e=empty, tmp=tmp_path, key=key)
    code, out = run(capsys, "--config", str(config), *words.split())
    assert (code, out) == (
        2,
        f"error: {field}: {empty} is empty (0 bytes): give the file with its content",
    )


PRESENT = ["licence", "--as", "91350100M000100Y43", "present", "X", "--ttl"]
RANGE = (
    "5 to [issuer] presentation_max_ttl_s seconds (600 unless set); 0 or left out: "
    "[issuer] presentation_ttl_s (60 unless set)"
)


#: the configuration's words for RANGE (words39b: "--ttl 3" said "600 unless set",
#: "--ttl 9999" "600 here": two wordings of one limit)
HERE = (
    "5 to [issuer] presentation_max_ttl_s seconds (600 here); 0 or left out: "
    "[issuer] presentation_ttl_s (60 here)"
)


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("1", f"1 is outside {HERE}"),
        ("3", f"3 is outside {HERE}"),
        ("4", f"4 is outside {HERE}"),
        ("9999", f"9999 is outside {HERE}"),
    ],
)
def test_a_ttl_outside_its_one_range_is_refused_by_the_cli(
    value, said, dev_ca, tmp_path, capsys
):
    """cli-edges 3: ``--ttl -5`` said "outside 0 to 4,294,967,295", ``--ttl 1`` the
    issuer's "must be between 5 and 600", and --help gave no range. Below the least
    and over the most, one wording, with the configuration's values (words39b);
    beyond what any configuration allows, the parser's (the test below)."""
    config = write_config(tmp_path, dev_ca, issuer_target="127.0.0.1:1")
    code, out = run(capsys, "--config", str(config), *PRESENT, value)
    assert (code, out) == (2, f"error: ttl: {said}")


@pytest.mark.parametrize("value", ["-5", "86401", "99999999999"])
def test_a_ttl_no_configuration_allows_is_said_with_the_one_range(
    value, dev_ca, tmp_path, capsys
):
    """trial47: these were said "outside 0 to 86,400 seconds, what any configuration
    allows", and a clerk who then tried 3600 was told another range."""
    config = write_config(tmp_path, dev_ca, issuer_target="127.0.0.1:1")
    code, out = run(capsys, "--config", str(config), *PRESENT, value)
    assert (code, out) == (2, f"error: ttl: {value} is outside {HERE}")


def test_a_ttl_that_is_no_whole_number_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as stopped:
        main([*PRESENT, "1e3"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: ttl: '1e3' is not a whole number of seconds"
    )


def test_a_ttl_over_the_configured_most_is_refused_before_any_call(
    dev_ca, tmp_path, capsys
):
    config = write_config(tmp_path, dev_ca, issuer_target="127.0.0.1:1")
    config.write_text(config.read_text() + "[issuer]\npresentation_max_ttl_s = 300\n")
    code, out = run(capsys, "--config", str(config), *PRESENT, "301")
    assert (code, out) == (
        2,
        "error: ttl: 301 is outside 5 to [issuer] presentation_max_ttl_s seconds "
        "(300 here); 0 or left out: [issuer] presentation_ttl_s (60 here)",
    )


def test_the_ttl_range_is_in_the_help_and_is_the_issuers(capsys):
    from services.issuer.present_cli import MIN_TTL_S
    from services.issuer.service import codes

    assert MIN_TTL_S == codes._MIN_TTL_S
    with pytest.raises(SystemExit):
        main([*PRESENT[:4], "--help"])
    assert RANGE in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("token", ["garbage", "AAAA", "W1tbWw", "e30"])
def test_a_token_that_is_none_of_the_feeds_is_named_token(
    token, dev_ca, tmp_path, capsys, monkeypatch
):
    """cli-edges 4: ``events tail --token garbage`` said ``error: start: is not UTF-8
    (byte 0)``: the request's oneof, and a byte of the token's decoding, for ASCII
    text the user typed. (The feed's refusal is made by its own decoding here.)"""
    from certseal.errors import CertsealError
    from services.feed import cli as feed_cli
    from services.feed.tokens import decode_token

    def feed(cfg, target, call, **kwargs):
        from certseal.calls import as_options

        try:
            decode_token(token, ["t"], cluster="c")
        except CertsealError as exc:
            raise as_options(exc, kwargs.get("options") or {}) from None

    monkeypatch.setattr(feed_cli, "call_service", feed)
    config = write_config(tmp_path, dev_ca)
    code, out = run(capsys, "--config", str(config), "events", "tail", "--token", token)
    assert (code, out) == (
        2,
        "error: token: the position token is not one this feed issued",
    )


def test_every_option_and_argument_of_every_command_has_a_help_line():
    """cli-edges 11: ``licence issue --help`` listed --type, --holder-name and
    --id-type with no description or default."""
    bare = []

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for word, sub in action.choices.items():
                    walk(sub, f"{path} {word}")
            elif action.dest != "help" and not (action.help or "").strip():
                bare.append(f"{path}: {action.option_strings or action.dest}")

    walk(build_parser(), "certseal")
    assert bare == []


def test_every_option_with_a_default_says_it_in_its_help():
    """trial 9: ``seal register --suite``, ``run --home``, ``republish --max-events``,
    ``feed kafka-users --cluster`` and ``holder --id-type`` had defaults their help
    did not say: a user learnt what was used only from what it did."""
    silent = []

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for word, sub in action.choices.items():
                    walk(sub, f"{path} {word}")
            elif (
                action.option_strings
                and action.default not in (None, False, [], "", argparse.SUPPRESS)
                and action.nargs != 0  # a flag's default is its absence
                and "default" not in (action.help or "")
            ):
                silent.append(f"{path} {max(action.option_strings, key=len)}")

    walk(build_parser(), "certseal")
    assert silent == []


def test_version_prints_the_package_version(capsys):
    """trial 9: there was no ``certseal --version``."""
    from importlib.metadata import version

    from services.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out == f"certseal {version('certseal')}\n"


def test_a_bounded_text_option_says_its_unit():
    """trial 9: ``holder authorise --purpose`` said "at most 64": 64 of what."""
    from services.issuer.authorisation import MAX_PURPOSE_CHARS

    parser = build_parser()
    holder = parser._subparsers._group_actions[0].choices["holder"]
    authorise = holder._subparsers._group_actions[0].choices["authorise"]
    (purpose,) = [a for a in authorise._actions if a.dest == "purpose"]
    assert f"at most {MAX_PURPOSE_CHARS} characters" in purpose.help


@pytest.mark.parametrize(
    ("case", "body"),
    [
        # a C extension's initialisation turns the KeyboardInterrupt into its own
        # error (Cython: "Failed to import 'zlib.decompress' - cannot initialise
        # module strings")
        (
            "an extension's own error",
            "try:\n    interrupt()\n"
            "except KeyboardInterrupt:\n"
            "    raise ImportError(\"Failed to import 'zlib.decompress'\") from None\n",
        ),
        # a weakref callback of the import system's module locks: Python only prints
        # "Exception ignored in" and the command went on
        (
            "a callback whose errors are only reported",
            "class Dropped:\n    def __del__(self):\n        interrupt()\n"
            "Dropped()\nprint('went on')\n",
        ),
        (
            "code that swallows it",
            "try:\n    interrupt()\nexcept KeyboardInterrupt:\n    pass\n"
            "loading_ended()\nprint('went on')\n",
        ),
    ],
)
def test_a_ctrl_c_while_loading_exits_130_whatever_it_became(case, body):
    """Kinds of what a SIGINT while modules load turns into, each ending the command
    with 130 and nothing on stderr (the loop above met the first two at random)."""
    script = (
        "import os, signal, time\n" + _IN_THE_COMMAND + "def interrupt():\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    time.sleep(30)\n" + body
    )
    done = _python(script)
    assert (done.returncode, done.stdout, done.stderr) == (130, b"", b""), case


def test_once_the_command_has_loaded_other_errors_are_its_own():
    """After loading, SIGINT is Python's own again (asyncio.run sets its handler only
    over that one), and an error with no Ctrl-C before it is printed as before."""
    script = (
        "import signal\n"
        + _IN_THE_COMMAND
        + "assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler\n"
        "loading_ended()\n"
        "assert signal.getsignal(signal.SIGINT) is signal.default_int_handler\n"
        "raise ValueError('its own')\n"
    )
    done = _python(script)
    assert (done.returncode, done.stderr.decode().splitlines()[-1]) == (
        1,
        "ValueError: its own",
    )


def test_a_text_file_given_as_the_image_is_named_and_said_to_be_text(
    dev_ca, tmp_path, capsys
):
    """words39b: ``verify --image README.md`` said ``error: image: is not a readable
    PNG, JPEG or HEIC image``, naming no file."""
    readme = tmp_path / "README.md"
    readme.write_text("# certseal\n\nElectronic licences.\n")
    config = write_config(tmp_path, dev_ca, issuer_target="127.0.0.1:1")
    code, out = run(
        capsys, "--config", str(config), "verify", "--purpose", "x",
        "--image", str(readme),
    )  # fmt: skip
    assert (code, out) == (
        2,
        f"error: image: {readme} is not a PNG, JPEG or HEIC image: it looks like text",
    )


def test_full_width_digits_are_a_whole_number():
    """trial41: ``--days ９`` was "not a whole number" where a status's ``０７`` is
    read; full-width digits (NFKC) are digits, other scripts' are not."""
    parse = whole_number(90, minimum=1)
    assert parse("９") == 9
    assert parse(" ３０ ") == 30
    with pytest.raises(argparse.ArgumentTypeError, match="is not a whole number"):
        parse("\u0669")  # ARABIC-INDIC DIGIT NINE
    with pytest.raises(argparse.ArgumentTypeError, match="is outside 1 to 90"):
        parse("９１")
