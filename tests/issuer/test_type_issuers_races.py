"""A department taken out of a licence type's issuers while a request of its own is in
flight (SetLicenceTypeIssuers): once the change has answered, no licence of the type
is committed for it, whether the request read the type before the change or not.

Each request is held, after the checks it makes with the type it read, until the
change has answered (its write, or its signing key's lookup, waits on a gate): the
window a batch of a thousand signatures, a queued group commit or a slow signer
opens in production. Before, the write committed: the department issued, renewed
or received by transfer a licence of a type that had just stopped listing it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import grpc

from certseal.v1 import issuer_pb2 as pb
from tests.conftest import issue_request, make_department
from tests.issuer.test_rpc import rpc_error


def _set(operator, type_code: str, *codes: str):
    return operator.admin.SetLicenceTypeIssuers(
        pb.SetLicenceTypeIssuersRequest(type_code=type_code, issuer_codes=list(codes))
    )


class _Gate:
    """Holds the calls of a wrapped method that ``hold(args)`` picks until opened."""

    def __init__(
        self,
        monkeypatch,
        owner,
        name: str,
        hold: Callable[..., bool],
        *,
        after: bool = False,
    ):
        """``after``: hold once the real call returned (what it read is kept)."""
        self.reached, self.open = asyncio.Event(), asyncio.Event()
        real = getattr(owner, name)

        async def gated(*args, **kwargs):
            held = hold(*args, **kwargs)
            found = await real(*args, **kwargs) if after else None
            if held:
                self.reached.set()
                await self.open.wait()
            return found if after else await real(*args, **kwargs)

        monkeypatch.setattr(owner, name, gated)


async def _held_across_the_change(
    gate: _Gate, request: Awaitable, change: Callable[[], Awaitable]
):
    """``request`` held at ``gate`` while ``change`` runs and answers; the request's
    outcome (its reply, or its grpc.aio.AioRpcError)."""
    pending = asyncio.ensure_future(request)
    await asyncio.wait_for(gate.reached.wait(), 10)
    await asyncio.wait_for(change(), 10)
    gate.open.set()
    try:
        return await asyncio.wait_for(pending, 10)
    except grpc.aio.AioRpcError as exc:
        return exc


async def _licences_of(issuer, type_code: str, code: str) -> int:
    return await issuer.pool.fetchval(
        "select count(*) from licences where type_code = $1 and issuer_code = $2",
        type_code,
        code,
    )


def _writes_for(code: str) -> Callable[..., bool]:
    return lambda kid, now, items, *rest: any(
        i.record.issuer_code == code for i in items
    )


async def test_an_issuance_written_after_the_change_answered_is_refused(
    monkeypatch, operator, connect, dept, issuer
):
    other = await make_department(operator, connect)
    gate = _Gate(monkeypatch, issuer.store, "insert_licences", _writes_for(dept.code))
    outcome = await _held_across_the_change(
        gate,
        dept.clients.issuer.IssueLicence(issue_request(dept)),  # a group commit
        lambda: _set(operator, dept.type_code, other.code),
    )
    assert isinstance(outcome, grpc.aio.AioRpcError), outcome
    assert outcome.code() is grpc.StatusCode.PERMISSION_DENIED
    assert outcome.details() == (
        f"type_code: department {dept.code} may not issue licence type "
        f"{dept.type_code}: it is not one of the type's issuers (an operator changes "
        "them: 'certseal type issuers')"
    )
    assert await _licences_of(issuer, dept.type_code, dept.code) == 0
    # and the type is read again: the next one is refused before it is signed
    err = await rpc_error(dept.clients.issuer.IssueLicence(issue_request(dept)))
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_a_batch_written_after_the_change_answered_issues_only_listed_types(
    monkeypatch, operator, connect, dept, issuer
):
    """A batch of two types, one of which stops listing the department: each item
    gets its own answer."""
    other = await make_department(operator, connect)
    kept = await make_department(operator, connect)
    await _set(operator, kept.type_code, kept.code, dept.code)
    items = [issue_request(dept), issue_request(kept), issue_request(dept)]
    gate = _Gate(monkeypatch, issuer.store, "insert_licences", _writes_for(dept.code))
    outcome = await _held_across_the_change(
        gate,
        dept.clients.issuer.IssueLicences(pb.IssueLicencesRequest(items=items)),
        lambda: _set(operator, dept.type_code, other.code),
    )
    assert not isinstance(outcome, grpc.aio.AioRpcError), outcome
    refused, issued, refused_too = outcome.results
    for index, result in ((0, refused), (2, refused_too)):
        assert result.error.code == "PERMISSION_DENIED", result
        assert result.error.field == f"items[{index}].type_code"
    assert issued.licence.type_code == kept.type_code
    assert await _licences_of(issuer, dept.type_code, dept.code) == 0
    assert await _licences_of(issuer, kept.type_code, dept.code) == 1


def _held_once_the_type_is_read(monkeypatch, issuer, type_code: str) -> _Gate:
    """A renewal or transfer held inside its lineage's transaction, the type (the
    cached one, listing the department) read for its checks and those to come: its
    second read of the type (the first reads the licence as stored)."""
    reads = []

    def second(code: str, *rest) -> bool:
        reads.append(code)
        return reads.count(type_code) == 2 and code == type_code

    return _Gate(
        monkeypatch, issuer.service.directory, "licence_type", second, after=True
    )


async def test_a_renewal_committed_after_the_change_answered_is_refused(
    monkeypatch, operator, connect, dept, issuer
):
    other = await make_department(operator, connect)
    issued = await dept.clients.issuer.IssueLicence(issue_request(dept))
    identifier = issued.licence.identifier
    gate = _held_once_the_type_is_read(monkeypatch, issuer, dept.type_code)
    outcome = await _held_across_the_change(
        gate,
        dept.clients.issuer.RenewLicence(pb.RenewLicenceRequest(identifier=identifier)),
        lambda: _set(operator, dept.type_code, other.code),
    )
    assert isinstance(outcome, grpc.aio.AioRpcError), outcome
    assert outcome.code() is grpc.StatusCode.PERMISSION_DENIED
    assert f"department {dept.code} no longer issues" in outcome.details()
    current = await dept.clients.issuer.GetLicence(
        pb.GetLicenceRequest(identifier=identifier)
    )
    assert current.licence.identifier == identifier  # not superseded


async def test_a_transfer_to_a_department_taken_out_meanwhile_is_refused(
    monkeypatch, operator, connect, issuer
):
    other = await make_department(operator, connect)
    dept = await make_department(operator, connect, type_issuers=[other.code])
    issued = await dept.clients.issuer.IssueLicence(issue_request(dept))
    gate = _held_once_the_type_is_read(monkeypatch, issuer, dept.type_code)
    outcome = await _held_across_the_change(
        gate,
        dept.clients.issuer.TransferLicence(
            pb.TransferLicenceRequest(
                identifier=issued.licence.identifier, to_department_code=other.code
            )
        ),
        lambda: _set(operator, dept.type_code, dept.code),
    )
    assert isinstance(outcome, grpc.aio.AioRpcError), outcome
    assert outcome.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "a transfer goes to a listed issuer" in outcome.details()
    assert await _licences_of(issuer, dept.type_code, other.code) == 0


async def test_a_write_waiting_on_the_change_s_lock_reads_the_issuers_it_made(
    operator, connect, dept, issuer
):
    """The change holds the type's row FOR UPDATE until it commits: an issuance or
    renewal that reached its write meanwhile (the type cached as it was) waits for
    it, then reads the new issuers and is refused."""
    other = await make_department(operator, connect)
    kept = await dept.clients.issuer.IssueLicence(issue_request(dept))  # cached
    async with issuer.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "select from licence_types where type_code = $1 for update", dept.type_code
        )
        await conn.execute(
            "update licence_types set issuer_codes = $2 where type_code = $1",
            dept.type_code,
            [other.code],
        )
        issuing = asyncio.ensure_future(
            dept.clients.issuer.IssueLicence(issue_request(dept))
        )
        renewing = asyncio.ensure_future(
            dept.clients.issuer.RenewLicence(
                pb.RenewLicenceRequest(identifier=kept.licence.identifier)
            )
        )
        done, _ = await asyncio.wait([issuing, renewing], timeout=1)
        assert not done  # each waits for the change to commit
    issued = await rpc_error(issuing)
    assert issued.code() is grpc.StatusCode.PERMISSION_DENIED, issued.details()
    renewed = await rpc_error(renewing)
    assert renewed.code() is grpc.StatusCode.PERMISSION_DENIED, renewed.details()
    assert await _licences_of(issuer, dept.type_code, dept.code) == 1


async def test_each_issuance_refused_in_a_group_is_audited_with_its_own_request_id(
    monkeypatch, operator, connect, dept, issuer
):
    """Issuances queued behind one statement are written (and, their type no longer
    listing the department, refused) by the group's writer: each refusal's audit row
    names the request refused, not the one whose writer it was."""
    other = await make_department(operator, connect)
    gate = _Gate(monkeypatch, issuer.store, "insert_licences", _writes_for(dept.code))
    ids = [f"atk-{dept.code}-{i}" for i in range(3)]
    calls = [
        asyncio.ensure_future(
            dept.clients.issuer.IssueLicence(
                issue_request(dept), metadata=(("x-request-id", request_id),)
            )
        )
        for request_id in ids
    ]
    await asyncio.wait_for(gate.reached.wait(), 10)
    await asyncio.sleep(0.3)  # the other two queue behind the held statement
    await _set(operator, dept.type_code, other.code)
    gate.open.set()
    for call in calls:
        err = await rpc_error(call)
        assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    recorded = await issuer.pool.fetch(
        "select request_id from audit_log where action = 'licence.issue' "
        "and subject = $1 and outcome = 'denied'",
        dept.type_code,
    )
    assert sorted(r["request_id"] for r in recorded) == ids


async def test_a_keyed_batch_refused_in_part_is_settled_once_and_retried(
    monkeypatch, operator, connect, dept, issuer
):
    """A batch with idempotency keys, one of its two types no longer listing the
    department when it is written: only that type's items are refused, the other is
    issued once, each audit row is the request's; its retry answers the licence
    issued and refuses the others again."""
    other = await make_department(operator, connect)
    kept = await make_department(operator, connect)
    await _set(operator, kept.type_code, kept.code, dept.code)
    items = [
        issue_request(dept, idempotency_key="k-out"),
        issue_request(kept, idempotency_key="k-kept"),
        issue_request(dept),
    ]
    gate = _Gate(monkeypatch, issuer.store, "insert_licences", _writes_for(dept.code))
    rid = f"atk-batch-{dept.code}"
    outcome = await _held_across_the_change(
        gate,
        dept.clients.issuer.IssueLicences(
            pb.IssueLicencesRequest(items=items), metadata=(("x-request-id", rid),)
        ),
        lambda: _set(operator, dept.type_code, other.code),
    )
    gate.open.set()
    retried = await dept.clients.issuer.IssueLicences(
        pb.IssueLicencesRequest(items=items), metadata=(("x-request-id", rid + "-2"),)
    )
    for results in (outcome.results, retried.results):
        assert [r.WhichOneof("outcome") for r in results] == [
            "error",
            "licence",
            "error",
        ]
        assert {r.error.code for r in (results[0], results[2])} == {"PERMISSION_DENIED"}
    assert retried.results[1].licence == outcome.results[1].licence
    assert await _licences_of(issuer, kept.type_code, dept.code) == 1
    assert await _licences_of(issuer, dept.type_code, dept.code) == 0
    audited = await issuer.pool.fetch(
        "select subject, outcome, request_id from audit_log "
        "where action = 'licence.issue' and request_id like $1 order by id",
        rid + "%",
    )
    assert sorted(tuple(r) for r in audited) == sorted(
        [
            (dept.type_code, "denied", rid),
            (outcome.results[1].licence.identifier, "ok", rid),
            (dept.type_code, "denied", rid),
            (dept.type_code, "denied", rid + "-2"),
            (dept.type_code, "denied", rid + "-2"),
        ]
    )
