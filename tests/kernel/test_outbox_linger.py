"""The outbox relay's linger (``[outbox] linger_ms``, Kafka's ``linger.ms``), against
the real database and broker: a round woken from idle waits that long so that rows
committed meanwhile share it; a round after a full one (a backlog) does not wait."""

from __future__ import annotations

import asyncio
import time

from tests.kernel.test_outbox_positions import committed, leading


async def test_rows_committed_during_the_linger_share_the_round(stack, config):
    async with leading(stack, config) as (dsn, topic, worker, conn):
        assert await worker.work_once(conn) == 0  # caught up: the next is woken
        worker._linger_s = 1.0
        await committed(dsn, topic, b"a-1")

        async def commit_more() -> None:
            await committed(dsn, topic, b"a-2")
            await committed(dsn, topic, b"a-3")

        more = asyncio.create_task(commit_more())
        assert await worker.work_once(conn) == 3  # the two committed while it waited
        await more
        assert not worker.more_to_do(3)  # it took every row: idle until a NOTIFY


async def test_without_linger_the_round_takes_what_is_there(stack, config):
    async with leading(stack, config) as (dsn, topic, worker, conn):
        await committed(dsn, topic, b"b-1")
        assert await worker.work_once(conn) == 1
        await committed(dsn, topic, b"b-2")
        assert await worker.work_once(conn) == 1


async def test_a_backlog_is_sent_without_lingering(stack, config):
    async with leading(stack, config) as (dsn, topic, worker, conn):
        assert await worker.work_once(conn) == 0  # caught up: the next is woken
        worker._linger_s, worker._batch_size = 1.0, 2
        for n in range(5):
            await committed(dsn, topic, b"c-%d" % n)
        started = time.monotonic()
        assert await worker.work_once(conn) == 2  # woken from idle: it lingers
        lingered = time.monotonic()
        assert worker.more_to_do(2)  # a full round: the next one at once
        assert await worker.work_once(conn) == 2
        assert await worker.work_once(conn) == 1
        assert not worker.more_to_do(1)
        assert lingered - started >= 1.0
        assert time.monotonic() - lingered < 1.0  # the two after it did not wait
