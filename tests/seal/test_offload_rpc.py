"""The seal service under heavy jobs, through gRPC: health and cheap RPCs answer while
heavy verifications hold every worker thread; requests beyond ``[seal]
max_heavy_jobs``/``max_bytes_in_flight`` get RESOURCE_EXHAUSTED naming the limit and
succeed once the jobs end; a job past ``[seal] job_timeout_s`` ends the call with
INVALID_ARGUMENT instead of hanging it.

The heavy job is made deterministic: the PDF reader is replaced by one that blocks its
thread until the test opens a gate, and records whether it ran on the event loop's
thread (the old behaviour: then the health check could not answer before it ended)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import msgspec
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from certseal.rpc import secure_channel
from certseal.v1 import seal_pb2 as pb
from services.seal import pdf_service
from services.seal.app import SealApp
from services.seal.offload import LIGHT_BYTES, MIB
from tests.seal.field_pdfs import page_pdf
from tests.seal.test_rpc_interop import stub_for

SEAL_VECTOR = Path(__file__).parent / "data" / "ofdrw" / "UserV4.esl"


@pytest.fixture(scope="module")
async def bounded_app(config, stack) -> AsyncIterator[SealApp]:
    """A seal service with two worker threads, at most three heavy requests and
    8 MiB of documents in flight; SERVING (its readiness checked) when yielded."""
    seal = msgspec.structs.replace(
        config.seal,
        workers=2,
        job_queue=4,
        max_heavy_jobs=3,
        max_bytes_in_flight=8 * MIB,
        job_timeout_s=60.0,
    )
    app = SealApp(msgspec.structs.replace(config, seal=seal), listen="127.0.0.1:0")
    await app.start()
    health = health_of(stack, app)
    for _ in range(300):
        checked = await health.Check(health_pb2.HealthCheckRequest(), timeout=30)
        if checked.status == health_pb2.HealthCheckResponse.SERVING:
            break
        await asyncio.sleep(0.1)
    yield app
    await app.stop(grace=1)


class Gate:
    """Stands in for the PDF reader: blocks its thread until opened."""

    def __init__(self, loop_thread: int) -> None:
        self.loop_thread = loop_thread
        self.opened = threading.Event()
        self.entered = threading.Semaphore(0)
        self.on_loop = False

    async def read_pdf_seals(self, pdf: bytes, *, ca: bytes, password: str = ""):
        if threading.get_ident() == self.loop_thread:
            self.on_loop = True  # blocking here would stop the whole service
            return []
        self.entered.release()
        assert self.opened.wait(120), "the test never opened the gate"
        return []

    async def wait_entered(self, n: int) -> None:
        for _ in range(n):
            assert await asyncio.to_thread(self.entered.acquire, True, 60)


@pytest.fixture
def gate(monkeypatch) -> Gate:
    g = Gate(threading.get_ident())
    monkeypatch.setattr(pdf_service, "read_pdf_seals", g.read_pdf_seals)
    yield g
    g.opened.set()


def heavy_pdf(size: int = LIGHT_BYTES + 100_000) -> bytes:
    """A PDF over the light jobs' size (the gate never reads it)."""
    pdf = page_pdf()
    return pdf + b"\n%" + b"x" * (size - len(pdf)) + b"\n"


def health_of(stack, app: SealApp) -> health_pb2_grpc.HealthStub:
    ident = stack.ca.identity("app:health-probe")
    return health_pb2_grpc.HealthStub(
        secure_channel(
            f"localhost:{app.port}",
            str(stack.ca.ca_file),
            str(ident.cert_file),
            str(ident.key_file),
        )
    )


async def test_health_and_a_seal_inspection_answer_while_heavy_jobs_run(
    stack, bounded_app, gate
):
    """N heavy verifications hold both worker threads; the health check and an
    InspectSes (light work) are answered before any of them finished."""
    stub = stub_for(stack, bounded_app, "app:archive")
    heavy = [
        asyncio.ensure_future(
            stub.VerifyPdf(pb.VerifyPdfRequest(pdf=heavy_pdf()), timeout=120)
        )
        for _ in range(3)
    ]
    await gate.wait_entered(2)  # both worker threads hold a job; one waits
    checked = await health_of(stack, bounded_app).Check(
        health_pb2.HealthCheckRequest(), timeout=30
    )
    assert checked.status == health_pb2.HealthCheckResponse.SERVING
    inspected = await stub.InspectSes(
        pb.InspectSesRequest(data=SEAL_VECTOR.read_bytes()), timeout=30
    )
    assert inspected.structure == "SESeal"
    assert not any(call.done() for call in heavy), "answered before the jobs finished"
    gate.opened.set()
    for reply in await asyncio.gather(*heavy):
        assert list(reply.seals) == []
    assert not gate.on_loop


async def test_beyond_the_bounds_resource_exhausted_then_success_after(
    stack, bounded_app, gate
):
    stub = stub_for(stack, bounded_app, "app:archive")
    held = [
        asyncio.ensure_future(
            stub.VerifyPdf(pb.VerifyPdfRequest(pdf=heavy_pdf()), timeout=120)
        )
        for _ in range(2)
    ]
    await gate.wait_entered(2)
    # 2.2 MiB in flight: 6 MiB more passes max_bytes_in_flight (8 MiB)
    big = heavy_pdf(6 * MIB)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=big), timeout=30)
    assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_bytes_in_flight = 8 MiB" in refused.value.details()
    assert "try VerifyPdf again" in refused.value.details()
    # a third small heavy request fits (max_heavy_jobs = 3), a fourth does not
    third = asyncio.ensure_future(
        stub.VerifyPdf(pb.VerifyPdfRequest(pdf=heavy_pdf()), timeout=120)
    )
    await bounded_app.service.offload.admission.wait_until(lambda a: a.jobs >= 3)
    fourth = pb.VerifyOfdRequest(ofd=heavy_pdf())  # not an OFD: refused before read
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.VerifyOfd(fourth, timeout=30)
    assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_heavy_jobs = 3" in refused.value.details()
    # a light request is still served: the SES verifier's work is not queued here
    inspected = await stub.InspectSes(
        pb.InspectSesRequest(data=SEAL_VECTOR.read_bytes()), timeout=30
    )
    assert inspected.structure == "SESeal"
    gate.opened.set()
    await asyncio.gather(*held, third)
    # room again: the refused requests now succeed
    reply = await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=big), timeout=60)
    assert list(reply.seals) == []
    with pytest.raises(grpc.aio.AioRpcError) as unreadable:
        await stub.VerifyOfd(fourth, timeout=60)
    assert unreadable.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert not gate.on_loop


async def test_a_job_past_its_time_bound_ends_the_call_clearly(
    stack, bounded_app, gate, monkeypatch
):
    monkeypatch.setattr(bounded_app.service.offload.workers, "timeout_s", 0.5)
    stub = stub_for(stack, bounded_app, "app:archive")
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=heavy_pdf()), timeout=60)
    assert late.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "took longer than 0.5 s" in late.value.details()
    assert dict(late.value.trailing_metadata())["certseal-error-field"] == "pdf"
    offload = bounded_app.service.offload
    assert offload.workers.in_flight == 1  # its thread still holds the job
    gate.opened.set()
    await offload.workers.wait_idle()
    assert offload.admission.jobs == 0
    checked = await health_of(stack, bounded_app).Check(
        health_pb2.HealthCheckRequest(), timeout=30
    )
    assert checked.status == health_pb2.HealthCheckResponse.SERVING
