"""Idempotency keys on the seal service's mutating RPCs (issue 21), on the real stack:
RegisterSeal, RevokeSeal, SealDocument, SealPdf and SealOfd. The same request twice with one key
makes one change (a seal row, an event) and gives the same answer byte for byte (a
signature carries its signing time: the retry gets the first one, not a new one); the
same key with a changed request is ALREADY_EXISTS."""

from __future__ import annotations

import secrets

import grpc
import pytest

from certseal.v1 import seal_pb2 as pb
from tests.conftest import blank_pdf, seal_owner

KEY = "idempotency-key"
DOCUMENT = b"any document bytes " * 40


async def _seal(stub, suite: str = "es256") -> pb.SealInfo:
    reply = await stub.RegisterSeal(
        pb.RegisterSealRequest(name="示例公司", suite=suite)
    )
    return reply.seal


async def _case(rpc: str, stub, owner: str, pool):
    def events(key: str):
        async def count() -> int:
            return await pool.fetchval(
                "select count(*) from outbox where key = $1", key.encode()
            )

        return count

    if rpc == "RegisterSeal":

        async def seals() -> int:
            return await pool.fetchval(
                "select count(*) from seals where owner_code = $1", owner
            )

        return (
            pb.RegisterSealRequest(name="示例公司", suite="es256"),
            pb.RegisterSealRequest(name="示例公司财务部", suite="es256"),
            seals,
        )
    seal = await _seal(stub)
    if rpc == "RevokeSeal":
        return (
            pb.RevokeSealRequest(seal_id=seal.seal_id, reason="停用"),
            pb.RevokeSealRequest(seal_id=seal.seal_id, reason="换章"),
            events(seal.seal_id),
        )
    if rpc == "SealDocument":
        return (
            pb.SealDocumentRequest(seal_id=seal.seal_id, document=DOCUMENT),
            pb.SealDocumentRequest(seal_id=seal.seal_id, document=DOCUMENT + b"!"),
            events(seal.seal_id),
        )
    if rpc == "SealOfd":
        from tests.seal.ofd_samples import make_ofd

        return (
            pb.SealOfdRequest(seal_id=seal.seal_id, ofd=make_ofd()),
            pb.SealOfdRequest(seal_id=seal.seal_id, ofd=make_ofd(), page=1),
            events(seal.seal_id),
        )
    assert rpc == "SealPdf"
    return (
        pb.SealPdfRequest(seal_id=seal.seal_id, pdf=blank_pdf(), reason="同意"),
        pb.SealPdfRequest(seal_id=seal.seal_id, pdf=blank_pdf(), reason="不同意"),
        events(seal.seal_id),
    )


RPCS = ["RegisterSeal", "RevokeSeal", "SealDocument", "SealPdf", "SealOfd"]


def test_the_table_names_every_mutating_rpc_of_the_seal_service():
    from certseal.idempotency import is_idempotent
    from services.seal.servicer import SealServicer

    marked = {n for n in dir(SealServicer) if is_idempotent(getattr(SealServicer, n))}
    assert marked == set(RPCS)


@pytest.mark.parametrize("rpc", RPCS)
async def test_one_key_one_change_and_the_same_answer(
    seal_stub, seal_app, operator, rpc
):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    request, changed, count = await _case(rpc, stub, owner, seal_app.pool)
    call = getattr(stub, rpc)
    before = await count()
    key = f"{rpc}-{secrets.token_hex(8)}"
    first = await call(request, metadata=((KEY, key),))
    once = await count()
    assert once == before + 1
    second = await call(request, metadata=((KEY, key),))
    assert await count() == once
    assert second.SerializeToString(deterministic=True) == first.SerializeToString(
        deterministic=True
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call(changed, metadata=((KEY, key),))
    assert err.value.code() is grpc.StatusCode.ALREADY_EXISTS
    assert key in (err.value.details() or "")
    assert await count() == once


async def test_without_a_key_each_request_is_a_new_one(seal_stub, seal_app, operator):
    """The contrast: two identical SealDocument requests without a key sign twice."""
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal = await _seal(stub)
    request = pb.SealDocumentRequest(seal_id=seal.seal_id, document=DOCUMENT)
    await stub.SealDocument(request)
    await stub.SealDocument(request)
    assert (
        await seal_app.pool.fetchval(
            "select count(*) from outbox where key = $1", seal.seal_id.encode()
        )
        == 3  # registered, sealed, sealed
    )
