"""The outbox: writing rows in the caller's transaction, and relaying them to Kafka.

Owns :func:`write_outbox`, the :class:`OutboxRelay` that publishes committed rows in
commit order per key, the backlog gauges, and :func:`republish_all` /
:func:`republish_retained` (re-seeding a broker that lost its data). What a row holds
(:class:`certseal.events.OutboxRecord`) and the topics are defined in
:mod:`certseal.events`.

Ordering: every writer takes the row lock of the entity it changes before inserting its
outbox row, so two rows with the same key are ordered by id exactly as they committed.
The relay reads unpublished rows in id order and sends, per round, at most ONE batch per
partition (built with ``create_batch``/``send_batch``), with acks=all. A partition whose
batch failed is retried from its first unpublished row in the next round, so a partition
never has a later row published before an earlier one; a retry after an ambiguous
failure can duplicate rows, which consumers drop by ``ce_id`` / lineage version.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from certseal.events import OutboxRecord
from certseal.metrics import Metrics
from certseal.storage.worker import NotifiedWorker

log = logging.getLogger(__name__)


async def write_outbox(
    conn: asyncpg.Connection, records: Sequence[OutboxRecord]
) -> None:
    """Insert outbox rows in the caller's transaction, in the given order."""
    if not records:
        return
    await conn.execute(
        """insert into outbox (topic, key, value, headers)
           select * from unnest($1::text[], $2::bytea[], $3::bytea[], $4::jsonb[])""",
        [r.topic for r in records],
        [r.key for r in records],
        [r.value for r in records],
        [r.headers for r in records],
    )


#: marks the acknowledged rows ``ids`` (a bigint[] parameter) published, once
_MARK = (
    "update outbox set published_at = clock_timestamp() "
    "where id = any({ids}::bigint[]) and published_at is null"
)
#: one round's statement: mark the last round's acknowledged rows ($2), read the next
#: $1 unpublished ones (those just marked are left out: the update is not yet visible)
_ROUND = f"""with marked as ({_MARK.format(ids="$2")})
   select id, topic, key, value, headers, created_at from outbox
   where published_at is null and id <> all($2::bigint[])
   order by id limit $1"""


class OutboxRelay(NotifiedWorker):
    """Moves outbox rows to Kafka; one leader across all replicas."""

    name = "outbox-relay"
    channel = "certseal_outbox"
    lock_id = 0x6365727473656132

    def __init__(
        self,
        *,
        dsn: str,
        producer_factory: Callable[[], AIOKafkaProducer],
        metrics: Metrics,
        batch_size: int = 1000,
        poll_interval_s: float = 1.0,
        retention: dt.timedelta = dt.timedelta(days=7),
        linger_s: float = 0.0,
    ):
        super().__init__(dsn=dsn, poll_interval_s=poll_interval_s)
        #: how long a round waits, once caught up, for more rows to join it (Kafka's
        #: ``linger.ms``): a round's fixed cost (two statements, a produce request per
        #: broker, a batch per partition) is then shared by more rows
        self._linger_s = linger_s
        self._caught_up = True
        #: ids the broker acknowledged that are not yet marked published
        self._acked: list[int] = []
        self._producer_factory = producer_factory
        self._producer: AIOKafkaProducer | None = None
        self._metrics = metrics
        self._batch_size = batch_size
        self._retention = retention
        self._partitioner = DefaultPartitioner()
        self._last_purge = 0.0
        self._last_gauges = 0.0

    async def _get_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = self._producer_factory()
            try:
                await producer.start()
            except Exception:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def on_error(self) -> None:
        """Drop the producer after a failure: the next round starts a clean one."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.stop()
            except Exception as exc:  # a stop during an outage may itself fail
                log.debug("producer stop failed: %s", exc)

    async def on_leader(self, conn: asyncpg.Connection) -> None:
        """Commit this session's marks and purges without waiting for the WAL flush.

        ``synchronous_commit = off`` (PostgreSQL, "Asynchronous Commit") makes a
        commit return before its WAL record reaches the disk; a crash of the database
        can then lose the last few hundred milliseconds of this session's commits, never
        corrupt them. A lost mark only means those rows are sent again, which
        consumers drop (at-least-once, as after a lost session); the rows themselves
        are written by the committing transactions, which keep the server's setting.
        Under load a relay round otherwise waited for a group flush behind every
        issuance's WAL (measured: docs/architecture.md, "Commit -> topic")."""
        await conn.execute("set synchronous_commit = off")

    async def on_stop(self, conn: asyncpg.Connection) -> None:
        """Mark what the broker acknowledged, so a restart does not send it again."""
        if self._acked:
            await conn.execute(_MARK.format(ids="$1"), self._acked)
            self._acked = []

    async def close(self) -> None:
        """Stop the producer."""
        await self.on_error()

    async def work_once(self, conn: asyncpg.Connection) -> int:
        """Publish one round; return the number of rows published.

        The rows the previous round had acknowledged are marked published by the
        same statement that reads this round's rows (one round trip, not two; a mark
        lost with the session only means those rows are sent again, which consumers
        drop). A round that follows one which took every unpublished row (the relay
        was caught up, or was woken from idle) first lingers ``linger_s`` when that
        is set, so that the rows committed meanwhile go in the same round; a backlog
        is sent without waiting."""
        if self._linger_s > 0 and self._caught_up and not self._acked:
            await asyncio.sleep(self._linger_s)
        rows = await conn.fetch(_ROUND, self._batch_size, self._acked)
        self._acked = []
        self._caught_up = len(rows) < self._batch_size
        if not rows:
            return 0
        producer = await self._get_producer()
        groups: OrderedDict[tuple[str, int], list[asyncpg.Record]] = OrderedDict()
        partitions: dict[str, list[int]] = {}
        for row in rows:
            topic = row["topic"]
            if topic not in partitions:
                partitions[topic] = sorted(await producer.partitions_for(topic))
            all_parts = partitions[topic]
            partition = self._partitioner(row["key"], all_parts, all_parts)
            groups.setdefault((topic, partition), []).append(row)

        sends = []
        for (topic, partition), group in groups.items():
            batch = producer.create_batch()
            included: list[asyncpg.Record] = []
            for row in group:
                headers = [(k, v.encode()) for k, v in row["headers"].items()]
                if (
                    batch.append(
                        key=row["key"],
                        value=row["value"],
                        timestamp=None,
                        headers=headers,
                    )
                    is None
                ):
                    break  # batch full: the rest of this partition waits a round
                included.append(row)
            if not included:  # cannot happen with Kafka's builder; never stall silently
                raise RuntimeError(
                    f"outbox row {group[0]['id']} does not fit in a producer batch"
                )
            future = await producer.send_batch(batch, topic, partition=partition)
            sends.append((future, included))

        published: list[int] = []
        failure: BaseException | None = None
        for future, included in sends:
            try:
                await future
                published.extend(r["id"] for r in included)
            except Exception as exc:
                failure = exc
        if published:
            # marked by the next round's statement, which follows at once
            self._acked = published
            now = time.time()
            by_id = {r["id"]: r for r in rows}
            for row_id in published:
                self._metrics.commit_to_publish.observe(
                    max(0.0, now - by_id[row_id]["created_at"].timestamp())
                )
            self._metrics.events_published.inc(len(published))
        await self._refresh_gauges(conn)  # also while never idle
        if failure is not None:
            raise RuntimeError(f"publish failed: {failure!r}") from failure
        return len(published)

    async def _refresh_gauges(self, conn: asyncpg.Connection) -> None:
        if time.monotonic() - self._last_gauges >= 5:
            self._last_gauges = time.monotonic()
            await refresh_backlog_metrics(conn, self._metrics)

    async def on_follower(self, conn: asyncpg.Connection) -> None:
        """Backlog gauges while another process leads the relay: every process that
        could relay reports the outbox it would relay (one outbox, one leader)."""
        await self._refresh_gauges(conn)

    async def on_idle(self, conn: asyncpg.Connection) -> None:
        """Backlog gauges, and now and then a purge of old published rows."""
        now = time.monotonic()
        await self._refresh_gauges(conn)
        if now - self._last_purge < 5:
            return
        self._last_purge = now
        await conn.execute(
            """delete from outbox where id in (select id from outbox
               where published_at < now() - $1::interval limit 10000)""",
            self._retention,
        )


async def refresh_backlog_metrics(conn: asyncpg.Connection, metrics: Metrics) -> None:
    """Set the backlog and relay-lag gauges from the outbox."""
    row = await conn.fetchrow(
        """select count(*) as backlog,
                  extract(epoch from clock_timestamp() - min(created_at)) as lag
           from outbox where published_at is null"""
    )
    assert row is not None
    metrics.outbox_backlog.set(row["backlog"])
    metrics.relay_lag.set(float(row["lag"] or 0.0))


async def republish_all(conn: asyncpg.Connection) -> int:
    """Mark every retained row unpublished, so the relay sends it again in order.

    Used to re-seed a broker that lost its data (the embedded memory broker after a
    restart, or a rebuilt cluster); consumers drop the duplicates.
    """
    status = await conn.execute(
        "update outbox set published_at = null where published_at is not null"
    )
    return int(status.split()[-1])


async def republish_retained(dsn: str) -> int:
    """:func:`republish_all` on a database that may not be migrated yet (0 then)."""
    conn = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("select to_regclass('outbox') is not null"):
            return 0
        return await republish_all(conn)
    finally:
        await conn.close()
