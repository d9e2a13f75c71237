"""Kafka lost: the topics rebuilt from PostgreSQL (``IssuerAdmin/Republish``).

On the real stack, in a database and brokers of this test's own (the session's broker
and outbox are shared by every test): licences are issued, renewed, suspended, revoked
and cancelled and a key is rotated; the outbox is aged past its retention and purged by
the relay; the broker is replaced by an empty one; republishing (in bounded calls, so
the run is interrupted and resumed) rebuilds the topics. A new verifier group's index
then equals the database entry for entry, and an existing group's index is left exactly
as it was (no stored event replaced) by a second run, after a newer change.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from rocksdict import Rdict

from certseal.config import dump_config
from certseal.events import default_topics
from certseal.indexkeys import IndexKeys
from certseal.kafka import ensure_topics
from certseal.rpc import secure_channel
from certseal.secretfiles import read_secret_file
from certseal.storage.outbox import unpublished_rows
from certseal.timestamps import MAX_SECONDS
from certseal.v1 import events_pb2, issuer_pb2_grpc, seal_pb2_grpc, verifier_pb2
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2 as lpb
from certseal.v1 import seal_pb2 as spb
from services.devstack import DevStack
from services.issuer.app import IssuerApp
from services.seal.app import SealApp
from services.verifier.diskindex import FOLDER as INDEX_FOLDER
from services.verifier.diskindex import DiskIndex
from services.verifier.index import restricted_values
from tests.conftest import (
    Clients,
    VerifierProcess,
    issue_request,
    make_department,
    onboarded,
    run_certseal,
    verdict_everywhere,
)

PARTITIONS = 4
REVOKED = verifier_pb2.VERDICT_REVOKED


async def _new_broker(home: Path, cfg: Any) -> DevStack:
    """A second embedded broker (empty, a cluster of its own) with the topics."""
    broker = DevStack(home, topic_partitions=PARTITIONS)
    port = broker._start_broker()  # the broker alone: this test brings its database
    cfg.kafka.bootstrap_servers = f"127.0.0.1:{port}"
    await ensure_topics(
        cfg.kafka.settings("republish-test").admin, default_topics(PARTITIONS)
    )
    return broker


async def _issuer(cfg: Any, stack: Any) -> tuple[IssuerApp, Any]:
    app = IssuerApp(cfg, listen="127.0.0.1:0")
    await app.start()

    def connect(identity: str) -> Clients:
        ident = stack.ca.identity(identity)
        channel = secure_channel(
            f"localhost:{app.port}",
            str(stack.ca.ca_file),
            str(ident.cert_file),
            str(ident.key_file),
        )
        return Clients(
            channel,
            issuer_pb2_grpc.IssuerStub(channel),
            issuer_pb2_grpc.IssuerAdminStub(channel),
        )

    return app, connect


async def _until(predicate, within: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.2)  # polling the database / a status: nothing to await


async def _all_published(conn: asyncpg.Connection) -> bool:
    return not await unpublished_rows(conn)


async def _caught_up(verifier: VerifierProcess) -> bool:
    status = await verifier.stub.GetIndexStatus(verifier_pb2.GetIndexStatusRequest())
    topics = {p.topic for p in status.partitions}
    return {"certseal.licence-events.v1", "certseal.trust-events.v1"} <= topics and all(
        p.lag == 0 and p.applied_offset >= p.high_water - 1 for p in status.partitions
    )


def _table(verifier: VerifierProcess, name: str) -> dict[bytes, bytes]:
    """A stopped verifier's table: key -> stored event bytes, every partition; the
    licence index is the on-disk one (services/verifier/diskindex.py)."""
    found: dict[bytes, bytes] = {}
    if name == "licence-index":
        folders = sorted(verifier.home.glob(f"data/{verifier.group}/**/{INDEX_FOLDER}"))
        assert folders, "no licence index"
        for folder in folders:
            index = DiskIndex(folder)
            try:
                found.update(index.items())
            finally:
                index.close()
        return found
    paths = sorted(verifier.home.glob(f"data/{verifier.group}/**/*{name}-*.db"))
    assert paths, f"no {name} table files"
    for path in paths:
        db = Rdict(str(path))
        try:
            for key, value in db.items():
                if isinstance(key, bytes) and not key.startswith(b"__faust"):
                    found[key] = value
        finally:
            db.close()
    return found


def _index(verifier: VerifierProcess) -> dict[str, tuple]:
    entries = {}
    for key, value in _table(verifier, "licence-index").items():
        e = events_pb2.LicenceEvent.FromString(value)
        assert key.decode() == e.lineage
        entries[e.lineage] = (
            e.identifier,
            e.version,
            f"{e.status:02d}",
            e.lineage_version,
            e.valid_from.ToDatetime().isoformat(),
            e.valid_until.ToDatetime().isoformat(),
            e.transferred_to,
        )
    return entries


def _trust(verifier: VerifierProcess) -> dict[str, tuple]:
    names = {1: "active", 2: "retired", 3: "revoked"}
    found = {}
    for value in _table(verifier, "trust-list").values():
        e = events_pb2.TrustEvent.FromString(value)
        found[e.kid] = (names.get(e.status, "?"), e.key_version)
    return found


async def _database(conn: asyncpg.Connection) -> tuple[dict, dict]:
    rows = await conn.fetch(
        """select l.lineage, c.identifier, c.version, c.status, c.lineage_version,
                  c.valid_from, c.valid_until, c.transferred_to
           from lineages l join licences c on c.identifier = l.current_identifier"""
    )
    index = {
        r["lineage"]: (
            r["identifier"],
            r["version"],
            r["status"],
            r["lineage_version"],
            r["valid_from"].replace(tzinfo=None).isoformat(),
            r["valid_until"].replace(tzinfo=None).isoformat(),
            r["transferred_to"] or "",
        )
        for r in rows
    }
    keys = {
        r["kid"]: (r["status"], r["key_version"])
        for r in await conn.fetch("select kid, status, key_version from signing_keys")
    }
    return index, keys


async def _seals(stack, cfg: Any) -> tuple[SealApp, Any]:
    app = SealApp(cfg, listen="127.0.0.1:0")
    await app.start()

    def stub(identity: str) -> seal_pb2_grpc.SealStub:
        ident = stack.ca.identity(identity)
        return seal_pb2_grpc.SealStub(
            secure_channel(
                f"localhost:{app.port}",
                str(stack.ca.ca_file),
                str(ident.cert_file),
                str(ident.key_file),
            )
        )

    return app, stub


async def _seal_topic(cfg: Any, count: int) -> dict[str, tuple[str, int]]:
    """seal id -> (status, seal_version) of the last event per seal on the topic."""
    consumer = cfg.kafka.settings("republish-test").consumer(
        "certseal.seal-events.v1", auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    latest: dict[str, tuple[str, int]] = {}
    try:
        async with asyncio.timeout(30):
            while len(latest) < count:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        e = events_pb2.SealEvent.FromString(record.value)
                        latest[e.seal_id] = (e.status, e.seal_version)
    finally:
        await consumer.stop()
    return latest


async def _republish(operator: Clients, **request: Any) -> list[pb.RepublishResponse]:
    replies = [await operator.admin.Republish(pb.RepublishRequest(**request))]
    while not replies[-1].done:
        replies.append(await operator.admin.Republish(pb.RepublishRequest()))
    return replies


async def _start(stack, cfg, home: Path, group: str) -> VerifierProcess:
    config_file = home / f"{group}.toml"
    config_file.write_text(dump_config(cfg))
    verifier = VerifierProcess(stack, config_file, home, group)
    await verifier.start()
    await verifier.wait_serving()
    return verifier


@pytest.mark.fault
async def test_a_new_broker_is_rebuilt_from_postgresql(stack, config, tmp_path):
    cfg = copy.deepcopy(config)
    cfg.verifier.data_dir = str(tmp_path / "data")
    session_dsn = Path(config.database.dsn_file).read_text().strip()  # noqa: ASYNC240
    name = f"republish_{secrets.token_hex(4)}"
    admin_conn = await asyncpg.connect(session_dsn)
    await admin_conn.execute(f"create database {name}")
    await admin_conn.close()
    dsn = session_dsn.replace("/certseal?", f"/{name}?")
    assert dsn != session_dsn
    (tmp_path / "database.dsn").write_text(dsn + "\n")
    (tmp_path / "database.dsn").chmod(0o600)
    cfg.database.dsn_file = str(tmp_path / "database.dsn")
    cfg.outbox.retention_days = 1

    brokers = [await _new_broker(tmp_path / "broker-a", cfg)]
    app, connect = await _issuer(cfg, stack)
    seal_app, seal_stub = await _seals(stack, cfg)
    conn = await asyncpg.connect(dsn)
    verifiers: list[VerifierProcess] = []
    try:
        # -- a history: issue, renew, suspend, revoke, cancel, rotate a key -----------
        operator = connect("operator:admin")
        dept = await make_department(operator, connect)
        licences = [
            (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
            for _ in range(6)
        ]
        # a type with a restricted field: its value is republished sealed too
        restricting = await make_department(operator, connect, restricted=True)
        restricted = (
            await restricting.clients.issuer.IssueLicence(issue_request(restricting))
        ).licence
        await dept.clients.issuer.RenewLicence(
            pb.RenewLicenceRequest(identifier=licences[0].identifier)
        )
        await dept.clients.issuer.SuspendLicence(
            pb.SuspendLicenceRequest(identifier=licences[1].identifier, reason="核查")
        )
        await dept.clients.issuer.RevokeLicence(
            pb.RevokeLicenceRequest(
                identifier=licences[2].identifier,
                reason="违规",
                kind=pb.REVOCATION_KIND_REVOKE,
            )
        )
        await dept.clients.issuer.CancelLicence(
            pb.CancelLicenceRequest(identifier=licences[3].identifier, reason="注销")
        )
        await operator.admin.RotateSigningKey(
            pb.RotateSigningKeyRequest(department_code=dept.code, suite="es256")
        )
        licences.append(
            (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
        )
        # valid until the last microsecond a Timestamp holds: PostgreSQL stores it as
        # infinity, which asyncpg reads back naive; it must read and republish as is
        latest = Timestamp(seconds=MAX_SECONDS, nanos=999_999_999)
        forever = (
            await dept.clients.issuer.IssueLicence(
                issue_request(dept, valid_until=latest)
            )
        ).licence
        assert await conn.fetchval(
            "select valid_until = 'infinity' from licences where identifier = $1",
            forever.identifier,
        )
        got = await dept.clients.issuer.GetLicence(
            pb.GetLicenceRequest(identifier=forever.identifier)
        )
        assert got.licence.valid_until.seconds == MAX_SECONDS
        owner = await onboarded(operator, lpb.DEPARTMENT_ROLE_SEAL_OWNER)
        sealer = seal_stub(f"dept:{owner}")
        seal_ids = [
            (
                await sealer.RegisterSeal(
                    spb.RegisterSealRequest(name=f"灾备测试章{i}", suite="es256")
                )
            ).seal.seal_id
            for i in range(3)
        ]
        await sealer.RevokeSeal(
            spb.RevokeSealRequest(seal_id=seal_ids[0], reason="遗失")
        )

        # -- the outbox ages past its retention; the relay purges it -----------------
        await _until(lambda: _all_published(conn))
        await conn.execute("update outbox set created_at = now() - interval '2 days'")
        await _until(lambda: _count(conn, "select count(*) from outbox", 0))

        # -- Kafka lost: an empty broker replaces it ----------------------------------
        await app.stop(grace=1)
        await seal_app.stop(grace=1)
        brokers[0].stop()
        brokers.append(await _new_broker(tmp_path / "broker-b", cfg))
        app, connect = await _issuer(cfg, stack)
        seal_app, seal_stub = await _seals(stack, cfg)
        operator = connect("operator:admin")
        department = connect(f"dept:{dept.code}")

        # only operators may republish
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await department.admin.Republish(pb.RepublishRequest())
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED

        # an interrupted run (bounded calls) resumes, never writing an entity twice
        index_db, keys_db = await _database(conn)
        first = await operator.admin.Republish(pb.RepublishRequest(max_events=2))
        assert not first.done and first.published == 2 and first.part == "trust"
        rest = await _republish(operator, max_events=3)
        assert all(r.resumed and r.run_id == first.run_id for r in rest)
        assert rest[-1].done and rest[-1].published == len(index_db) + len(keys_db)
        republished = await conn.fetchval(
            "select count(*) from outbox where headers->>'ce_republished' = 'true'"
        )
        assert republished == len(index_db) + len(keys_db)
        # the restricted value is republished sealed with the index key, never clear
        rows = await conn.fetch(
            "select value from outbox where key = $1 "
            "and headers->>'ce_republished' = 'true'",
            restricted.lineage.encode(),
        )
        index_keys = IndexKeys(
            read_secret_file(Path(name), "verifier.index_key_files")
            for name in cfg.verifier.index_key_files
        )
        assert len(rows) == 1 and "等级G7".encode() not in rows[0]["value"]
        event = events_pb2.LicenceEvent.FromString(rows[0]["value"])
        assert not event.restricted_fields and event.HasField("restricted_sealed")
        assert restricted_values(event, index_keys) == {"grade": "等级G7"}

        # the seal registry: interrupted, resumed, every seal once
        seals_op = seal_stub("operator:admin")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await seal_stub(f"dept:{owner}").RepublishSeals(spb.RepublishSealsRequest())
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        part = await seals_op.RepublishSeals(spb.RepublishSealsRequest(max_events=1))
        assert not part.done and part.published == 1
        rest_seals = await seals_op.RepublishSeals(spb.RepublishSealsRequest())
        assert rest_seals.resumed and rest_seals.done
        seals_db = {
            r["seal_id"]: (r["status"], r["seal_version"])
            for r in await conn.fetch("select seal_id, status, seal_version from seals")
        }
        assert rest_seals.published == len(seals_db)
        await _until(lambda: _all_published(conn))
        assert await _seal_topic(cfg, len(seals_db)) == seals_db
        assert seals_db[seal_ids[0]] == ("revoked", 2)

        # -- a new verifier group's index equals the database, entry for entry --------
        cfg_b = copy.deepcopy(cfg)
        existing = await _start(stack, cfg_b, tmp_path, f"old-{secrets.token_hex(3)}")
        verifiers.append(existing)
        await _until(lambda: _caught_up(existing))
        await existing.stop()
        assert _index(existing) == index_db
        assert _trust(existing) == {k: v for k, v in keys_db.items()}

        # -- a newer change, then a second run: the existing group is unchanged -------
        await existing.start()
        await existing.wait_serving()
        code = await department.issuer.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=licences[4].identifier)
        )
        await department.issuer.RevokeLicence(
            pb.RevokeLicenceRequest(
                identifier=licences[4].identifier,
                reason="吊销",
                kind=pb.REVOCATION_KIND_SANCTION,
            )
        )
        await _until(lambda: _all_published(conn))
        # the group's own high_water is as old as its last fetch, so "caught up" alone
        # could pass before it fetched the revocation (CI, 2026-12-06): its verdict
        # says the revocation is applied
        await verdict_everywhere({"old": existing.stub}, code.text, REVOKED, 60)
        await _until(lambda: _caught_up(existing))
        await existing.stop()
        before = _table(existing, "licence-index"), _table(existing, "trust-list")
        await existing.start()
        await existing.wait_serving()
        targets = {
            "issuer_target": f"localhost:{app.port}",
            "seal_target": f"localhost:{seal_app.port}",
        }
        code, out = await run_certseal(
            cfg, tmp_path, "republish", "--max-events", "200000", **targets
        )
        assert code == 2 and "max-events: 200000 is outside 0 to 100,000" in out, out
        code, out = await run_certseal(
            cfg, tmp_path, "republish", "--restart", "--max-events", "5", **targets
        )
        assert code == 0, out
        assert "restarted" in out and out.rstrip().endswith("certseal_outbox_backlog")
        run = await conn.fetchrow(
            "select * from republish_runs order by run_id desc limit 1"
        )
        assert run["run_id"] != first.run_id and run["finished_at"] is not None
        assert run["published"] == len(index_db) + len(keys_db)
        await _until(lambda: _all_published(conn))
        await _until(lambda: _caught_up(existing))
        await existing.stop()
        after = _table(existing, "licence-index"), _table(existing, "trust-list")
        assert after == before  # no stored event replaced, not even by an equal one

        index_db, keys_db = await _database(conn)
        assert index_db[licences[4].lineage][2] == "07"
        assert _index(existing) == index_db
        fresh = await _start(stack, cfg_b, tmp_path, f"new-{secrets.token_hex(3)}")
        verifiers.append(fresh)
        await _until(lambda: _caught_up(fresh))
        await fresh.stop()
        assert _index(fresh) == index_db
        assert _trust(fresh) == keys_db
    finally:
        for verifier in verifiers:
            if verifier.process is not None:
                await verifier.stop()
        await conn.close()
        await app.stop(grace=1)
        await seal_app.stop(grace=1)
        for broker in brokers:
            broker.stop()


async def _count(conn: asyncpg.Connection, query: str, wanted: int) -> bool:
    return await conn.fetchval(query) == wanted
