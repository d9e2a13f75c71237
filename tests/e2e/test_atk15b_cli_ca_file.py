"""atk15b: ``certseal bundle fetch`` (and ``certseal verify --offline``) read
``tls.ca_file`` with ``Path.read_bytes`` before anything checks it
(services/verifier/cli_bundle.py ``cmd_bundle_fetch``, cli.py ``_verify_offline``): the CLI's
``channel`` checks it with ``read_tls_identity`` only afterwards.

- a FIFO (or any file that never ends) blocks the command for ever, no line;
- a missing file is ``error: /path/ca.pem: no such file or directory``: the CLI's
  form is ``error: <field>: <problem>``, and the field here is ``tls.ca_file``.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import pytest

from certseal.config import dump_config


def bundle_fetch(config, tmp_path, ca_file: str) -> subprocess.CompletedProcess[str]:
    """``certseal bundle fetch`` with ``tls.ca_file`` set to ``ca_file``; its exit
    status None when it had not ended after 30 s."""
    cfg = copy.deepcopy(config)
    cfg.tls.ca_file = ca_file
    config_file = tmp_path / "cli.toml"
    config_file.write_text(dump_config(cfg))
    command = [sys.executable, "-m", "services", "--config", str(config_file)]
    command += ["bundle", "fetch", "--out", str(tmp_path / "offline.bundle")]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired as exc:  # killed by run()
        return subprocess.CompletedProcess(command, None, "", str(exc.stderr or ""))  # type: ignore[arg-type]


@pytest.mark.parametrize("what", ["fifo", "missing"])
def test_bundle_fetch_names_a_ca_file_it_cannot_use(config, tmp_path, what):
    ca_file = tmp_path / "ca.pem"
    if what == "fifo":
        os.mkfifo(ca_file)
    done = bundle_fetch(config, tmp_path, str(ca_file))
    assert done.returncode == 2, done.stderr[-3000:]  # None: it hung
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.stderr.splitlines()[-1].startswith("error: tls.ca_file: "), done.stderr
