"""The event feed's PostgreSQL sessions terminated during SetEntitlement requests
(issue 21): every failure is UNAVAILABLE or ABORTED saying a retry with the same key is
safe, and the retries complete each request exactly once (one audited write each)."""

from __future__ import annotations

import asyncio
import secrets

import grpc
import pytest

from certseal.rpc import secure_channel
from certseal.v1 import feed_pb2 as pb
from certseal.v1 import feed_pb2_grpc
from services.feed.app import FeedApp
from tests.issuer.test_transient import RETRYABLE, _terminate_sessions

KEY = "idempotency-key"


@pytest.fixture(scope="module")
async def feed_app(stack, config, issuer):
    app = FeedApp(config, listen="127.0.0.1:0")
    await app.start()
    yield app
    await app.stop(grace=1)


async def test_terminated_sessions_fail_retryably_and_a_retry_completes_once(
    stack, feed_app
):
    ident = stack.ca.identity("operator:admin")
    channel = secure_channel(
        f"localhost:{feed_app.port}",
        str(stack.ca.ca_file),
        str(ident.cert_file),
        str(ident.key_file),
    )
    admin = feed_pb2_grpc.EventFeedAdminStub(channel)
    prefix = f"integrator:transient-{secrets.token_hex(3)}"
    calls = [
        (
            f"f-{i}-{secrets.token_hex(4)}",
            pb.SetEntitlementRequest(
                entitlement=pb.Entitlement(
                    integrator=f"{prefix}-{i}",
                    departments=["*"],
                    event_types=["licence.issued"],
                )
            ),
        )
        for i in range(40)
    ]
    failed: dict[str, grpc.aio.AioRpcError] = {}
    answered: dict[str, object] = {}

    async def send(key, request):
        try:
            answered[key] = await admin.SetEntitlement(request, metadata=((KEY, key),))
        except grpc.aio.AioRpcError as exc:
            failed[key] = exc

    stop = asyncio.Event()
    killer = asyncio.create_task(
        _terminate_sessions(feed_app.config.database.dsn(), stop)
    )
    try:
        for start in range(0, len(calls), 8):
            await asyncio.gather(*(send(*c) for c in calls[start : start + 8]))
    finally:
        stop.set()
        assert await killer > 0
    try:
        assert failed, "no request failed while sessions were terminated"
        for key, exc in failed.items():
            assert exc.code() in RETRYABLE, (key, exc.code(), exc.details())
            assert "safe to retry with the same idempotency key" in (
                exc.details() or ""
            )
        for key, request in calls:
            for _ in range(20):
                try:
                    reply = await admin.SetEntitlement(request, metadata=((KEY, key),))
                    break
                except grpc.aio.AioRpcError as exc:
                    assert exc.code() in RETRYABLE, exc.details()
                    await asyncio.sleep(0.05)  # the pool reconnecting
            else:
                raise AssertionError(f"{key} never completed")
            if key in answered:
                assert reply == answered[key]
    finally:
        await channel.close()
    writes = await feed_app.pool.fetchval(
        "select count(*) from audit_log where action = 'feed.entitle' "
        "and subject like $1 || '-%'",
        prefix,
    )
    assert writes == len(calls)
