"""atk35 (outside review): where a caller's counted refusals
(certseal.storage.audit.RefusalAudit, ``refusal.counted``) end up when things go
wrong: the database away when the summary is written, the process stopping while
other kept work hangs, and an idempotent call's refusal that is counted rather than
held for the call's answer."""

from __future__ import annotations

import asyncio
import logging

import certseal.process
from certseal.audit import COUNTED_ACTION, HELD_REFUSALS, HeldRefusals, RefusalBudget
from certseal.storage.audit import RefusalAudit
from certseal.storage.idempotency import finish_kept, kept
from certseal.storage.pool import create_pool
from certseal.timestamps import utcnow
from services.issuer.app import IssuerApp
from tests.conftest import fresh_uscc


async def _refuse(writer: RefusalAudit, actor: str, times: int, action: str) -> None:
    for _ in range(times):
        await writer.audit_refusal(
            at=utcnow(), actor=actor, action=action, subject="-", why="no"
        )


async def _rows(pool, actor: str) -> list[tuple[str, int | None]]:
    found = await pool.fetch(
        "select action, details from audit_log where actor = $1 order by id", actor
    )
    return [(r["action"], r["details"].get("counted")) for r in found]


async def test_a_summary_that_cannot_be_written_says_whose_refusals_are_lost(
    config, issuer, caplog
):
    pool = await create_pool(config.database.dsn(), min_size=1, max_size=2)
    writer = RefusalAudit(pool, RefusalBudget(rows=1))
    actor = f"dept:{fresh_uscc()}"
    await _refuse(writer, actor, 3, "key.create")
    await pool.close()  # the database away
    with caplog.at_level(logging.ERROR, logger="certseal.storage.audit"):
        await writer.write_counted(utcnow(), all_counted=True)
    said = " ".join(r.getMessage() for r in caplog.records if r.levelno >= 40)
    assert "could not be recorded" in said  # the failure is logged
    assert actor in said and "key.create" in said  # ... naming whose, and what


async def test_a_stop_writes_the_counted_minutes_even_when_kept_work_hangs(
    config, issuer, monkeypatch
):
    app = IssuerApp(config, serve=False, background=False)  # never started
    app.pool = await create_pool(config.database.dsn(), min_size=1, max_size=2)
    writer = RefusalAudit(app.pool, RefusalBudget(rows=1))
    actor = f"dept:{fresh_uscc()}"
    await _refuse(writer, actor, 3, "key.create")
    hung = asyncio.get_running_loop().create_future()
    kept(hung)  # kept work that does not end within the stop's wait

    async def wait_briefly(timeout_s: float | None = None) -> None:
        await finish_kept(0.01)  # the stop's 10 s, shortened: the work never ends

    monkeypatch.setattr(certseal.process, "finish_kept", wait_briefly)
    try:
        await app.stop()
    finally:
        hung.set_result(None)
        await finish_kept(5)
    check = await create_pool(config.database.dsn(), min_size=1, max_size=1)
    try:
        assert await _rows(check, actor) == [("key.create", None), (COUNTED_ACTION, 2)]
    finally:
        await check.close()


async def test_a_counted_refusal_of_an_idempotent_call_waits_for_its_answer(
    config, issuer
):
    pool = await create_pool(config.database.dsn(), min_size=1, max_size=2)
    try:
        writer = RefusalAudit(pool, RefusalBudget(rows=1))
        actor = f"dept:{fresh_uscc()}"
        await _refuse(writer, actor, 1, "key.create")  # its one row
        held = HeldRefusals()
        token = HELD_REFUSALS.set(held)
        try:  # a retry refused while the call it repeats commits ...
            await _refuse(writer, actor, 1, "key.create")
        finally:
            HELD_REFUSALS.reset(token)
        held.open = False  # ... and answered the stored answer: nothing recorded
        await writer.write_counted(utcnow(), all_counted=True)
        assert await _rows(pool, actor) == [("key.create", None)]
    finally:
        await pool.close()
