# fixtures imported from the modules that define them are parameters here
# ruff: noqa: F811
"""Outside review atk41h, against the real database with an injected clock: refused
redemptions in the holder's usage record (services/issuer/service/redemption.py).

Each test asserts the correct behaviour and is marked xfail (strict) until the product
is fixed. The world is test_usage_refused_redemptions.py's (a licence, its holder's
app, the authorised department, a service on a clock the test moves).
"""

from __future__ import annotations

import datetime as dt

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.rpc import Caller
from services.issuer.domain import Action
from tests.issuer.test_usage_refused_redemptions import (  # noqa: F401 (fixture)
    a_copy,
    authorise,
    world,
)


async def test_a_refusal_for_a_withdrawal_is_not_dated_before_the_withdrawal(
    world, issuer, monkeypatch
):
    """_record_redemption reads the clock once the copy is made, then waits for the
    authorisation's row lock; a withdrawal that takes the lock first (its own time
    read later) is seen there, and the refusal's ``redemption_refused`` entry says
    WITHDRAWN ("the authorisation had been withdrawn") at the earlier time. The
    holder's record then reads, oldest first: "redemption refused: the authorisation
    had been withdrawn", then "authorisation withdrawn" a second later. Correct: the
    entry of a refusal for a withdrawal is not dated before the withdrawal."""
    w = world
    auth, code = await authorise(w)
    desk = w["service"].holder._desk
    store = desk._store
    real = store.record_redemption

    async def copy(*args, **kwargs):
        return a_copy()

    async def withdrawn_first(*args, **kwargs):
        # the holder's withdrawal, its time read a second after the redemption's,
        # takes the row lock first
        w["clock"].now += dt.timedelta(seconds=1)
        await w["service"].holder.revoke(
            w["app"], auth.authorisation_id, holder=w["holder"], reason=""
        )
        return await real(*args, **kwargs)

    monkeypatch.setattr(w["service"].holder._files, "annotated_copy", copy)
    monkeypatch.setattr(store, "record_redemption", withdrawn_first)
    with pytest.raises(CertsealError) as err:
        await w["service"].holder.redeem(
            Caller("dept", w["other"].code), code, counter=""
        )
    assert err.value.kind is ErrorKind.FAILED_PRECONDITION
    rows = await issuer.pool.fetch(
        """select kind, verdict, occurred_at from licence_usage
            where lineage = $1
              and kind in ('authorisation_revoked', 'redemption_refused')""",
        w["licence"].lineage,
    )
    when = {r["kind"]: r["occurred_at"] for r in rows}
    assert {r["kind"]: r["verdict"] for r in rows}["redemption_refused"] == "WITHDRAWN"
    assert when["redemption_refused"] >= when["authorisation_revoked"], when


async def refusal_times(issuer, lineage: str) -> dict[str, dt.datetime]:
    rows = await issuer.pool.fetch(
        """select kind, occurred_at from licence_usage
            where lineage = $1
              and kind in ('authorisation_revoked', 'redemption_refused')""",
        lineage,
    )
    return {r["kind"]: r["occurred_at"] for r in rows}


async def test_a_refusal_for_a_withdrawal_timed_on_a_clock_ahead_is_not_before_it(
    world, issuer
):
    """The same kind, the withdrawal's time read on a clock ahead of the redeeming
    one (another issuer replica's): the refusal decided before the copy is made, for
    the withdrawal, is dated no earlier than the withdrawal it reports."""
    w = world
    auth, code = await authorise(w)
    start = w["clock"].now
    w["clock"].now = start + dt.timedelta(seconds=10)  # the withdrawing replica's
    await w["service"].holder.revoke(
        w["app"], auth.authorisation_id, holder=w["holder"], reason=""
    )
    w["clock"].now = start + dt.timedelta(seconds=1)  # the redeeming replica's
    with pytest.raises(CertsealError) as err:
        await w["service"].holder.redeem(
            Caller("dept", w["other"].code), code, counter=""
        )
    assert err.value.kind is ErrorKind.FAILED_PRECONDITION
    when = await refusal_times(issuer, w["licence"].lineage)
    assert when["redemption_refused"] >= when["authorisation_revoked"], when


async def test_a_refusal_for_a_licence_change_waited_for_is_dated_after_it(
    world, issuer, monkeypatch
):
    """The same kind for the lineage's lock: the licence revoked while the copy was
    made, its change taking the lineage's row first; the refusal (the licence no
    longer valid) is dated when the redemption held the locks, after the change,
    not when the copy was done."""
    w = world
    _, code = await authorise(w)
    desk = w["service"].holder._desk
    store = desk._store
    real = store.record_redemption
    changed: list[dt.datetime] = []

    async def copy(*args, **kwargs):
        return a_copy()

    async def changed_first(*args, **kwargs):
        w["clock"].now += dt.timedelta(seconds=1)
        changed.append(w["clock"].now)
        await w["service"].change_status(
            Caller("dept", w["dept"].code),
            w["licence"].identifier,
            Action.REVOKE,
            "伪造",
        )
        return await real(*args, **kwargs)

    monkeypatch.setattr(w["service"].holder._files, "annotated_copy", copy)
    monkeypatch.setattr(store, "record_redemption", changed_first)
    with pytest.raises(CertsealError) as err:
        await w["service"].holder.redeem(
            Caller("dept", w["other"].code), code, counter=""
        )
    assert err.value.kind is ErrorKind.FAILED_PRECONDITION
    [row] = await issuer.pool.fetch(
        """select verdict, occurred_at from licence_usage
            where lineage = $1 and kind = 'redemption_refused'""",
        w["licence"].lineage,
    )
    assert row["verdict"] == "LICENCE_NO_LONGER_VALID"
    assert row["occurred_at"] >= changed[0], (row["occurred_at"], changed)
