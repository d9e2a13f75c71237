"""A new user's rough edges of the ``certseal`` CLI (cli-edges), each checked without
the stack: bad input is ``error: <field>: <problem>`` naming the option or argument as
typed, exit 2, never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from certseal.devpki import DevCA
from services.cli import main

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


def test_a_ctrl_c_while_the_command_loads_exits_130_quietly(dev_ca, tmp_path):
    """cli-edges 7: Ctrl-C in the CLI's first half second (its modules loading)
    printed a traceback ending in KeyboardInterrupt. SIGINT is sent at points from
    the loading to the call (a target that takes no connection keeps it waiting)."""
    config = write_config(tmp_path, dev_ca)
    argv = [sys.executable, "-m", "services.cli", "--config", str(config)]
    argv += ["verify", "--verifier", "10.255.255.1:50052", "--purpose", "p", "LC1:A"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for delay in (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7):
        child = subprocess.Popen(
            argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        time.sleep(delay)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
        assert (child.returncode, err.decode()) == (130, ""), delay


def test_an_interrupt_no_code_caught_is_exit_130_with_no_traceback(tmp_path):
    code = "import services.cli\nraise KeyboardInterrupt"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (130, b"")
    code = "import services.cli\nraise ValueError('kept')"  # other errors as before
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, check=False
    )
    assert done.returncode == 1
    assert b"Traceback" in done.stderr
    assert b"ValueError: kept" in done.stderr
