"""The usage record end to end (issue 16): a licence verified at two verifier groups
(real processes) shows in the holder app's ListLicenceUsage, both verifications in
order; another holder's app cannot read it. How soon after its verdict a use shows
is a benchmark's figure (``python -m bench.usage_bench``, ``usage_record_p99_ms``
in ``make bench``), not a timed assertion here: on a shared machine under load a
second-long bound failed a correct build."""

from __future__ import annotations

import asyncio
import secrets

import grpc
import pytest

from certseal import identifiers
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2, verifier_pb2
from tests.conftest import (
    holder_app_licence,
    running,
    verifier_process,
)

VALID = 1  # verifier_pb2 verdict VALID
VERIFIED = pb.LICENCE_USAGE_KIND_VERIFIED


@pytest.fixture(scope="module")
async def groups(stack, config, issuer, tmp_path_factory):
    """Two verifier groups, each its own process with its own index."""
    started = {
        name: verifier_process(
            stack, config, tmp_path_factory.mktemp(f"usage-{name}"), f"u{name}"
        )
        for name in ("a", "b")
    }
    async with running(*started.values()):
        yield started


async def visible(issuer, app, request, purpose: str) -> None:
    """Return once a verification with ``purpose`` is in ``app``'s record (awaiting
    the consumer's commits, no sleeps)."""
    while True:
        committed = issuer.usage_consumer.next_commit()
        reply = await app.ListLicenceUsage(request)
        if any(u.kind == VERIFIED and u.purpose == purpose for u in reply.uses):
            return
        await committed.wait()


async def test_verifications_at_two_groups_are_in_the_record_in_order(
    dept, operator, connect, issuer, groups
):
    stubs = {name: p.stub for name, p in groups.items()}
    seen = await holder_app_licence(
        dept, operator, connect, stubs, name="陈一", app="app:usage"
    )
    licence, a_number, app, request, code = (
        seen.licence,
        seen.number,
        seen.app,
        seen.listing,
        seen.code,
    )

    purposes = {name: f"办理业务-{name}-{secrets.token_hex(2)}" for name in stubs}
    for name in ("a", "b"):
        reply = await stubs[name].VerifyCode(
            verifier_pb2.VerifyCodeRequest(code=code, purpose=purposes[name])
        )
        assert reply.result.verdict == VALID
        async with asyncio.timeout(30):  # a bound on a hang, not a latency figure
            await visible(issuer, app, request, purposes[name])

    uses = [
        u
        for u in (await app.ListLicenceUsage(request)).uses
        if u.kind == VERIFIED and u.purpose in purposes.values()
    ]
    assert [(u.purpose, u.verifier_group) for u in uses] == [
        (purposes["a"], groups["a"].group),
        (purposes["b"], groups["b"].group),
    ]
    for use in uses:
        assert use.verdict == "VALID"
        assert use.counter == "dept:11440300VERIFIERS1"
        assert use.identifier == licence.identifier
        assert "陈一" not in str(use) and a_number not in str(use)

    # another holder, through the same app or another app of the same type: NOT_FOUND
    other = licence_pb2.Holder(
        id_type="111", id_number=identifiers.random_resident_id()
    )
    other_app = f"app:usage-other-{secrets.token_hex(3)}"
    await operator.admin.GrantHolderApp(
        pb.GrantHolderAppRequest(app=other_app, type_code=dept.type_code)
    )
    for stub in (app, connect(other_app).issuer):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ListLicenceUsage(
                pb.ListLicenceUsageRequest(identifier=licence.identifier, holder=other)
            )
        assert err.value.code() is grpc.StatusCode.NOT_FOUND
