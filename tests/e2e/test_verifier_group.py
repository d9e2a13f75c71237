"""One verifier group run as two workers (pods): each holds the whole licence index,
read straight from the licence topic (services.verifier.diskindex), and answers any
verification; a killed worker resumes from its own stored offsets."""

import datetime as dt
import secrets

import pytest
from rocksdict import Options, Rdict

from certseal.config import dump_config
from certseal.events import LICENCE_EVENTS
from certseal.timestamps import ts
from certseal.v1 import events_pb2, verifier_pb2
from certseal.v1 import issuer_pb2 as pb
from services.verifier.diskindex import FOLDER, OFFSET
from services.verifier.storage import MEMBER_FILE, read_member_id
from tests.conftest import (
    VerifierProcess,
    issue_request,
    running,
    verdict_everywhere,
    verifier_process,
)

VALID = verifier_pb2.VERDICT_VALID
REVOKED = verifier_pb2.VERDICT_REVOKED


@pytest.fixture(scope="module")
async def workers(stack, config, issuer, tmp_path_factory):
    """Two workers, w0 and w1, of one group, each with its own folder and log."""
    home = tmp_path_factory.mktemp("group")
    config_file = home / "config.toml"
    config.verifier.data_dir = str(home / "data")
    config_file.write_text(dump_config(config))
    group = f"g-{secrets.token_hex(3)}"
    found = {}
    for name in ("w0", "w1"):
        logs = home / name  # each worker's own log file
        logs.mkdir()
        worker = VerifierProcess(stack, config_file, logs, group, "--worker", name)
        worker.data = home / "data" / f"{group}@{name}"  # its own index folder
        found[name] = worker
    async with running(*found.values()):
        yield found


def stubs(workers) -> dict:
    return {name: w.stub for name, w in workers.items()}


async def issued(dept, count: int) -> tuple[list, list[str]]:
    reply = await dept.clients.issuer.IssueLicences(
        pb.IssueLicencesRequest(items=[issue_request(dept) for _ in range(count)])
    )
    licences = [r.licence for r in reply.results]
    codes = [
        (
            await dept.clients.issuer.GetLicenceCode(
                pb.GetLicenceCodeRequest(identifier=x.identifier)
            )
        ).text
        for x in licences
    ]
    return licences, codes


async def revoke(dept, licence) -> None:
    await dept.clients.issuer.RevokeLicence(
        pb.RevokeLicenceRequest(
            identifier=licence.identifier,
            reason="撤销",
            kind=pb.REVOCATION_KIND_REVOKE,
        )
    )


async def test_both_workers_answer_every_licence_and_see_revocations(workers, dept):
    licences, codes = await issued(dept, 12)
    for code in codes:
        await verdict_everywhere(stubs(workers), code, VALID)
    await revoke(dept, licences[0])
    await verdict_everywhere(stubs(workers), codes[0], REVOKED)
    for code in codes[1:]:
        await verdict_everywhere(stubs(workers), code, VALID, within=0.5)
    for worker in workers.values():
        status = await worker.stub.GetIndexStatus(verifier_pb2.GetIndexStatusRequest())
        # every worker reads every licence partition (4 here): the whole index
        fed = [p for p in status.partitions if p.topic == LICENCE_EVENTS]
        assert sorted(p.partition for p in fed) == [0, 1, 2, 3]
        assert status.licences >= 12
        assert status.HasField("last_event_time")


@pytest.mark.fault
async def faust_members(stack, worker) -> list[str]:
    """The members of ``worker``'s Faust consumer group (its small tables), as the
    broker lists them."""
    admin = stack.config.kafka.settings("group-test").admin()
    await admin.start()
    try:
        group_id = f"certseal-verifier-{worker.group}-{worker.data.name.split('@')[1]}"
        (described,) = await admin.describe_consumer_groups([group_id])
        groups = described.to_object()["groups"]
        return sorted(m["member_id"] for g in groups for m in g["members"])
    finally:
        await admin.close()


async def test_a_killed_worker_resumes_from_its_offsets(workers, dept, issuer, stack):
    """... and takes its dead predecessor's place in its Faust group instead of
    joining beside it and waiting out its session (the member id kept in its folder,
    services.verifier.transport.rejoin_as_before): once it serves, the group holds
    exactly the member it had before the kill."""
    licences, codes = await issued(dept, 20)
    await verdict_everywhere(stubs(workers), codes[-1], VALID)
    victim, other = workers["w0"], workers["w1"]
    before = read_member_id(victim.data / MEMBER_FILE)
    assert before is not None and await faust_members(stack, victim) == [before]
    for licence in licences[:5]:
        await revoke(dept, licence)
    await victim.kill()
    for licence in licences[5:10]:
        await revoke(dept, licence)
    # the other worker keeps answering while this one is down
    await verdict_everywhere({"w1": other.stub}, codes[9], REVOKED)
    assert await faust_members(stack, victim) == [before]  # the kill left it there
    await victim.start()
    await victim.wait_serving()
    assert await faust_members(stack, victim) == [before]
    assert read_member_id(victim.data / MEMBER_FILE) == before
    rows = await issuer.pool.fetch(
        "select identifier, status from licences where identifier = any($1)",
        [x.identifier for x in licences],
    )
    expected = {r["identifier"]: r["status"] for r in rows}
    assert sorted(expected.values()).count("03") == 10
    for licence, code in zip(licences, codes, strict=True):
        wanted = REVOKED if expected[licence.identifier] == "03" else VALID
        await verdict_everywhere(stubs(workers), code, wanted, within=30)


@pytest.mark.fault
async def test_events_delivered_again_change_nothing(workers, dept, stack):
    """A worker made to read the whole topic again (its stored offsets removed), and
    an older version of a revoked licence published again, leave every verdict as
    it was."""
    licences, codes = await issued(dept, 6)
    await revoke(dept, licences[0])
    await verdict_everywhere(stubs(workers), codes[0], REVOKED)
    # an old version of the revoked licence, delivered late to every worker
    stale = events_pb2.LicenceEvent(
        event_id=secrets.token_hex(8),
        type="licence.issued",
        lineage=licences[0].lineage,
        identifier=licences[0].identifier,
        version=1,
        lineage_version=1,
        status=1,
        operation=1,
        occurred_at=ts(dt.datetime.now(dt.UTC)),
        issuer_code=dept.code,
        type_code=licences[0].type_code,
        valid_from=licences[0].valid_from,
        valid_until=licences[0].valid_until,
    )
    producer = stack.config.kafka.settings("certseal-tests").producer()
    await producer.start()
    try:
        await producer.send_and_wait(
            LICENCE_EVENTS,
            stale.SerializeToString(),
            key=licences[0].lineage.encode(),
        )
    finally:
        await producer.stop()
    victim = workers["w1"]
    await victim.stop()
    db = Rdict(str(victim.data / FOLDER), Options(raw_mode=True))
    offsets = [k for k in db.keys() if k.startswith(OFFSET)]  # noqa: SIM118
    assert offsets
    for key in offsets:
        del db[key]
    db.close()
    await victim.start()
    await victim.wait_serving()
    # the fresh licence is known again only once the replay passed it
    await verdict_everywhere(stubs(workers), codes[-1], VALID, within=60)
    await verdict_everywhere(stubs(workers), codes[0], REVOKED, within=1)
    for code in codes[1:]:
        await verdict_everywhere(stubs(workers), code, VALID, within=1)


@pytest.mark.fault
async def test_a_group_kept_by_the_previous_version_rebuilds_its_licence_index(
    workers, stack, config, issuer, dept, tmp_path
):
    """The previous version kept the licence index as a Faust table; the new worker
    drops that table's files and rebuilds the index from the licence topic."""
    _licences, codes = await issued(dept, 3)
    worker = verifier_process(stack, config, tmp_path, "old")
    group = worker.group
    old = tmp_path / "data" / group / "v1" / "tables" / "licence-index-0.db"
    old.parent.mkdir(parents=True)
    # built from this broker (else the whole folder is dropped as another cluster's)
    marker = next(iter(workers.values())).data / "kafka-cluster-id"
    (tmp_path / "data" / group / "kafka-cluster-id").write_text(marker.read_text())
    legacy = Rdict(str(old))
    legacy[b"stale"] = b"old format"
    legacy.close()
    await worker.start()
    try:
        await worker.wait_serving()
        for code in codes:
            await verdict_everywhere({"w": worker.stub}, code, VALID, within=60)
        assert not old.exists()
        assert (tmp_path / "data" / group / FOLDER).is_dir()
        assert "rebuilding it" in worker.log_since_start()
    finally:
        await worker.stop()


async def test_a_bad_worker_name_is_refused(stack, config, tmp_path):
    worker = verifier_process(stack, config, tmp_path, "g", "--worker", "../x")
    await worker.start()
    assert await worker.exit_status() != 0
    assert "error: verifier.worker:" in worker.log_tail()


async def test_a_fetch_wait_of_zero_is_refused_naming_it(stack, config, tmp_path):
    """A replay guard that never fetches would answer every presentation code
    UNAVAILABLE with no error: the worker refuses to start instead (exit 2)."""
    worker = verifier_process(stack, config, tmp_path, "g", usage_fetch_max_wait_ms=0)
    await worker.start()
    assert await worker.exit_status() == 2
    assert (
        "error: verifier.usage_fetch_max_wait_ms: must be between 1 and"
        in worker.log_tail()
    )
