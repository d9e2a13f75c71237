"""``certseal licence --as CODE present ID [--ttl SECONDS]``'s ``--ttl``: one range,
stated in its help and checked before the issuer is asked, naming ``ttl``
(cli-edges 3: ``--ttl 0`` silently gave 60 s, ``-5`` said "outside 0 to
4,294,967,295", ``1`` "must be between 5 and 600"). Split from
:mod:`services.issuer.licence_cli` by size."""

from __future__ import annotations

import argparse
import re

from certseal.cli import load
from certseal.errors import invalid

#: the shortest presentation code the issuer makes, in seconds (its ``_MIN_TTL_S``,
#: services/issuer/service/codes.py; tests/kernel/test_cli_edges.py keeps them equal)
MIN_TTL_S = 5
_RANGE = (
    f"{MIN_TTL_S} to [issuer] presentation_max_ttl_s seconds (600 unless set); 0 or "
    "left out: [issuer] presentation_ttl_s (60 unless set)"
)


def _seconds(text: str) -> int:
    """An argparse ``type``: a whole number (of 12 digits at most); its range is
    checked by :func:`presentation_ttl`, in this configuration's words, whatever the
    number (trial47: ``-5`` and ``100000`` were said "outside 0 to 86,400", ``3``
    "outside 5 to ... (600 here)": two ranges for one option; nu17: a value past the
    request's uint32 was a traceback, and is refused there before any call)."""
    typed = text.strip()
    if not re.fullmatch(r"[-+]?[0-9]{1,12}", typed):
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not a whole number of seconds"
        )
    return int(typed)


def add_ttl_option(present: argparse.ArgumentParser) -> None:
    """``--ttl SECONDS`` (:func:`presentation_ttl`)."""
    present.add_argument(
        "--ttl",
        type=_seconds,
        default=0,
        metavar="SECONDS",
        help=f"how long the code is valid: {_RANGE}",
    )


def presentation_ttl(args: argparse.Namespace) -> int:
    """``--ttl`` in seconds, 0 for the issuer's default: INVALID_ARGUMENT (``ttl``)
    outside :data:`MIN_TTL_S` to the configuration's ``[issuer]
    presentation_max_ttl_s``."""
    if not args.ttl:
        return 0
    issuer = load(args).issuer
    if not MIN_TTL_S <= args.ttl <= issuer.presentation_max_ttl_s:
        raise invalid(  # the help's words (_RANGE), with this configuration's values
            "ttl",
            f"{args.ttl} is outside {MIN_TTL_S} to [issuer] presentation_max_ttl_s "
            f"seconds ({issuer.presentation_max_ttl_s:,} here); 0 or left out: "
            f"[issuer] presentation_ttl_s ({issuer.presentation_ttl_s} here)",
        )
    return int(args.ttl)
