"""The licence index on disk, fed straight from the licence topic.

The licence topic (``certseal.licence-events.v1``, keyed by lineage) already holds, per
lineage, every version of its licence; the index keeps only the newest
(:func:`services.verifier.index.apply_licence_event`). So the topic itself is the
index's changelog: a worker reads every partition of it with no consumer group, applies
a batch of events in a worker thread, and writes the batch's entries together with the
offsets they reach in ONE RocksDB write batch (:class:`DiskIndex`). Nothing else is
written per event:

- a kill -9 loses at most the batch in flight, and the stored offsets say exactly where
  to resume (an entry is never ahead of its offset, nor behind it);
- a restart opens the database and resumes: recovery does not replay anything;
- an event delivered twice is version-gated away;
- a group of one worker reads every partition; a group run partitioned
  (:class:`Ownership`, ``[verifier] group_size``) has each worker read only the
  partitions it owns, and the others ask it for their entries
  (:mod:`services.verifier.group`).

Memory is bounded by RocksDB's block cache and write buffers (``cache_mb``,
``write_buffer_mb``), not by the number of entries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.structs import TopicPartition

from certseal.events import LICENCE_EVENTS
from services.verifier.index import BadEvent, Freshness, apply_licence_event
from services.verifier.partitions import Ownership, partition_of
from services.verifier.transport import (
    AdaptiveFetchWait,
    adapt_fetch_wait,
    read_end_offsets,
)

log = logging.getLogger(__name__)

ENTRY = b"l:"  # l:<lineage> -> the last applied LicenceEvent (protobuf bytes)
OFFSET = b"o:"  # o:<topic>/<partition> -> the last applied offset (ASCII)
#: m:complete -> "<partitions>:<p>,<p>,…": the partitions this index holds in full
COMPLETE = b"m:complete"
FOLDER = "licence-index.rocksdb"
#: fetches of at most this many events are applied on the loop, larger ones in a thread
INLINE_EVENTS = 32
#: the Faust table this index replaces (a folder name part in Faust's data dir)
OLD_TABLE = "licence-index"


@dataclass(frozen=True, slots=True)
class Record:
    """One licence event as the broker delivered it."""

    partition: int
    offset: int
    key: bytes
    value: bytes
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Applied:
    """What one :meth:`DiskIndex.apply` did."""

    written: int  # entries changed
    skipped: int  # not newer than the stored entry (duplicates, replays)
    bad: list[tuple[Record, BadEvent]]  # not applicable: dead-lettered by the caller


def _offset_key(topic: str, partition: int) -> bytes:
    return OFFSET + f"{topic}/{partition}".encode()


class DiskIndex:
    """lineage -> last applied LicenceEvent, in one RocksDB database with bounded
    memory, and per partition the last offset applied.

    Thread-safe as RocksDB is: the apply thread writes while the event loop reads.
    Raises rocksdict's Exception ("Corruption: …", "IO error: …") from the constructor
    for a damaged database (:func:`services.verifier.storage.damaged_tables` finds it
    before).
    """

    def __init__(
        self,
        path: Path,
        *,
        topic: str = LICENCE_EVENTS,
        cache_mb: int = 32,
        write_buffer_mb: int = 16,
    ):
        from rocksdict import BlockBasedOptions, Cache, Options, Rdict

        self.path = path
        self.topic = topic
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        table = BlockBasedOptions()
        table.set_block_cache(Cache(cache_mb * 1024 * 1024))
        # Index and filter blocks live with each open table (about 1.5 MB per million
        # entries: a 10-bit bloom filter per key and one index entry per 4 KB block),
        # not in the block cache: an SST's index block is hundreds of KB, larger than
        # a cache shard (capacity / 64), so kept there it was evicted at once and
        # read again on every get (1-2 ms a lookup at a few million entries).
        table.set_cache_index_and_filter_blocks(False)
        table.set_bloom_filter(10, False)
        options.set_block_based_table_factory(table)
        options.set_write_buffer_size(write_buffer_mb * 1024 * 1024)
        options.set_max_write_buffer_number(2)
        options.set_max_open_files(256)
        path.parent.mkdir(parents=True, exist_ok=True)
        # The table options are the default column family's: rocksdict reopens an
        # existing database's column families with its own defaults unless they are
        # named here (no bloom filter, an unbounded index in a small cache).
        self._db = Rdict(
            str(path), options=options, column_families={"default": options}
        )

    def close(self) -> None:
        """Flush nothing more (every batch went through the WAL) and close."""
        self._db.close()

    def get(self, lineage: bytes) -> bytes | None:
        """The last applied LicenceEvent of ``lineage`` (protobuf bytes), or None."""
        value: bytes | None = self._db.get(ENTRY + lineage)
        return value

    def get_many(self, lineages: list[bytes]) -> list[bytes | None]:
        """The last applied LicenceEvent of each lineage, in order (one multi-get)."""
        if not lineages:
            return []
        found: Any = self._db.get([ENTRY + lineage for lineage in lineages])
        return list(found)

    def complete(self) -> tuple[int, frozenset[int]] | None:
        """(topic partitions, the partitions held in full) as last recorded, or None
        for an index that never recorded it (a fresh one, or an older version's)."""
        stored = self._db.get(COMPLETE)
        if stored is None:
            return None
        count, _, held = stored.decode().partition(":")
        return int(count), frozenset(int(p) for p in held.split(",") if p)

    def mark_complete(self, partitions: int, held: frozenset[int]) -> None:
        """Record which of ``partitions`` this index holds in full."""
        text = f"{partitions}:" + ",".join(str(p) for p in sorted(held))
        self._db.put(COMPLETE, text.encode())

    def drop_partitions(self, doomed: frozenset[int], partitions: int) -> int:
        """Delete the entries and stored offsets of the ``doomed`` partitions (of a
        topic of ``partitions``): a walk over every key, off the loop. The number of
        entries deleted."""
        from rocksdict import WriteBatch

        deleted = 0
        batch = WriteBatch(raw_mode=True)
        for lineage, _ in self.items():
            if partition_of(lineage, partitions) in doomed:
                batch.delete(ENTRY + lineage)
                deleted += 1
                if deleted % 10_000 == 0:
                    self._db.write(batch)
                    batch = WriteBatch(raw_mode=True)
        for partition in self.offsets():
            if partition in doomed:
                batch.delete(_offset_key(self.topic, partition))
        self._db.write(batch)
        return deleted

    def drop_everything(self) -> None:
        """Delete every entry, offset and mark (the topic's partition count changed:
        every lineage may have moved)."""
        self._db.delete_range(b"", b"\xff")

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every (lineage, LicenceEvent bytes), in key order (a full scan)."""
        it = self._db.iter()
        it.seek(ENTRY)
        while it.valid():
            key = it.key()
            if not key.startswith(ENTRY):
                break
            yield key[len(ENTRY) :], it.value()
            it.next()

    def values(self) -> Iterator[bytes]:
        """Every stored LicenceEvent (a full scan)."""
        return (value for _, value in self.items())

    def estimated_entries(self) -> int:
        """RocksDB's O(1) estimate of the entries (offset keys included)."""
        return int(self._db.property_int_value("rocksdb.estimate-num-keys") or 0)

    def counted_entries(self) -> int:
        """Exactly how many lineages it holds (walks every key: off the loop)."""
        return sum(1 for _ in self.items())

    def offsets(self) -> dict[int, int]:
        """Per partition of the topic, the last offset applied."""
        prefix = _offset_key(self.topic, 0)[:-1]
        found = {}
        it = self._db.iter()
        it.seek(prefix)
        while it.valid() and it.key().startswith(prefix):
            found[int(it.key()[len(prefix) :])] = int(it.value())
            it.next()
        return found

    def apply(self, records: list[Record]) -> Applied:
        """Apply a batch of events (version-gated) and record the offsets it reaches,
        in one atomic write."""
        from rocksdict import WriteBatch

        pending: dict[bytes, bytes] = {}
        reached: dict[int, int] = {}
        bad: list[tuple[Record, BadEvent]] = []
        skipped = 0
        for record in records:
            reached[record.partition] = record.offset
            key = ENTRY + record.key
            stored = pending.get(key)
            if stored is None:
                stored = self._db.get(key)
            try:
                new = apply_licence_event(stored, record.value, key=record.key)
            except BadEvent as exc:
                bad.append((record, exc))
                continue
            if new is None:
                skipped += 1
            else:
                pending[key] = new
        batch = WriteBatch(raw_mode=True)
        for key, value in pending.items():
            batch.put(key, value)
        for partition, offset in reached.items():
            batch.put(_offset_key(self.topic, partition), str(offset).encode())
        self._db.write(batch)
        return Applied(len(pending), skipped, bad)


def drop_old_table(data_dir: Path) -> int:
    """Remove the Faust ``licence-index`` table files a previous version kept under
    ``data_dir`` (the index is now :class:`DiskIndex`, rebuilt from the topic); the
    number of folders removed."""
    import shutil

    removed = 0
    for path in sorted(data_dir.rglob(f"{OLD_TABLE}-*.db")):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def drop_unnamed_folder(data_root: Path, group: str) -> bool:
    """Remove ``<data_root>/<group>``, the folder of a group's only, unnamed worker,
    when this pod now runs as a named worker (``<group>@<worker>``): on a pod's own
    volume it is the state the previous version kept, which nothing reads any more.
    True when it was removed."""
    import shutil

    folder = data_root / group
    if not folder.is_dir():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


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
    ):
        self.index = index
        self._factory = consumer_factory
        self._freshness = freshness
        self._dead_letter = dead_letter
        self._busy_ms = fetch_max_wait_ms
        self._idle_ms = idle_fetch_max_wait_ms
        self._batch = batch
        self.ownership = ownership or Ownership()
        self.consumer: Any = None
        self.applied_events = 0
        self.partitions: int | None = None  # the topic's, once started
        self.held: frozenset[int] = frozenset()  # partitions held in full
        self.building: dict[int, int] = {}  # partition -> end offset to reach
        self.ready = asyncio.Event()  # assigned and positioned
        self.built = asyncio.Event()  # every owned partition held in full

    def assignment(self) -> list[TopicPartition]:
        """The partitions this feed reads (those this worker owns)."""
        return sorted(self.consumer.assignment()) if self.consumer else []

    def high_waters(self) -> dict[tuple[str, int], int]:
        """High waters from the latest fetch responses (no broker round trip)."""
        marks = {}
        for tp in self.assignment():
            high_water = self.consumer.highwater(tp)
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
            # every partition; a fresh index of a partitioned worker holds none
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
        rebuild = [tp for tp in tps if tp.partition not in self.held]
        self.building = {tp.partition: -1 for tp in rebuild}  # ends below
        if rebuild:
            reported = await consumer.end_offsets(rebuild)
            ends = await read_end_offsets(
                self._factory(enable_auto_commit=False), reported
            )
            self.building = {tp.partition: ends[tp] for tp in rebuild}
            targets = [self.building[p] for p in sorted(self.building)]
            log.warning(
                "licence index: rebuilding %s from the topic; no lookup is answered "
                "from them until they reach %s",
                *(sorted(self.building), targets),
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
        """Mark each partition being rebuilt that reached its end offset as held."""
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
        log.warning("licence index: partitions %s rebuilt", sorted(done))
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
                for tp, messages in fetched.items()
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
        """Stop fetching (the index stays open for the caller to close)."""
        if self.consumer is not None:
            await self.consumer.stop()
