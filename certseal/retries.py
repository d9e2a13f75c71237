"""What is safe to retry, and how clients retry (issue 21).

Server side: :func:`transient_error` decides which failures are transient, which the
interceptor (``certseal.rpc``) answers UNAVAILABLE or ABORTED with a message saying a
retry with the same idempotency key is safe; anything else unexpected stays INTERNAL.
Client side: :data:`RETRY_SERVICE_CONFIG`, the gRPC service config with the retry
policy the CLI's channels apply (docs/operations.md, "Retries and idempotency keys");
the keys a command's changes carry are :mod:`certseal.cli_keys`.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import grpc

from certseal.errors import CertsealError, ErrorKind
from certseal.idempotency import RETRY_SAFE
from certseal.storage.transient import transient_kind

#: The gRPC service config clients use (docs/operations.md, "Retries and idempotency
#: keys"): every method is retried on UNAVAILABLE and ABORTED, up to 5 attempts, with
#: exponential backoff (0.2 s, 0.4 s, 0.8 s, 1.6 s with gRPC's jitter, at most 5 s).
#: Safe for a mutation only when it carries an idempotency key.
RETRY_SERVICE_CONFIG: dict[str, Any] = {
    "methodConfig": [
        {
            "name": [{}],  # every service and method
            "retryPolicy": {
                "maxAttempts": 5,
                "initialBackoff": "0.2s",
                "maxBackoff": "5s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE", "ABORTED"],
            },
        }
    ]
}


def retrying_options(own: Collection[str] = ()) -> dict[str, Any]:
    """Channel options that apply :data:`RETRY_SERVICE_CONFIG`, but to the methods
    ``own`` names (``/certseal.v1.Issuer/RevokeLicence``): the channel's interceptor
    retries those itself by the same policy (:class:`certseal.cli_keys.CommandKeys`:
    gRPC reports a call's last attempt only, not whether an earlier one reached the
    service). No deadline goes here: gRPC counted a service config's ``timeout``
    from about a second before the call, so a call of 1 s failed at once, and gave it
    to a followed stream too (``events tail``; atk48c): a command's calls get
    theirs from :class:`certseal.calls.CallDeadline`."""
    config = RETRY_SERVICE_CONFIG
    if own:
        names = [
            {"service": service, "method": method}
            for service, method in (name.split("/")[1:] for name in sorted(own))
        ]
        config = {"methodConfig": [{"name": names}, *config["methodConfig"]]}
    return {
        "grpc.enable_retries": 1,
        "grpc.service_config": json.dumps(config),
    }


def transient_error(exc: BaseException) -> CertsealError | None:
    """UNAVAILABLE (ABORTED for a serialisation conflict) for a failure that a retry
    with the same idempotency key may cure, else None.

    Transient: a PostgreSQL session lost or refused, PostgreSQL shutting down or out
    of connections, a serialisation failure or deadlock (ABORTED)
    (:func:`certseal.storage.transient.transient_kind`); a broker error that Kafka's
    client calls retriable; a downstream gRPC service answering UNAVAILABLE,
    DEADLINE_EXCEEDED or RESOURCE_EXHAUSTED.
    """
    kind = transient_kind(exc)
    what = "the database"
    if (
        kind is None
        and isinstance(exc, grpc.aio.AioRpcError)
        and exc.code()
        in {
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        }
    ):
        kind, what = ErrorKind.UNAVAILABLE, "a downstream service"
    broker = type(exc).__module__.startswith("aiokafka")
    if (
        kind is None
        and broker
        and (
            getattr(exc, "retriable", False)
            or any(w in type(exc).__name__ for w in ("Connection", "Timeout"))
        )
    ):
        kind, what = ErrorKind.UNAVAILABLE, "the broker"
    if kind is None:
        return None
    if kind is ErrorKind.ABORTED:
        message = f"the database aborted the transaction (a conflict); {RETRY_SAFE}"
    else:
        message = f"{what} is unavailable for a moment; {RETRY_SAFE}"
    return CertsealError(kind, message)
