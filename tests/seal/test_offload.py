"""The seal service's admission bound and worker threads (services/seal/offload.py):
jobs run off the event loop, a request beyond the bounds is refused with
RESOURCE_EXHAUSTED naming the limit and admitted again once room is free, and a job past
its time bound fails clearly while still holding its bytes until its thread ends."""

from __future__ import annotations

import asyncio
import threading

import pytest

from certseal.errors import CertsealError, ErrorKind
from services.seal.offload import MIB, Admission, SealOffload, Workers


class Gate:
    """A job that blocks its thread until opened, and records where it ran."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.entered = threading.Semaphore(0)
        self.threads: list[int] = []

    def job(self, value: int = 1) -> int:
        self.threads.append(threading.get_ident())
        self.entered.release()
        assert self.opened.wait(60), "the test never opened the gate"
        return value

    async def wait_entered(self, n: int) -> None:
        for _ in range(n):
            assert await asyncio.to_thread(self.entered.acquire, True, 30)


async def test_a_job_runs_on_a_worker_thread_while_the_loop_keeps_serving():
    workers = Workers(workers=1, queue=1, timeout_s=60)
    gate = Gate()
    job = asyncio.ensure_future(workers.run("pdf", gate.job, 7))
    await gate.wait_entered(1)
    # the loop is free while the job holds its thread: other work completes first
    assert await asyncio.sleep(0, "answered") == "answered"
    assert not job.done()
    gate.opened.set()
    assert await job == 7
    assert gate.threads and threading.get_ident() not in gate.threads
    workers.shutdown()


async def test_a_coroutine_job_runs_on_its_own_loop_in_a_worker_thread():
    workers = Workers(workers=1, queue=1, timeout_s=60)
    loop_thread = threading.get_ident()

    async def where() -> int:
        await asyncio.sleep(0)
        return threading.get_ident()

    assert await workers.run_async("pdf", where) != loop_thread
    workers.shutdown()


def _refusal(exc: pytest.ExceptionInfo[CertsealError]) -> str:
    assert exc.value.kind is ErrorKind.RESOURCE_EXHAUSTED
    assert exc.value.field == "seal"
    assert "try" in exc.value.message and "again" in exc.value.message
    return exc.value.message


async def test_bytes_in_flight_beyond_the_bound_are_refused_then_admitted_after():
    admission = Admission(max_jobs=10, max_bytes=128 * MIB)
    first, second = asyncio.Event(), asyncio.Event()

    async def hold(size: int, until: asyncio.Event) -> None:
        async with admission.admit("SealPdf", size):
            await until.wait()

    one = asyncio.ensure_future(hold(60 * MIB, first))
    two = asyncio.ensure_future(hold(60 * MIB, second))
    await asyncio.sleep(0)
    assert admission.bytes == 120 * MIB
    with pytest.raises(CertsealError) as refused:
        async with admission.admit("SealPdf", 60 * MIB):
            pass
    message = _refusal(refused)
    assert "max_bytes_in_flight = 128 MiB" in message and "SealPdf" in message
    first.set()
    await one
    async with admission.admit("SealPdf", 60 * MIB):  # room again: admitted
        assert admission.bytes == 120 * MIB
    second.set()
    await two
    assert admission.requests == 0 and admission.bytes == 0


async def test_one_request_alone_is_admitted_whatever_its_size():
    admission = Admission(max_jobs=1, max_bytes=1 * MIB)
    async with admission.admit("VerifyPdf", 60 * MIB):
        assert admission.jobs == 1


async def test_requests_beyond_max_heavy_jobs_are_refused_then_admitted_after():
    admission = Admission(max_jobs=2, max_bytes=1024 * MIB)
    release = asyncio.Event()

    async def hold() -> None:
        async with admission.admit("VerifyOfd", 2 * MIB):
            await release.wait()

    held = [asyncio.ensure_future(hold()) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(CertsealError) as refused:
        async with admission.admit("VerifyOfd", 2 * MIB):
            pass
    assert "max_heavy_jobs = 2" in _refusal(refused)
    async with admission.admit("InspectSes", 4096):  # light: not a heavy job
        assert admission.jobs == 2 and admission.requests == 3
    release.set()
    await asyncio.gather(*held)
    async with admission.admit("VerifyOfd", 2 * MIB):
        assert admission.jobs == 1


async def test_a_nested_admission_is_covered_by_the_outer_ticket():
    admission = Admission(max_jobs=1, max_bytes=1 * MIB)
    # SealOfd signs inside (SealService.seal_document admits too)
    async with (
        admission.admit("SealOfd", 2 * MIB),
        admission.admit("SealDocument", 2 * MIB),
    ):
        assert admission.jobs == 1 and admission.requests == 1


async def test_a_job_past_its_time_bound_fails_and_keeps_its_bytes_until_it_ends():
    offload = SealOffload(workers=1, queue=2, timeout_s=0.2, max_jobs=4, max_bytes=MIB)
    gate = Gate()
    with pytest.raises(CertsealError) as late:
        async with offload.admit("SealPdf", 2 * MIB):
            await offload.run("pdf", gate.job)
    assert late.value.kind is ErrorKind.INVALID_ARGUMENT
    assert late.value.field == "pdf"
    assert "took longer than 0.2 s" in late.value.message
    assert "job_timeout_s" in late.value.message
    # the limit is the service's, and a file refused under load may pass later
    assert "may pass when the service is less busy" in late.value.message
    # the thread still runs the job: its bytes stay counted, so a second large
    # request is refused rather than doubling the memory held
    assert offload.admission.jobs == 1 and offload.workers.in_flight == 1
    with pytest.raises(CertsealError) as refused:
        async with offload.admit("SealPdf", 2 * MIB):
            pass
    assert "max_bytes_in_flight" in _refusal(refused)
    gate.opened.set()
    await offload.workers.wait_idle()  # the done callback runs on the loop
    assert offload.admission.jobs == 0
    async with offload.admit("SealPdf", 2 * MIB):
        assert await offload.run("pdf", abs, -3) == 3
    offload.workers.shutdown()


async def test_jobs_beyond_the_workers_waiting_room_are_refused():
    workers = Workers(workers=1, queue=1, timeout_s=60)
    gate = Gate()
    running = [asyncio.ensure_future(workers.run("pdf", gate.job)) for _ in range(2)]
    await gate.wait_entered(1)
    assert workers.in_flight == 2
    with pytest.raises(CertsealError) as refused:
        await workers.run("pdf", gate.job)
    assert "worker threads" in _refusal(refused)
    gate.opened.set()
    assert await asyncio.gather(*running) == [1, 1]
    workers.shutdown()


async def test_an_error_of_the_job_reaches_the_caller_unchanged():
    workers = Workers(workers=1, queue=1, timeout_s=60)

    def bad() -> None:
        raise CertsealError(ErrorKind.INVALID_ARGUMENT, "is not a PDF", field="pdf")

    with pytest.raises(CertsealError) as exc:
        await workers.run("pdf", bad)
    assert exc.value.field == "pdf" and exc.value.message == "is not a PDF"
    workers.shutdown()
