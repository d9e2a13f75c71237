"""``certseal licence --as CODE document ID --out FILE``: a licence's file (GB/T
36905, sealed by its department) as the department gets it from
``LicenceHolder.GetLicenceDocument``. Split from :mod:`services.issuer.licence_cli`
by size."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from certseal.cli_options import OutputFile, write_output


def add_document_options(command: argparse.ArgumentParser) -> None:
    """``--out FILE`` (checked before the call: :class:`OutputFile`), ``--format``."""
    command.add_argument(
        "--out", action=OutputFile, required=True, help="the file to write"
    )
    command.add_argument(
        "--format", choices=("pdf", "ofd"), default="pdf", help="default pdf"
    )


def licence_document(args: argparse.Namespace, call: Callable[..., Any]) -> int:
    """``licence document ID --out FILE [--format pdf|ofd]``: the licence file
    (LicenceHolder.GetLicenceDocument, as the issuing department), written whole;
    ``call`` is the licence commands' call as the department (``holder=True``: the
    LicenceHolder service). Errors: as ``call``'s, and INVALID_ARGUMENT (``out``)
    when the file cannot be written."""
    from certseal.v1 import issuer_pb2 as pb

    formats = {"pdf": pb.DOCUMENT_FORMAT_PDF, "ofd": pb.DOCUMENT_FORMAT_OFD}
    asked = pb.GetLicenceDocumentRequest(
        identifier=args.identifier, format=formats[args.format]
    )
    reply = call(args, lambda s: s.GetLicenceDocument(asked), holder=True)
    write_output(args.out, reply.document, "out")
    print(
        f"{args.format.upper()} written to {args.out} ({len(reply.document)} bytes, "
        f"SHA-256 {reply.document_digest}), sealed with seal {reply.seal_id}"
    )
    return 0
