"""The event feed's PostgreSQL sessions terminated during SetEntitlement requests
(issue 21): every failure is UNAVAILABLE or ABORTED saying a retry with the same key is
safe, and the retries complete each request exactly once (one audited write each)."""

from __future__ import annotations

import secrets

import pytest

from certseal.rpc import secure_channel
from certseal.v1 import feed_pb2 as pb
from certseal.v1 import feed_pb2_grpc
from services.feed.app import FeedApp
from tests.transient import complete_through_terminated_sessions


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
            admin.SetEntitlement,
            pb.SetEntitlementRequest(
                entitlement=pb.Entitlement(
                    integrator=f"{prefix}-{i}",
                    departments=["*"],
                    licence_types=["*"],  # licence events pass only for a type
                    event_types=["licence.issued"],
                )
            ),
        )
        for i in range(40)
    ]
    try:
        await complete_through_terminated_sessions(
            feed_app.config.database.dsn(), calls, batch=8
        )
    finally:
        await channel.close()
    writes = await feed_app.pool.fetchval(
        "select count(*) from audit_log where action = 'feed.entitle' "
        "and subject like $1 || '-%'",
        prefix,
    )
    assert writes == len(calls)
