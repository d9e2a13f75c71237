"""A new user's rough edges of the ``certseal`` CLI (cli-edges), each checked without
the stack: bad input is ``error: <field>: <problem>`` naming the option or argument as
typed, exit 2, never a traceback."""

from __future__ import annotations

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
