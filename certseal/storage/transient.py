"""Which PostgreSQL failures are transient: the request may succeed when retried.

The common interceptor (``certseal.rpc``) answers them UNAVAILABLE, or ABORTED for a
serialisation failure or a deadlock, instead of INTERNAL, which stays for bugs.
SQLSTATE classes from PostgreSQL's "Appendix A. Error Codes".
"""

from __future__ import annotations

import errno

import asyncpg

from certseal.errors import ErrorKind

# 08: connection exception; 57P01-57P05: admin/crash shutdown, cannot connect now,
# database dropped, idle session timeout; 53: insufficient resources (too many
# connections, out of memory or disk); 55P03: lock not available; 57014: query
# cancelled (statement timeout)
_UNAVAILABLE_CLASSES = ("08", "53")
_UNAVAILABLE_STATES = {"57P01", "57P02", "57P03", "57P05", "55P03", "57014"}
# 40001: serialization failure; 40P01: deadlock detected
_ABORTED_STATES = {"40001", "40P01"}
# the socket errors of a lost or unreachable server (POSIX errno names); any other
# OSError (a missing file, a permission, a bad argument) is a bug or a misconfiguration
_TRANSIENT_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.EPIPE,
    errno.ETIMEDOUT,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ENETDOWN,
    errno.EHOSTDOWN,
    errno.EAGAIN,
}
# what asyncpg's InterfaceError says when the session went away under a request; its
# other InterfaceErrors (DataError "invalid input for query argument",
# ClientConfigurationError, unsupported features) are the caller's bugs
_LOST_SESSION_MESSAGES = (
    "connection is closed",
    "connection was closed",
    "another operation is in progress",
    "released back to the pool",
    "pool is closing",
)


def transient_kind(exc: BaseException) -> ErrorKind | None:
    """UNAVAILABLE or ABORTED for a transient database failure, else None.

    Transient: the SQLSTATEs above, a session lost under a request, a socket refused,
    reset or unreachable, a timeout. Not: asyncpg's client-side DataError (a query
    argument of the wrong type) and other InterfaceErrors that are bugs, or an OSError
    of a file or a permission."""
    if isinstance(exc, asyncpg.PostgresError):
        state = exc.sqlstate or ""
        if state in _ABORTED_STATES:
            return ErrorKind.ABORTED
        if state in _UNAVAILABLE_STATES or state[:2] in _UNAVAILABLE_CLASSES:
            return ErrorKind.UNAVAILABLE
        return None
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        # asyncpg's protocol state after the server ended the session under it ("cannot
        # switch to state N; another operation is in progress"): seen on connections
        # whose backend was terminated, including ones no request shares
        return ErrorKind.UNAVAILABLE if "another operation" in str(exc) else None
    if isinstance(exc, asyncpg.exceptions.ConnectionDoesNotExistError):
        return (
            ErrorKind.UNAVAILABLE
        )  # "connection was closed in the middle of operation"
    if isinstance(exc, asyncpg.InterfaceError):
        # DataError and ClientConfigurationError are also ValueErrors: never transient
        if isinstance(exc, ValueError):
            return None
        message = str(exc)
        lost = any(m in message for m in _LOST_SESSION_MESSAGES)
        return ErrorKind.UNAVAILABLE if lost else None
    if isinstance(exc, (ConnectionError, TimeoutError)):  # refused, reset; timed out
        return ErrorKind.UNAVAILABLE
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return ErrorKind.UNAVAILABLE
    return None
