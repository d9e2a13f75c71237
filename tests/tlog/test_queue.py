"""What is queued for the log, and by whom: seal registration and revocation through
the seal service's outbox (not a document's sealing), and the events an upgraded
database still retains (kernel migration 0004)."""

from __future__ import annotations

import secrets
import shutil

import asyncpg

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


async def test_an_upgraded_database_logs_the_events_it_retains(config, tmp_path):
    """A database made before the log (kernel migrations 0001-0003) with events in its
    outbox: migrating queues the logged ones, in commit order, and not the others."""
    name = f"tlog_upgrade_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(config.database.dsn())
    await admin.execute(f'create database "{name}"')
    await admin.close()
    dsn = config.database.dsn().replace("/certseal?", f"/{name}?")
    old = tmp_path / "kernel-before-the-log"
    old.mkdir()
    for name_ in (
        "0001_outbox_audit.sql",
        "0002_audit_sealer_polls.sql",
        "0003_idempotent_requests.sql",
    ):
        shutil.copy(KERNEL_MIGRATIONS / name_, old / name_)
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        await migrate(pool, [("kernel", old)])
        rows = [
            ("certseal.licence-events.v1", "cn.gov.certseal.licence.issued", "", "a"),
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
        ]
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
        await migrate_all(pool)
        queued = await pool.fetch(
            "select headers->>'ce_subject' as s from tlog_queue order by id"
        )
        assert [r["s"] for r in queued] == ["a", "c", "f"]
    finally:
        await pool.close()
        admin = await asyncpg.connect(config.database.dsn())
        await admin.execute(f'drop database "{name}" with (force)')
        await admin.close()
