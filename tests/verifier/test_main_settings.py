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
    assert done.stderr.startswith(f"error: {setting}: "), done.stderr
