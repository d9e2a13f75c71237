"""``python -m services.verifier`` refuses a bad group setting before it touches
anything: ``error: <setting>: <problem>`` on stderr and exit status 2 (bad input), as
the ``certseal`` commands do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("args", "setting"),
    [
        (["--group-size", "0"], "group_size"),
        (["--worker", "w", "--group-size", "2", "--peers", "a:1,b:1"], "worker"),
        (["--worker", "w-2", "--group-size", "2", "--peers", "a:1,b:1"], "worker"),
        (["--worker", "w-1", "--group-size", "2", "--peers", "a:1"], "peers"),
        (["--worker", "w-1", "--group-size", "2"], "peers"),
        (["--worker", "w 1"], "worker"),
        (
            ["--worker", "w-1", "--group-size", "2", "--peers", "a:1,http://b:1"],
            "peers",
        ),
        (["--worker", "w-1", "--group-size", "2", "--peers", "a:1,b:0"], "peers"),
        (["--worker", "w-1", "--group-size", "2", "--peers", "a:1,b"], "peers"),
        (["--worker", "w-1", "--group-size", "2", "--peers", "a:1,b:70000"], "peers"),
        (
            ["--worker", "w-1", "--group-size", "2", "--peers", "w-{ordinal} x:1"],
            "peers",
        ),
    ],
)
def test_a_bad_group_setting_is_bad_input(tmp_path: Path, args, setting):
    config = tmp_path / "config.toml"
    config.write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "services.verifier", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"services.verifier: error: verifier.{setting}: "), (
        done.stderr
    )
    assert done.stderr.count("error:") == 1, done.stderr


def _worker(
    tmp_path: Path, cert_file: str, key_file: str = "key.pem"
) -> subprocess.CompletedProcess:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[verifier]\ncert_file = "{cert_file}"\nkey_file = "{key_file}"\n'
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "services.verifier",
            "--config",
            str(config),
            "--worker",
            "w-1",
            "--group-size",
            "2",
            "--peers",
            "a:1,b:1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_partitioned_worker_without_a_verifier_identity_is_bad_input(
    tmp_path: Path,
):
    from certseal.devpki import DevCA

    # a worker that presents no verifier identity could never be asked by its peers
    other = DevCA(tmp_path / "ca").identity("service:certseal", server=True)
    done = _worker(tmp_path, str(other.cert_file), str(other.key_file))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("services.verifier: error: verifier.cert_file: "), (
        done.stderr
    )
    assert "service:certseal" in done.stderr


@pytest.mark.parametrize("content", [None, b"not a certificate"])
def test_an_unreadable_verifier_certificate_is_bad_input(tmp_path: Path, content):
    cert = tmp_path / "verifier.pem"
    if content is not None:
        cert.write_bytes(content)
    done = _worker(tmp_path, str(cert))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("services.verifier: error: verifier.cert_file: "), (
        done.stderr
    )
