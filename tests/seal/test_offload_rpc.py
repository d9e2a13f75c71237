"""The seal service under heavy jobs, through gRPC: health and cheap RPCs answer while
heavy verifications hold every worker thread; requests beyond ``[seal]
max_heavy_jobs``/``max_bytes_in_flight`` get RESOURCE_EXHAUSTED naming the limit and
succeed once the jobs end; a job past ``[seal] job_timeout_s`` ends the call with
INVALID_ARGUMENT instead of hanging it.

The heavy job is made deterministic: the PDF reader is replaced by one that blocks its
worker until the test opens a gate (a file), and notes the process it ran in (on the
seal process's own loop, the old behaviour, the health check could not answer before
it ended)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
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
    """A seal service with two worker threads and processes, at most three heavy
    requests and
    8 MiB of documents in flight; SERVING (its readiness checked) when yielded."""
    seal = msgspec.structs.replace(
        config.seal,
        workers=2,
        verify_processes=2,
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


def _wait_at_gate(pdf: bytes) -> None:
    folder = Path(pdf.rsplit(b"%gate ", 1)[1].strip().decode())
    where = f"{os.getpid()} {threading.current_thread() is threading.main_thread()}"
    name = uuid.uuid4().hex
    (folder / f"note-{name}").write_text(where)
    os.replace(folder / f"note-{name}", folder / f"entered-{name}")  # whole or absent
    for _ in range(12_000):
        if (folder / "open").exists():
            return
        time.sleep(0.01)
    raise AssertionError("the test never opened the gate")


async def gated_read(
    pdf: bytes, *, ca: bytes, password: str = "", tsa_roots: tuple[bytes, ...] = ()
) -> list:
    """Stands in for the PDF reader (module-level: a worker process imports it). It
    notes its process and thread in the gate folder named at the PDF's end, then
    blocks its worker until the test opens the gate."""
    _wait_at_gate(pdf)
    return []


class Gate:
    """The gate folder of :func:`gated_read`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def pdf(self, size: int = LIGHT_BYTES + 100_000) -> bytes:
        """A PDF over the light jobs' size that waits at this gate when read."""
        marker = b"\n%gate " + str(self.folder).encode() + b"\n"
        pdf = page_pdf()
        return pdf + b"\n%" + b"x" * (size - len(pdf) - len(marker)) + marker

    def open(self) -> None:
        (self.folder / "open").touch()

    def entered(self) -> list[tuple[int, bool]]:
        """(process id, on the main thread) of every read that reached the gate."""
        found = []
        for path in self.folder.glob("entered-*"):
            pid, main = path.read_text().split()
            found.append((int(pid), main == "True"))
        return found

    async def wait_entered(self, n: int) -> None:
        def wait() -> None:
            for _ in range(6000):
                if len(self.entered()) >= n:
                    return
                time.sleep(0.01)
            raise AssertionError(f"fewer than {n} reads reached the gate")

        await asyncio.to_thread(wait)

    def off_the_loop(self) -> bool:
        """Every read ran in a worker process, never on the seal process's loop."""
        return all(pid != os.getpid() and main for pid, main in self.entered())


@pytest.fixture
def gate(monkeypatch, tmp_path) -> Gate:
    monkeypatch.setattr(pdf_service, "read_pdf_seals", gated_read)
    g = Gate(tmp_path)
    yield g
    g.open()


def heavy_pdf(size: int = LIGHT_BYTES + 100_000) -> bytes:
    """Over the light jobs' size, read for real (and refused: no end section)."""
    pdf = page_pdf()
    pdf = pdf[: pdf.rindex(b"startxref")]
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
            stub.VerifyPdf(pb.VerifyPdfRequest(pdf=gate.pdf()), timeout=120)
        )
        for _ in range(3)
    ]
    await gate.wait_entered(2)  # both worker processes hold a job; one waits
    checked = await health_of(stack, bounded_app).Check(
        health_pb2.HealthCheckRequest(), timeout=30
    )
    assert checked.status == health_pb2.HealthCheckResponse.SERVING
    inspected = await stub.InspectSes(
        pb.InspectSesRequest(data=SEAL_VECTOR.read_bytes()), timeout=30
    )
    assert inspected.structure == "SESeal"
    assert not any(call.done() for call in heavy), "answered before the jobs finished"
    gate.open()
    for reply in await asyncio.gather(*heavy):
        assert list(reply.seals) == []
    assert len(gate.entered()) == 3 and gate.off_the_loop()


async def test_beyond_the_bounds_resource_exhausted_then_success_after(
    stack, bounded_app, gate
):
    stub = stub_for(stack, bounded_app, "app:archive")
    held = [
        asyncio.ensure_future(
            stub.VerifyPdf(pb.VerifyPdfRequest(pdf=gate.pdf()), timeout=120)
        )
        for _ in range(2)
    ]
    await gate.wait_entered(2)
    # 2.2 MiB in flight: 6 MiB more passes max_bytes_in_flight (8 MiB)
    big = gate.pdf(6 * MIB)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=big), timeout=30)
    assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_bytes_in_flight = 8 MiB" in refused.value.details()
    assert "try VerifyPdf again" in refused.value.details()
    # a third small heavy request fits (max_heavy_jobs = 3), a fourth does not
    third = asyncio.ensure_future(
        stub.VerifyPdf(pb.VerifyPdfRequest(pdf=gate.pdf()), timeout=120)
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
    gate.open()
    await asyncio.gather(*held, third)
    # room again: the refused requests now succeed
    reply = await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=big), timeout=60)
    assert list(reply.seals) == []
    with pytest.raises(grpc.aio.AioRpcError) as unreadable:
        await stub.VerifyOfd(fourth, timeout=60)
    assert unreadable.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert gate.off_the_loop()


async def test_a_job_past_its_time_bound_ends_the_call_clearly(
    stack, bounded_app, gate, monkeypatch
):
    """The gate is never opened: the worker process is killed at the time bound,
    the call ends with INVALID_ARGUMENT naming the PDF, its bytes are given back and
    the next verification is served by a new worker."""
    offload = bounded_app.service.offload
    monkeypatch.setattr(offload.processes, "timeout_s", 1.0)
    stub = stub_for(stack, bounded_app, "app:archive")
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=gate.pdf()), timeout=60)
    assert late.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "took longer than 1 s" in late.value.details()
    assert dict(late.value.trailing_metadata())["certseal-error-field"] == "pdf"
    await offload.admission.wait_until(lambda a: a.requests == 0)
    monkeypatch.undo()  # the real reader and time bound again
    # a new worker reads the next PDF for real (one without an end is refused)
    with pytest.raises(grpc.aio.AioRpcError) as read:
        await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=heavy_pdf()), timeout=60)
    assert read.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "has no end section" in read.value.details()
    checked = await health_of(stack, bounded_app).Check(
        health_pb2.HealthCheckRequest(), timeout=30
    )
    assert checked.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_heavy_verification_runs_in_a_process_and_is_not_kept(
    bounded_app, operator
):
    """A sealed document over the light size is verified in a worker process: what
    the bytes showed comes back across the process boundary, and is not kept (too
    large to key)."""
    from certseal.crypto import Suite
    from certseal.rpc import Caller
    from services.seal.domain import SealVerdict
    from tests.conftest import seal_owner
    from tests.seal.service_samples import request

    service = bounded_app.service
    assert service.offload.processes is not None  # over LIGHT_BYTES: a process
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    seal = await service.register(caller, request(owner, Suite.ES256))
    big = os.urandom(LIGHT_BYTES + 1000)
    signature = (
        await service.seal_document(
            caller, seal.seal_id, document=big, document_hash=None, property_info="x"
        )
    ).signature
    kept = len(service.kept_verifications)
    result = await service.verify(signature, document=big)
    assert result.verdict is SealVerdict.VALID, result.checks
    assert [c.name for c in result.checks][-1] == "seal status"
    assert result.current_status == "active"
    changed = big[:-1] + bytes([big[-1] ^ 1])
    modified = await service.verify(signature, document=changed)
    assert modified.verdict is SealVerdict.MODIFIED
    assert len(service.kept_verifications) == kept
