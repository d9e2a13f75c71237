"""reatk (c): an outside re-attack of ``feed revoke`` / RemoveEntitlement after the
atk-last F4 fix (NOT_FOUND for an integrator never entitled or withdrawn already).

R-C1: the fix reads the entitlement, then writes the empty one in another step
(``FeedService.remove_entitlement``: ``get_entitlement`` then ``_keep``), with no
condition on the write. Two operators (or one retrying ``feed revoke`` on a slow
answer, without an idempotency key) revoking the same integrator at once both read
a right that is still there, both answer "every right withdrawn" and both audit a
``feed.unentitle``: the second withdrew nothing and said it had, the very outcome
F4 was fixed to end. A user needs one withdrawal to succeed and the other to be told
there was nothing left to withdraw (NOT_FOUND naming integrator), with one audit row.

The two reads are held until both have happened (a barrier around the store's read,
bounded so that a fix serialising the calls does not hang the test): the
interleaving is fixed, no sleep decides it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets

import grpc
import pytest

from tests.feed.test_service import channel_as, entitle, feed_app, withdraw

__all__ = ["channel_as", "feed_app"]  # fixtures used here


async def test_two_revokes_at_once_withdraw_once(channel_as, feed_app, monkeypatch):
    integrator = f"integrator:reatk-{secrets.token_hex(3)}"
    await entitle(channel_as, integrator, ["*"], ["licence.*"])
    store = feed_app.store
    read = store.entitlement
    reads = 0
    both_read = asyncio.Event()

    async def held_read(name):  # type: ignore[no-untyped-def]
        nonlocal reads
        found = await read(name)
        if name == integrator:
            reads += 1
            if reads >= 2:
                both_read.set()
            with contextlib.suppress(TimeoutError):  # a serialised fix: go on
                await asyncio.wait_for(both_read.wait(), 5.0)
        return found

    monkeypatch.setattr(store, "entitlement", held_read)
    outcomes = await asyncio.gather(
        withdraw(channel_as, integrator),
        withdraw(channel_as, integrator),
        return_exceptions=True,
    )
    monkeypatch.undo()
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    # a user needs: one withdrawal, and the other told there was nothing to withdraw
    assert len(failed) == 1, outcomes
    assert isinstance(failed[0], grpc.aio.AioRpcError)
    assert failed[0].code() is grpc.StatusCode.NOT_FOUND, failed[0].details()
    audited = await feed_app.pool.fetchval(
        "select count(*) from audit_log where action = 'feed.unentitle' "
        "and subject = $1",
        integrator,
    )
    assert audited == 1


async def test_control_revokes_one_after_the_other_withdraw_once(channel_as, feed_app):
    integrator = f"integrator:reatk-{secrets.token_hex(3)}"
    await entitle(channel_as, integrator, ["*"], ["licence.*"])
    await withdraw(channel_as, integrator)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await withdraw(channel_as, integrator)
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    audited = await feed_app.pool.fetchval(
        "select count(*) from audit_log where action = 'feed.unentitle' "
        "and subject = $1",
        integrator,
    )
    assert audited == 1
