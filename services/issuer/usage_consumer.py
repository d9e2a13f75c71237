"""The consumer that keeps the usage record (用证记录): a Kafka consumer group of the
issuer reading the usage topic (``licence.used``: verifications), writing each batch's
entries in one PostgreSQL transaction and committing the offsets only after it
(docs/architecture.md, "The usage record"). Authorisations are entries written with
their events, in the issuer's own transaction; at each start the consumer first makes
the entries of the authorisation events still in the outbox (``UsageRecord.backfill``:
those a previous version published for this consumer to read).

At-least-once: a batch whose transaction failed is read again from the committed
offsets; an entry's id is its event's id (and the use's place), so a redelivered event
adds nothing. A record that does not decode is skipped with a warning (it can never
become an entry, and must not stop the record)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any

from google.protobuf.message import DecodeError

from certseal.events import LICENCE_USAGE, use_time, uses_of
from certseal.holes import OffsetHoles
from certseal.kafka import KafkaSettings, stop_within, without_holes
from certseal.timestamps import from_ts
from certseal.v1 import events_pb2
from services.issuer.service.usage import UsageRecord
from services.issuer.usage import UsageEntry, UsageKind, department_of, use_entry_id

log = logging.getLogger(__name__)


def _time(value: Any) -> dt.datetime | None:
    return from_ts(value) if value.seconds or value.nanos else None


def verification_entries(value: bytes) -> list[UsageEntry]:
    """The entries of one ``licence.used`` record (one per use, in request order);
    [] for a record without a use or an id. DecodeError for bytes that are not a
    ``LicenceUsedEvent``; ValueError or OverflowError for a time outside what a
    Timestamp may hold."""
    event = events_pb2.LicenceUsedEvent.FromString(value)
    at = _time(event.occurred_at)
    if not event.event_id or at is None:
        return []
    return [
        UsageEntry(
            entry_id=use_entry_id(event.event_id, place),
            lineage=use.lineage,
            identifier=use.identifier,
            kind=UsageKind.VERIFIED,
            occurred_at=_time(use_time(event, use)) or at,
            department_code=department_of(event.counter),
            counter=event.counter,
            clerk=event.clerk,
            verifier_group=event.verifier_group,
            purpose=event.purpose,
            verdict=use.verdict,
            nonce_hash=use.nonce_hash,
        )
        for place, use in enumerate(uses_of(event), start=1)
        if use.lineage
    ]


def entries_of(topic: str, value: bytes) -> list[UsageEntry]:
    """The usage entries one consumed record brings. DecodeError for a broken
    value."""
    return verification_entries(value) if topic == LICENCE_USAGE else []


class UsageConsumer:
    """Fills the usage record from the topics, until stopped."""

    def __init__(
        self,
        *,
        kafka: KafkaSettings,
        usage: UsageRecord,
        group_id: str,
        fetch_max_wait_ms: int = 50,
        fetch_min_bytes: int = 64 * 1024,
        idle_commit_s: float = 1.0,
        retry_s: float = 1.0,
    ):
        self._kafka = kafka
        self._usage = usage
        self._group_id = group_id
        self._fetch_max_wait_ms = fetch_max_wait_ms
        # the broker answers a fetch once this much is there or the wait is over:
        # fuller, fewer fetches (and offset commits) under load, the same latency
        # bound (fetch_max_wait_ms) when quiet
        self._fetch_min_bytes = fetch_min_bytes
        # a batch that stored no entry (uses of other issuers' lineages) commits its
        # offsets with the next batch that does, or after this many seconds: reading such a batch again after a restart stores
        # nothing, and an offset commit per fetch was a broker round trip each
        self._idle_commit_s = idle_commit_s
        self._retry_s = retry_s
        self._committed = asyncio.Event()
        self.batches = 0

    def next_commit(self) -> asyncio.Event:
        """An event set once the next batch is in PostgreSQL and its offsets are
        committed (tests await it instead of sleeping: take it before looking)."""
        return self._committed

    def _signal(self) -> None:
        self.batches += 1
        done, self._committed = self._committed, asyncio.Event()
        done.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume, store, commit, until ``stop`` is set; a failure to reach the
        broker or PostgreSQL is logged and retried from the committed offsets."""
        backfilled = False
        while not stop.is_set():
            try:
                if not backfilled:
                    backfilled = True  # once a run; the prune's backfill retries
                    try:
                        added = await self._usage.backfill()
                    except Exception:  # never in the way of the usage topic
                        log.exception("usage record: the outbox backfill failed")
                        added = 0
                    if added:
                        log.info(
                            "usage record: %d authorisation entries from the outbox",
                            added,
                        )
                await self._consume(stop)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("usage record: consumer failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._retry_s)

    async def _consume(self, stop: asyncio.Event) -> None:
        consumer = self._kafka.consumer(
            LICENCE_USAGE,
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._fetch_max_wait_ms,
            fetch_min_bytes=self._fetch_min_bytes,
        )
        uncommitted = False
        last_commit = time.monotonic()
        holes = OffsetHoles("usage record", clock=time.monotonic, wall=time.time)
        try:
            # leaves its group on stop (certseal.kafka.Consumer)
            if not await _unless_stopped(stop, consumer.start()):
                return
            while not stop.is_set():
                fetched = await consumer.getmany(timeout_ms=200, max_records=500)
                batches = without_holes(consumer, holes, fetched)
                if batches:
                    entries = self._entries(r for rs in batches.values() for r in rs)
                    # a failure here commits nothing: run() starts a new consumer,
                    # which reads the batch again from the group's committed offsets
                    await self._usage.record(entries)
                    uncommitted = True
                    if not entries and (
                        time.monotonic() - last_commit < self._idle_commit_s
                    ):
                        continue
                if uncommitted and (
                    batches or time.monotonic() - last_commit >= self._idle_commit_s
                ):
                    if not await _unless_stopped(stop, consumer.commit()):
                        return  # not committed: read again by the next start
                    uncommitted = False
                    last_commit = time.monotonic()
                    self._signal()
        finally:
            if not await stop_within(consumer.stop(), CONSUMER_STOP_S):
                log.warning(
                    "usage record: the consumer did not stop within %.0f s (the broker "
                    "did not answer); cancelled",
                    CONSUMER_STOP_S,
                )

    @staticmethod
    def _entries(records: Iterable[Any]) -> Sequence[UsageEntry]:
        entries: list[UsageEntry] = []
        for record in records:
            try:
                entries.extend(entries_of(record.topic, record.value or b""))
            except (DecodeError, ValueError, OverflowError):  # a time out of range too
                log.warning(
                    "usage record: skipped an undecodable record (%s partition %d "
                    "offset %d)",
                    record.topic,
                    record.partition,
                    record.offset,
                )
        return entries


CONSUMER_STOP_S = 1.0
"""How long the consumer's stop may take (seconds): aiokafka's waits for its group
coordinator's round, which against a broker that hangs is a request timeout (15 s)."""


async def _unless_stopped(stop: asyncio.Event, step: Awaitable[Any]) -> bool:
    """Await ``step`` (the consumer's start, an offset commit) unless ``stop`` is set
    first, when it is cancelled; whether it ended. Against a broker that does not
    answer either waited for the request timeout or more (a commit is retried while
    the group's coordinator is unknown), and the process's stop waited 10 s for this
    task before cancelling it (trial55). A commit cut short commits nothing: the
    uses since the last commit are read again and stored once (at-least-once)."""
    stepping = asyncio.ensure_future(step)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({stepping, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not stepping.done():
            stepping.cancel()
            await asyncio.wait({stepping})
    if stepping.cancelled():
        return False
    stepping.result()  # its failure, raised
    return True
