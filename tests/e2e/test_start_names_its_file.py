"""A start refused for a setting that one of several ``--config`` files gives names
that file, as a schema error does (nu22: ``make run``'s ``local.toml`` beside the
file it writes; the operator edits the one named)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from certseal.config import dump_config
from tests.e2e.test_atk12_missing_files import on_free_ports


@pytest.mark.parametrize(
    ("module", "overlay", "setting"),
    [
        (
            "tlog",
            '[tlog]\nsigning_key_file = "{tmp}/absent.key"\n',
            "tlog.signing_key_file",
        ),
        ("issuer", '[issuer]\nrare_font_file = "{this}"\n', "issuer.rare_font_file"),
        (
            "verifier",
            "[verifier]\nlag_unknown_after_s = 1.0\n",
            "verifier.lag_unknown_after_s",
        ),
    ],
)
def test_a_setting_of_a_later_file_is_told_with_that_file(
    config, tmp_path, module, overlay, setting
):
    base, local = tmp_path / "config.toml", tmp_path / "local.toml"
    base.write_text(dump_config(on_free_ports(config)))
    local.write_text(overlay.format(tmp=tmp_path, this=__file__))
    command = [sys.executable, "-m", f"services.{module}"]
    command += ["--config", str(base), "--config", str(local)]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if "error: " in line]
    assert len(errors) == 1, done.stderr[-3000:]
    assert f"error: {setting}: " in errors[0]
    assert errors[0].endswith(f" (set in {local})"), errors[0]
