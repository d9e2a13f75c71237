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

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certseal.errors import CertsealError, ErrorKind
from certseal.events import LICENCE_EVENTS
from services.verifier.index import BadEvent, apply_licence_event
from services.verifier.partitions import partition_of

log = logging.getLogger(__name__)

ENTRY = b"l:"  # l:<lineage> -> the last applied LicenceEvent (protobuf bytes)
OFFSET = b"o:"  # o:<topic>/<partition> -> the last applied offset (ASCII)
#: m:complete -> "<partitions>:<p>,<p>,…": the partitions this index holds in full
COMPLETE = b"m:complete"
#: m:entries -> the number of l: keys (ASCII), written in the same batch as they are
COUNT = b"m:entries"
FOLDER = "licence-index.rocksdb"
#: fetches of at most this many events are applied on the loop, larger ones in a thread
INLINE_EVENTS = 32
#: the Faust table this index replaces (a folder name part in Faust's data dir)
OLD_TABLE = "licence-index"


def checked_walk(it: Any) -> Iterator[Any]:
    """Walk a positioned RocksDB iterator (rocksdict ``RdictIter``) to its end,
    yielding it at each key; then raise what stopped it, if anything did: at a
    damaged block the iterator only turns invalid, so a walk that ended there would
    look complete (rocksdict raises a bare ``Exception("Corruption: …")``)."""
    while it.valid():
        yield it
        it.next()
    it.status()


def prefixed(db: Any, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(key without ``prefix``, value) of every key of the RocksDB database ``db``
    under ``prefix``, in key order; a damaged block raises (:func:`checked_walk`)."""
    it = db.iter()
    it.seek(prefix)
    for at in checked_walk(it):
        key = at.key()
        if not key.startswith(prefix):
            break
        yield key[len(prefix) :], at.value()


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


class IndexDamaged(Exception):
    """The licence index met a damaged block at run time (:attr:`DiskIndex.damage`)
    or while it was opened: the worker stops, drops the index and rebuilds it from
    the topic."""


class DiskIndex:
    """lineage -> last applied LicenceEvent, in one RocksDB database with bounded
    memory, and per partition the last offset applied.

    Thread-safe as RocksDB is: the apply thread writes while the event loop reads.
    Raises rocksdict's Exception ("Corruption: …", "IO error: …") from the constructor
    for a database RocksDB cannot open (:func:`services.verifier.storage.damaged_tables`
    finds it before: a damaged CURRENT or MANIFEST, an .sst file missing or cut short).

    A damaged block (a checksum that does not match) is found by the read that meets
    it, or by :meth:`verify` (every block, in the background after start-up): from
    then on :attr:`damage` says why and every read raises UNAVAILABLE, so a damaged
    index never gives a verdict; the worker drops it and rebuilds it from the topic.
    """

    #: why the index is unusable ("Corruption: …"), once a read or :meth:`verify`
    #: met a damaged block; None while sound
    damage: str | None = None
    #: called (from whichever thread read it) when :attr:`damage` is first set
    on_damage: Callable[[], None] | None = None

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
        #: the exact number of entries, kept in the same write batch as they change
        #: (:data:`COUNT`); None for an index an older version wrote, until
        #: :meth:`recount` (an empty index starts at 0)
        self._entries: int | None = None
        try:
            stored = self._db.get(COUNT)
            if stored is not None:
                self._entries = int(stored)
            elif not self._any_entry():
                self._entries = 0
                self._db.put(COUNT, b"0")
        except Exception as exc:  # rocksdict raises a bare Exception("Corruption: …")
            # a damaged block in what the open reads: the same rebuild as one met
            # after SERVING, not a crash loop
            self._db.close()
            reason = str(exc).splitlines()[0][:300] if str(exc) else repr(exc)
            raise IndexDamaged(f"{path}: {reason}") from None

    def _any_entry(self) -> bool:
        it = self._db.iter()
        it.seek(ENTRY)
        return bool(it.valid() and it.key().startswith(ENTRY))

    def close(self) -> None:
        """Flush nothing more (every batch went through the WAL) and close."""
        self._db.close()

    def _damaged(self, exc: Exception) -> CertsealError:
        """Note ``exc`` (rocksdict's bare Exception) as the index's damage; the
        UNAVAILABLE every read raises from now on."""
        if self.damage is None:
            self.damage = str(exc).splitlines()[0][:300] if str(exc) else repr(exc)
            log.error("licence index %s is damaged: %s", self.path, self.damage)
            if self.on_damage is not None:
                self.on_damage()
        return self._unusable()

    def _unusable(self) -> CertsealError:
        return CertsealError(
            ErrorKind.UNAVAILABLE,
            f"the licence index of this worker is damaged ({self.damage}) and is "
            "being rebuilt from the topic; retry later",
        )

    def get(self, lineage: bytes) -> bytes | None:
        """The last applied LicenceEvent of ``lineage`` (protobuf bytes), or None.

        Raises CertsealError(UNAVAILABLE) once the index is known damaged."""
        if self.damage is not None:
            raise self._unusable()
        try:
            value: bytes | None = self._db.get(ENTRY + lineage)
        except Exception as exc:  # "Corruption: block checksum mismatch …"
            raise self._damaged(exc) from None
        return value

    def get_many(self, lineages: list[bytes]) -> list[bytes | None]:
        """The last applied LicenceEvent of each lineage, in order (one multi-get).

        Raises CertsealError(UNAVAILABLE) once the index is known damaged."""
        if self.damage is not None:
            raise self._unusable()
        if not lineages:
            return []
        try:
            found: Any = self._db.get([ENTRY + lineage for lineage in lineages])
        except Exception as exc:
            raise self._damaged(exc) from None
        return list(found)

    def _stored(self, key: bytes) -> bytes | None:
        """The stored value of ``key`` for the apply path; IndexDamaged (after noting
        the damage) for a damaged block, which stops the feed and the worker."""
        try:
            value: bytes | None = self._db.get(key)
        except Exception as exc:
            self._damaged(exc)
            raise IndexDamaged(f"Corruption: licence index {self.path}: {exc}") from exc
        return value

    def verify(
        self,
        *,
        stop: threading.Event | None = None,
        pause_every: int = 20_000,
        pause_s: float = 0.002,
    ) -> int:
        """Read every block of the index (RocksDB checks each one's checksum), from a
        consistent view, without filling the block cache; the number of keys read.

        Sets :attr:`damage` and raises CertsealError(UNAVAILABLE) at the first
        damaged block. Run it in a thread: it sleeps ``pause_s`` every
        ``pause_every`` keys, so the event loop's thread keeps the GIL most of the
        time; it returns early once ``stop`` is set (the worker stops)."""
        from rocksdict import ReadOptions

        options = ReadOptions()
        options.fill_cache(False)  # type: ignore[call-arg]  # the stub lacks it
        options.set_verify_checksums(True)
        read = 0
        try:
            it = self._db.iter(options)
            it.seek_to_first()
            for _ in checked_walk(it):
                read += 1
                if read % pause_every == 0:
                    if self.damage is not None:
                        raise self._unusable()
                    if stop is not None and stop.is_set():
                        return read
                    time.sleep(pause_s)
        except CertsealError:
            raise
        except Exception as exc:
            raise self._damaged(exc) from None
        return read

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

        deleted = walked = 0
        # the deletions go in several batches: the first one drops the kept count,
        # so a process killed before the last leaves "unknown" (recounted at the next
        # start), never a stale count; the last one writes the new count
        self._db.delete(COUNT)
        self._entries = None
        batch = WriteBatch(raw_mode=True)
        for lineage, _ in self.items():
            walked += 1
            if partition_of(lineage, partitions) in doomed:
                batch.delete(ENTRY + lineage)
                deleted += 1
                if deleted % 10_000 == 0:
                    self._db.write(batch)
                    batch = WriteBatch(raw_mode=True)
        for partition in self.offsets():
            if partition in doomed:
                batch.delete(_offset_key(self.topic, partition))
        kept = walked - deleted
        batch.put(COUNT, str(kept).encode())
        self._db.write(batch)
        self._entries = kept
        return deleted

    def drop_everything(self) -> None:
        """Delete every entry, offset and mark (the topic's partition count changed:
        every lineage may have moved)."""
        self._db.delete_range(b"", b"\xff")
        self._db.put(COUNT, b"0")
        self._entries = 0

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every (lineage, LicenceEvent bytes), in key order (a full scan).

        Raises CertsealError(UNAVAILABLE) once the index is known damaged, or when
        the walk meets a damaged block (RocksDB's iterator then only turns invalid:
        a walk that stopped there would look complete)."""
        if self.damage is not None:
            raise self._unusable()
        try:
            yield from prefixed(self._db, ENTRY)
        except CertsealError:
            raise
        except Exception as exc:
            raise self._damaged(exc) from None

    def values(self) -> Iterator[bytes]:
        """Every stored LicenceEvent (a full scan)."""
        return (value for _, value in self.items())

    def estimated_entries(self) -> int:
        """RocksDB's O(1) estimate of the entries (offset keys included)."""
        return int(self._db.property_int_value("rocksdb.estimate-num-keys") or 0)

    def counted_entries(self) -> int:
        """Exactly how many lineages it holds (walks every key: off the loop)."""
        return sum(1 for _ in self.items())

    @property
    def entries(self) -> int | None:
        """Exactly how many lineages it holds, in O(1): the count kept with every
        write batch; None for an index an older version wrote, until :meth:`recount`."""
        return self._entries

    def recount(self) -> int:
        """Count every entry (a walk over every key: seconds per ten million, off
        the loop) and keep the count from now on. Call it only while nothing
        applies (the licence feed calls it at start, before it reads)."""
        counted = self.counted_entries()
        self._db.put(COUNT, str(counted).encode())
        self._entries = counted
        return counted

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
        skipped = added = 0
        for record in records:
            reached[record.partition] = record.offset
            key = ENTRY + record.key
            stored = pending.get(key)
            new_key = False
            if stored is None:
                stored = self._stored(key)
                new_key = stored is None
            try:
                new = apply_licence_event(stored, record.value, key=record.key)
            except BadEvent as exc:
                bad.append((record, exc))
                continue
            if new is None:
                skipped += 1
            else:
                added += new_key
                pending[key] = new
        batch = WriteBatch(raw_mode=True)
        for key, value in pending.items():
            batch.put(key, value)
        for partition, offset in reached.items():
            batch.put(_offset_key(self.topic, partition), str(offset).encode())
        entries = None if self._entries is None else self._entries + added
        if entries is not None and added:
            batch.put(COUNT, str(entries).encode())
        self._db.write(batch)
        self._entries = entries
        return Applied(len(pending), skipped, bad)


def drop_old_table(data_dir: Path, *, before: Callable[[], None]) -> int:
    """Remove the Faust ``licence-index`` table files a previous version kept under
    ``data_dir`` (the index is now :class:`DiskIndex`, rebuilt from the topic),
    calling ``before()`` first when there are any; the number of folders removed."""
    import shutil

    old = [p for p in sorted(data_dir.rglob(f"{OLD_TABLE}-*.db")) if p.is_dir()]
    if old:
        before()
    for path in old:
        shutil.rmtree(path, ignore_errors=True)
    return len(old)


def drop_unnamed_folder(
    data_root: Path, group: str, *, before: Callable[[], None]
) -> bool:
    """Remove ``<data_root>/<group>``, the folder of a group's only, unnamed worker,
    when this pod now runs as a named worker (``<group>@<worker>``): on a pod's own
    volume it is the state the previous version kept, which nothing reads any more.
    ``before()`` is called first. True when it was removed."""
    import shutil

    folder = data_root / group
    if not folder.is_dir():
        return False
    before()
    shutil.rmtree(folder, ignore_errors=True)
    return True
