"""The replay guard of presentation codes: every nonce any verifier accepted, on disk,
read from the usage topic by a consumer in its own thread.

A presentation code (``PC1:``) is accepted once across every worker of every group
(docs/codes.md). Each accepted showing is in a ``licence.used`` record on
``certseal.licence-usage.v1`` (its use carries the nonce hash and the code's expiry),
so that topic is the guard's changelog, as the licence topic is the licence index's
(:mod:`services.verifier.diskindex`):

- :class:`AcceptedNonces` keeps nonce hash -> expiry in its own RocksDB database,
  written together with the offsets they reach in ONE write batch: a restart resumes
  exactly there, a kill -9 loses at most the batch in flight (read again), and a
  record read twice writes the same entry;
- :class:`UsageFeed` reads every partition of the topic with no consumer group, in a
  thread of its own with its own event loop: the records of the verifications this
  group and every other publishes never pass through the loop that serves gRPC, nor
  through Faust. Nearly every record is a licence code's use and carries no nonce:
  its ``certseal-nonces`` header says so (:data:`NONCES_HEADER`) and it is skipped
  without being decoded; a record without the header (a verifier before this one) is
  decoded, so nothing an older worker accepted is missed;
- a database without stored offsets (a new worker, or the first start after the
  Faust ``presentations`` table this replaces) reads the topic from its beginning,
  and until the feed has reached the end offsets it found at start a presentation
  code is answered UNAVAILABLE, never accepted unchecked (:meth:`UsageFeed.seen`);
  so does every run after a failed one, until it has reached the end offsets it reads
  again;
- one record that cannot be decoded (not protobuf, any other failure) is logged and
  skipped: the partition's offset moves past it, the guard never stops on it; one
  accepted use whose ``code_expires_at`` is outside the Timestamp range is logged and
  left out, and the record's other nonces are stored;
- stored offsets that belong to an earlier usage topic of the same name (deleted and
  made again: a stored offset past its end, or the record at the stored offset not
  the one applied there, by its timestamp and key) are forgotten and the topic is
  read from its beginning, UNAVAILABLE until caught up; the nonces already stored
  stay (each was accepted).

Expired nonces are deleted now and then: a code past its expiry fails the code
lifetime check before the replay check (services/verifier/domain.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.structs import TopicPartition

from certseal.errors import CertsealError, ErrorKind
from certseal.events import LICENCE_USAGE
from services.verifier.diskindex import Record, prefixed
from services.verifier.events import NONCES_HEADER
from services.verifier.index import BadEvent, accepted_nonces
from services.verifier.transport import (
    FETCH_MIN_BYTES,
    AdaptiveFetchWait,
    adapt_fetch_wait,
    read_end_offsets,
)

log = logging.getLogger(__name__)

FOLDER = "presentations.rocksdb"
NONCE = b"n:"  # n:<nonce hash, hex> -> the code's expiry (epoch seconds, ASCII)
OFFSET = b"o:"  # o:<partition> -> the last offset applied (ASCII)
#: l:<partition> -> "<timestamp ms> <crc32 of key>" of the record at that offset: which
#: topic the offsets belong to (a topic deleted and made again restarts at offset 0)
LAST = b"l:"
#: expired nonces are kept this much longer (clocks of groups differ a little)
EXPIRY_MARGIN_S = 60
PURGE_EVERY_S = 300.0


@dataclass(frozen=True, slots=True)
class Headed:
    """One usage record as the broker delivered it, with its headers."""

    record: Record
    headers: Sequence[tuple[str, bytes]]


def carries_no_nonce(headers: Iterable[tuple[str, bytes]]) -> bool:
    """Whether a record's :data:`NONCES_HEADER` says it carries no accepted nonce."""
    for name, value in headers:
        if name == NONCES_HEADER:
            return value == b"0"
    return False


def mark(record: Record) -> str:
    """What identifies a record at its offset: its timestamp (ms) and a CRC-32 of its
    key, "<timestamp> <crc>"."""
    return f"{record.timestamp_ms} {zlib.crc32(record.key)}"


class AcceptedNonces:
    """nonce hash -> expiry of every accepted presentation code, and per partition of
    the usage topic the last offset applied, in one RocksDB database.

    Thread-safe as RocksDB is: the feed's thread writes while the event loop reads.
    """

    def __init__(self, path: Path, *, cache_mb: int = 8):
        from rocksdict import BlockBasedOptions, Cache, Options, Rdict

        self.path = path
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        table = BlockBasedOptions()
        table.set_block_cache(Cache(cache_mb * 1024 * 1024))
        table.set_bloom_filter(10, False)
        options.set_block_based_table_factory(table)
        options.set_write_buffer_size(4 * 1024 * 1024)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = Rdict(
            str(path), options=options, column_families={"default": options}
        )

    def close(self) -> None:
        """Close (every batch went through the WAL)."""
        self._db.close()

    def seen(self, nonce_hash: str) -> bool:
        """Whether a presentation code with this nonce hash was accepted.

        Raises CertsealError(UNAVAILABLE) for a read RocksDB refuses (a damaged
        block: the next start finds it and rebuilds the guard from the topic)."""
        try:
            return self._db.get(NONCE + nonce_hash.encode()) is not None
        except Exception as exc:  # rocksdict raises a bare Exception("Corruption: …")
            log.error("replay guard %s cannot be read: %s", self.path, exc)
            raise CertsealError(
                ErrorKind.UNAVAILABLE,
                "the replay guard of this worker cannot be read; retry later",
            ) from None

    def offsets(self) -> dict[int, int]:
        """Per partition of the usage topic, the last offset applied."""
        return {int(key): int(value) for key, value in prefixed(self._db, OFFSET)}

    def marks(self) -> dict[int, str]:
        """Per partition, :func:`mark` of the record at its stored offset (offsets
        stored by a version before marks have none)."""
        return {
            int(key): bytes(value).decode() for key, value in prefixed(self._db, LAST)
        }

    def forget_offsets(self) -> None:
        """Delete every stored offset and mark (the topic they belong to is gone): the
        next run reads the topic from its beginning. The nonces stay: each was
        accepted, and a nonce read again writes the same entry."""
        from rocksdict import WriteBatch

        batch = WriteBatch(raw_mode=True)
        for prefix in (OFFSET, LAST):
            for key, _ in prefixed(self._db, prefix):
                batch.delete(prefix + key)
        self._db.write(batch)

    def apply(self, records: Sequence[Headed]) -> list[tuple[Record, BadEvent]]:
        """Record the accepted nonces of a batch of usage records and the offsets it
        reaches, in one atomic write; the records that cannot be decoded as usage
        records, each with why (the caller logs them; the partition moves on past
        them: one bad record never stops the guard)."""
        from rocksdict import WriteBatch

        batch = WriteBatch(raw_mode=True)
        reached: dict[int, Record] = {}
        bad: list[tuple[Record, BadEvent]] = []
        for headed in records:
            record = headed.record
            reached[record.partition] = record
            if carries_no_nonce(headed.headers):
                continue
            bad_uses: list[BadEvent] = []
            try:
                nonces = accepted_nonces(record.value, bad_uses)
            except BadEvent as exc:
                bad.append((record, exc))
                continue
            except Exception as exc:  # any other decoding failure: still one record
                bad.append((record, BadEvent(f"cannot be decoded: {exc!r}"[:300])))
                continue
            bad += [(record, problem) for problem in bad_uses]  # the others count
            for nonce_hash, expires in nonces:
                batch.put(NONCE + nonce_hash.encode(), str(expires).encode())
        for partition, last in reached.items():
            batch.put(OFFSET + str(partition).encode(), str(last.offset).encode())
            batch.put(LAST + str(partition).encode(), mark(last).encode())
        self._db.write(batch)
        return bad

    def purge(self, now: dt.datetime) -> int:
        """Delete the nonces of codes that expired before ``now`` (less
        :data:`EXPIRY_MARGIN_S`); how many."""
        from rocksdict import WriteBatch

        horizon = now.timestamp() - EXPIRY_MARGIN_S
        batch = WriteBatch(raw_mode=True)
        deleted = 0
        for key, value in prefixed(self._db, NONCE):
            if int(value) < horizon:
                batch.delete(NONCE + key)
                deleted += 1
        if deleted:
            self._db.write(batch)
        return deleted


def forget_replay_offsets(path: Path) -> None:
    """Forget the offsets of the guard's store at ``path``, if there is one, keeping
    its nonces: called at start when the worker meets another Kafka cluster than the
    one the store read (a rebuilt Kafka, the embedded memory broker restarted). A code
    accepted before stays REPLAYED; the new cluster's usage topic is read from its
    beginning."""
    if not path.exists():
        return
    store = AcceptedNonces(path)
    try:
        store.forget_offsets()
    finally:
        store.close()


class UsageFeed:
    """Reads every partition of the usage topic into :class:`AcceptedNonces`, in its
    own thread and event loop, with no consumer group (positions are the store's).

    ``noted(applied)`` is called on the serving loop (``call_soon_threadsafe``) after
    each batch is stored, with partition -> (last offset, its time in seconds): what
    the worker's index status reports. Every run (the first, and each one started a
    second after a failed run: the broker unreachable, a write refused) reads the end
    offsets again and sets :attr:`caught_up` only once it has reached them; a failed
    run clears it. Until then :meth:`seen` raises UNAVAILABLE: the guard never answers
    from a store that may be behind. Stored offsets that belong to an earlier topic of
    the same name (:meth:`_stale`) are forgotten and the topic is read from its
    beginning.
    """

    def __init__(
        self,
        store: AcceptedNonces,
        *,
        consumer_factory: Callable[..., Any],
        noted: Callable[[dict[int, tuple[int, float]]], None],
        topic: str = LICENCE_USAGE,
        fetch_max_wait_ms: int = 20,
        idle_fetch_max_wait_ms: int = 200,
        batch: int = 5000,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ):
        self.store = store
        self.topic = topic
        self._factory = consumer_factory
        self._noted = noted
        self._busy_ms = fetch_max_wait_ms
        self._idle_ms = idle_fetch_max_wait_ms
        self._batch = batch
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the serving loop
        self.caught_up = threading.Event()
        #: why the feed's last run stopped, until a new run has positioned itself
        self.failed: str | None = None
        self.retry_s = 1.0  # between a run that failed and the next
        self.applied_records = 0
        #: partition -> high water, from the latest fetches (for the index status)
        self.high_waters: dict[int, int] = {}
        #: partition -> the offset the feed resumed after (-1: from the beginning)
        self.resumed: dict[int, int] = {}

    def seen(self, nonce_hash: str) -> bool:
        """Whether a presentation code with this nonce hash was accepted.

        Raises CertsealError(UNAVAILABLE) while the guard is catching up, or after
        its feed stopped on an error."""
        if self.failed is not None:
            raise CertsealError(
                ErrorKind.UNAVAILABLE,
                f"the replay guard of this worker stopped ({self.failed}); presentation "
                "codes cannot be checked, retry later",
            )
        if not self.caught_up.is_set():
            raise CertsealError(
                ErrorKind.UNAVAILABLE,
                "the replay guard of this worker is still reading the usage topic; "
                "presentation codes cannot be checked yet, retry later",
            )
        return self.store.seen(nonce_hash)

    def start(self) -> None:
        """Start the feed's thread (call on the serving loop)."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=self._run, name="usage-feed", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread and close the store."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._thread is None or not self._thread.is_alive():
            self.store.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                asyncio.run(self._main())
            # BaseException too: a panic out of rocksdict (pyo3's PanicException) or a
            # stray CancelledError must not end the thread with caught_up still set
            except BaseException as exc:  # UNAVAILABLE meanwhile, never a verdict
                self.failed = str(exc).splitlines()[0][:300] if str(exc) else repr(exc)
                self.caught_up.clear()  # the store may be behind: the next run decides
                log.exception("the usage feed (replay guard) stopped; restarting")
                self._stop.wait(self.retry_s)

    async def _main(self) -> None:
        consumer = self._factory(
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._busy_ms,
            fetch_min_bytes=FETCH_MIN_BYTES,
            max_partition_fetch_bytes=1024 * 1024,
        )
        # every run catches up again with the end offsets it reads: before it has,
        # the store may be behind (a failed run stopped somewhere before the end)
        self.caught_up.clear()
        try:
            await consumer.start()
            tps = await self._position(consumer)
            self.failed = None
            if self._idle_ms > self._busy_ms and hasattr(consumer, "_fetcher"):
                adapt_fetch_wait(
                    consumer, AdaptiveFetchWait(self._busy_ms, self._idle_ms)
                )
            reported = await consumer.end_offsets(tps)
            ends = await read_end_offsets(
                self._factory(enable_auto_commit=False), reported
            )
            await self._consume(consumer, tps, ends)
        finally:
            await consumer.stop()

    async def _position(self, consumer: Any) -> list[TopicPartition]:
        partitions = None
        for _ in range(300):
            partitions = consumer.partitions_for_topic(self.topic)
            if partitions or self._stop.is_set():
                break
            await consumer._client.force_metadata_update()  # the topic appears
            await asyncio.sleep(0.1)
        if not partitions:
            raise RuntimeError(f"topic {self.topic} has no partitions")
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        stored = self.store.offsets()
        if stored and await self._stale(consumer, tps, stored):
            log.warning(
                "replay guard %s: the stored offsets belong to an earlier %s (deleted "
                "and made again); reading it from its beginning",
                *(self.store.path, self.topic),
            )
            self.store.forget_offsets()
            stored = {}
        for tp in tps:
            if tp.partition in stored:
                consumer.seek(tp, stored[tp.partition] + 1)
            else:
                await consumer.seek_to_beginning(tp)
            self.resumed[tp.partition] = stored.get(tp.partition, -1)
        log.info(
            "replay guard %s: %d partitions, resuming from %d stored offsets",
            *(self.store.path, len(tps), len(stored)),
        )
        return tps

    async def _stale(
        self, consumer: Any, tps: list[TopicPartition], stored: dict[int, int]
    ) -> bool:
        """Whether the stored offsets belong to an earlier topic of the same name: a
        stored partition the topic lacks, a stored offset at or past a partition's
        end offset, records after it deleted unread (its beginning offset is past
        it + 1), or a record at a stored offset that is not the one applied there
        (:func:`mark`; checked while the record is still kept). Raises RuntimeError
        (the run fails, the next one checks again) if those records cannot be read
        within 10 s."""
        present = {tp.partition: tp for tp in tps}
        if set(stored) - set(present):
            return True
        known = [present[p] for p in stored]
        begins = await consumer.beginning_offsets(known)
        ends = await read_end_offsets(  # exact: the embedded broker's may be short
            self._factory(enable_auto_commit=False), await consumer.end_offsets(known)
        )
        for tp in known:
            if not begins[tp] <= stored[tp.partition] + 1 <= ends[tp]:
                return True
        marks = self.store.marks()
        wanted = {
            tp: stored[tp.partition]
            for tp in known
            if tp.partition in marks and begins[tp] <= stored[tp.partition]
        }
        if not wanted:
            return False
        for tp, offset in wanted.items():
            consumer.seek(tp, offset)
        found: dict[TopicPartition, str] = {}
        deadline = asyncio.get_running_loop().time() + 10.0
        while len(found) < len(wanted):
            if asyncio.get_running_loop().time() > deadline or self._stop.is_set():
                raise RuntimeError("the records at the stored offsets cannot be read")
            pending = [tp for tp in wanted if tp not in found]
            fetched = await consumer.getmany(*pending, timeout_ms=200, max_records=1)
            for tp, messages in fetched.items():
                for m in messages[:1]:
                    at = Record(tp.partition, m.offset, m.key or b"", b"", m.timestamp)
                    found[tp] = mark(at) if m.offset == wanted[tp] else "missing"
        return any(found[tp] != marks[tp.partition] for tp in wanted)

    async def _consume(
        self,
        consumer: Any,
        tps: list[TopicPartition],
        ends: dict[Any, int],
    ) -> None:
        behind = {tp.partition: ends.get(tp, 0) for tp in tps}
        purged_at = time.monotonic()
        while not self._stop.is_set():
            if behind:
                for partition, end in list(behind.items()):
                    tp = TopicPartition(self.topic, partition)
                    if await consumer.position(tp) >= end:
                        del behind[partition]
                if not behind:
                    log.info("replay guard caught up with %s", self.topic)
                    self.caught_up.set()
            fetched = await consumer.getmany(timeout_ms=200, max_records=self._batch)
            for tp in fetched:
                high_water = consumer.highwater(tp)
                if high_water is not None:
                    self.high_waters[tp.partition] = high_water
            records = [
                Headed(
                    Record(
                        tp.partition,
                        m.offset,
                        m.key or b"",
                        m.value or b"",
                        m.timestamp,
                    ),
                    m.headers or (),
                )
                for tp, messages in fetched.items()
                for m in messages
            ]
            if records:
                for record, problem in self.store.apply(records):
                    log.error(
                        "usage record %s/%d@%d is not a usage record, skipped: %s",
                        *(self.topic, record.partition, record.offset, problem),
                    )
                self.applied_records += len(records)
                last: dict[int, tuple[int, float]] = {}
                for headed in records:
                    r = headed.record
                    last[r.partition] = (r.offset, r.timestamp_ms / 1000)
                if self._loop is not None:
                    self._loop.call_soon_threadsafe(self._noted, last)
            if time.monotonic() - purged_at > PURGE_EVERY_S:
                purged_at = time.monotonic()
                deleted = self.store.purge(self._clock())
                log.info("replay guard: %d expired nonces deleted", deleted)
