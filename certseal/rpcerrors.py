"""A certseal error as it travels in a gRPC answer's trailing metadata, and back
(:mod:`certseal.rpc`'s interceptor sends it; calling services and the CLI read it).

The status carries the kind and the message (:func:`certseal.errors.status_details`);
the trailers carry the kind's name, the field path and, where one kind and field
cover several refusals, the refusal's stable ``reason`` key, each percent-escaped
outside printable ASCII (a field path may name a map key holding anything).
"""

from __future__ import annotations

import urllib.parse

import grpc

from certseal.errors import CertsealError, ErrorKind, status_field

ERROR_KIND_KEY = "certseal-error-kind"
ERROR_FIELD_KEY = "certseal-error-field"
#: a refusal's stable key where one kind and field cover several (``CertsealError``'s
#: ``reason``, e.g. a redemption's ``withdrawn``; absent when it has none)
ERROR_REASON_KEY = "certseal-error-reason"
#: which attempt of a call gRPC's retries made an error answered (sent from the 2nd)
ATTEMPT_KEY = "certseal-attempt"
#: gRPC's own (gRFC A6): a negative value tells the client's retry policy not to
#: retry the call
PUSHBACK_KEY = "grpc-retry-pushback-ms"

# printable ASCII but "%": what a metadata value may hold, less the escape itself
_METADATA_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in "%")


def metadata_text(value: str) -> str:
    """``value`` as a metadata value (percent-escaped outside printable ASCII);
    :func:`error_from_rpc` unescapes."""
    return urllib.parse.quote(value, safe=_METADATA_SAFE)


def error_metadata(exc: CertsealError) -> tuple[tuple[str, str], ...]:
    """The trailing metadata that carries ``exc``'s kind, field and reason, and for
    an error not to be retried at once (``retried`` False) gRPC's pushback of -1."""
    reason = ((ERROR_REASON_KEY, metadata_text(exc.reason)),) if exc.reason else ()
    pushback = () if exc.retried else ((PUSHBACK_KEY, "-1"),)
    return (
        (ERROR_KIND_KEY, exc.kind.value),
        (ERROR_FIELD_KEY, metadata_text(status_field(exc))),
        *reason,
        *pushback,
    )


def attempt_metadata(context: grpc.aio.ServicerContext) -> tuple[tuple[str, str], ...]:
    """The trailer saying which attempt of its call ``context``'s is, from the
    second on (gRPC's retries send ``grpc-previous-rpc-attempts``)."""
    previous = dict(context.invocation_metadata() or ()).get(
        "grpc-previous-rpc-attempts"
    )
    if not isinstance(previous, str) or not previous.isdigit():
        return ()
    return ((ATTEMPT_KEY, str(int(previous) + 1)),)


def error_from_rpc(exc: grpc.aio.AioRpcError) -> CertsealError:
    """Rebuild the typed error a certseal service sent (for calling services and CLI)."""
    trailing = dict(exc.trailing_metadata() or ())
    kind_name = trailing.get(ERROR_KIND_KEY) or exc.code().name
    try:
        kind = ErrorKind(kind_name)
    except ValueError:
        kind = ErrorKind.INTERNAL
    message = exc.details() or kind_name
    field = urllib.parse.unquote(trailing.get(ERROR_FIELD_KEY) or "") or None
    if field and message.startswith(f"{field}: "):
        message = message[len(field) + 2 :]
    reason = urllib.parse.unquote(trailing.get(ERROR_REASON_KEY) or "") or None
    error = CertsealError(kind, message, field=field, reason=reason)
    attempt = trailing.get(ATTEMPT_KEY) or ""
    error.attempt = int(attempt) if attempt.isdigit() else 1
    return error


def failure_reason(exc: BaseException) -> str:
    """A failed call's reason in one line, for a log or a status page: a gRPC
    error's status and details (``UNAVAILABLE: failed to connect …``: its ``str``
    is a multi-line repr with gRPC's debug string), else the exception's text or,
    when it has none, its type's name."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return str(exc) or type(exc).__name__
