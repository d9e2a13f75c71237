"""The registry's seal statuses for concurrent verifications, read in one statement
(services.seal.statusreads): each caller gets its own seal's status (None when not
registered); a caller that asks while a read is in flight is answered by the next
statement, so a revocation committed before it asked is seen; a failed read is the
answer of its group only."""

import asyncio

from certseal.crypto import Suite
from certseal.rpc import Caller
from services.seal.statusreads import StatusReads
from tests.conftest import seal_owner
from tests.seal.service_samples import NOW, request


async def test_concurrent_reads_share_one_statement_each_its_own_answer(
    service,
    seal_store,
    operator,
):
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    active = await service.register(caller, request(owner, Suite.ES256))
    revoked = await service.register(caller, request(owner, Suite.ED25519))
    await service.revoke(caller, revoked.seal_id, "遗失")
    reads = StatusReads(seal_store.statuses)
    asked = [active.seal_id, revoked.seal_id, "91350100M000100Y43-404", active.seal_id]
    answers = await asyncio.gather(*(reads.status(s) for s in asked * 3))
    assert answers[:4] == [
        ("active", None),
        ("revoked", NOW),
        None,
        ("active", None),
    ]
    assert answers == answers[:4] * 3
    assert (reads.statements, reads.asked) == (1, 12)


async def test_a_read_asked_while_one_is_in_flight_sees_what_committed_before(
    service,
    seal_store,
    operator,
):
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    seal = await service.register(caller, request(owner, Suite.SM2))
    started, release = asyncio.Event(), asyncio.Event()

    async def read_many(seal_ids):
        found = await seal_store.statuses(seal_ids)
        started.set()
        await release.wait()  # the statement is still in flight for its callers
        return found

    reads = StatusReads(read_many)
    first = asyncio.create_task(reads.status(seal.seal_id))
    await started.wait()
    await service.revoke(caller, seal.seal_id, "公章遗失")
    second = asyncio.create_task(reads.status(seal.seal_id))
    await asyncio.sleep(0)  # one turn of the loop: it queues behind the statement
    release.set()
    assert await first == ("active", None)  # read before the revocation
    assert await second == ("revoked", NOW)
    assert reads.statements == 2


async def test_a_failed_read_is_the_answer_of_its_group_only(
    service,
    seal_store,
    operator,
):
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    seal = await service.register(caller, request(owner, Suite.ES256))
    failures = [ConnectionResetError("the database went away")]

    async def read_many(seal_ids):
        if failures:
            raise failures.pop()
        return await seal_store.statuses(seal_ids)

    reads = StatusReads(read_many)
    failed = await asyncio.gather(
        *(reads.status(seal.seal_id) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(f, ConnectionResetError) for f in failed)
    assert await reads.status(seal.seal_id) == ("active", None)
