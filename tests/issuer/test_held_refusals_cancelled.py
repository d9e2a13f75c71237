"""A held refusal of a cancelled call (certseal.audit.HeldRefusals, certseal.rpc's
idempotent calls): a call with an idempotency key whose refusal waits for its answer
and that is cancelled (its caller gone) before the refusal is recorded still ends
with exactly ONE ``denied`` row, settled by a task kept to its end
(certseal.storage.idempotency.kept); none when the key was answered meanwhile (a
concurrent call with the same key: its refusal is no refusal); never two.

Deterministic: the store is gated where the call must be cancelled, the gate opens
when the call's handler has ended, and the test awaits the kept work
(:func:`certseal.storage.idempotency.finish_kept`), never a sleep."""

from __future__ import annotations

import asyncio
import json
import secrets

import grpc
import pytest

from certseal.audit import HELD_REFUSALS
from certseal.storage.idempotency import finish_kept
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from tests.issuer.test_rpc import rpc_error

ISSUER = licence_pb2.DEPARTMENT_ROLE_ISSUER
WHY = "keeps the seal_owner role"
#: a bound on each wait, against a hang (the waits themselves are on events)
BOUND_S = 20


class Gates:
    """The issuer's store and idempotency store, gated for one idempotency key."""

    def __init__(self, issuer, monkeypatch, key: str, *, hold_handler: bool):
        self.key = key
        self.held = asyncio.Event()  # the refusal was held (in the handler's task)
        self.settling = asyncio.Event()  # the kept settlement is looking the key up
        self.handler: asyncio.Task | None = None
        self.claim = None
        self.before_lookup = None  # awaited by the settlement's lookup, if set
        refuse = issuer.store.audit_refusal
        lookup = issuer.idempotency.lookup

        async def audit_refusal(**kw):
            entry = await refuse(**kw)
            held = HELD_REFUSALS.get()
            assert held is not None and held.open and held.records  # not written
            self.handler = asyncio.current_task()
            self.held.set()
            if hold_handler:  # still in the handler when cancelled
                await asyncio.Event().wait()
            return entry

        async def gated_lookup(claim):
            if claim.key != key or not self.held.is_set():
                return await lookup(claim)  # the call's first lookup, and others
            self.claim = claim
            self.settling.set()
            assert self.handler is not None
            await asyncio.wait([self.handler])  # the call is cancelled and ended
            if self.before_lookup is not None:
                await self.before_lookup()
            return await lookup(claim)

        monkeypatch.setattr(issuer.store, "audit_refusal", audit_refusal)
        monkeypatch.setattr(issuer.idempotency, "lookup", gated_lookup)


def call(operator, config, key: str, request_id: str):
    """A SetDepartmentRoles with ``key`` the platform refuses (it keeps
    seal_owner): FAILED_PRECONDITION, audited as a refused ``department.roles``."""
    return operator.admin.SetDepartmentRoles(
        pb.SetDepartmentRolesRequest(code=config.platform.code, roles=[ISSUER]),
        metadata=(("idempotency-key", key), ("x-request-id", request_id)),
    )


async def denied_rows(issuer, request_id: str) -> list[dict]:
    rows = await issuer.pool.fetch(
        "select action, subject, outcome, details from audit_log "
        "where request_id = $1 order by id",
        request_id,
    )
    return [
        {
            **dict(r.items()),
            "details": json.loads(r["details"])
            if isinstance(r["details"], str)
            else r["details"],
        }
        for r in rows
    ]


async def cancelled(pending, event: asyncio.Event) -> None:
    """Cancel the call ``pending`` once ``event`` is set; the client sees it."""
    await asyncio.wait_for(event.wait(), BOUND_S)
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending


async def cancelled_and_settled(pending, gates: Gates, event: asyncio.Event) -> None:
    """Cancel ``pending`` once ``event`` is set, then wait for its handler to end and
    for the work kept past it (the refusal's settlement)."""
    await cancelled(pending, event)
    assert gates.handler is not None
    await asyncio.wait_for(asyncio.wait([gates.handler]), BOUND_S)
    await finish_kept(BOUND_S)


async def test_a_call_cancelled_while_its_refusal_is_settled_leaves_one_row(
    operator, issuer, config, monkeypatch
):
    """The refusal answered (the use case refused), the call is cancelled while the
    settlement looks its key up: the settlement, shielded and kept, records it."""
    key, rid = secrets.token_hex(8), f"cancel-settle-{secrets.token_hex(4)}"
    gates = Gates(issuer, monkeypatch, key, hold_handler=False)
    await cancelled_and_settled(call(operator, config, key, rid), gates, gates.settling)
    [row] = await denied_rows(issuer, rid)
    assert (row["action"], row["subject"], row["outcome"]) == (
        "department.roles",
        config.platform.code,
        "denied",
    )
    assert WHY in row["details"]["why"]
    assert row["details"]["roles"] == ["issuer"]


async def test_a_call_cancelled_before_its_refusal_is_answered_leaves_one_row(
    operator, issuer, config, monkeypatch
):
    """The refusal held, the call is cancelled while its handler still runs (no
    answer, its transaction rolled back): a kept task settles the refusal, once.
    A retry with the key runs again (nothing was stored) and is its own row."""
    key, rid = secrets.token_hex(8), f"cancel-held-{secrets.token_hex(4)}"
    gates = Gates(issuer, monkeypatch, key, hold_handler=True)
    await cancelled_and_settled(call(operator, config, key, rid), gates, gates.held)
    assert gates.settling.is_set()  # the kept settlement looked the key up
    [row] = await denied_rows(issuer, rid)
    assert (row["outcome"], row["details"]["roles"]) == ("denied", ["issuer"])
    monkeypatch.undo()
    retry = f"cancel-retry-{secrets.token_hex(4)}"
    err = await rpc_error(call(operator, config, key, retry))
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert [r["outcome"] for r in await denied_rows(issuer, retry)] == ["denied"]
    assert len(await denied_rows(issuer, rid)) == 1


async def test_a_cancelled_call_whose_key_was_answered_meanwhile_leaves_none(
    operator, issuer, config, monkeypatch
):
    """The designed outcome when a concurrent call with the same key answered it
    before the settlement looked: that answer is the call's, its refusal none."""
    key, rid = secrets.token_hex(8), f"cancel-answered-{secrets.token_hex(4)}"
    gates = Gates(issuer, monkeypatch, key, hold_handler=False)

    async def answered_meanwhile() -> None:
        answer = pb.SetDepartmentRolesResponse().SerializeToString()
        async with issuer.pool.acquire() as conn:
            assert await issuer.idempotency._insert(conn, gates.claim, answer)

    gates.before_lookup = answered_meanwhile
    await cancelled(call(operator, config, key, rid), gates.settling)
    await finish_kept(BOUND_S)
    assert await denied_rows(issuer, rid) == []
