"""A relay whose broker hangs stops within seconds, and what it had in flight stays
to be sent again (certseal.storage.outbox.PRODUCER_STOP_S; trial54: aiokafka's
producer stop waited for its request in flight up to the request timeout, 15 s, and
a stopping ``make run`` sat silent that long)."""

from __future__ import annotations

import asyncio
import time

from certseal.storage.outbox import PRODUCER_STOP_S
from tests.kernel.test_outbox_relay import (
    commit_rows,
    fresh_database,
    fresh_topic,
    relay,
    unpublished,
)
from tests.verifier.test_replay import until


async def test_a_relay_whose_broker_hangs_stops_within_seconds(stack, config):
    dsn = await fresh_database(config)
    topic = await fresh_topic(stack)
    worker = relay(stack, dsn)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await commit_rows(dsn, topic, [b"before"])
        await until(lambda: worker._metrics.relay_leading._value.get() == 1)
        async with asyncio.timeout(30):
            # its producer started and answered (rows, no event to await)
            while await unpublished(dsn):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        stack.pause_broker()
        try:
            await commit_rows(dsn, topic, [b"in-flight"])
            accumulator = worker._producer._message_accumulator
            await until(lambda: bool(accumulator._pending_batches))  # sent, unanswered
            stop.set()  # as the process's stop: its workers get a bound, then cancel
            done, _ = await asyncio.wait({task}, timeout=1)
            if not done:
                task.cancel()
                await asyncio.wait({task})
            started = time.monotonic()
            await worker.close()
            took = time.monotonic() - started
        finally:
            stack.resume_broker()
    finally:
        task.cancel()
        await asyncio.wait({task})
    assert took <= 2 * PRODUCER_STOP_S + 0.5, took  # was the request timeout (15 s)
    assert await unpublished(dsn) == 1  # not acknowledged: sent again by a next leader
