"""``certseal licence --as CODE code ID [--png FILE]``: the licence's code, and on
stderr a warning when it will not verify as valid. Split from
:mod:`services.issuer.licence_cli` by size.

A superseded version's code warned (naming the current version); a revoked or
suspended licence's code was printed with exit 0 and no word (a new user's trial 7),
so a clerk handed out a code every verifier answers REVOKED. Every status but valid
now warns the same way (the code is still printed: it is the licence's, and the
department may want it for its record)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from certseal.cli_options import write_output
from certseal.errors import CertsealError
from certseal.statuses import status_label
from certseal.text import shown_name

#: ``Licence.status`` of a valid licence (GB/T 36904 ``01``)
_VALID = 1


def licence_code(args: argparse.Namespace, call: Callable[..., Any]) -> int:
    """GetLicenceCode of ``args.identifier`` (``call``: the department's call), its
    text printed and its PNG written with ``--png``; then a warning on stderr when
    the version is superseded or its licence not valid (GetLicence tells which).
    Exit 0: the code is what was asked for."""
    from certseal.v1 import issuer_pb2 as pb

    code = call(
        args,
        lambda s: s.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=args.identifier)
        ),
    )
    print(code.text)
    if args.png:
        write_output(args.png, code.png, "png")
        print(f"QR code written to {shown_name(args.png)}", file=sys.stderr)
    if code.current_identifier:  # as `licence get` shows "superseded by"
        warning = (
            f"{args.identifier} was superseded; its current version is "
            f"{code.current_identifier}, and this code verifies as superseded"
        )
    else:
        asked = pb.GetLicenceRequest(identifier=args.identifier)
        try:
            status = call(args, lambda s: s.GetLicence(asked)).licence.status
        except CertsealError as exc:  # the code is printed: say what is unknown
            status, unknown = 0, str(exc)
        if status == _VALID:
            return 0
        warning = (
            f"{args.identifier} is {status_label(status)}, and this code does not "
            "verify as valid"
            if status
            else f"the status of {args.identifier} could not be read ({unknown})"
        )
    print(f"warning: {warning}", file=sys.stderr)
    return 0
