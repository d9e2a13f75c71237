"""What is queued for the log, and by whom: seal registration and revocation through
the seal service's outbox (not a document's sealing), the events an upgraded
database still retains (kernel migration 0004), and which event types are logged at
all (kernel migration 0006: no holder's authorisation)."""

from __future__ import annotations

import contextlib
import secrets
import shutil
from collections.abc import AsyncIterator

import asyncpg

from certseal.events import EVENT_TYPES
from certseal.storage.pool import KERNEL_MIGRATIONS, create_pool, migrate
from certseal.v1 import seal_pb2 as spb
from certseal.v1 import tlog_pb2 as pb
from services.tlog.domain import LogEntry
from services.tlog.storage import migrate_all
from tests.conftest import seal_owner
from tests.tlog.test_rpc import _leaves_of


async def test_seal_registration_and_revocation_are_logged_not_sealings(
    seal_stub, operator, log_stub, tlog_app
):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal = (
        await stub.RegisterSeal(
            spb.RegisterSealRequest(name="日志测试专用章", suite="es256")
        )
    ).seal
    await stub.SealDocument(
        spb.SealDocumentRequest(seal_id=seal.seal_id, document=b"x" * 64)
    )
    await stub.RevokeSeal(spb.RevokeSealRequest(seal_id=seal.seal_id, reason="停用"))
    leaves = await _leaves_of(log_stub("auditor:seals"), seal.seal_id, at_least=2)
    assert [LogEntry.decode(leaf.leaf_data).type for leaf in leaves] == [
        "cn.gov.certseal.seal.registered",
        "cn.gov.certseal.seal.revoked",
    ]
    # the sealing's event was committed in between, and is not a leaf
    sealed = await tlog_app.pool.fetchval(
        """select count(*) from outbox where headers->>'ce_subject' = $1
           and headers->>'ce_type' = 'cn.gov.certseal.document.sealed'""",
        seal.seal_id,
    )
    assert sealed == 1
    again = await log_stub("auditor:seals").FindEntries(
        pb.FindEntriesRequest(subject=seal.seal_id)
    )
    assert len(again.leaves) == 2


@contextlib.asynccontextmanager
async def kernel_database(config, tmp_path, last: int) -> AsyncIterator[asyncpg.Pool]:
    """A database of its own with the kernel's migrations up to ``last`` applied, as
    a previous main left it; a pool on it, and the database dropped afterwards."""
    name = f"tlog_upgrade_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(config.database.dsn())
    await admin.execute(f'create database "{name}"')
    await admin.close()
    dsn = config.database.dsn().replace("/certseal?", f"/{name}?")
    old = tmp_path / f"kernel-to-{last:04d}"
    old.mkdir()
    for migration in sorted(KERNEL_MIGRATIONS.glob("*.sql")):
        if int(migration.name[:4]) <= last:
            shutil.copy(migration, old / migration.name)
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        await migrate(pool, [("kernel", old)])
        yield pool
    finally:
        await pool.close()
        admin = await asyncpg.connect(config.database.dsn())
        await admin.execute(f'drop database "{name}" with (force)')
        await admin.close()


async def commit_events(pool: asyncpg.Pool, rows) -> None:
    """Outbox rows of ``rows`` (topic, ce_type, ce_republished, subject), one
    transaction each, as publishers commit them."""
    for topic, ce_type, republished, subject in rows:
        headers = {"ce_type": ce_type, "ce_subject": subject, "ce_id": subject}
        if republished:
            headers["ce_republished"] = republished
        await pool.execute(
            "insert into outbox (topic, key, value, headers) values ($1, $2, $3, $4::jsonb)",
            topic,
            subject.encode(),
            b"value",
            headers,
        )


async def queued_subjects(pool: asyncpg.Pool) -> list[str]:
    rows = await pool.fetch(
        "select headers->>'ce_subject' as s from tlog_queue order by id"
    )
    return [r["s"] for r in rows]


async def test_an_upgraded_database_logs_the_events_it_retains(config, tmp_path):
    """A database made before the log (kernel migrations 0001-0003) with events in its
    outbox: migrating queues the logged ones, in commit order, and not the others."""
    async with kernel_database(config, tmp_path, 3) as pool:
        await commit_events(
            pool,
            [
                (
                    "certseal.licence-events.v1",
                    "cn.gov.certseal.licence.issued",
                    "",
                    "a",
                ),
                (
                    "certseal.directory-events.v1",
                    "cn.gov.certseal.department.named",
                    "",
                    "b",
                ),
                ("certseal.trust-events.v1", "cn.gov.certseal.key.activated", "", "c"),
                (
                    "certseal.licence-events.v1",
                    "cn.gov.certseal.licence.issued",
                    "true",
                    "d",
                ),
                ("certseal.seal-events.v1", "cn.gov.certseal.document.sealed", "", "e"),
                ("certseal.seal-events.v1", "cn.gov.certseal.seal.registered", "", "f"),
            ],
        )
        await migrate_all(pool)
        assert await queued_subjects(pool) == ["a", "c", "f"]


#: what the log holds: every change of a licence, a key or a seal (README, "The
#: transparency log"); nothing a holder does with a licence (授权用证, atk39authz) and
#: no use of a seal. A type added to EVENT_TYPES fails the test below until it is
#: put here or in NOT_LOGGED, and the kernel's trigger names it if it is logged.
LOGGED = {
    *(
        f"licence.{change}"
        for change in (
            "issued",
            "renewed",
            "amended",
            "suspended",
            "unsuspended",
            "revoked",
            "cancelled",
            "expired",
            "transferred",
        )
    ),
    "key.activated",
    "key.retired",
    "key.revoked",
    "seal.registered",
    "seal.revoked",
}
NOT_LOGGED = {
    "licence.authorised",
    "licence.authorisation_revoked",
    "licence.used",
    "document.sealed",
    "department.onboarded",
    "licence_type.registered",
}


async def test_the_log_queues_the_changes_of_every_event_type_and_nothing_else(
    config, tmp_path
):
    assert set(EVENT_TYPES) == LOGGED | NOT_LOGGED, "decide whether the log holds it"
    async with kernel_database(config, tmp_path, 99) as pool:
        await migrate_all(pool)
        await commit_events(
            pool,
            [
                (topic, f"cn.gov.certseal.{type_}", "", type_)
                for type_, topic in sorted(EVENT_TYPES.items())
            ]
            + [
                (topic, f"cn.gov.certseal.{type_}", "true", f"again {type_}")
                for type_, topic in sorted(EVENT_TYPES.items())
            ],
        )
        assert set(await queued_subjects(pool)) == LOGGED


async def test_an_upgrade_drops_queued_authorisations_and_queues_none_after(
    config, tmp_path
):
    """A database of the previous main (kernel migrations to 0005) whose queue holds
    a holder's authorisation and its withdrawal beside an issuance: the upgrade drops
    the two before the sequencer appends them, keeps the issuance, and queues no
    authorisation committed after it."""
    licence = "certseal.licence-events.v1"
    async with kernel_database(config, tmp_path, 5) as pool:
        await commit_events(
            pool,
            [
                (licence, "cn.gov.certseal.licence.issued", "", "issued"),
                (licence, "cn.gov.certseal.licence.authorised", "", "authorised"),
                (licence, "cn.gov.certseal.licence.authorisation_revoked", "", "w"),
            ],
        )
        assert await queued_subjects(pool) == ["issued", "authorised", "w"]
        await migrate_all(pool)
        assert await queued_subjects(pool) == ["issued"]
        await commit_events(
            pool,
            [
                (licence, "cn.gov.certseal.licence.authorised", "", "later"),
                (licence, "cn.gov.certseal.licence.revoked", "", "revoked"),
            ],
        )
        assert await queued_subjects(pool) == ["issued", "revoked"]
