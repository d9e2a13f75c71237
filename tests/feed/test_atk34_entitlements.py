"""atk34 (d): an outside attack on RemoveEntitlement withdrawing once (0d32038:
FeedStore.set_entitlement decides a withdrawal in one conditional statement).

Held: ten removes of one entitlement at once withdraw it once (one OK, nine
NOT_FOUND, one ``feed.unentitle`` row); a remove racing a grant leaves the state
the last audit row says; a remove of a name never entitled is NOT_FOUND and writes
nothing.

Found, F1: a RemoveEntitlement (or SetEntitlement) by a caller of another kind (an
integrator withdrawing a competitor's feed, a department) is PERMISSION_DENIED and
leaves no row in the audit log. The issuer and the seal service record such a
refusal (docs/operations.md, "Refusals in the audit log": the log "records what was
refused as well as what was done"; every IssuerAdmin change by a non-operator is a
``denied`` row): the feed's admin changes, which decide who receives every
department's events, are the one admin surface whose refused attempts leave no
trace. An auditor needs the attempt said once: outcome ``denied``, the caller as
actor, ``feed.unentitle`` on the integrator it aimed at.
"""

import asyncio
import json
import secrets

import pytest

from certseal.v1 import feed_pb2 as pb
from certseal.v1 import feed_pb2_grpc
from tests.e2e.test_atk_authz_verifier import outcome as _code
from tests.feed.test_service import channel_as, entitle, feed_app, withdraw

__all__ = ["channel_as", "feed_app"]  # fixtures used here


async def _rows(feed_app, subject: str) -> list[tuple[str, str, str, dict]]:
    rows = await feed_app.pool.fetch(
        "select actor, action, outcome, details from audit_log where subject = $1 "
        "order by id",
        subject,
    )
    return [
        (
            r["actor"],
            r["action"],
            r["outcome"],
            json.loads(r["details"]) if isinstance(r["details"], str) else r["details"],
        )
        for r in rows
    ]


async def test_removes_at_once_withdraw_once_and_say_so_once(channel_as, feed_app):
    integrator = f"integrator:atk34-{secrets.token_hex(3)}"
    await entitle(channel_as, integrator, ["*"], ["licence.*"])
    codes = await asyncio.gather(
        *(_code(withdraw(channel_as, integrator)) for _ in range(10))
    )
    assert sorted(codes) == ["NOT_FOUND"] * 9 + ["OK"]
    actions = [action for _, action, _, _ in await _rows(feed_app, integrator)]
    assert actions == ["feed.entitle", "feed.unentitle"]


async def test_a_remove_racing_a_grant_leaves_what_the_last_row_says(
    channel_as, feed_app
):
    integrator = f"integrator:atk34-r-{secrets.token_hex(3)}"
    await entitle(channel_as, integrator, ["*"], ["licence.*"])
    await asyncio.gather(
        _code(withdraw(channel_as, integrator)),
        _code(entitle(channel_as, integrator, ["*"], ["licence.issued"])),
    )
    rows = await _rows(feed_app, integrator)
    async with channel_as("operator:admin") as channel:
        kept = await feed_pb2_grpc.EventFeedAdminStub(channel).GetEntitlement(
            pb.GetEntitlementRequest(integrator=integrator)
        )
    assert list(kept.entitlement.event_types) == rows[-1][3]["event_types"]


async def test_a_remove_of_a_name_never_entitled_writes_nothing(channel_as, feed_app):
    integrator = f"integrator:atk34-n-{secrets.token_hex(3)}"
    assert await _code(withdraw(channel_as, integrator)) == "NOT_FOUND"
    assert await _rows(feed_app, integrator) == []


@pytest.mark.parametrize(
    "caller",
    ["integrator:atk34-rival", "dept:91350100M000100Y43"],
    ids=["integrator", "department"],
)
async def test_a_remove_by_another_kind_is_refused_and_audited_once(
    channel_as, feed_app, caller
):
    victim = f"integrator:atk34-v-{secrets.token_hex(3)}"
    await entitle(channel_as, victim, ["*"], ["licence.*"])
    async with channel_as(caller) as channel:
        call = feed_pb2_grpc.EventFeedAdminStub(channel).RemoveEntitlement(
            pb.RemoveEntitlementRequest(integrator=victim)
        )
        assert await _code(call) == "PERMISSION_DENIED"
    rows = await _rows(feed_app, victim)
    assert [r[:3] for r in rows] == [
        ("operator:admin", "feed.entitle", "ok"),
        (caller, "feed.unentitle", "denied"),
    ]


@pytest.mark.parametrize(
    "rpc,request_of,action",
    [
        ("SetEntitlement",
         lambda s: pb.SetEntitlementRequest(entitlement=pb.Entitlement(
             integrator=s, departments=["*"], event_types=["licence.*"])),
         "feed.entitle"),
        ("RegisterWebhook",
         lambda s: pb.RegisterWebhookRequest(
             name=s, integrator="integrator:x", url="https://x", secret=bytes(16)),
         "feed.webhook"),
        ("ReplayParkedDeliveries",
         lambda s: pb.ReplayParkedDeliveriesRequest(webhook=s), "feed.replay"),
    ],
    ids=["entitle", "webhook", "replay"],
)  # fmt: skip
async def test_every_admin_change_refused_for_the_callers_kind_is_audited(
    channel_as, feed_app, rpc, request_of, action
):
    """The kind of F1: each EventFeedAdmin change refused for the caller's kind is
    one ``denied`` row (services/feed/refusals.py); a subject not of its shape, such
    as a run of 15 digits, is recorded as ``-``; a refused read writes nothing."""
    caller = f"integrator:atk34-c-{secrets.token_hex(3)}"
    name = (
        f"integrator:atk34-s-{secrets.token_hex(3)}"
        if rpc == "SetEntitlement"
        else f"atk34-{secrets.token_hex(3)}"
    )
    async with channel_as(caller) as channel:
        stub = feed_pb2_grpc.EventFeedAdminStub(channel)
        assert await _code(getattr(stub, rpc)(request_of(name))) == "PERMISSION_DENIED"
        personal = request_of("440301199001011234")
        assert await _code(getattr(stub, rpc)(personal)) == "PERMISSION_DENIED"
        read = stub.GetEntitlement(pb.GetEntitlementRequest(integrator=name))
        assert await _code(read) == "PERMISSION_DENIED"
    assert [r[:3] for r in await _rows(feed_app, name)] == [(caller, action, "denied")]
    rows = await feed_app.pool.fetch(
        "select subject from audit_log where actor = $1 and action = $2",
        caller,
        action,
    )
    assert sorted(r["subject"] for r in rows) == sorted(["-", name])
    assert not await feed_app.pool.fetchval(
        "select count(*) from audit_log where actor = $1 and action not like 'feed.%'",
        caller,
    )
