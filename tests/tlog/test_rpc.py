"""The transparency log over gRPC and the CLI, against the session's issuer: every
issuance, status change and key change is logged through the outbox; proofs verify
against signed checkpoints; a rewritten leaf is detected; bad requests name the field."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from certseal.checkpoints import NoteVerifier, open_checkpoint
from certseal.identifiers import parse_licence_id
from certseal.merkle import leaf_hash, verify_consistency, verify_inclusion
from certseal.v1 import issuer_pb2
from certseal.v1 import tlog_pb2 as pb
from services.tlog.domain import LogEntry
from tests.conftest import issue_request, run_certseal


async def _leaves_of(stub, subject: str, *, at_least: int = 1, within: float = 30.0):
    """The subject's leaves, once the sequencer has appended ``at_least`` of them."""
    async with asyncio.timeout(within):
        while True:
            found = (
                await stub.FindEntries(pb.FindEntriesRequest(subject=subject))
            ).leaves
            if len(found) >= at_least:
                return list(found)
            await asyncio.sleep(0.1)  # the sequencer has not run yet: nothing to await


async def _checkpoint_covering(stub, verifier, index: int):
    async with asyncio.timeout(30):
        while True:
            reply = await stub.GetCheckpoint(pb.GetCheckpointRequest())
            cp = open_checkpoint(reply.checkpoint, verifier)
            if cp.size > index:
                return cp, reply.checkpoint
            await asyncio.sleep(0.1)


@pytest.fixture
def verifier(config):
    return NoteVerifier.parse(config.cli.log_key)


@pytest.fixture
async def auditor(log_stub):  # a channel made on the running loop, as in a service
    return log_stub("auditor:outside-auditor")


async def test_an_issuance_and_a_revocation_are_logged_without_personal_data(
    dept, auditor, verifier
):
    request = issue_request(dept, name="李四光", id_number="11010519491231002X")
    licence = (await dept.clients.issuer.IssueLicence(request)).licence
    lineage = parse_licence_id(licence.identifier).lineage
    await dept.clients.issuer.RevokeLicence(
        issuer_pb2.RevokeLicenceRequest(
            identifier=licence.identifier,
            reason="test",
            kind=issuer_pb2.REVOCATION_KIND_REVOKE,
        )
    )
    leaves = await _leaves_of(auditor, lineage, at_least=2)
    entries = [LogEntry.decode(leaf.leaf_data) for leaf in leaves]
    assert [e.type for e in entries] == [
        "cn.gov.certseal.licence.issued",
        "cn.gov.certseal.licence.revoked",
    ]
    for leaf in leaves:
        assert "李四光".encode() not in leaf.leaf_data
        assert b"11010519491231002X" not in leaf.leaf_data
        assert "深圳市".encode() not in leaf.leaf_data
    cp, _ = await _checkpoint_covering(auditor, verifier, leaves[-1].leaf_index)
    for leaf in leaves:
        proof = await auditor.GetInclusionProof(
            pb.GetInclusionProofRequest(leaf_index=leaf.leaf_index, tree_size=cp.size)
        )
        assert proof.leaf_data == leaf.leaf_data
        verify_inclusion(
            leaf.leaf_index,
            cp.size,
            leaf_hash(leaf.leaf_data),
            list(proof.proof),
            cp.root_hash,
        )


async def test_a_key_change_is_logged(dept, auditor):
    leaves = await _leaves_of(auditor, dept.kid)
    assert LogEntry.decode(leaves[0].leaf_data).type == "cn.gov.certseal.key.activated"


async def test_checkpoints_are_consistent_over_gRPC(dept, auditor, verifier):
    first, _ = await _checkpoint_covering(auditor, verifier, 0)
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    leaves = await _leaves_of(auditor, parse_licence_id(licence.identifier).lineage)
    second, _ = await _checkpoint_covering(auditor, verifier, leaves[0].leaf_index)
    assert second.size > first.size
    reply = await auditor.GetConsistencyProof(
        pb.GetConsistencyProofRequest(
            first_tree_size=first.size, second_tree_size=second.size
        )
    )
    verify_consistency(
        first.size, second.size, list(reply.proof), first.root_hash, second.root_hash
    )
    assert open_checkpoint(reply.checkpoint, verifier) == second


async def test_log_verify_finds_the_issuance_and_detects_a_rewritten_leaf(
    config, dept, auditor, tlog_app, tmp_path
):
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    lineage = parse_licence_id(licence.identifier).lineage
    (leaf,) = await _leaves_of(auditor, lineage)
    await _checkpoint_covering(
        auditor, NoteVerifier.parse(config.cli.log_key), leaf.leaf_index
    )
    target = {"tlog_target": f"localhost:{tlog_app.port}"}

    code, out = await run_certseal(
        config, tmp_path, "log", "verify", "--licence", licence.identifier, **target
    )
    assert code == 0, out
    assert f"issuance is leaf {leaf.leaf_index}" in out

    # someone with write access to the database rewrites the leaf (another time)
    entry = LogEntry.decode(leaf.leaf_data)
    forged = LogEntry(**{**_fields(entry), "time": "2020-01-01T00:00:00Z"}).encode()
    await tlog_app.pool.execute(
        "update tlog_leaves set data = $2 where leaf_index = $1",
        leaf.leaf_index,
        forged,
    )
    try:
        code, out = await run_certseal(
            config, tmp_path, "log", "verify", "--licence", licence.identifier, **target
        )
    finally:
        await tlog_app.pool.execute(
            "update tlog_leaves set data = $2 where leaf_index = $1",
            leaf.leaf_index,
            leaf.leaf_data,
        )
    assert code == 1, out
    assert "error: leaf:" in out and "not the leaf the signed checkpoint" in out


def _fields(entry: LogEntry) -> dict:
    return {
        f: getattr(entry, f)
        for f in ("topic", "type", "subject", "event", "time", "sha256")
    }


async def test_log_verify_checks_two_checkpoints(
    config, dept, auditor, tlog_app, tmp_path
):
    target = {"tlog_target": f"localhost:{tlog_app.port}"}
    old = tmp_path / "old.checkpoint"
    code, out = await run_certseal(
        config, tmp_path, "log", "checkpoint", "--out", str(old), **target
    )
    assert code == 0, out
    # one line says what was written (the note itself goes to the file only)
    written = open_checkpoint(old.read_text(), NoteVerifier.parse(config.cli.log_key))
    assert (
        f"wrote       {old}: checkpoint {written.origin} size {written.size}, "
        "signature valid"
    ) in out.splitlines()
    assert old.read_text() not in out
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    (leaf,) = await _leaves_of(auditor, parse_licence_id(licence.identifier).lineage)
    await _checkpoint_covering(
        auditor, NoteVerifier.parse(config.cli.log_key), leaf.leaf_index
    )
    code, out = await run_certseal(
        config, tmp_path, "log", "verify", "--old", str(old), **target
    )
    assert code == 0, out
    assert "consistent" in out

    # a checkpoint whose size was changed no longer carries the log's signature
    text = old.read_text().split("\n")
    text[1] = str(int(text[1]) + 1)
    old.write_text("\n".join(text))
    code, out = await run_certseal(
        config, tmp_path, "log", "verify", "--old", str(old), **target
    )
    assert code == 1, out
    assert f"error: old: {old}: the signature of " in out, out


async def test_log_verify_of_a_licence_never_issued_or_mistyped(
    config, tlog_app, tmp_path
):
    from certseal.identifiers import LicenceId

    target = {"tlog_target": f"localhost:{tlog_app.port}"}
    never = str(
        LicenceId("11100000000013338W001", "11100000000013338W", "NEVERISSUED00001", 1)
    )
    code, out = await run_certseal(
        config, tmp_path, "log", "verify", "--licence", never, **target
    )
    assert code == 1, out
    assert "error: licence:" in out and "no issuance" in out
    mistyped = never[:-1] + ("X" if never[-1] != "X" else "Y")
    code, out = await run_certseal(
        config, tmp_path, "log", "verify", "--licence", mistyped, **target
    )
    assert code == 2, out  # a wrong check character is bad input
    assert "error: licence:" in out


async def _error(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


def _field(err: grpc.aio.AioRpcError) -> str:
    return dict(err.trailing_metadata() or ()).get("certseal-error-field", "")


async def test_bad_proof_requests_are_invalid_argument_naming_the_field(auditor, dept):
    await dept.clients.issuer.IssueLicence(issue_request(dept))
    size = (await auditor.GetCheckpoint(pb.GetCheckpointRequest())).tree_size
    while size == 0:  # the first append of the session has not happened yet
        await asyncio.sleep(0.1)
        size = (await auditor.GetCheckpoint(pb.GetCheckpointRequest())).tree_size
    big = 2**64 - 1
    cases = [
        (
            auditor.GetInclusionProof(pb.GetInclusionProofRequest(leaf_index=size + 5)),
            "leaf_index",
        ),
        (
            auditor.GetInclusionProof(pb.GetInclusionProofRequest(leaf_index=big)),
            "leaf_index",
        ),
        (
            auditor.GetInclusionProof(
                pb.GetInclusionProofRequest(leaf_index=0, tree_size=big)
            ),
            "tree_size",
        ),
        (
            auditor.GetInclusionProof(
                pb.GetInclusionProofRequest(leaf_index=0, tree_size=size + 10**6)
            ),
            "tree_size",
        ),
        (
            auditor.GetConsistencyProof(pb.GetConsistencyProofRequest()),
            "first_tree_size",
        ),
        (
            auditor.GetConsistencyProof(
                pb.GetConsistencyProofRequest(first_tree_size=size, second_tree_size=1)
            ),
            "first_tree_size",
        )
        if size > 1
        else (
            auditor.GetConsistencyProof(
                pb.GetConsistencyProofRequest(first_tree_size=big)
            ),
            "first_tree_size",
        ),
        (
            auditor.GetConsistencyProof(
                pb.GetConsistencyProofRequest(
                    first_tree_size=1, second_tree_size=size + 10**6
                )
            ),
            "second_tree_size",
        ),
        (auditor.GetEntries(pb.GetEntriesRequest(start=0, count=0)), "count"),
        (auditor.GetEntries(pb.GetEntriesRequest(start=0, count=1001)), "count"),
        (
            auditor.GetEntries(pb.GetEntriesRequest(start=size + 10**6, count=1)),
            "start",
        ),
        (auditor.FindEntries(pb.FindEntriesRequest(subject="")), "subject"),
        (auditor.FindEntries(pb.FindEntriesRequest(subject="x" * 300)), "subject"),
        (
            auditor.FindEntries(pb.FindEntriesRequest(subject="x", page_size=101)),
            "page_size",
        ),
    ]
    for call, field in cases:
        err = await _error(call)
        assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, (field, err.details())
        assert _field(err) == field, err.details()


async def test_entries_replay_the_log_to_its_checkpoint_root(auditor, verifier, dept):
    await dept.clients.issuer.IssueLicence(issue_request(dept))
    cp, _ = await _checkpoint_covering(auditor, verifier, 0)
    hashes: list[bytes] = []
    while len(hashes) < cp.size:
        reply = await auditor.GetEntries(
            pb.GetEntriesRequest(
                start=len(hashes), count=min(1000, cp.size - len(hashes))
            )
        )
        assert [leaf.leaf_index for leaf in reply.leaves] == list(
            range(len(hashes), len(hashes) + len(reply.leaves))
        )
        hashes += [leaf_hash(leaf.leaf_data) for leaf in reply.leaves]
    from certseal.merkle import reference_root

    assert reference_root(hashes[: cp.size]) == cp.root_hash


async def test_an_auditor_reads_only_the_log(stack, issuer, log_stub):
    from certseal.rpc import secure_channel
    from certseal.v1 import issuer_pb2_grpc

    await log_stub("auditor:monitor").GetCheckpoint(pb.GetCheckpointRequest())
    for identity in ("integrator:x", "service:verifier", "operator:admin"):
        await log_stub(identity).GetCheckpoint(pb.GetCheckpointRequest())
    ident = stack.ca.identity("auditor:monitor")
    channel = secure_channel(
        f"localhost:{issuer.port}",
        str(stack.ca.ca_file),
        str(ident.cert_file),
        str(ident.key_file),
    )
    err = await _error(
        issuer_pb2_grpc.IssuerStub(channel).GetLicence(
            issuer_pb2.GetLicenceRequest(identifier="x")
        )
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    err = await _error(log_stub("robot:x").GetCheckpoint(pb.GetCheckpointRequest()))
    assert err.code() is grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("log", "verify"), "licence"),
        (("log", "verify", "--licence", "x", "--old", "y"), "licence"),
        (("log", "verify", "--licence", "not-an-identifier"), "licence"),
        (("log", "verify", "--old", "/nonexistent/old.checkpoint"), "old"),
        (("log", "checkpoint", "--log-key", "name+zz+AAAA"), "log-key"),
    ],
)
async def test_log_commands_name_what_is_wrong(config, tlog_app, tmp_path, args, field):
    code, out = await run_certseal(
        config, tmp_path, *args, tlog_target=f"localhost:{tlog_app.port}"
    )
    assert code == 2, out
    assert out.startswith(f"error: {field}:"), out
    assert "Traceback" not in out
