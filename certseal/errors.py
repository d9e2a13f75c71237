"""The one typed error that crosses RPC boundaries.

Domain and storage code raise :class:`CertsealError`; the gRPC error interceptor maps its
kind to a status code (see ``certseal.grpc.interceptors``) and sends the kind and field in
trailing metadata so that a calling service gets the same error back.
"""

from __future__ import annotations

import enum


class ErrorKind(enum.Enum):
    """What went wrong, in terms a caller can act on (named after gRPC status codes)."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"  # transient: safe to retry with the same key
    ABORTED = "ABORTED"  # a serialisation conflict: safe to retry with the same key
    INTERNAL = "INTERNAL"


def printable(message: str) -> str:
    """``message`` with every character that does not print escaped as ``repr``
    escapes it (``\\n``, ``\\x1b``, ``\\u202e``): a refusal a caller reads is one
    line that shows every character it holds, whatever text from outside it quotes
    (a name with a zero-width space or a right-to-left override reads as the name it
    is, atk34 O2), in a reply or a terminal. The audit log escapes its own way
    (:func:`certseal.audit.printable`), from the message as it was."""
    if message.isprintable():
        return message
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


class CertsealError(Exception):
    """A failure with a kind, a message fit for the caller and optionally the field
    (sent made :func:`printable`: :func:`status_details`) and a ``reason``: a stable
    key a program may act on where one kind and field cover several refusals (a
    redemption's ``withdrawn``, ``expired``, ...), sent beside them."""

    #: set once the refusal has its audit row, so that a caller auditing every
    #: attempt writes no second one
    audited: bool = False
    #: False: a client's retry policy is asked not to retry it at once (gRPC's
    #: ``grpc-retry-pushback-ms`` of -1, :func:`certseal.rpcerrors.error_metadata`)
    retried: bool = True
    #: which attempt of its call it answered, as a client read it back
    #: (:func:`certseal.rpcerrors.error_from_rpc`): 1 unless gRPC's retries made more
    attempt: int = 1

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        field: str | None = None,
        reason: str | None = None,
    ):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def __repr__(self) -> str:
        return f"CertsealError({self.kind.value}, {self!s})"


#: the most characters of a message sent as a gRPC status's details, and of the field
#: path sent beside it. A message may quote the caller's input (an unknown code) and a
#: field path may name a map key of any length, and both travel in trailing metadata
#: that gRPC clients refuse above 16 KiB (8 KiB soft), losing the answer. Percent-
#: encoded, a character takes up to 12 bytes: 400 + 128 characters stay under 8 KiB.
MAX_DETAILS = 400
MAX_FIELD = 128


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def status_details(exc: CertsealError) -> str:
    """``str(exc)`` made :func:`printable` (its field too: a field path may hold a
    caller's map key) and bounded to :data:`MAX_DETAILS` characters, a longer one
    cut and marked with how much was left out: what a caller reads of a refusal."""
    return _cut(printable(str(exc)), MAX_DETAILS)


def status_field(exc: CertsealError) -> str:
    """``exc.field`` ('' for none) bounded to :data:`MAX_FIELD` characters, as
    :func:`status_details` cuts."""
    return _cut(printable(exc.field or ""), MAX_FIELD)


def invalid(field: str, message: str) -> CertsealError:
    """Bad input in ``field``."""
    return CertsealError(ErrorKind.INVALID_ARGUMENT, message, field=field)


def not_found(what: str, *, field: str | None = None) -> CertsealError:
    """The named thing (given in ``field``) does not exist (or the caller may not know
    that it does)."""
    return CertsealError(ErrorKind.NOT_FOUND, f"{what} not found", field=field)


def precondition(
    message: str, *, field: str | None = None, reason: str | None = None
) -> CertsealError:
    """The request is well-formed but the current state does not allow it."""
    return CertsealError(
        ErrorKind.FAILED_PRECONDITION, message, field=field, reason=reason
    )


def denied(
    message: str, *, field: str | None = None, reason: str | None = None
) -> CertsealError:
    """The authenticated caller may not do this (``field``: what the refusal is about,
    e.g. ``as`` for the caller's identity)."""
    return CertsealError(
        ErrorKind.PERMISSION_DENIED, message, field=field, reason=reason
    )
