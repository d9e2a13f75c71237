"""A webhook registered within its integrator's entitlement, which the operator then
narrows away from the webhook's own filter (s53 note: nothing said so; a stream is
ended instead). SetEntitlement names each such webhook with why, audits them, and
``certseal feed entitle`` warns; the webhook posts only what the entitlement lets
through (test_service: "never delivers outside its integrator's entitlement")."""

from __future__ import annotations

import json
import secrets

import grpc
import pytest

from certseal.v1 import feed_pb2 as pb
from certseal.v1 import feed_pb2_grpc
from services.feed.domain import Entitlement, Filter
from services.feed.filters import webhooks_outside
from tests.conftest import fresh_uscc, run_certseal
from tests.feed.test_service import channel_as, entitle, feed_app, receiver, withdraw

__all__ = ["channel_as", "feed_app", "receiver"]  # fixtures

EVERY = frozenset({"*"})


async def _hook(channel_as, url, integrator, **wanted) -> str:
    name = f"outside-{secrets.token_hex(3)}"
    async with channel_as("operator:admin") as channel:
        await feed_pb2_grpc.EventFeedAdminStub(channel).RegisterWebhook(
            pb.RegisterWebhookRequest(
                name=name, integrator=integrator, url=url, secret=b"o" * 32, **wanted
            )
        )
    return name


async def test_narrowing_names_the_webhooks_it_leaves_outside_and_audits_them(
    channel_as, feed_app, receiver
):
    kept, gone = fresh_uscc(), fresh_uscc()
    integrator = f"integrator:outside-{secrets.token_hex(3)}"
    await entitle(channel_as, integrator, [kept, gone], ["licence.*", "seal.*"])
    _, url = await receiver(failures=0)
    within = await _hook(channel_as, url, integrator, departments=[kept])
    outside = await _hook(channel_as, url, integrator, departments=[gone])
    typed = await _hook(channel_as, url, integrator, event_types=["seal.*"])
    both = await _hook(
        channel_as, url, integrator, departments=[gone], event_types=["seal.*"]
    )
    unfiltered = await _hook(channel_as, url, integrator)
    reply = await entitle(channel_as, integrator, [kept], ["licence.*"])
    said = {hook.webhook: hook.why for hook in reply.webhooks_outside}
    assert set(said) == {outside, typed, both}, said
    assert said[outside] == (
        f"departments: '{gone}' is not among the departments {integrator} is "
        f"entitled to ({kept})"
    ), said
    assert said[typed].startswith("event_types: "), said
    # every list outside, not only the first found (trial74)
    assert said[both] == f"{said[outside]}; {said[typed]}", said
    assert within not in said and unfiltered not in said
    details = await feed_app.pool.fetchval(
        "select details from audit_log where action = 'feed.entitle' and subject = $1 "
        "order by id desc limit 1",
        integrator,
    )
    details = json.loads(details) if isinstance(details, str) else details
    assert details["webhooks_outside"] == sorted([outside, typed, both]), details
    # widened again: nothing outside, nothing said or audited
    reply = await entitle(channel_as, integrator, [kept, gone], ["*"])
    assert list(reply.webhooks_outside) == []
    details = await feed_app.pool.fetchval(
        "select details from audit_log where action = 'feed.entitle' and subject = $1 "
        "order by id desc limit 1",
        integrator,
    )
    details = json.loads(details) if isinstance(details, str) else details
    assert "webhooks_outside" not in details, details


async def test_another_integrators_webhooks_are_not_named(channel_as, receiver):
    one, other = (f"integrator:outside-{secrets.token_hex(3)}" for _ in range(2))
    gone = fresh_uscc()
    for integrator in (one, other):
        await entitle(channel_as, integrator, [gone, fresh_uscc()], ["*"])
    _, url = await receiver(failures=0)
    await _hook(channel_as, url, other, departments=[gone])
    reply = await entitle(channel_as, one, [fresh_uscc()], ["*"])
    assert list(reply.webhooks_outside) == []


async def test_feed_entitle_warns_of_each_webhook_left_outside(
    config, feed_app, channel_as, receiver, tmp_path
):
    gone = fresh_uscc()
    integrator = f"integrator:outside-{secrets.token_hex(3)}"
    await entitle(channel_as, integrator, [gone, fresh_uscc()], ["*"])
    _, url = await receiver(failures=0)
    name = await _hook(channel_as, url, integrator, departments=[gone])
    code, out = await run_certseal(
        config, tmp_path, "feed", "entitle", integrator,
        "--department", fresh_uscc(), "--type", "*",
        feed_target=f"localhost:{feed_app.port}",
    )  # fmt: skip
    assert code == 0, out
    assert (
        f"warning: webhook {name} asks for what the entitlement of {integrator} does "
        f"not let through: departments: '{gone}' is not among the departments"
    ) in out, out
    assert out.rstrip().endswith(
        "It posts only the events both let through, which may be none: register it "
        "again with a filter within the entitlement, or widen the entitlement"
    ), out
    code, out = await run_certseal(
        config, tmp_path, "feed", "revoke", integrator,
        feed_target=f"localhost:{feed_app.port}",
    )  # fmt: skip
    assert code == 0, out
    assert out.rstrip().endswith(
        f"{integrator}: every right withdrawn (its subscriptions end within seconds; "
        "its webhooks post nothing more)"
    ), out


async def test_a_webhook_for_an_integrator_whose_rights_were_withdrawn_names_it(
    channel_as, receiver
):
    """trial74: refused with ``error: as: …``, an option ``feed webhook`` does not
    have: the field is the webhook's integrator."""
    integrator = f"integrator:outside-{secrets.token_hex(3)}"
    await entitle(channel_as, integrator, [fresh_uscc()], ["*"])
    await withdraw(channel_as, integrator)
    _, url = await receiver(failures=0)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _hook(channel_as, url, integrator)
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
    trailing = dict(err.value.trailing_metadata() or ())
    assert trailing["certseal-error-field"] == "integrator", err.value.details()
    assert "was withdrawn" in (err.value.details() or "")


def test_a_webhook_of_licence_events_under_no_licence_type_is_outside():
    """The entitlement's own rule of letting nothing through (atk70), for a
    webhook's filter as for a subscription's."""
    licences_only = Filter(event_types=frozenset({"licence.*"}))
    narrowed = Entitlement("integrator:x", EVERY, frozenset(), EVERY)
    said = webhooks_outside(narrowed, {"a": licences_only, "b": Filter()})
    assert list(said) == ["a"] and said["a"].startswith("event_types: "), said
    assert webhooks_outside(Entitlement("integrator:x", EVERY, EVERY, EVERY), {
        "a": licences_only, "b": Filter()
    }) == {}  # fmt: skip
