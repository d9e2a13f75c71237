"""Idempotency keys on the event feed's mutating RPCs (issue 21), on the real stack:
SetEntitlement, RemoveEntitlement, RegisterWebhook, RemoveWebhook and
ReplayParkedDeliveries. One key, one change (one
audited write) and the same answer twice; the same key with another request is
ALREADY_EXISTS."""

from __future__ import annotations

import secrets

import grpc
import pytest

from certseal.rpc import secure_channel
from certseal.v1 import feed_pb2 as pb
from certseal.v1 import feed_pb2_grpc
from services.feed.app import FeedApp

KEY = "idempotency-key"
RPCS = [
    "SetEntitlement",
    "RemoveEntitlement",
    "RegisterWebhook",
    "RemoveWebhook",
    "ReplayParkedDeliveries",
]


@pytest.fixture(scope="module")
async def feed_app(stack, config, issuer):
    config.feed.webhook_allowed_hosts = ["localhost"]
    app = FeedApp(config, listen="127.0.0.1:0")
    await app.start()
    yield app
    await app.stop(grace=1)


@pytest.fixture
async def admin(stack, feed_app):
    ident = stack.ca.identity("operator:admin")
    channel = secure_channel(
        f"localhost:{feed_app.port}",
        str(stack.ca.ca_file),
        str(ident.cert_file),
        str(ident.key_file),
    )
    yield feed_pb2_grpc.EventFeedAdminStub(channel)
    await channel.close()


def _webhook(name: str, integrator: str, url: str) -> pb.RegisterWebhookRequest:
    return pb.RegisterWebhookRequest(
        name=name, integrator=integrator, url=url, secret=b"s" * 32
    )


def _entitlement(integrator: str, event_types: list[str]) -> pb.SetEntitlementRequest:
    return pb.SetEntitlementRequest(
        entitlement=pb.Entitlement(
            integrator=integrator,
            departments=["*"],
            licence_types=["*"],
            event_types=event_types,
        )
    )


async def _case(rpc: str, admin, pool):
    integrator = f"integrator:idem-{secrets.token_hex(4)}"
    name = f"idem-{secrets.token_hex(4)}"

    def audits(action: str, subject: str):
        async def count() -> int:
            return await pool.fetchval(
                "select count(*) from audit_log where action = $1 and subject = $2",
                action,
                subject,
            )

        return count

    if rpc == "SetEntitlement":
        return (
            _entitlement(integrator, ["licence.issued"]),
            _entitlement(integrator, ["licence.revoked"]),
            audits("feed.entitle", integrator),
        )
    if rpc == "RemoveEntitlement":
        await admin.SetEntitlement(_entitlement(integrator, ["licence.issued"]))
        return (
            pb.RemoveEntitlementRequest(integrator=integrator),
            pb.RemoveEntitlementRequest(integrator=f"{integrator}-other"),
            audits("feed.unentitle", integrator),
        )
    if rpc == "RegisterWebhook":
        return (
            _webhook(name, integrator, "https://localhost/hook"),
            _webhook(name, integrator, "https://localhost/other"),
            audits("feed.webhook", name),
        )
    if rpc == "RemoveWebhook":  # the same key again answers the first removal
        await admin.RegisterWebhook(
            _webhook(name, integrator, "https://localhost/hook")
        )
        return (
            pb.RemoveWebhookRequest(name=name),
            pb.RemoveWebhookRequest(name=f"{name}-other"),
            audits("feed.unhook", name),
        )
    assert rpc == "ReplayParkedDeliveries"
    await admin.SetEntitlement(_entitlement(integrator, ["licence.issued"]))
    await admin.RegisterWebhook(_webhook(name, integrator, "https://localhost/hook"))
    other = f"idem-{secrets.token_hex(4)}"
    await admin.RegisterWebhook(_webhook(other, integrator, "https://localhost/hook"))

    async def nothing_changes() -> int:  # a replay records each delivered offset
        return await pool.fetchval(
            "select count(*) from feed_webhook_replays where webhook = $1", name
        )

    return (
        pb.ReplayParkedDeliveriesRequest(webhook=name),
        pb.ReplayParkedDeliveriesRequest(webhook=other),
        nothing_changes,
    )


def test_the_table_names_every_mutating_rpc_of_the_feed():
    from certseal.idempotency import is_idempotent
    from services.feed.servicer import EventFeedAdminServicer, EventFeedServicer

    marked = {
        n
        for cls in (EventFeedServicer, EventFeedAdminServicer)
        for n in dir(cls)
        if is_idempotent(getattr(cls, n))
    }
    assert marked == set(RPCS)


@pytest.mark.parametrize("rpc", RPCS)
async def test_one_key_one_change_and_the_same_answer(admin, feed_app, rpc):
    request, changed, count = await _case(rpc, admin, feed_app.pool)
    call = getattr(admin, rpc)
    key = f"{rpc}-{secrets.token_hex(8)}"
    before = await count()
    first = await call(request, metadata=((KEY, key),))
    once = await count()
    if rpc != "ReplayParkedDeliveries":  # nothing is parked: nothing to record
        assert once == before + 1
    second = await call(request, metadata=((KEY, key),))
    assert second == first
    assert await count() == once
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call(changed, metadata=((KEY, key),))
    assert err.value.code() is grpc.StatusCode.ALREADY_EXISTS
    assert key in (err.value.details() or "")
    assert await count() == once
    stored = await feed_app.pool.fetchval(
        "select count(*) from idempotent_requests where caller = $1 and key = $2",
        "operator:admin",
        key,
    )
    assert stored == 1


async def test_without_a_key_an_entitlement_is_written_again(admin, feed_app):
    """The contrast: the same SetEntitlement twice without a key is audited twice."""
    integrator = f"integrator:idem-{secrets.token_hex(4)}"
    request = _entitlement(integrator, ["licence.issued"])
    await admin.SetEntitlement(request)
    await admin.SetEntitlement(request)
    assert (
        await feed_app.pool.fetchval(
            "select count(*) from audit_log where action = 'feed.entitle' "
            "and subject = $1",
            integrator,
        )
        == 2
    )
