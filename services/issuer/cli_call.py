"""The issuer commands' one way to call the Issuer: as the CLI's operator, a
department (``--as CODE``) or a holder app (``holder --as APP``)."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from certseal.calls import call_service
from certseal.cli import load


def call_issuer(
    args: argparse.Namespace,
    service: str,
    call: Callable[[Any], Awaitable[Any]],
    *,
    identity: Callable[[Any], tuple[str, str]] | None = None,
    options: Mapping[str, str] | None = None,
) -> Any:
    """``call`` on a stub of ``service`` (``Issuer``, ``IssuerAdmin`` or
    ``LicenceHolder``, the issuer process's gRPC services) at ``[cli]
    issuer_target``, as ``identity(config)`` (None: the CLI's operator); an error
    about a request field names the option ``options`` maps it to
    (:func:`certseal.calls.call_service`)."""
    from certseal.v1 import issuer_pb2_grpc

    stub = getattr(issuer_pb2_grpc, f"{service}Stub")
    cfg = load(args)
    return call_service(
        cfg,
        cfg.cli.issuer_target,
        lambda chan: call(stub(chan)),
        identity=identity(cfg) if identity is not None else None,
        service="issuer",
        options=options,
    )
