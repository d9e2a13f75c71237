"""The outbox relay's linger (``[outbox] linger_ms``, Kafka's ``linger.ms``): once
caught up, a round waits that long so that rows committed meanwhile share it; a round
after a full one (a backlog) does not wait. Pure: a stand-in session and producer."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from certseal.metrics import Metrics
from certseal.storage.outbox import OutboxRelay


class Session:
    """Stands in for the relay's asyncpg session over an outbox of ``rows``."""

    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []
        self.published: list[int] = []
        self.fetched_at: list[float] = []

    def add(self, n: int) -> None:
        for _ in range(n):
            self.rows.append(
                {
                    "id": len(self.rows) + 1,
                    "topic": "t",
                    "key": b"k%d" % len(self.rows),
                    "value": b"v",
                    "headers": {"ce_id": str(len(self.rows))},
                    "created_at": dt.datetime.now(dt.UTC),
                }
            )

    async def fetch(
        self, query: str, limit: int, acked: list[int] | None = None
    ) -> list[dict[str, object]]:
        """The relay's read, marking ``acked`` published in the same statement."""
        self.fetched_at.append(time.monotonic())
        if acked:
            self.published.extend(acked)
        return [r for r in self.rows if r["id"] not in self.published][:limit]

    async def execute(self, query: str, ids: list[int]) -> None:
        self.published.extend(ids)


class Batch:
    def append(self, **_: object) -> object:
        return object()


class Producer:
    def __init__(self) -> None:
        self.sends = 0

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def create_batch(self) -> Batch:
        return Batch()

    async def send_batch(self, batch: Batch, topic: str, *, partition: int):
        self.sends += 1
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def relay(linger_s: float, batch_size: int = 100) -> tuple[OutboxRelay, Producer]:
    producer = Producer()
    worker = OutboxRelay(
        dsn="",
        producer_factory=lambda: producer,  # type: ignore[arg-type,return-value]
        metrics=Metrics(families=frozenset({"outbox"})),
        batch_size=batch_size,
        linger_s=linger_s,
    )
    worker._producer = producer  # type: ignore[assignment]
    worker._last_gauges = time.monotonic()  # no backlog gauges in this test
    return worker, producer


async def test_rows_committed_during_the_linger_share_the_round():
    worker, producer = relay(linger_s=0.2)
    session = Session()
    session.add(1)

    async def commit_more() -> None:
        await asyncio.sleep(0.05)  # within the linger
        session.add(2)

    later = asyncio.create_task(commit_more())
    assert await worker.work_once(session) == 3  # type: ignore[arg-type]
    await later
    assert session.published == []  # acknowledged; marked by the next read
    assert await worker.work_once(session) == 0  # type: ignore[arg-type]
    assert session.published == [1, 2, 3]
    assert producer.sends == 1  # one round, one batch for the partition


async def test_without_linger_the_round_takes_what_is_there():
    worker, _ = relay(linger_s=0.0)
    session = Session()
    session.add(1)
    assert await worker.work_once(session) == 1  # type: ignore[arg-type]


async def test_the_next_read_marks_the_acknowledged_rows_and_skips_them():
    worker, producer = relay(linger_s=0.0)
    session = Session()
    session.add(2)
    assert await worker.work_once(session) == 2  # type: ignore[arg-type]
    session.add(1)  # committed while the first round was in flight
    assert await worker.work_once(session) == 1  # type: ignore[arg-type]
    assert session.published == [1, 2]  # marked by that read, not sent again
    assert producer.sends == 2
    assert await worker.work_once(session) == 0  # type: ignore[arg-type]
    assert session.published == [1, 2, 3]


async def test_a_round_right_after_an_acknowledged_one_does_not_linger():
    worker, _ = relay(linger_s=0.5)
    session = Session()
    session.add(1)
    assert await worker.work_once(session) == 1  # type: ignore[arg-type]
    session.add(1)
    assert await worker.work_once(session) == 1  # type: ignore[arg-type]
    # the first read lingered (woken from idle); the second came at once
    assert session.fetched_at[1] - session.fetched_at[0] < 0.25


async def test_a_backlog_is_sent_without_lingering():
    worker, _ = relay(linger_s=0.5, batch_size=2)
    session = Session()
    session.add(5)
    started = time.monotonic()
    assert await worker.work_once(session) == 2  # type: ignore[arg-type]
    assert await worker.work_once(session) == 2  # type: ignore[arg-type]
    assert await worker.work_once(session) == 1  # type: ignore[arg-type]
    assert await worker.work_once(session) == 0  # type: ignore[arg-type]
    # the first round lingered (caught up at start); the two after a full round did not
    assert session.fetched_at[2] - session.fetched_at[1] < 0.25
    assert session.fetched_at[1] - session.fetched_at[0] < 0.25
    assert session.fetched_at[0] - started >= 0.5
    assert session.published == [1, 2, 3, 4, 5]
