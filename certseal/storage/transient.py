"""Which PostgreSQL failures are transient: the request may succeed when retried.

The common interceptor (``certseal.rpc``) answers them UNAVAILABLE, or ABORTED for a
serialisation failure or a deadlock, instead of INTERNAL, which stays for bugs.
SQLSTATE classes from PostgreSQL's "Appendix A. Error Codes".
"""

from __future__ import annotations

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


def transient_kind(exc: BaseException) -> ErrorKind | None:
    """UNAVAILABLE or ABORTED for a transient database failure, else None."""
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
    if isinstance(
        exc,
        (
            asyncpg.InterfaceError,  # "connection is closed", released mid-query
            asyncpg.exceptions.ConnectionDoesNotExistError,
            ConnectionError,  # refused, reset
            OSError,
            TimeoutError,  # pool acquire or connect timed out
        ),
    ):
        return ErrorKind.UNAVAILABLE
    return None
