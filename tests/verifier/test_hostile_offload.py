"""The verifier's worker pools: work leaves the event loop, and a flood is refused with
RESOURCE_EXHAUSTED instead of queueing without bound (issue 13, kind 1)."""

import asyncio
import threading

import pytest

from certseal.errors import CertsealError, ErrorKind
from services.verifier.offload import WorkerPool


async def test_jobs_run_off_the_loop_and_a_full_pool_refuses():
    pool = WorkerPool("code", workers=2, queue=1)
    release = threading.Event()
    loop_thread = threading.get_ident()

    def blocked() -> int:
        release.wait(5)
        return threading.get_ident()

    jobs = [asyncio.create_task(pool.run(blocked)) for _ in range(3)]
    await asyncio.sleep(0)  # let the three be submitted
    assert pool.in_flight == 3
    with pytest.raises(CertsealError) as err:
        await pool.run(blocked)
    assert err.value.kind is ErrorKind.RESOURCE_EXHAUSTED
    # the loop still turns while the workers are busy
    assert await asyncio.wait_for(asyncio.sleep(0, "ticking"), 1) == "ticking"
    release.set()
    threads = await asyncio.gather(*jobs)
    assert loop_thread not in threads
    assert pool.in_flight == 0
    assert await pool.run(lambda x: x * 2, 21) == 42
    pool.shutdown()


async def test_a_cancelled_wait_keeps_its_slot_until_the_thread_is_done():
    pool = WorkerPool("image", workers=1, queue=0)
    release = threading.Event()
    job = asyncio.create_task(pool.run(release.wait, 5))
    await asyncio.sleep(0)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    with pytest.raises(CertsealError):  # the thread still works: no new job yet
        await pool.run(lambda: None)
    release.set()
    for _ in range(100):
        if pool.in_flight == 0:
            break
        await asyncio.sleep(0.01)  # the thread's done-callback comes via the loop
    assert pool.in_flight == 0
    pool.shutdown()


async def test_an_error_in_a_job_reaches_the_caller():
    pool = WorkerPool("code", workers=1, queue=0)

    def fails() -> None:
        raise CertsealError(ErrorKind.INVALID_ARGUMENT, "bad", field="image")

    with pytest.raises(CertsealError, match="bad"):
        await pool.run(fails)
    assert pool.in_flight == 0
    pool.shutdown()
