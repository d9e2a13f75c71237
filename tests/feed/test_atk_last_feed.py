"""atk-last (c): an outsider's attacks on the feed's entitlements (SetEntitlement
refusing one that lets nothing through, RemoveEntitlement / ``feed revoke``).

F4: ``feed revoke`` of an integrator whose rights were withdrawn already answers
OK and prints "every right withdrawn" again (and audits another ``feed.unentitle``):
it withdrew nothing and said it had, the silent no-op the NOT_FOUND for a name never
entitled was made to end (trial2b 2). A user (an operator) needs to be told that
the integrator holds no right to withdraw.

Held: only operators call EventFeedAdmin (an integrator's RemoveEntitlement is
PERMISSION_DENIED); a name differing by case or a space is another identity
(INVALID_ARGUMENT for a space, NOT_FOUND for a case variant never entitled).
"""

import secrets

import grpc
import pytest

from certseal.v1 import feed_pb2 as pb
from certseal.v1 import feed_pb2_grpc
from tests.feed.test_service import channel_as, entitle, feed_app, withdraw

__all__ = ["channel_as", "feed_app"]  # fixtures used here


async def test_revoking_twice_says_there_was_nothing_to_withdraw(channel_as):
    integrator = f"integrator:atkl-{secrets.token_hex(3)}"
    await entitle(channel_as, integrator, ["*"], ["licence.*"])
    await withdraw(channel_as, integrator)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await withdraw(channel_as, integrator)
    assert err.value.code() in (
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
    ), err.value.details()
    assert dict(err.value.trailing_metadata())["certseal-error-field"] == "integrator"


async def test_an_integrator_may_not_withdraw_another(channel_as):
    victim = f"integrator:atkl-v-{secrets.token_hex(3)}"
    await entitle(channel_as, victim, ["*"], ["licence.*"])
    async with channel_as(f"integrator:atkl-a-{secrets.token_hex(3)}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await feed_pb2_grpc.EventFeedAdminStub(channel).RemoveEntitlement(
                pb.RemoveEntitlementRequest(integrator=victim)
            )
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
    async with channel_as("operator:admin") as channel:
        kept = await feed_pb2_grpc.EventFeedAdminStub(channel).GetEntitlement(
            pb.GetEntitlementRequest(integrator=victim)
        )
    assert list(kept.entitlement.event_types) == ["licence.*"]


@pytest.mark.parametrize(
    ("variant", "code"),
    [
        (lambda name: name.upper().replace("INTEGRATOR:", "integrator:"), "NOT_FOUND"),
        (lambda name: name + " ", "INVALID_ARGUMENT"),
        (lambda name: " " + name, "INVALID_ARGUMENT"),
    ],
    ids=["case", "trailing-space", "leading-space"],
)
async def test_a_variant_name_withdraws_nothing(channel_as, variant, code):
    integrator = f"integrator:atkl-c-{secrets.token_hex(3)}"
    await entitle(channel_as, integrator, ["*"], ["licence.*"])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await withdraw(channel_as, variant(integrator))
    assert err.value.code().name == code, err.value.details()
    async with channel_as("operator:admin") as channel:
        kept = await feed_pb2_grpc.EventFeedAdminStub(channel).GetEntitlement(
            pb.GetEntitlementRequest(integrator=integrator)
        )
    assert list(kept.entitlement.event_types) == ["licence.*"]
