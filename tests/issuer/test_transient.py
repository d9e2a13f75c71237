"""Transient failures are UNAVAILABLE or ABORTED, never INTERNAL (issue 21).

The issuer's PostgreSQL sessions are terminated (``pg_terminate_backend`` from a
separate connection) while requests with idempotency keys run: every failed request
says UNAVAILABLE or ABORTED and that a retry with the same key is safe, and retrying
each with its key completes it exactly once.
"""

from __future__ import annotations

import asyncio
import secrets

import aiokafka.errors
import asyncpg
import grpc
import pytest

from certseal.errors import ErrorKind
from certseal.retries import transient_error
from certseal.v1 import issuer_pb2 as pb
from tests.conftest import issue_request

KEY = "idempotency-key"


def _downstream(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    """What a call to another service raises."""
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "x")


RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED}


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


async def _terminate_sessions(dsn: str, stop: asyncio.Event) -> int:
    """Terminate every other client session of the database until ``stop``."""
    killed = 0
    killer = await asyncpg.connect(dsn)
    try:
        while not stop.is_set():
            killed += await killer.fetchval(
                """select count(pg_terminate_backend(pid)) from pg_stat_activity
                   where datname = current_database() and pid <> pg_backend_pid()
                     and backend_type = 'client backend'"""
            )
            await asyncio.sleep(0.01)  # a session killed every 10 ms: the fault's rate
    finally:
        await killer.close()
    return killed


async def test_terminated_sessions_fail_retryably_and_a_retry_completes_once(
    issuer, dept
):
    stub = dept.clients.issuer
    renewable = [
        (await stub.IssueLicence(issue_request(dept))).licence.lineage
        for _ in range(10)
    ]
    calls: list[tuple[str, object, object]] = []  # (key, method, request)
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

    failed: dict[str, grpc.aio.AioRpcError] = {}
    answered: dict[str, object] = {}

    async def send(key, method, request):
        try:
            answered[key] = await method(request, metadata=((KEY, key),))
        except grpc.aio.AioRpcError as exc:
            failed[key] = exc

    stop = asyncio.Event()
    killer = asyncio.create_task(
        _terminate_sessions(issuer.config.database.dsn(), stop)
    )
    try:
        for start in range(0, len(calls), 10):
            await asyncio.gather(*(send(*c) for c in calls[start : start + 10]))
    finally:
        stop.set()
        killed = await killer
    assert killed > 0
    assert failed, "no request failed while sessions were terminated"
    for key, exc in failed.items():
        assert exc.code() in RETRYABLE, (key, exc.code(), exc.details())
        assert "safe to retry with the same idempotency key" in (exc.details() or "")

    # A retry with the same key completes each failed request; a retry of an
    # answered one repeats its answer.
    for key, method, request in calls:
        for _ in range(20):
            try:
                reply = await method(request, metadata=((KEY, key),))
                break
            except grpc.aio.AioRpcError as exc:  # the pool reconnecting
                assert exc.code() in RETRYABLE, exc.details()
                await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"{key} never completed")
        if key in answered:
            assert reply == answered[key]

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
