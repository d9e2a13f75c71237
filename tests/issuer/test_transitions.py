"""Every allowed and every illegal transition, against the real database, with an
injected clock (so expiry is deterministic)."""

import datetime as dt

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.rpc import Caller
from services.issuer.domain import TRANSITIONS, Action, Holder, Status
from services.issuer.service.issuance import IssueInput


def later() -> dt.datetime:
    """A little after now, so keys created just before are already valid."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)


START_STATES = [
    "valid",
    "suspended",
    "revoked",
    "revoked_as_sanction",
    "cancelled",
    "expired",
    "transferred_out",
    "superseded",
]
SETUP = {
    "suspended": [Action.SUSPEND],
    "revoked": [Action.REVOKE],
    "revoked_as_sanction": [Action.REVOKE_AS_SANCTION],
    "cancelled": [Action.CANCEL],
    "expired": [Action.EXPIRE],
    "transferred_out": [Action.TRANSFER],
}


async def apply(service, caller, identifier, action, receiver, clock):
    if action in (Action.RENEW, Action.AMEND):
        kwargs = {"changes": {"class": "B2"}} if action is Action.AMEND else {}
        return await service.new_version(
            caller, identifier, action, reason="r", **kwargs
        )
    if action is Action.TRANSFER:
        return (await service.transfer(caller, identifier, receiver.code, "moved"))[0]
    if action is Action.EXPIRE:
        return await service.change_status(
            "service:expiry-sweep", identifier, action, ""
        )
    return await service.change_status(caller, identifier, action, "reason")


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("start", START_STATES)
async def test_transition(world, start, action):
    sender, receiver, clock, service = world
    caller = Caller("dept", sender.code)
    base = clock.now = later()
    licence = await service.issue(
        caller,
        IssueInput(
            sender.type_code,
            Holder("王五", "111", "440301199001011234"),
            {"class": "C1"},
            valid_until=base + dt.timedelta(days=30),
        ),
    )
    identifier = licence.identifier
    for step in SETUP.get(start, []):
        if step is Action.EXPIRE:
            clock.now = base + dt.timedelta(days=31)
        await apply(service, caller, identifier, step, receiver, clock)
    if start == "superseded":
        await service.new_version(caller, identifier, Action.RENEW)
    if action is Action.EXPIRE:
        clock.now = base + dt.timedelta(days=31)
    current = await service.load(identifier, with_holder=False)
    allowed = (
        current.status in TRANSITIONS[action].allowed_from
        and current.superseded_by is None
    )
    if allowed:
        result = await apply(service, caller, identifier, action, receiver, clock)
        if action in (Action.RENEW, Action.AMEND):
            assert result.version == 2 and result.replaces == identifier
            assert result.status is Status.VALID
            old = await service.load(identifier, with_holder=False)
            assert old.superseded_by == result.identifier
        else:
            assert result.status is TRANSITIONS[action].to
            stored = await service.load(identifier, with_holder=False)
            assert stored.status is TRANSITIONS[action].to
            assert stored.lineage_version == result.lineage_version > 1
    else:
        with pytest.raises(CertsealError) as err:
            await apply(service, caller, identifier, action, receiver, clock)
        assert err.value.kind is ErrorKind.FAILED_PRECONDITION
        expected = (
            "superseded by" if current.superseded_by else f"({current.status.value})"
        )
        assert expected in err.value.message


async def test_expire_before_end_is_refused(world):
    sender, _, clock, service = world
    clock.now = later()
    licence = await service.issue(
        Caller("dept", sender.code),
        IssueInput(sender.type_code, Holder("王五", "111", "1"), {"class": "C1"}),
    )
    with pytest.raises(CertsealError) as err:
        await service.change_status(
            "service:expiry-sweep", licence.identifier, Action.EXPIRE, ""
        )
    assert "is valid until" in err.value.message


async def test_sweep_expires_due_licences(world, issuer):
    sender, _, clock, service = world
    base = clock.now = later()
    licence = await service.issue(
        Caller("dept", sender.code),
        IssueInput(
            sender.type_code,
            Holder("王五", "111", "2"),
            {"class": "C1"},
            valid_until=base + dt.timedelta(hours=1),
        ),
    )
    clock.now = base + dt.timedelta(hours=2)
    for _ in range(20):  # other tests' due licences may come first
        if not await service.expire_due(limit=1000):
            break
    stored = await service.load(licence.identifier, with_holder=False)
    assert stored.status is Status.EXPIRED
    audit = await issuer.pool.fetchrow(
        "select actor from audit_log where action = 'licence.expire' and subject = $1",
        licence.identifier,
    )
    assert audit["actor"] == "service:expiry-sweep"


async def test_transfer_creates_licence_of_receiver(world):
    sender, receiver, clock, service = world
    clock.now = later()
    licence = await service.issue(
        Caller("dept", sender.code),
        IssueInput(
            sender.type_code,
            Holder("赵六", "111", "3"),
            {"class": "C1", "address": "广州"},
        ),
    )
    old, new = await service.transfer(
        Caller("dept", sender.code),
        licence.identifier,
        receiver.code,
        "moved to Guangzhou",
    )
    assert old.status is Status.TRANSFERRED_OUT and old.transferred_to == receiver.code
    # each side carries its own national operation code: 07 out, 08 in
    assert old.last_operation.value == "07"
    assert new.issuer_code == receiver.code and new.replaces == licence.identifier
    assert new.last_operation.value == "08" and new.lineage != old.lineage
    got = await service.get(Caller("dept", receiver.code), new.identifier)
    assert got.fields["address"] == "广州" and got.holder.name == "赵六"
