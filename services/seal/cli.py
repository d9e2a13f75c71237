"""The seal service's ``certseal`` commands: ``seal inspect``."""

from __future__ import annotations

import argparse
from pathlib import Path

from certseal.errors import invalid


def cmd_seal_inspect(args: argparse.Namespace) -> int:
    """Print an SESeal or SES_Signature (GB/T 38540, DER) field by field."""
    from services.seal.inspect import describe

    path = Path(args.file)
    if not path.is_file():
        raise invalid("file", f"{path} does not exist")
    for line in describe(path.read_bytes()):
        print(line)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``seal inspect``."""
    seal = sub.add_parser("seal", help="electronic seals").add_subparsers(
        dest="seal_command", required=True
    )
    inspect = seal.add_parser(
        "inspect", help="print an SESeal or SES_Signature (DER) field by field"
    )
    inspect.add_argument("file")
    inspect.set_defaults(func=cmd_seal_inspect)
