"""The seal service's PostgreSQL sessions terminated during SealDocument and
RegisterSeal requests (issue 21): every failure is UNAVAILABLE or ABORTED saying a
retry with the same key is safe, and the retries complete each request exactly once
(one ``seal.used`` event per signing, one seal row per registration)."""

from __future__ import annotations

import asyncio
import secrets

import grpc

from certseal.v1 import seal_pb2 as pb
from tests.conftest import seal_owner
from tests.issuer.test_transient import RETRYABLE, _terminate_sessions

KEY = "idempotency-key"


async def test_terminated_sessions_fail_retryably_and_a_retry_completes_once(
    seal_stub, seal_app, operator
):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal = (
        await stub.RegisterSeal(pb.RegisterSealRequest(name="示例公司", suite="es256"))
    ).seal
    calls = [
        (
            f"s-doc-{i}-{secrets.token_hex(4)}",
            stub.SealDocument,
            pb.SealDocumentRequest(seal_id=seal.seal_id, document=b"doc %d" % i),
        )
        for i in range(30)
    ] + [
        (
            f"s-reg-{i}-{secrets.token_hex(4)}",
            stub.RegisterSeal,
            pb.RegisterSealRequest(name=f"示例公司{i}部", suite="ed25519"),
        )
        for i in range(10)
    ]
    failed: dict[str, grpc.aio.AioRpcError] = {}
    answered: dict[str, object] = {}

    async def send(key, method, request):
        try:
            answered[key] = await method(request, metadata=((KEY, key),))
        except grpc.aio.AioRpcError as exc:
            failed[key] = exc

    stop = asyncio.Event()
    killer = asyncio.create_task(
        _terminate_sessions(seal_app.config.database.dsn(), stop)
    )
    try:
        for start in range(0, len(calls), 8):
            await asyncio.gather(*(send(*c) for c in calls[start : start + 8]))
    finally:
        stop.set()
        assert await killer > 0
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

    sealed = await seal_app.pool.fetchval(
        "select count(*) from outbox where key = $1", seal.seal_id.encode()
    )
    assert sealed == 1 + 30  # registered, then each document sealed once
    seals = await seal_app.pool.fetchval(
        "select count(*) from seals where owner_code = $1", owner
    )
    assert seals == 1 + 10
