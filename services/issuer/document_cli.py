"""``certseal licence --as CODE document ID --out FILE``: a licence's file (GB/T
36905, sealed by its department) as the department gets it from
``LicenceHolder.GetLicenceDocument``. Split from :mod:`services.issuer.licence_cli`
by size."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from typing import Any

from certseal.cli_options import OutputFile, write_output
from certseal.errors import CertsealError, ErrorKind, invalid
from certseal.filekinds import OFD, PDF, named_kind
from certseal.statuses import status_label
from certseal.text import shown_name

#: ``LicenceStatus`` of a valid licence (GB/T 36904 ``01``)
_VALID = 1


def add_document_options(command: argparse.ArgumentParser) -> None:
    """``--out FILE`` (checked before the call: :class:`OutputFile`), ``--format``."""
    command.add_argument(
        "--out",
        action=OutputFile,
        kinds=("a PDF", "an OFD package (ZIP)"),
        required=True,
        help="the file to write",
    )
    command.add_argument(
        "--format",
        choices=("pdf", "ofd"),
        help="pdf or ofd; default: as --out's extension names it (.pdf, .ofd), else pdf",
    )


def document_format(args: argparse.Namespace) -> str:
    """The format asked: ``--format``, else the one ``--out``'s extension names
    (``l3.ofd``: ofd), else pdf. A ``--format`` other than ``--out``'s extension
    names is INVALID_ARGUMENT (``out``): a reader would open the file as the kind
    its name says (trial 2a: ``--out l3.ofd`` got a PDF)."""
    named = {PDF: "pdf", OFD: "ofd"}.get(named_kind(args.out) or "")
    if args.format and named and args.format != named:
        raise invalid(
            "out",
            f"{shown_name(args.out)} names {'a PDF' if named == 'pdf' else 'an OFD'} but "
            f"--format is {args.format}",
        )
    return str(args.format or named or "pdf")


def licence_document(
    args: argparse.Namespace, call: Callable[..., Any], holder: Any = None
) -> int:
    """``licence document ID --out FILE [--format pdf|ofd]`` (and ``holder file``):
    the licence file (LicenceHolder.GetLicenceDocument, as the issuing department,
    or as a holder app naming ``holder``), written whole; ``call`` is the commands'
    call as the department or app (``holder=True``: the LicenceHolder service).
    Errors: as ``call``'s, and INVALID_ARGUMENT (``out``) when the file cannot be
    written."""
    from certseal.v1 import issuer_pb2 as pb

    formats = {"pdf": pb.DOCUMENT_FORMAT_PDF, "ofd": pb.DOCUMENT_FORMAT_OFD}
    chosen = document_format(args)
    asked = pb.GetLicenceDocumentRequest(
        identifier=args.identifier, format=formats[chosen], holder=holder
    )
    try:
        reply = call(args, lambda s: s.GetLicenceDocument(asked), holder=True)
    except CertsealError as exc:  # the same remedy for the department and the app
        raise _with_the_remedy(exc, getattr(args, "as_department", None)) from None
    write_output(args.out, reply.document, "out")
    print(
        f"{chosen.upper()} written to {shown_name(args.out)} ({len(reply.document)} bytes, "
        f"SHA-256 {reply.document_digest}), sealed with seal {reply.seal_id}"
    )
    if reply.current_identifier:  # as `licence code` warns (trial45)
        print(
            f"warning: {args.identifier} was superseded; its current version is "
            f"{reply.current_identifier}, and this file verifies as superseded",
            file=sys.stderr,
        )
    elif reply.status and reply.status != _VALID:  # as `licence code` warns (trial2b)
        print(
            f"warning: {args.identifier} is {status_label(reply.status)}: the file "
            "is sealed, and verifying it says the licence is not valid",
            file=sys.stderr,
        )
    return 0


#: the department the seal service names as lacking a seal, at its message's start
_OWNER = re.compile(r"(?:sealing through the seal service: )?([0-9A-Z]{18}) has no ")


def _with_the_remedy(exc: CertsealError, department: str | None) -> CertsealError:
    """``exc``, and when it says the department has no seal the issuer may seal its
    licence files with, how it gets one (docs/holder.md, "Sealing"): the command,
    with the department the seal service named (else ``department``, the one acted
    as), whoever met it, the department itself or a holder's app (trial 6)."""
    if (
        exc.field != "seal"
        or exc.kind is not ErrorKind.FAILED_PRECONDITION
        or "service:issuer may use" not in exc.message
    ):
        return exc
    named = _OWNER.match(exc.message)
    department = named[1] if named else department or "CODE"
    role = (  # the seal service's words when the department could not register one
        "first an operator adds seal_owner to its roles ('certseal department list' "
        f"shows them): certseal department roles {department} --roles "
        "ROLES,seal_owner; then "
        if "lacks the seal_owner role" in exc.message
        else ""
    )
    return CertsealError(
        exc.kind,
        f"{exc.message}; the issuer seals a department's licence files with its "
        f"official seal listing service:issuer among its signers: {role}register "
        f"one with certseal seal --as {department} register --type official --name NAME "
        f"--suite es256 --signer dept:{department} --signer service:issuer "
        '(docs/holder.md, "Sealing")',
        field=exc.field,
    )
