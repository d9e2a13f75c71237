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
from certseal.kafka import stop_within
from certseal.metrics import Metrics
from certseal.storage.idcursor import (
    SESSION,
    IdCursor,
    check_ids_in_time_order,
    read,
    read_statements,
)
from certseal.storage.pool import KERNEL_MIGRATIONS, create_pool, migrate
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


#: a round's reads (:func:`certseal.storage.idcursor.read`): the rows not yet
#: published, and the epoch republish_all moves
_READS = read_statements(
    "outbox",
    ("id", "topic", "key", "value", "headers", "created_at"),
    unread="published_at is null",
    head="(select epoch from outbox_relay) as epoch",
)
#: the rows in the ranges ($1 lows, $2 highs) a cursor joined into its gaps
#: (:attr:`IdCursor.joined`): every one was published (or never commits), and a read
#: of a joined gap, which takes only the rows not marked, would send them again
_MARK_JOINED = """update outbox o set published_at = now()
from unnest($1::bigint[], $2::bigint[]) as r(lo, hi)
where o.id between r.lo and r.hi and o.published_at is null"""
#: the stored position: where a relay starting to lead reads from
_POSITION = "select next_id, epoch, republished_to from outbox_relay"
#: a flush: the rows published since the last ($1, at $2) logged, the position
#: ($3, $4) stored unless republish_all moved the epoch from $5
_FLUSH = """with logged as (
    insert into outbox_published (ids, published_at)
    select $1::bigint[], $2::timestamptz[] where cardinality($1::bigint[]) > 0
)
update outbox_relay set next_id = $3, read_to = $4 where epoch = $5"""
#: how often a busy relay logs what it published and stores its position, in
#: seconds: a position lost with its session sends again what was published since
FLUSH_S = 0.2


PRODUCER_STOP_S = 1.0
"""How long the relay waits for its producer's stop (seconds). aiokafka's stop waits
for the requests in flight, which a broker that hangs answers only at the request
timeout (15 s): a stopping process sat silent that long (trial54). A row not
acknowledged was never stored as published, so the next round or leader sends it
again (at-least-once, as after a lost session)."""


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
        #: ids the broker acknowledged, and when, not yet logged (:meth:`flush`)
        self._published: list[int] = []
        self._published_at: list[dt.datetime] = []
        #: where this leader reads from (set from the stored position as it leads)
        self._cursor = IdCursor.at(1)
        self._stored = self._cursor
        self._epoch = 0
        self._republished_to = 0  # rows at or below it are sent again (republish_all)
        #: this relay's position when republish_all moved it back: the rows it had
        #: published, above a row left open too, are sent again
        self._before: IdCursor | None = None
        self._flushed_at = 0.0
        self._flush_timer: asyncio.TimerHandle | None = None
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
        """Drop the producer after a failure (the next round starts a clean one) or
        at the stop, waiting for its stop at most :data:`PRODUCER_STOP_S`."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                if not await stop_within(producer.stop(), PRODUCER_STOP_S):
                    log.warning(
                        "outbox relay: the Kafka producer did not stop within %.0f s "
                        "(the broker did not answer); the rows it had not had "
                        "acknowledged are sent again",
                        PRODUCER_STOP_S,
                    )
            except Exception as exc:  # a stop during an outage may itself fail
                log.debug("producer stop failed: %s", exc)

    async def on_leader(self, conn: asyncpg.Connection) -> None:
        """Read from the stored position (rows published after it by the previous
        leader are sent again, which consumers drop), and commit this session's
        position, log and purges without waiting for the WAL flush.

        ``synchronous_commit = off`` (PostgreSQL, "Asynchronous Commit") makes a
        commit return before its WAL record reaches the disk; a crash of the database
        can then lose the last few hundred milliseconds of this session's commits, never
        corrupt them. A lost position only means rows are sent again, which
        consumers drop (at-least-once, as after a lost session); the rows themselves
        are written by the committing transactions, which keep the server's setting.
        Under load a relay round otherwise waited for a group flush behind every
        issuance's WAL (measured: docs/architecture.md, "Commit -> topic").
        And :data:`SESSION`'s planner settings."""
        await conn.execute(SESSION + "; set synchronous_commit = off")
        await check_ids_in_time_order(conn, "outbox")
        await self._start_over(conn)

    async def _start_over(
        self, conn: asyncpg.Connection, published: IdCursor | None = None
    ) -> None:
        """Read from the stored position (a new leader's, or the one republish_all
        moved back). ``published``: this relay's own position until then, whose
        rows are sent again too: those published since its last flush, and above a
        row held open, which the stored position stops at (atk54)."""
        row = await conn.fetchrow(_POSITION)
        assert row is not None  # kernel migration 0007 writes it
        self._cursor, self._epoch = IdCursor.at(row["next_id"]), row["epoch"]
        self._republished_to, self._before = row["republished_to"], published
        self._stored = self._cursor
        self._caught_up = False  # read on at once from there

    def more_to_do(self, handled: int) -> bool:
        """Read again at once only after a full round: a round that took every
        committed row goes idle, and a commit's NOTIFY (also one that came during
        the round) wakes it."""
        return not self._caught_up

    async def flush(self, conn: asyncpg.Connection) -> None:
        """Log the rows published since the last flush (``outbox_published``) and
        store the position (``outbox_relay``), in one statement. A busy relay
        flushes every :data:`FLUSH_S`, an idle one once :data:`FLUSH_S` has passed
        since its last (a wake-up is set for it), a stopping one last."""
        if self._unflushed:
            await conn.execute(
                _FLUSH,
                self._published,
                self._published_at,
                self._cursor.next_id,
                self._cursor.read_to,
                self._epoch,
            )
        self._published, self._published_at = [], []
        self._stored, self._flushed_at = self._cursor, time.monotonic()

    @property
    def _unflushed(self) -> bool:
        """Whether rows were published or the position moved since the last flush."""
        return bool(self._published) or self._cursor != self._stored

    async def on_stop(self, conn: asyncpg.Connection) -> None:
        """Log what the broker acknowledged and store the position, so that a
        restart does not send it again."""
        await self.flush(conn)

    async def close(self) -> None:
        """Stop the producer."""
        await self.on_error()

    async def work_once(self, conn: asyncpg.Connection) -> int:
        """Publish one round; return the number of rows published.

        One statement reads the round's rows (and the cursor's gaps only when it
        has any); every :data:`FLUSH_S` a busy relay first logs what it published
        and stores its position (:meth:`flush`; a position lost with the session
        only means rows are sent again, which consumers drop). Rows a round read but
        did not publish (their partition's send failed, or its batch was full) are
        read again by the next (``unfinished``, :meth:`IdCursor.after`), before any
        later row of their partition. A round woken from idle first lingers
        ``linger_s`` when that is set, so that the rows committed meanwhile go in the
        same round; a backlog is sent without waiting."""
        if time.monotonic() - self._flushed_at >= FLUSH_S:
            await self.flush(conn)
        if self._linger_s > 0 and self._caught_up:
            await asyncio.sleep(self._linger_s)
        cursor = self._cursor
        snapshot, rows = await read(conn, cursor, _READS, self._batch_size)
        if snapshot["epoch"] != self._epoch:  # republish_all: start over from there
            await self._start_over(conn, published=cursor)
            return 1
        ids = [r["id"] for r in rows]
        self._caught_up = len(rows) < self._batch_size
        if not rows:
            self._cursor = self._after(cursor, snapshot, ids, set())
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
        done = set(published)
        unfinished = {i for i in ids if i not in done}
        self._cursor = self._after(cursor, snapshot, ids, unfinished)
        if self._cursor.joined:  # rows a read of the joined gaps would send again
            lows, highs = zip(*self._cursor.joined, strict=True)
            await conn.execute(_MARK_JOINED, list(lows), list(highs))
        if published:
            at = dt.datetime.now(dt.UTC)
            self._published += published
            self._published_at += [at] * len(published)
            by_id = {r["id"]: r for r in rows}
            again = 0
            before = self._before
            for row_id in published:
                if row_id <= self._republished_to or (
                    before is not None and before.done(row_id)
                ):
                    again += 1  # its commit was long ago: no delay of the relay's
                    continue
                self._metrics.commit_to_publish.observe(
                    max(0.0, (at - by_id[row_id]["created_at"]).total_seconds())
                )
            self._metrics.events_published.inc(len(published))
            self._metrics.events_republished.inc(again)
        await self._refresh_gauges(conn)  # also while never idle
        if failure is not None:
            raise RuntimeError(f"publish failed: {failure!r}") from failure
        return len(published)

    def _after(
        self,
        cursor: IdCursor,
        snapshot: asyncpg.Record,
        ids: list[int],
        unfinished: set[int],
    ) -> IdCursor:
        """The cursor after a round that read ``ids`` and did not finish the
        ``unfinished`` among them (read again by the next round, before any later
        row of their partition)."""
        return cursor.after(
            ids,
            xmin=snapshot["xmin"],
            horizon=snapshot["horizon"],
            limit_reached=len(ids) == self._batch_size,
            unfinished=unfinished,
        )

    async def _refresh_gauges(self, conn: asyncpg.Connection) -> None:
        if time.monotonic() - self._last_gauges >= 5:
            self._last_gauges = time.monotonic()
            await refresh_backlog_metrics(conn, self._metrics)

    def leading(self, now: bool) -> None:
        """``certseal_outbox_relay_leading``: whether this process's relay is the
        one publishing every service's rows (the published count moves only there)."""
        self._metrics.relay_leading.set(1 if now else 0)

    async def on_follower(self, conn: asyncpg.Connection) -> None:
        """Backlog gauges while another process leads the relay: every process that
        could relay reports the outbox it would relay (one outbox, one leader)."""
        await self._refresh_gauges(conn)

    async def on_idle(self, conn: asyncpg.Connection) -> None:
        """A flush (at once, or when :data:`FLUSH_S` is up: a wake-up is set for
        it), and now and then a purge of old published rows (the backlog gauges are
        read at the end of every round, :meth:`work_once`)."""
        now = time.monotonic()
        if self._unflushed:
            wait = self._flushed_at + FLUSH_S - now
            if wait <= 0:
                await self.flush(conn)
            else:
                if self._flush_timer is not None:
                    self._flush_timer.cancel()
                self._flush_timer = asyncio.get_running_loop().call_later(
                    wait, self._wake.set
                )
        if now - self._last_purge < 5:
            return
        self._last_purge = now
        await conn.execute(
            """with oldest as (
                   select id, created_at from outbox where id < $1
                   order by id limit 10000)
               delete from outbox where id in (
                   select id from oldest where created_at < now() - $2::interval)""",
            self._cursor.next_id,
            self._retention,
        )
        await conn.execute(
            "delete from outbox_published where logged_at < now() - $1::interval",
            self._retention,
        )


BACKLOG_COUNTED_UP_TO = 100_000
"""The backlog gauge counts the unpublished rows above the relay's position one by one
up to this many; a larger backlog is the span of ids above that position, a bound
from above (an id rolled back, or a row published but not yet stored as such, counts
in it) read from the primary key's end. Counting a backlog of millions row by row
(the broker away for hours) would hold the session it runs on past a leader's bound
on a statement (``NotifiedWorker.answer_within_s``): the relay would let go of its
lead for a gauge."""


async def refresh_backlog_metrics(
    conn: asyncpg.Connection,
    metrics: Metrics,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Set the backlog and relay-lag gauges from the outbox: the rows above the
    position the relay stored last (its read_to), not yet read, counted up to
    :data:`BACKLOG_COUNTED_UP_TO` (past it, the span of their ids). The lag is the
    age of the oldest of the rows counted, and grows with ``clock`` (seconds) from
    this read until the next: a relay held in a round (its broker away: every
    round waits for it) reads no gauge meanwhile, and its lag stood still where the
    rows waited on (trial54)."""
    row = await conn.fetchrow(
        """with position as (select read_to from outbox_relay),
                pending as (
                    select created_at from outbox
                    where id > (select read_to from position) and published_at is null
                    order by id limit $1)
           select (select count(*) from pending) as counted,
                  (select max(id) from outbox) - (select read_to from position)
                      as span,
                  extract(epoch from clock_timestamp() -
                          (select min(created_at) from pending)) as lag""",
        BACKLOG_COUNTED_UP_TO,
    )
    assert row is not None
    counted = int(row["counted"])
    backlog = counted if counted < BACKLOG_COUNTED_UP_TO else max(counted, row["span"])
    metrics.outbox_backlog.set(backlog)
    lag, read_at = row["lag"], clock()
    metrics.relay_lag.set_function(
        (lambda: 0.0) if lag is None else (lambda: float(lag) + clock() - read_at)
    )


async def unpublished_rows(conn: asyncpg.Connection) -> int:
    """How many outbox rows the relay has not stored as published: those at or
    above its stored position (rows it published since are stored by its next
    flush, within :data:`FLUSH_S` or as it stops)."""
    return await conn.fetchval(
        """select count(*) from outbox
           where id >= (select next_id from outbox_relay) and published_at is null"""
    )


async def republish_all(conn: asyncpg.Connection) -> int:
    """Send every retained row again, in order: the relay's position moves back to
    the oldest row retained (never forward: a row in flight below it stays to be
    read), and its epoch on, so that a leading relay starts over from there; the
    highest id stored as published is kept (``republished_to``, kernel migration
    0008), so that the rows sent again are counted apart from the commit-to-publish
    times. Returns the number of retained rows.

    Used to re-seed a broker that lost its data (the embedded memory broker after a
    restart, or a rebuilt cluster); consumers drop the duplicates.
    """
    async with conn.transaction():
        await conn.execute(
            "update outbox set published_at = null where published_at is not null"
        )
        count = await conn.fetchval("select count(*) from outbox")
        await conn.execute(
            """update outbox_relay set next_id = least(next_id, oldest),
                   read_to = least(next_id, oldest) - 1, epoch = epoch + 1,
                   republished_to = greatest(republished_to, next_id - 1)
               from (select min(id) as oldest from outbox) o"""
        )
        # an idle relay learns the epoch only from a read: wake it at commit
        await conn.execute("select pg_notify('certseal_outbox', '')")
    return int(count)


async def republish_retained(dsn: str) -> int:
    """:func:`republish_all` on a database that may not be made yet (0 then). One
    an earlier version made gets the kernel's migrations first, as every service
    applies them at its start (``republished_to`` came with 0008)."""
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        if not await pool.fetchval("select to_regclass('outbox') is not null"):
            return 0
        await migrate(pool, [("kernel", KERNEL_MIGRATIONS)])
        async with pool.acquire() as conn:
            return await republish_all(conn)
    finally:
        await pool.close()
