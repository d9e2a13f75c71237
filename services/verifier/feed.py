"""The licence feed: reads the licence-topic partitions a worker owns into its
:class:`services.verifier.diskindex.DiskIndex` (the topic is the index's changelog; see
that module), with no consumer group."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.structs import TopicPartition

from certseal.holes import OffsetHoles
from certseal.kafka import without_holes
from services.verifier.diskindex import INLINE_EVENTS, DiskIndex, Record
from services.verifier.index import BadEvent, Freshness
from services.verifier.partitions import Ownership
from services.verifier.transport import (
    AdaptiveFetchWait,
    adapt_fetch_wait,
    read_end_offsets,
)

log = logging.getLogger(__name__)


class LicenceFeed:
    """Reads the licence-topic partitions this worker owns into a :class:`DiskIndex`.

    No consumer group: positions are the index's own stored offsets. A group of one
    (the default :class:`Ownership`) reads every partition. Batches of at most
    ``batch`` events are applied in a worker thread (up to :data:`INLINE_EVENTS` on the
    loop, so a lone revocation takes no thread hop), so the event loop keeps answering
    verifications; ``dead_letter(record, problem)`` is awaited for each event that
    cannot be applied (the partition moves on).

    A partition this worker owns but its index does not hold in full (the group's size
    changed, or a partitioned worker starts empty) is rebuilt from the beginning and
    listed in :attr:`building` until it reaches the end offset it had at start: no
    lookup is answered from it meanwhile (:mod:`services.verifier.group`).
    """

    def __init__(
        self,
        index: DiskIndex,
        *,
        consumer_factory: Callable[..., Any],
        freshness: Freshness,
        dead_letter: Callable[[Record, BadEvent], Awaitable[None]],
        fetch_max_wait_ms: int = 20,
        idle_fetch_max_wait_ms: int = 200,
        batch: int = 2000,
        ownership: Ownership | None = None,
        catch_up_all: bool = False,
    ):
        """``catch_up_all``: a rebuild is pending (services.verifier.rebuilds), so
        :attr:`caught_up` waits for every owned partition, not only those read from
        their beginning (a start killed after the rebuild was built, before its
        reasons were cleared, resumes a whole index)."""
        self.index = index
        self._catch_up_all = catch_up_all
        self._factory = consumer_factory
        self._freshness = freshness
        self._dead_letter = dead_letter
        self._busy_ms = fetch_max_wait_ms
        self._idle_ms = idle_fetch_max_wait_ms
        self._batch = batch
        self.ownership = ownership or Ownership()
        self.consumer: Any = None  # once start() has assigned it its partitions
        self._opened: Any = None  # the consumer start() made, for stop() to close
        self.applied_events = 0
        self.partitions: int | None = None  # the topic's, once started
        self.held: frozenset[int] = frozenset()  # partitions held in full
        self.building: dict[int, int] = {}  # partition -> end offset to reach
        self.ready = asyncio.Event()  # assigned and positioned
        self.built = asyncio.Event()  # every owned partition held in full
        #: every partition read from its beginning (with ``catch_up_all``, every
        #: owned one) read to its end offset at the start (what a rebuild must read
        #: before it is done: services.verifier.rebuilds)
        self.caught_up = asyncio.Event()
        self._catching_up: dict[int, int] = {}  # partition -> end offset at start
        self._start_ends: dict[TopicPartition, int] = {}  # of those tracked
        self._build_level = logging.WARNING  # a rebuild is news; a first build, INFO
        #: holes met in the partitions' offsets (waited for near the head)
        self.holes = OffsetHoles("licence index", clock=time.monotonic, wall=time.time)

    def assignment(self) -> list[TopicPartition]:
        """The partitions this feed reads (those this worker owns)."""
        return sorted(self.consumer.assignment()) if self.consumer else []

    def high_waters(self) -> dict[tuple[str, int], int]:
        """High waters from the latest fetch responses (no broker round trip); before
        a partition's first fetch, its end offset at the start."""
        marks = {}
        for tp in self.assignment():
            high_water = self.consumer.highwater(tp)
            if high_water is None:
                high_water = self._start_ends.get(tp)
            if high_water is not None:
                marks[(tp.topic, tp.partition)] = high_water
        return marks

    def _reconcile(self, count: int, owned: frozenset[int]) -> frozenset[int]:
        """Drop what this index holds beyond the partitions it keeps, and return those
        it holds in full and still owns (run off the loop: may walk every key)."""
        index, stored = self.index, self.index.offsets()
        marked = index.complete()
        if marked is None:
            # an index of a group of one (this version's, or an older one's) holds
            # every partition, and a fresh one is answered from while it builds, its
            # lag in every answer (a rebuild would start again from nothing at each
            # restart: a province's first build outlasts a pod's startup probe); a
            # fresh index of a partitioned worker holds none
            whole = bool(stored) or self.ownership.size == 1
            marked = (count, frozenset(range(count)) if whole else frozenset())
        if marked[0] != count:
            log.warning(
                "licence topic now has %d partitions (was %d): rebuilding the index",
                count,
                marked[0],
            )
            index.drop_everything()
            marked = (count, frozenset())
        kept = marked[1] & owned
        doomed = frozenset(stored) - kept
        if doomed:
            dropped = index.drop_partitions(doomed, count)
            log.warning(
                "licence index: dropped %d entries of partitions %s (not owned, or "
                "not built in full)",
                *(dropped, sorted(doomed)),
            )
        index.mark_complete(count, kept)
        if index.entries is None:  # an older version's index: count it once
            log.warning("licence index: counting the entries of %s once", index.path)
            index.recount()
        return kept

    async def start(self) -> None:
        """Assign the owned partitions and seek each past its stored offset; mark
        those to rebuild."""
        topic = self.index.topic
        consumer = self._factory(
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._busy_ms,
            max_partition_fetch_bytes=1024 * 1024,
        )
        # stop() closes it from here on: a worker stopped while this start awaits
        # the broker left it open ("Unclosed AIOKafkaConsumer")
        self._opened = consumer
        await consumer.start()
        partitions = None
        for _ in range(100):
            partitions = consumer.partitions_for_topic(topic)
            if partitions:
                break
            await consumer._client.force_metadata_update()  # the topic appears
            await asyncio.sleep(0.1)
        if not partitions:
            await consumer.stop()
            raise RuntimeError(f"topic {topic} has no partitions")
        count = len(partitions)
        owned = frozenset(p for p in partitions if self.ownership.owns(p))
        if not owned:
            await consumer.stop()
            raise RuntimeError(
                f"worker {self.ownership.ordinal} of a group of {self.ownership.size} "
                f"owns none of the {count} partitions of {topic}: group_size must "
                "not exceed the topic's partitions"
            )
        # none answered from until known held in full (peers ignore readiness)
        self.building = dict.fromkeys(owned, -1)
        self.partitions = count
        self.held = await asyncio.to_thread(self._reconcile, count, owned)
        tps = [TopicPartition(topic, p) for p in sorted(owned)]
        consumer.assign(tps)
        stored = self.index.offsets()
        for tp in tps:
            if tp.partition in stored:
                consumer.seek(tp, stored[tp.partition] + 1)
                self._freshness.applied[(topic, tp.partition)] = stored[tp.partition]
            else:
                await consumer.seek_to_beginning(tp)
            position = await consumer.position(tp)
            self.holes.expect(tp, position)
            if tp.partition not in stored:
                # read from its beginning: until its first event is applied, the
                # answers' lag counts the whole partition, not none of it
                self._freshness.applied[(topic, tp.partition)] = position - 1
        rebuild = [tp for tp in tps if tp.partition not in self.held]
        self.building = {tp.partition: -1 for tp in rebuild}  # ends below
        # the end offsets of this start, of what is read from its beginning (every
        # partition being rebuilt is) or, with a rebuild pending, of every partition:
        # a worker resuming a whole index asks the broker nothing here
        track = [tp for tp in tps if self._catch_up_all or tp.partition not in stored]
        if track:
            reported = await consumer.end_offsets(track)
            # the probe is made only now: made before an await that failed, it was
            # never closed (read_end_offsets starts and stops it)
            ends = await read_end_offsets(
                self._factory(enable_auto_commit=False), reported
            )
            self._start_ends = dict(ends)
        self._catching_up = {tp.partition: self._start_ends[tp] for tp in track}
        if rebuild:
            self.building = {tp.partition: self._start_ends[tp] for tp in rebuild}
            targets = [self.building[p] for p in sorted(self.building)]
            # an index holding no partition in full is in its first build (maybe
            # resumed after a restart): a worker's normal start, not news
            first = not self.held
            self._build_level = logging.INFO if first else logging.WARNING
            log.log(
                self._build_level,
                "licence index: %s %s from the topic; no lookup is answered from "
                "them until they reach %s",
                *("building" if first else "rebuilding", sorted(self.building)),
                targets,
            )
        if self._idle_ms > self._busy_ms and hasattr(consumer, "_fetcher"):
            adapt_fetch_wait(consumer, AdaptiveFetchWait(self._busy_ms, self._idle_ms))
        self.consumer = consumer
        await self._settle_building()
        self.ready.set()
        where = (self.ownership.ordinal, self.ownership.size, len(stored))
        log.info(
            "licence index %s: partitions %s (worker %d of %d), resuming from %d "
            "stored offsets",
            *(self.index.path, [tp.partition for tp in tps], *where),
        )

    async def _settle_building(self) -> None:
        """Mark each partition being rebuilt that reached its end offset as held, and
        see whether every partition read to its end offset of the start."""
        if not self.caught_up.is_set():
            topic = self.index.topic
            for partition, end in list(self._catching_up.items()):
                tp = TopicPartition(topic, partition)
                if await self.consumer.position(tp) >= end:
                    del self._catching_up[partition]
            if not self._catching_up:
                self.caught_up.set()
        if not self.building:
            self.built.set()
            return
        topic = self.index.topic
        done = [
            partition
            for partition, end in self.building.items()
            if await self.consumer.position(TopicPartition(topic, partition)) >= end
        ]
        if not done:
            return
        for partition in done:
            del self.building[partition]
        self.held = self.held | frozenset(done)
        assert self.partitions is not None
        self.index.mark_complete(self.partitions, self.held)
        done_word = "rebuilt" if self._build_level == logging.WARNING else "built"
        log.log(
            self._build_level,
            "licence index: partitions %s %s",
            sorted(done),
            done_word,
        )
        if not self.building:
            self.built.set()

    async def run(self) -> None:
        """Fetch and apply until cancelled."""
        topic = self.index.topic
        while True:
            fetched = await self.consumer.getmany(
                timeout_ms=1000, max_records=self._batch
            )
            records = [
                Record(
                    tp.partition, m.offset, m.key or b"", m.value or b"", m.timestamp
                )
                for tp, messages in without_holes(
                    self.consumer, self.holes, fetched
                ).items()
                for m in messages
            ]
            if not records:
                await self._settle_building()
                continue
            started = time.perf_counter()
            if len(records) <= INLINE_EVENTS:
                # a revocation arrives alone: no hop to a thread and back (about
                # 10 µs an event, well under the loop's budget)
                applied = self.index.apply(records)
            else:
                applied = await asyncio.to_thread(self.index.apply, records)
            self.applied_events += len(records)
            for record, problem in applied.bad:
                await self._dead_letter(record, problem)
            last: dict[int, Record] = {}
            for record in records:
                last[record.partition] = record
            newest_ms = max(record.timestamp_ms for record in records)
            for partition, record in last.items():
                self._freshness.note(topic, partition, record.offset, newest_ms / 1000)
            await self._settle_building()
            log.debug(
                "applied %d events (%d written) in %.1f ms",
                len(records),
                applied.written,
                (time.perf_counter() - started) * 1000,
            )

    async def stop(self) -> None:
        """Stop fetching (the index stays open for the caller to close), also
        when :meth:`start` was cut short."""
        if self._opened is not None:
            await self._opened.stop()
