"""trial37: with cryptography 51 (what a fresh install gets), pyHanko's import of its
DSA key class printed "CryptographyDeprecationWarning: DSA is deprecated ..." before a
command's own output. certseal ignores that one warning, and only that one."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import warnings
import certseal
warnings.warn("DSA is deprecated and support will be removed in a future release.")
warnings.warn("some other library warning")
"""


def test_the_dsa_deprecation_is_not_printed_and_other_warnings_are():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "DSA is deprecated" not in done.stderr
    assert "some other library warning" in done.stderr
