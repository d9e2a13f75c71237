"""A verifier group carries the transparency log's latest checkpoint in its verification
results and offline bundles, so a counter can prove the licence it verified is logged."""

from __future__ import annotations

import asyncio

from certseal.checkpoints import NoteVerifier, open_checkpoint
from certseal.identifiers import parse_licence_id
from certseal.merkle import leaf_hash, verify_inclusion
from certseal.timestamps import utcnow
from certseal.v1 import issuer_pb2, verifier_pb2
from certseal.v1 import tlog_pb2 as tpb
from services.verifier.bundle import open_bundle
from tests.conftest import issue_request, verdict_everywhere, verifier_process


async def test_results_and_bundles_carry_a_checkpoint_that_proves_the_licence_logged(
    stack, config, dept, tlog_app, log_stub, tmp_path
):
    verifier = verifier_process(
        stack,
        config,
        tmp_path,
        "log",
        bundle_refresh_s=0,
        log_target=f"localhost:{tlog_app.port}",
        log_key=config.cli.log_key,
        log_refresh_s=0.2,
    )
    await verifier.start()
    try:
        await verifier.wait_serving()
        licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
        code = (
            await dept.clients.issuer.GetLicenceCode(
                issuer_pb2.GetLicenceCodeRequest(identifier=licence.identifier)
            )
        ).text
        await verdict_everywhere({"g": verifier.stub}, code, verifier_pb2.VERDICT_VALID)
        auditor = log_stub("auditor:counter-check")
        lineage = parse_licence_id(licence.identifier).lineage
        log_key = NoteVerifier.parse(config.cli.log_key)
        async with asyncio.timeout(30):
            while True:  # until the group's checkpoint covers the issuance's leaf
                found = (
                    await auditor.FindEntries(tpb.FindEntriesRequest(subject=lineage))
                ).leaves
                reply = await verifier.stub.VerifyCode(
                    verifier_pb2.VerifyCodeRequest(code=code, purpose="窗口办事")
                )
                note = reply.result.log_checkpoint
                if (
                    found
                    and note
                    and open_checkpoint(note, log_key).size > found[0].leaf_index
                ):
                    break
                await asyncio.sleep(0.1)  # the log and the group's watch run apart
        checkpoint = open_checkpoint(note, log_key)
        leaf = found[0]
        proof = await auditor.GetInclusionProof(
            tpb.GetInclusionProofRequest(
                leaf_index=leaf.leaf_index, tree_size=checkpoint.size
            )
        )
        verify_inclusion(
            leaf.leaf_index,
            checkpoint.size,
            leaf_hash(proof.leaf_data),
            list(proof.proof),
            checkpoint.root_hash,
        )

        exported = await verifier.stub.ExportTrustBundle(
            verifier_pb2.ExportTrustBundleRequest()
        )
        assert exported.log_checkpoint
        bundle = open_bundle(
            [exported.bundle], ca_pem=stack.ca.ca_file.read_bytes(), now=utcnow()
        )
        assert bundle.log_checkpoint == exported.log_checkpoint
        assert open_checkpoint(bundle.log_checkpoint, log_key).size >= checkpoint.size
    finally:
        await verifier.stop()
