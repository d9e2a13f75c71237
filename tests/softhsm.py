"""A real SoftHSM2 token for the tests: a fresh token directory per test session.

SoftHSM2 reads ``SOFTHSM2_CONF`` once, when the module is initialised in a process, so
the directory and every token the session needs are made before the module is first
loaded: ``certseal`` (the keys' token), ``certseal-locked-out`` (never logged in to:
the wrong-PIN checks use it, as a process logged in to a token is not asked again).
Debian's ``softhsm2`` package provides the module and ``softhsm2-util`` (``make test``
installs it).
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from certseal.config import Pkcs11Config

MODULE = os.environ.get("SOFTHSM2_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
LABEL = "certseal"
OTHER_LABEL = "certseal-locked-out"


@dataclass(frozen=True)
class SoftHsm:
    """The session's token directory and the PIN files of its tokens."""

    folder: Path
    module: str
    label: str
    pin_file: Path
    wrong_pin_file: Path

    def config(self, **overrides: object) -> Pkcs11Config:
        """A ``[pkcs11]`` section for the session's token, with ``overrides``."""
        settings: dict[str, object] = {
            "module": self.module,
            "token_label": self.label,
            "pin_file": str(self.pin_file),
            "suites": ["es256", "ed25519"],
            "sessions": 4,
        }
        settings.update(overrides)
        return Pkcs11Config(**settings)  # type: ignore[arg-type]


def make_softhsm(folder: Path) -> SoftHsm:
    """Tokens in a new SoftHSM2 directory under ``folder``; sets ``SOFTHSM2_CONF``.

    Raises AssertionError (the tests fail, never skip) when SoftHSM2 is not installed.
    """
    assert Path(MODULE).is_file(), (
        f"SoftHSM2 is not installed ({MODULE} missing): make test installs Debian's "
        "softhsm2"
    )
    tokens = folder / "tokens"
    tokens.mkdir(parents=True)
    conf = folder / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\n"
        "log.level = ERROR\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    pin = secrets.token_hex(8)
    for label in (LABEL, OTHER_LABEL):
        subprocess.run(
            [
                "softhsm2-util",
                *("--init-token", "--free", "--label", label),
                *("--pin", pin, "--so-pin", secrets.token_hex(8)),
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        )
    pin_file = folder / "pin"
    pin_file.write_text(pin + "\n")
    pin_file.chmod(0o600)
    wrong = folder / "wrong-pin"
    wrong.write_text("not-the-pin\n")
    return SoftHsm(folder, MODULE, LABEL, pin_file, wrong)
