"""atk74: SetEntitlement's ``webhooks_outside`` (each of the integrator's webhooks
whose own filter a new entitlement no longer covers, with why), attacked.

- F1: each ``why`` quoted the whole list of the entitlement's rights, up to 1,000
  departments: about 20 KB per webhook, in the reply, in a warning log line and in
  ``certseal feed entitle``'s output (50 webhooks: a 1 MB reply). Now each is cut as
  a refusal's details are (:func:`certseal.errors.status_details`, 400 characters).
- F2 (not fixed; ListWebhooks shows it since): a webhook registered while the
  entitlement is being narrowed (its check read the old entitlement, SetEntitlement
  read the webhooks before the registration committed) is not named by the narrowing.
- Held: a replay with the same idempotency key answers the same webhooks; a first
  entitlement names a webhook registered before any; a caller other than an operator
  is refused, naming no webhook.
"""

from __future__ import annotations

import secrets

import grpc
import pytest

from certseal.errors import MAX_DETAILS
from certseal.v1 import feed_pb2 as pb
from certseal.v1 import feed_pb2_grpc
from services.feed.domain import Entitlement, Filter
from services.feed.filters import webhooks_outside
from tests.conftest import fresh_uscc
from tests.feed.test_service import channel_as, entitle, feed_app, receiver
from tests.feed.test_webhooks_outside import _hook

__all__ = ["channel_as", "feed_app", "receiver"]  # fixtures

EVERY = frozenset({"*"})


def _integrator() -> str:
    return f"integrator:atk74-{secrets.token_hex(3)}"


def _request(integrator: str, departments: list[str]) -> pb.SetEntitlementRequest:
    return pb.SetEntitlementRequest(
        entitlement=pb.Entitlement(
            integrator=integrator,
            departments=departments,
            licence_types=["*"],
            event_types=["*"],
        )
    )


def test_why_is_bounded_under_an_entitlement_of_1000_departments():
    entitled = frozenset(fresh_uscc() for _ in range(1000))
    narrowed = Entitlement("integrator:x", entitled, EVERY, EVERY)
    outside_code = fresh_uscc()
    hooks = {f"h{i}": Filter(departments=frozenset({outside_code})) for i in range(50)}
    said = webhooks_outside(narrowed, hooks)
    assert set(said) == set(hooks)
    for why in said.values():
        # what is outside comes first and stays; the 1,000 rights left are cut
        assert why.startswith(f"departments: '{outside_code}' is not among"), why
        assert len(why) <= MAX_DETAILS + 40, len(why)


async def test_a_reply_naming_many_webhooks_stays_small(channel_as, receiver):
    integrator = _integrator()
    gone = fresh_uscc()
    many = [fresh_uscc() for _ in range(1000)]
    await entitle(channel_as, integrator, [gone, *many[:1]], ["*"])
    _, url = await receiver(failures=0)
    names = {await _hook(channel_as, url, integrator, departments=[gone])}
    names |= {await _hook(channel_as, url, integrator, departments=[gone])}
    reply = await entitle(channel_as, integrator, many, ["*"])
    assert {hook.webhook for hook in reply.webhooks_outside} == names
    for hook in reply.webhooks_outside:
        assert len(hook.why) <= MAX_DETAILS + 40, len(hook.why)


async def test_the_same_key_answers_the_same_webhooks(channel_as, receiver):
    integrator = _integrator()
    gone, kept = fresh_uscc(), fresh_uscc()
    await entitle(channel_as, integrator, [gone, kept], ["*"])
    _, url = await receiver(failures=0)
    name = await _hook(channel_as, url, integrator, departments=[gone])
    key = (("idempotency-key", f"atk74-{secrets.token_hex(6)}"),)
    async with channel_as("operator:admin") as channel:
        admin = feed_pb2_grpc.EventFeedAdminStub(channel)
        first = await admin.SetEntitlement(_request(integrator, [kept]), metadata=key)
        again = await admin.SetEntitlement(_request(integrator, [kept]), metadata=key)
    assert [h.webhook for h in first.webhooks_outside] == [name]
    assert again.SerializeToString() == first.SerializeToString()


async def test_a_first_entitlement_names_a_webhook_registered_before_it(
    channel_as, receiver
):
    integrator = _integrator()
    _, url = await receiver(failures=0)
    name = await _hook(channel_as, url, integrator, departments=[fresh_uscc()])
    reply = await entitle(channel_as, integrator, [fresh_uscc()], ["*"])
    assert [h.webhook for h in reply.webhooks_outside] == [name]
    assert reply.webhooks_outside[0].why.startswith("departments: ")


@pytest.mark.parametrize("who", ["integrator:atk74-peer", "app:atk74", "dept:x"])
async def test_only_an_operator_sets_an_entitlement(channel_as, receiver, who):
    integrator = _integrator()
    gone = fresh_uscc()
    await entitle(channel_as, integrator, [gone, fresh_uscc()], ["*"])
    _, url = await receiver(failures=0)
    name = await _hook(channel_as, url, integrator, departments=[gone])
    async with channel_as(who) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await feed_pb2_grpc.EventFeedAdminStub(channel).SetEntitlement(
                _request(integrator, [fresh_uscc()])
            )
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert name not in (err.value.details() or "")


async def test_a_webhook_registered_while_the_entitlement_narrows_is_listed_outside(
    channel_as, feed_app, receiver, monkeypatch
):
    """F2: the narrowing read the webhooks before the racing registration committed,
    so it cannot name it; ListWebhooks, which reads the entitlement as it stands,
    does."""
    integrator = _integrator()
    gone, kept = fresh_uscc(), fresh_uscc()
    await entitle(channel_as, integrator, [gone, kept], ["*"])
    _, url = await receiver(failures=0)
    store = feed_app.service._store
    put = store.put_webhook

    async def narrowed_meanwhile(*args, **kwargs):
        # the registration has checked its filter against the wide entitlement;
        # the operator's narrowing commits before the registration does
        await entitle(channel_as, integrator, [kept], ["*"])
        await put(*args, **kwargs)

    monkeypatch.setattr(store, "put_webhook", narrowed_meanwhile)
    try:
        name = await _hook(channel_as, url, integrator, departments=[gone])
    finally:
        monkeypatch.setattr(store, "put_webhook", put)
    async with channel_as("operator:admin") as channel:
        listed = await feed_pb2_grpc.EventFeedAdminStub(channel).ListWebhooks(
            pb.ListWebhooksRequest(integrator=integrator)
        )
    (hook,) = listed.webhooks
    assert hook.name == name
    assert hook.outside.startswith(f"departments: '{gone}' is not among"), hook.outside
