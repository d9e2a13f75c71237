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
import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from aiokafka.structs import TopicPartition

from certseal.errors import CertsealError, ErrorKind
from certseal.events import LICENCE_USAGE
from certseal.holes import OffsetHoles
from certseal.kafka import KafkaSettings, without_holes
from services.verifier.diskindex import Record
from services.verifier.replay_store import (
    EXPIRY_MARGIN_S,
    FOLDER,
    LAST,
    NONCE,
    OFFSET,
    AcceptedNonces,
    Headed,
    carries_no_nonce,
    forget_replay_offsets,
    mark,
)
from services.verifier.transport import (
    FETCH_MIN_BYTES,
    AdaptiveFetchWait,
    adapt_fetch_wait,
    read_end_offsets,
)

__all__ = [  # the store's names, where they were before the store had a module
    "EXPIRY_MARGIN_S",
    "FOLDER",
    "LAST",
    "NONCE",
    "OFFSET",
    "AcceptedNonces",
    "Headed",
    "UsageFeed",
    "carries_no_nonce",
    "forget_replay_offsets",
    "mark",
]

log = logging.getLogger(__name__)

PURGE_EVERY_S = 300.0


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
        consumer_factory: Callable[..., Any] | None = None,
        kafka: KafkaSettings | None = None,
        noted: Callable[[dict[int, tuple[int, float]]], None],
        topic: str = LICENCE_USAGE,
        fetch_max_wait_ms: int = 20,
        idle_fetch_max_wait_ms: int = 200,
        batch: int = 5000,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ):
        self.store = store
        self.topic = topic
        if consumer_factory is None:
            if kafka is None:
                raise ValueError(
                    "a UsageFeed needs kafka settings or a consumer factory"
                )
            consumer_factory = kafka.consumer
        #: unstarted consumers and producers (the claims', services.verifier.claims)
        self.consumer_factory = self._factory = consumer_factory
        self.producer_factory = kafka.producer if kafka is not None else None
        self._noted = noted
        self._busy_ms = fetch_max_wait_ms
        self._idle_ms = idle_fetch_max_wait_ms
        self._batch = batch
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: the feed thread's run, which :meth:`stop` cancels
        self._running: asyncio.Task[None] | None = None
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
        #: partition -> the last offset whose record is in the store (set after the
        #: store's write: read it before looking a nonce up, the store is at least
        #: that far)
        self.applied: dict[int, int] = {}
        #: runs that positioned the consumer so far (each checks for a remade topic)
        self.runs = 0
        #: holes met in the partitions' offsets (waited for near the head)
        self.holes = OffsetHoles("replay guard", clock=time.monotonic, wall=time.time)

    def seen(self, nonce_hash: str) -> bool:
        """Whether a presentation code with this nonce hash was accepted.

        Raises CertsealError(UNAVAILABLE) while the guard is catching up, or after
        its feed stopped on an error (:meth:`ready`)."""
        self.ready()
        return self.store.seen(nonce_hash)

    def ready(self) -> None:
        """Raises CertsealError(UNAVAILABLE) unless the feed has caught up and runs."""
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

    def start(self) -> None:
        """Start the feed's thread (call on the serving loop)."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=self._run, name="usage-feed", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread and close the store. The feed's run is cancelled where it
        waits: a read from a broker that does not answer (stopped, cut off) waits
        for no timeout of its own, and the stop waited ``timeout_s`` for it."""
        self._stop.set()
        running = self._running
        if running is not None:
            with contextlib.suppress(RuntimeError):  # its loop closed: it has ended
                running.get_loop().call_soon_threadsafe(running.cancel)
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._thread is None or not self._thread.is_alive():
            self.store.close()

    async def _cancellable_main(self) -> None:
        self._running = asyncio.current_task()
        try:
            if not self._stop.is_set():  # a stop before this run began
                await self._main()
        finally:
            self._running = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                asyncio.run(self._cancellable_main())
            # BaseException too: a panic out of rocksdict (pyo3's PanicException) or a
            # stray CancelledError must not end the thread with caught_up still set
            except BaseException as exc:  # UNAVAILABLE meanwhile, never a verdict
                if self._stop.is_set():
                    # the worker stops: a run cut short by it (a read it gave up) is
                    # no failure to retry, nor an error in the log of a worker that
                    # stopped for another reason (it misled the reading of one)
                    self.caught_up.clear()
                    log.info("the usage feed (replay guard) stopped: %s", exc)
                    break
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
            # one before the first record to read (its beginning offset may be past
            # 0: retention): a claim reads the partition from just after it
            self.resumed[tp.partition] = await consumer.position(tp) - 1
            self.holes.expect(tp, self.resumed[tp.partition] + 1)
        self.applied = dict(self.resumed)
        self.runs += 1  # the claims reader forgets what it read of an earlier run's log
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
        reported = await consumer.end_offsets(known)  # before the probe is made
        ends = await read_end_offsets(  # exact: the embedded broker's may be short
            self._factory(enable_auto_commit=False), reported
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
                for tp, messages in without_holes(consumer, self.holes, fetched).items()
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
                for partition, (offset, _) in last.items():
                    self.applied[partition] = offset
                if self._loop is not None:
                    self._loop.call_soon_threadsafe(self._noted, last)
            if time.monotonic() - purged_at > PURGE_EVERY_S:
                purged_at = time.monotonic()
                deleted = self.store.purge(self._clock())
                log.info("replay guard: %d expired nonces deleted", deleted)
