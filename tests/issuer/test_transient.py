"""Transient failures are UNAVAILABLE or ABORTED, never INTERNAL (issue 21).

The issuer's PostgreSQL sessions are terminated (``pg_terminate_backend`` from a
separate connection) while requests with idempotency keys run: every failed request
says UNAVAILABLE or ABORTED and that a retry with the same key is safe, and retrying
each with its key completes it exactly once.
"""

from __future__ import annotations

import secrets

import aiokafka.errors
import asyncpg
import grpc
import pytest

from certseal.errors import ErrorKind
from certseal.retries import transient_error
from certseal.v1 import issuer_pb2 as pb
from tests.conftest import issue_request
from tests.transient import Call, complete_through_terminated_sessions


def _downstream(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    """What a call to another service raises."""
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "x")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (asyncpg.exceptions.SerializationError("could not serialize"), "ABORTED"),
        (asyncpg.exceptions.DeadlockDetectedError("deadlock detected"), "ABORTED"),
        (
            asyncpg.exceptions.AdminShutdownError("terminating connection"),
            "UNAVAILABLE",
        ),
        (asyncpg.exceptions.CannotConnectNowError("starting up"), "UNAVAILABLE"),
        (asyncpg.exceptions.TooManyConnectionsError("too many"), "UNAVAILABLE"),
        (asyncpg.exceptions.ConnectionDoesNotExistError("closed"), "UNAVAILABLE"),
        (asyncpg.InterfaceError("connection is closed"), "UNAVAILABLE"),
        (ConnectionRefusedError(111, "Connection refused"), "UNAVAILABLE"),
        (ConnectionResetError(104, "Connection reset by peer"), "UNAVAILABLE"),
        (OSError(113, "No route to host"), "UNAVAILABLE"),
        (
            asyncpg.InterfaceError(
                "cannot perform operation: another operation is in progress"
            ),
            "UNAVAILABLE",
        ),
        (TimeoutError(), "UNAVAILABLE"),
        (aiokafka.errors.KafkaConnectionError("broker down"), "UNAVAILABLE"),
        (aiokafka.errors.KafkaTimeoutError(), "UNAVAILABLE"),
        (_downstream(grpc.StatusCode.UNAVAILABLE), "UNAVAILABLE"),
        (_downstream(grpc.StatusCode.DEADLINE_EXCEEDED), "UNAVAILABLE"),
    ],
)
def test_transient_failures_are_retryable_kinds(exc, kind):
    error = transient_error(exc)
    assert error is not None
    assert error.kind is ErrorKind(kind)
    assert "safe to retry with the same idempotency key" in error.message


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        asyncpg.exceptions.UndefinedColumnError("no such column"),
        # asyncpg's client-side check of a query argument (a ValueError): a bug
        asyncpg.exceptions.DataError(
            "invalid input for query argument $1: 'x' (an integer is required)"
        ),
        asyncpg.exceptions.ClientConfigurationError("bad dsn"),
        asyncpg.exceptions.UnsupportedClientFeatureError("no"),
        asyncpg.InterfaceError("cannot use Connection.transaction() here"),
        FileNotFoundError(2, "No such file or directory"),
        PermissionError(13, "Permission denied"),
        OSError(22, "Invalid argument"),
        KeyError("bug"),
        AssertionError(),
        _downstream(grpc.StatusCode.INVALID_ARGUMENT),
        aiokafka.errors.UnsupportedVersionError(),
    ],
)
def test_bugs_stay_internal(exc):
    assert transient_error(exc) is None


async def test_terminated_sessions_fail_retryably_and_a_retry_completes_once(
    issuer, dept
):
    stub = dept.clients.issuer
    renewable = [
        (await stub.IssueLicence(issue_request(dept))).licence.lineage
        for _ in range(10)
    ]
    calls: list[Call] = []
    for i in range(40):
        calls.append(
            (
                f"t-issue-{i}-{secrets.token_hex(4)}",
                stub.IssueLicence,
                issue_request(dept),
            )
        )
    for lineage in renewable:
        calls.append(
            (
                f"t-renew-{secrets.token_hex(4)}",
                stub.RenewLicence,
                pb.RenewLicenceRequest(identifier=lineage),
            )
        )
    before = await issuer.pool.fetchval(
        "select count(*) from licences where issuer_code = $1", dept.code
    )

    await complete_through_terminated_sessions(
        issuer.config.database.dsn(), calls, batch=10
    )

    after = await issuer.pool.fetchval(
        "select count(*) from licences where issuer_code = $1", dept.code
    )
    assert after - before == len(calls)  # 40 issued + 10 renewed, each once
    for lineage in renewable:
        assert (
            await issuer.pool.fetchval(
                "select count(*) from licences where lineage = $1", lineage
            )
            == 2
        )
