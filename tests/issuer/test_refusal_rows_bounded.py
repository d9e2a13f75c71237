"""A caller repeating a refused call cannot fill the audit log: its first
REFUSAL_ROWS_PER_MINUTE refusals a minute are one row each, the rest are counted and
written as one ``refusal.counted`` row when its minute ends, by a timer of the
service's loop, or when the service stops (certseal.storage.audit.RefusalAudit)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import grpc

from certseal.audit import (
    COUNTED_ACTION,
    HELD_REFUSALS,
    REFUSAL_ROWS_PER_MINUTE,
    REFUSAL_WINDOW,
    HeldRefusals,
    RefusalBudget,
)
from certseal.storage.audit import RefusalAudit, write_counted_refusals
from certseal.storage.idempotency import finish_kept
from certseal.storage.pool import create_pool
from certseal.timestamps import utcnow
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from tests.conftest import fresh_uscc
from tests.issuer.test_admin_refusals import audit_rows
from tests.issuer.test_rpc import rpc_error

ISSUER = licence_pb2.DEPARTMENT_ROLE_ISSUER


async def test_a_flood_of_refused_calls_writes_its_rows_then_one_count(connect, issuer):
    caller = f"dept:{fresh_uscc()}"
    stub = connect(caller).admin
    extra = 3
    for _ in range(REFUSAL_ROWS_PER_MINUTE + extra):
        err = await rpc_error(
            stub.SetDepartmentRoles(
                pb.SetDepartmentRolesRequest(code=fresh_uscc(), roles=[ISSUER])
            )
        )
        assert err.code() is grpc.StatusCode.PERMISSION_DENIED  # refused all the same
    rows = await audit_rows(issuer, actor=caller)
    assert len(rows) == REFUSAL_ROWS_PER_MINUTE
    assert {(r["action"], r["outcome"]) for r in rows} == {
        ("department.roles", "denied")
    }
    # the minute ends: its count is one row
    await issuer.store.write_counted(utcnow() + dt.timedelta(minutes=2))
    [counted] = await audit_rows(issuer, actor=caller, action=COUNTED_ACTION)
    assert counted["outcome"] == "denied"
    assert counted["details"]["counted"] == extra
    assert counted["details"]["actions"] == {"department.roles": extra}


async def _rows(pool, actor: str) -> list[tuple[str, int | None]]:
    found = await pool.fetch(
        "select action, details from audit_log where actor = $1 order by id", actor
    )
    return [(r["action"], r["details"].get("counted")) for r in found]


async def _refuse(writer: RefusalAudit, actor: str, times: int) -> None:
    for _ in range(times):
        await writer.audit_refusal(
            at=utcnow(), actor=actor, action="key.create", subject="-", why="no"
        )


async def test_a_counted_minute_is_written_by_a_timer_when_it_ends(config):
    pool = await create_pool(config.database.dsn(), min_size=1, max_size=2)
    timers: list[tuple[float, Callable[[], None]]] = []
    try:
        writer = RefusalAudit(
            pool,
            RefusalBudget(rows=1),
            call_later=lambda delay, fire: timers.append((delay, fire)),
        )
        actor = f"dept:{fresh_uscc()}"
        started = utcnow()
        await _refuse(writer, actor, 3)
        assert await _rows(pool, actor) == [("key.create", None)]
        # one timer, set for the end of the caller's minute
        [(delay, fire)] = timers
        assert 0 < delay <= REFUSAL_WINDOW.total_seconds()
        assert delay >= (REFUSAL_WINDOW - (utcnow() - started)).total_seconds() - 1
        fire()
        await finish_kept(10)
        assert await _rows(pool, actor) == [
            ("key.create", None),
            (COUNTED_ACTION, 2),
        ]
    finally:
        await pool.close()


async def test_a_stopping_process_writes_the_minutes_still_counting(config):
    pool = await create_pool(config.database.dsn(), min_size=1, max_size=2)
    try:
        writer = RefusalAudit(pool, RefusalBudget(rows=1))
        actor = f"dept:{fresh_uscc()}"
        await _refuse(writer, actor, 4)
        await write_counted_refusals(pool)
        assert await _rows(pool, actor) == [
            ("key.create", None),
            (COUNTED_ACTION, 3),
        ]
        await write_counted_refusals(pool)  # written once
        assert len(await _rows(pool, actor)) == 2
    finally:
        await pool.close()


async def test_a_held_refusal_takes_its_place_in_the_minute_only_when_recorded(
    config,
):
    """A refusal held for an idempotent call's answer (HELD_REFUSALS) that is then
    answered another way (a retry's stored answer) is never recorded, and so takes
    none of the caller's rows of the minute."""
    pool = await create_pool(config.database.dsn(), min_size=1, max_size=2)
    try:
        writer = RefusalAudit(pool, RefusalBudget(rows=1))
        actor = f"dept:{fresh_uscc()}"
        held = HeldRefusals()
        token = HELD_REFUSALS.set(held)
        try:
            await _refuse(writer, actor, 1)
        finally:
            HELD_REFUSALS.reset(token)
        assert len(held.records) == 1  # waiting, not recorded
        await _refuse(writer, actor, 1)
        assert await _rows(pool, actor) == [("key.create", None)]
        await held.record()  # had the call been answered its refusal: counted
        await writer.write_counted(utcnow() + 2 * REFUSAL_WINDOW)
        assert await _rows(pool, actor) == [
            ("key.create", None),
            (COUNTED_ACTION, 1),
        ]
    finally:
        await pool.close()
