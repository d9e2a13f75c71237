"""The ``certseal`` command: the kernel's commands and every service's, composed.

This is one of the two composition roots (with :mod:`services.config`): each service's
``cli.py`` contributes its commands through ``register(subparsers)``; the kernel's
:mod:`certseal.cli` gives the shared plumbing and error reporting
(``error: <field>: <problem>``, exit 2 for bad input).
"""

# ruff: noqa: E402 - the interrupt hook is set before the imports it covers
from __future__ import annotations

# first: a Ctrl-C while the modules below load exits 130, no traceback
from certseal.interrupt import (
    interrupt_exits_quietly,
    interrupted,
    loading_ended,
    runs_as,
)

# (only when this process is the command: python -m services[.cli], the script)
interrupt_exits_quietly(runs_as("services.cli", script="certseal"))

import os
import sys

from certseal.cli import build_parser as _build_parser
from certseal.cli import run_command
from services import config, config_check, run
from services.console import cli as console_cli
from services.feed import cli as feed_cli
from services.issuer import cli as issuer_cli
from services.seal import cli as seal_cli
from services.tlog import cli as tlog_cli
from services.verifier import cli as verifier_cli

loading_ended()  # SIGINT is Python's own again; the command's handling follows

DESCRIPTION = "certseal: electronic licences and seals (operator and developer CLI)"
#: the commands whose calls make changes that honour idempotency keys
#: (certseal.idempotency.KEYED_METHODS): each takes ``--idempotency-key``, and says
#: it when stopped before a change's answer (certseal.cli_keys)
CHANGING = tuple(
    f"{group} {verb}"
    for group, verbs in (
        ("department", "add roles"),
        ("type", "add issuers"),
        ("key", "create rotate retire revoke"),
        ("holder-app", "grant revoke"),
        ("licence", "issue amend renew transfer suspend unsuspend revoke cancel"),
        ("holder", "authorise"),
        ("feed", "entitle revoke webhook remove-webhook replay"),
        ("seal", "register revoke document pdf ofd"),
    )
    for verb in verbs.split()
)


def build_parser():  # type: ignore[no-untyped-def]
    """The ``certseal`` argument parser."""
    return _build_parser(
        DESCRIPTION,
        config.load,
        [
            run.register,
            config_check.register,
            issuer_cli.register,
            verifier_cli.register,
            feed_cli.register,
            seal_cli.register,
            console_cli.register,
            tlog_cli.register,
        ],
        CHANGING,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; errors print as 'error: field: message' with a non-zero exit.
    Ctrl-C at any point is exit status 130, with no traceback."""
    try:
        return run_command(build_parser(), argv)
    except KeyboardInterrupt:
        return interrupted()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
