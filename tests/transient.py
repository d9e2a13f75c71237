"""Requests with idempotency keys sent while a service's PostgreSQL sessions are
terminated (issue 21), as the issuer's, seal service's and event feed's transient
tests do: every failure is UNAVAILABLE or ABORTED saying that a retry with the same key
is safe, and retrying each request with its key completes it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import grpc

KEY = "idempotency-key"
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED}

#: (idempotency key, RPC method, request)
Call = tuple[str, Callable[..., Awaitable[Any]], Any]


async def terminate_sessions(dsn: str, stop: asyncio.Event) -> int:
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


async def complete_through_terminated_sessions(
    dsn: str, calls: Sequence[Call], *, batch: int
) -> None:
    """Send ``calls``, ``batch`` at a time, while :func:`terminate_sessions` runs on
    ``dsn``'s database; check that some failed and each failure is retryable and says
    so; then retry every call with its key until it completes, a call answered the
    first time with the same answer. The caller counts what was done exactly once."""
    failed: dict[str, grpc.aio.AioRpcError] = {}
    answered: dict[str, object] = {}

    async def send(key, method, request):
        try:
            answered[key] = await method(request, metadata=((KEY, key),))
        except grpc.aio.AioRpcError as exc:
            failed[key] = exc

    stop = asyncio.Event()
    killer = asyncio.create_task(terminate_sessions(dsn, stop))
    try:
        for start in range(0, len(calls), batch):
            await asyncio.gather(*(send(*c) for c in calls[start : start + batch]))
    finally:
        stop.set()
        killed = await killer
    assert killed > 0
    assert failed, "no request failed while sessions were terminated"
    for key, exc in failed.items():
        assert exc.code() in RETRYABLE, (key, exc.code(), exc.details())
        assert "safe to retry with the same idempotency key" in (exc.details() or "")

    for key, method, request in calls:
        for _ in range(20):
            try:
                reply = await method(request, metadata=((KEY, key),))
                break
            except grpc.aio.AioRpcError as exc:
                assert exc.code() in RETRYABLE, exc.details()
                await asyncio.sleep(0.05)  # the pool reconnecting
        else:
            raise AssertionError(f"{key} never completed")
        if key in answered:
            assert reply == answered[key]
