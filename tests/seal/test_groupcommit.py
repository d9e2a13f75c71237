"""Group commit of sealed documents' records (services/seal/groupcommit.py): concurrent
SealDocument calls share one statement, each answered only after its own rows
committed, each with its own event and audit row; a seal revoked before the statement
writes nothing of its request and answers FAILED_PRECONDITION; a failing statement
decides no one's answer on another's behalf."""

import asyncio

import asyncpg
import pytest

from certseal.audit import AuditEntry
from certseal.crypto import Suite
from certseal.errors import CertsealError, ErrorKind
from certseal.events import OutboxRecord
from certseal.logs import REQUEST_ID
from certseal.rpc import Caller
from services.seal.groupcommit import SealedGroupCommit
from services.seal.storage import SealedRecord
from tests.conftest import seal_owner
from tests.seal.service_samples import DOCUMENT, NOW, request


def _record(seal_id: str, n: int) -> SealedRecord:
    return SealedRecord(
        seal_id,
        [OutboxRecord("t", seal_id.encode(), f"{n}".encode(), {})],
        [AuditEntry(NOW, "dept:x", "seal.use", seal_id, request_id=f"r{n}")],
    )


async def test_concurrent_seals_share_statements_each_with_its_own_rows(
    service,
    seal_store,
    operator,
):
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    seals = [
        await service.register(caller, request(owner, suite))
        for suite in (Suite.ES256, Suite.ED25519)
    ]
    before = service._records.statements

    async def one(n: int):
        REQUEST_ID.set(f"group-{owner}-{n}")
        return await service.seal_document(
            caller,
            seals[n % 2].seal_id,
            document=DOCUMENT + str(n).encode(),
            document_hash=None,
            property_info=f"doc-{n}",
        )

    results = await asyncio.gather(*(one(n) for n in range(40)))
    assert len({r.signature for r in results}) == 40
    statements = service._records.statements - before
    assert 1 <= statements < 40  # shared: fewer statements than seals
    rows = await seal_store.pool.fetch(
        """select subject, request_id, details from audit_log
           where action = 'seal.use' and request_id like $1""",
        f"group-{owner}-%",
    )
    assert sorted(r["request_id"] for r in rows) == sorted(
        f"group-{owner}-{n}" for n in range(40)
    )  # one audit row per request, with its own request id
    for row in rows:
        n = int(row["request_id"].rsplit("-", 1)[1])
        assert row["subject"] == seals[n % 2].seal_id
        assert bytes.fromhex(row["details"]["digest"]) == results[n].document_hash
    events = await seal_store.pool.fetchval(
        "select count(*) from outbox where key = any($1::bytea[])",
        [s.seal_id.encode() for s in seals],
    )
    assert events == 2 + 40  # the two registrations, then one per sealed document


async def test_a_seal_revoked_before_the_statement_writes_nothing_of_it(
    service,
    seal_store,
    operator,
):
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    active = await service.register(caller, request(owner, Suite.ES256))
    revoked = await service.register(caller, request(owner, Suite.ES256))
    await service.revoke(caller, revoked.seal_id, "遗失")
    found = await seal_store.record_sealed(
        [_record(active.seal_id, 1), _record(revoked.seal_id, 2)]
    )
    assert found == {active.seal_id}
    audited = await seal_store.pool.fetch(
        "select subject from audit_log where action = 'seal.use' and subject = any($1)",
        [active.seal_id, revoked.seal_id],
    )
    assert [r["subject"] for r in audited] == [active.seal_id]
    keys = await seal_store.pool.fetch(
        "select key, value from outbox where key = any($1::bytea[]) and topic = 't'",
        [active.seal_id.encode(), revoked.seal_id.encode()],
    )
    assert [(bytes(r["key"]), bytes(r["value"])) for r in keys] == [
        (active.seal_id.encode(), b"1")
    ]


async def test_sealing_with_a_seal_revoked_meanwhile_is_failed_precondition(
    service,
    seal_store,
    operator,
    monkeypatch,
):
    """Revoked after the use check and the signature, before the rows are written:
    the request is refused and nothing of it is written."""
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    seal = await service.register(caller, request(owner, Suite.ED25519))
    usable = service.usable

    async def then_revoked(who, seal_id, **kw):
        found = await usable(who, seal_id, **kw)
        await seal_store.pool.execute(
            "update seals set status = 'revoked', revoked_at = $2 where seal_id = $1",
            seal_id,
            NOW,
        )
        return found

    monkeypatch.setattr(service, "usable", then_revoked)
    with pytest.raises(CertsealError) as err:
        await service.seal_document(
            caller,
            seal.seal_id,
            document=DOCUMENT,
            document_hash=None,
            property_info="late",
        )
    assert err.value.kind is ErrorKind.FAILED_PRECONDITION
    assert err.value.field == "seal_id"
    assert not await seal_store.pool.fetchval(
        "select count(*) from audit_log where action = 'seal.use' and subject = $1",
        seal.seal_id,
    )


async def test_a_refused_group_is_written_one_by_one_each_its_own_answer():
    calls: list[list[str]] = []

    async def write(records):
        calls.append([r.seal_id for r in records])
        if len(records) > 1:
            raise ValueError("a value one record brought")
        if records[0].seal_id == "bad":
            raise ValueError("this one")
        return {records[0].seal_id} - {"revoked"}

    group = SealedGroupCommit(write)
    outcomes = await asyncio.gather(
        *(group.record(_record(s, n)) for n, s in enumerate(["a", "bad", "revoked"])),
        return_exceptions=True,
    )
    assert outcomes[0] is True and outcomes[2] is False
    assert isinstance(outcomes[1], ValueError) and str(outcomes[1]) == "this one"
    assert calls == [["a", "bad", "revoked"], ["a"], ["bad"], ["revoked"]]


async def test_a_failure_the_same_for_all_is_each_ones_answer():
    async def write(records):
        raise asyncpg.exceptions.ConnectionDoesNotExistError("gone")

    group = SealedGroupCommit(write)
    outcomes = await asyncio.gather(
        *(group.record(_record(s, n)) for n, s in enumerate("abc")),
        return_exceptions=True,
    )
    assert all(
        isinstance(o, asyncpg.exceptions.ConnectionDoesNotExistError) for o in outcomes
    )


async def test_records_arriving_while_a_statement_runs_go_in_the_next_one():
    release = asyncio.Event()
    calls: list[list[str]] = []

    async def write(records):
        calls.append([r.seal_id for r in records])
        if len(calls) == 1:
            await release.wait()
        return {r.seal_id for r in records}

    group = SealedGroupCommit(write)
    first = asyncio.create_task(group.record(_record("a", 1)))
    await asyncio.sleep(0.01)
    later = [asyncio.create_task(group.record(_record(s, 2))) for s in "bcd"]
    await asyncio.sleep(0.01)
    assert not first.done()  # answered only after its statement returned
    release.set()
    assert await first is True and all([await t for t in later])
    assert calls == [["a"], ["b", "c", "d"]]


async def test_a_kept_seal_row_never_hides_a_revocation(
    service,
    seal_store,
    operator,
):
    """SealDocument reuses the seal's row it read before; revoked since (here by
    another seal process, straight in the table), the next SealDocument is refused
    FAILED_PRECONDITION with nothing written, and the one after too."""
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    seal = await service.register(caller, request(owner, Suite.ES256))

    async def seal_once(name: str):
        return await service.seal_document(
            caller,
            seal.seal_id,
            document=DOCUMENT,
            document_hash=None,
            property_info=name,
        )

    await seal_once("first")  # the row is now kept
    await seal_store.pool.execute(
        "update seals set status = 'revoked', revoked_at = $2 where seal_id = $1",
        seal.seal_id,
        NOW,
    )
    for name in ("second", "third"):
        with pytest.raises(CertsealError) as err:
            await seal_once(name)
        assert err.value.kind is ErrorKind.FAILED_PRECONDITION
    assert (
        await seal_store.pool.fetchval(
            "select count(*) from audit_log where action = 'seal.use' and subject = $1",
            seal.seal_id,
        )
        == 1
    )
