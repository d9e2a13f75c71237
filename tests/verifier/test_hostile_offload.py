"""The verifier's worker pools and fair turns: work leaves the event loop, a flood is
refused with RESOURCE_EXHAUSTED instead of queueing without bound, and one counter's
flood waits behind itself, not in front of other counters (issue 13, kind 1)."""

import asyncio
import os
import threading
import time

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.qr import qr_png, read_qr_image
from services.verifier.offload import (
    IMAGE_WORKER_NICE,
    FairGate,
    ProcessWorkerPool,
    WorkerPool,
)


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


# -- fair turns per counter ------------------------------------------------------------


async def _holding(gate: FairGate, caller: str, log: list[str], release: asyncio.Event):
    async with gate.turn(caller):
        log.append(caller)
        await release.wait()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_free_turn_goes_to_the_caller_with_fewest_running():
    gate = FairGate("code", slots=1, per_caller=1, waiting_per_caller=10)
    log: list[str] = []
    releases = [asyncio.Event() for _ in range(8)]
    # the flood: six of dept:A's, queued first; then one of dept:B's
    tasks = [
        asyncio.create_task(_holding(gate, "dept:A", log, releases[n]))
        for n in range(6)
    ]
    await _settle()
    tasks.append(asyncio.create_task(_holding(gate, "dept:B", log, releases[6])))
    await _settle()
    assert log == ["dept:A"] and gate.waiting("dept:A") == 5
    releases[0].set()
    await _settle()
    assert log == ["dept:A", "dept:B"]  # B's one scan before A's five waiting
    releases[6].set()
    for release in releases[1:6]:
        release.set()
    await asyncio.gather(*tasks)
    assert log == ["dept:A", "dept:B", *["dept:A"] * 5] and gate.running == 0


async def test_one_caller_has_at_most_its_turns_and_a_bounded_waiting_room():
    gate = FairGate("code", slots=4, per_caller=2, waiting_per_caller=3)
    log: list[str] = []
    release = asyncio.Event()
    tasks = [
        asyncio.create_task(_holding(gate, "dept:A", log, release)) for _ in range(5)
    ]
    await _settle()
    assert log == ["dept:A"] * 2 and gate.waiting("dept:A") == 3
    with pytest.raises(CertsealError) as err:
        async with gate.turn("dept:A"):
            pass
    assert err.value.kind is ErrorKind.RESOURCE_EXHAUSTED
    assert "dept:A has 3 code requests waiting" in err.value.message
    # another counter still gets a turn at once
    async with gate.turn("dept:B"):
        assert gate.running == 3
    release.set()
    await asyncio.gather(*tasks)
    assert gate.running == 0 and gate.waiting("dept:A") == 0


async def test_a_cancelled_request_gives_up_its_place_or_its_turn():
    gate = FairGate("image", slots=1, per_caller=1, waiting_per_caller=5)
    log: list[str] = []
    release = asyncio.Event()
    first = asyncio.create_task(_holding(gate, "dept:A", log, release))
    waiting = asyncio.create_task(_holding(gate, "dept:A", log, release))
    await _settle()
    waiting.cancel()  # the caller gave up while waiting
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert gate.waiting("dept:A") == 0
    granted = asyncio.create_task(_holding(gate, "dept:B", log, release))
    await _settle()
    first.cancel()  # gave up while holding its turn: the turn goes on to B
    with pytest.raises(asyncio.CancelledError):
        await first
    await _settle()
    assert log == ["dept:A", "dept:B"] and gate.running == 1
    release.set()
    await granted
    assert gate.running == 0


# -- images in worker processes ----------------------------------------------------------


def _refuse() -> None:
    raise CertsealError(ErrorKind.INVALID_ARGUMENT, "is not a PNG", field="image")


def _priority() -> tuple[int, int]:
    return os.getpid(), os.nice(0)


async def test_images_are_read_in_niced_processes_with_a_time_bound():
    pool = ProcessWorkerPool(
        "image", workers=1, queue=1, timeout_s=3, field="image", preload=()
    )  # 3 s: a niced worker's first QR read on a loaded 2-core machine took over 0.5 s
    pool.warm_up()
    try:
        pid, nice = await pool.run(_priority)
        assert pid != os.getpid() and nice >= IMAGE_WORKER_NICE
        assert await pool.run(read_qr_image, qr_png("LC1:X")) == "LC1:X"
        with pytest.raises(CertsealError) as err:  # its own error, with its field
            await pool.run(_refuse)
        assert (err.value.kind, err.value.field) == (
            ErrorKind.INVALID_ARGUMENT,
            "image",
        )
        started = time.monotonic()
        with pytest.raises(CertsealError) as err:  # a job past the bound is ended
            await pool.run(time.sleep, 30)
        assert time.monotonic() - started < 10
        assert err.value.field == "image" and "the limit is 3 s" in err.value.message
        replaced, _ = await pool.run(_priority)  # and its worker replaced
        assert replaced != pid
        assert pool.in_flight == 0
    finally:
        pool.shutdown()
