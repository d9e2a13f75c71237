"""Outside review atk-authz, at a verifier group: what ``service:seal`` may do there.

The finding is a strict xfail asserting the documented rule (see its docstring).
"""

from __future__ import annotations

import grpc
import pytest

from certseal import qr
from certseal.rpc import secure_channel
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import verifier_pb2 as vpb
from certseal.v1 import verifier_pb2_grpc
from tests.conftest import issue_request, make_department, running, verifier_process

PURPOSE = "攻击测试"


@pytest.fixture(scope="module")
async def group(stack, config, issuer, tmp_path_factory):
    """One verifier group of one worker, every department a counter (the default)."""
    process = verifier_process(
        stack, config, tmp_path_factory.mktemp("atk-authz-verifier"), "atk-authz"
    )
    async with running(process):
        yield process


def verifier_as(stack, group, identity: str) -> verifier_pb2_grpc.VerifierStub:
    ident = stack.ca.identity(identity)
    channel = secure_channel(
        f"localhost:{group.port}",
        str(stack.ca.ca_file),
        str(ident.cert_file),
        str(ident.key_file),
    )
    return verifier_pb2_grpc.VerifierStub(channel)


async def outcome(call) -> str:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code().name
    return "OK"


async def test_the_seal_service_only_verifies_a_licence_files_code(
    stack, operator, connect, group
):
    """``service:seal`` "verifies a licence file's licence code at a verifier group
    (as itself, the platform's default field rights)" (docs/operations.md, Caller
    kinds, ``service:<name>``; docs/holder.md, "Verifying a licence file": one
    ``VerifyCode`` per file). Everything else at a verifier is for counters, the
    console and operators: the authorisation matrix gives every other service identity
    (column ``service:other``) – on ``VerifyCodes``, ``VerifyImage``,
    ``GetIndexStatus`` and ``ExportTrustBundle``. An offline trust bundle is signed
    by the group and relied on for a day (docs/architecture.md §2, "The lag"); a
    batch of codes is a counter's work. The seal service, which any caller reaches
    with a PDF, needs none of it."""
    dept = await make_department(operator, connect)
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    code = (
        await dept.clients.issuer.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=licence.identifier)
        )
    ).text
    seal = verifier_as(stack, group, "service:seal")
    # held: what it needs is answered
    assert (
        await outcome(
            seal.VerifyCode(vpb.VerifyCodeRequest(code=code, purpose=PURPOSE))
        )
        == "OK"
    )
    got = {
        "VerifyCodes": await outcome(
            seal.VerifyCodes(vpb.VerifyCodesRequest(codes=[code], purpose=PURPOSE))
        ),
        "VerifyImage": await outcome(
            seal.VerifyImage(
                vpb.VerifyImageRequest(image=qr.qr_png(code), purpose=PURPOSE)
            )
        ),
        "GetIndexStatus": await outcome(
            seal.GetIndexStatus(vpb.GetIndexStatusRequest())
        ),
        "ExportTrustBundle": await outcome(
            seal.ExportTrustBundle(vpb.ExportTrustBundleRequest(group=group.group))
        ),
    }
    assert got == dict.fromkeys(got, "PERMISSION_DENIED")
