"""The liveness of SetLicenceTypeIssuers under steady licence writes of its type.

Every licence write of a type holds a key share lock on the type's row until it
commits (an issuance's statement reads its issuers under it; the foreign keys of any
new licence version take it too), and the change needs the row FOR UPDATE. A row
lock waiter does not stop new key share lockers (PostgreSQL lets a locker in whose
mode does not conflict with the current ones): under writes that overlap, the change
waited for ever. Its table lock (EXCLUSIVE) queues the writes that come after it."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import grpc

from certseal.v1 import issuer_pb2 as pb
from tests.conftest import issue_request, make_department
from tests.issuer.test_rpc import rpc_error

_KEY_SHARE = "select from licence_types where type_code = $1 for key share"


async def _change_waiting(pool) -> None:
    """Until the change waits on a lock (of the table, or of the type's row)."""
    for _ in range(200):
        if await pool.fetchval(
            """select exists(select from pg_stat_activity where wait_event_type = 'Lock'
                and (query like 'lock table licence_types%'
                     or query like 'select * from licence_types%'))"""
        ):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the change waits on no lock")


async def test_writes_that_overlap_do_not_starve_a_change_of_the_issuers(
    operator, connect, dept, issuer
):
    other = await make_department(operator, connect)
    first, later = await issuer.pool.acquire(), await issuer.pool.acquire()
    tx_first, tx_later = first.transaction(), later.transaction()
    change = None
    try:
        await tx_first.start()
        await first.execute(_KEY_SHARE, dept.type_code)  # a write in flight
        change = asyncio.ensure_future(
            operator.admin.SetLicenceTypeIssuers(
                pb.SetLicenceTypeIssuersRequest(
                    type_code=dept.type_code, issuer_codes=[other.code]
                )
            )
        )
        await _change_waiting(issuer.pool)
        await tx_later.start()
        # a write that starts once the change waits: it queues behind the change
        writing = asyncio.ensure_future(later.execute(_KEY_SHARE, dept.type_code))
        await asyncio.sleep(0.3)
        await tx_first.commit()  # the write in flight ends; the later one would hold
        answered = await asyncio.wait_for(asyncio.shield(change), 5)
        assert list(answered.licence_type.issuer_codes) == [other.code]
        await asyncio.wait_for(writing, 5)
    finally:
        for tx in (tx_first, tx_later):  # the ones still open
            with contextlib.suppress(asyncpg.InterfaceError):
                await tx.rollback()
        if change is not None:
            await asyncio.wait_for(change, 10)
        await issuer.pool.release(first)
        await issuer.pool.release(later)


async def test_a_change_held_back_too_long_answers_unavailable_and_releases_writes(
    operator, connect, dept, issuer
):
    """A write that holds the type longer than the change waits (a slow signer): the
    change gives up, UNAVAILABLE and retry-safe, nothing changed; the writes held
    back behind it go on."""
    other = await make_department(operator, connect)
    async with issuer.pool.acquire() as conn, conn.transaction():
        await conn.execute(_KEY_SHARE, dept.type_code)
        change = asyncio.ensure_future(
            operator.admin.SetLicenceTypeIssuers(
                pb.SetLicenceTypeIssuersRequest(
                    type_code=dept.type_code, issuer_codes=[other.code]
                )
            )
        )
        await _change_waiting(issuer.pool)
        issuing = asyncio.ensure_future(
            dept.clients.issuer.IssueLicence(issue_request(dept))
        )
        err = await rpc_error(asyncio.wait_for(change, 10))
        assert err.code() is grpc.StatusCode.UNAVAILABLE, err.details()
        assert "retry" in err.details()
        issued = await asyncio.wait_for(issuing, 10)  # not held back any more
    assert issued.licence.issuer_code == dept.code
    found = await issuer.pool.fetchval(
        "select issuer_codes from licence_types where type_code = $1", dept.type_code
    )
    assert found == [dept.code]


async def test_a_batch_partly_unlisted_writes_the_rest_in_one_statement(
    monkeypatch, operator, connect, dept, issuer
):
    """A batch of which one type stopped listing the department as it was written:
    its items are refused and the others written together again, not each alone (a
    statement and a signature each, and in a request with an idempotency key,
    committed one by one before the answer)."""
    other = await make_department(operator, connect)
    kept = await make_department(operator, connect)
    await operator.admin.SetLicenceTypeIssuers(
        pb.SetLicenceTypeIssuersRequest(
            type_code=kept.type_code, issuer_codes=[kept.code, dept.code]
        )
    )
    await dept.clients.issuer.IssueLicence(issue_request(dept))  # the type cached
    await issuer.pool.execute(  # taken out, unseen by the cached type
        "update licence_types set issuer_codes = $2 where type_code = $1",
        dept.type_code,
        [other.code],
    )
    statements = []
    real = issuer.store.insert_licences

    async def counted(kid, now, items, *rest):
        statements.append(len(items))
        return await real(kid, now, items, *rest)

    monkeypatch.setattr(issuer.store, "insert_licences", counted)
    items = [issue_request(kept) for _ in range(4)] + [issue_request(dept)]
    reply = await dept.clients.issuer.IssueLicences(
        pb.IssueLicencesRequest(items=items)
    )
    outcomes = [r.WhichOneof("outcome") for r in reply.results]
    assert outcomes == ["licence"] * 4 + ["error"]
    assert reply.results[4].error.code == "PERMISSION_DENIED"
    assert statements == [5, 4]
