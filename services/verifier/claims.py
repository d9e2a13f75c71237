"""Claims of presentation codes: "first in the log wins" (docs/architecture.md §2c).

A presentation code is accepted once across the province: every worker of every
group. Its acceptance is a *claim*: a ``licence.used`` record of that one use (verdict
VALID, its nonce hash), keyed by the licence's lineage, so every claim of one nonce
lands in the same partition of the usage topic, where the broker orders them. The
first claim in that partition wins; every other is answered REPLAYED.

:meth:`UsageClaims.claim` publishes the claim with its own producer (acks=all, no
linger) and waits for the broker's acknowledgement: offset ``O`` of partition ``P``.
It then looks for the nonce's first claim at or before ``O``: in the guard's store
(:class:`services.verifier.replay_store.AcceptedNonces`, which holds the first claim
of every nonce up to the offset its feed has applied) or, for the records between
that offset and ``O``, by reading them with a consumer of its own (no group, kept
where its last read of the partition ended, with what it read since: see
:meth:`UsageClaims._first_between`). VALID only if that first claim is this one's
event id. If the
acknowledgement or that read does not come within :data:`CLAIM_TIMEOUT_S` (the
broker away) the answer is UNAVAILABLE, never VALID: a worker killed after VALID
leaves its claim in the log, and a worker cut off from the broker cannot accept.

A claim that timed out may still reach the log later; the code is then REPLAYED
everywhere (a holder shows a new presentation code): the guard errs on refusing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import TopicPartition

from certseal.events import OutboxRecord, new_event_id
from certseal.kafka import stop_within
from certseal.v1 import events_pb2
from services.verifier.access import Acting
from services.verifier.events import bounded_usage, kafka_headers, usage_bound
from services.verifier.gathering import UsageCounters, UsageGatherer
from services.verifier.index import accepted_claims
from services.verifier.replay import UsageFeed
from services.verifier.replay_store import carries_no_nonce
from services.verifier.undecided import unavailable

log = logging.getLogger(__name__)

#: the most a claim waits for the broker's acknowledgement and for the records before
#: it to be read (seconds); past it the answer is UNAVAILABLE
CLAIM_TIMEOUT_S = 2.0
#: the claims reader's fetch wait (ms): it fetches only while a claim waits for records
#: up to its acknowledged offset, which are there, and the broker answers such a fetch
#: without waiting (measured: 0.6 ms at a 50 ms wait). Not 0: the embedded broker
#: answers a fetch of wait 0 with no records at all, so the reader would spin.
READ_WAIT_MS = 5
#: a kept span forgets the claims the guard's store already holds past this many
SPAN_PRUNE_AT = 4096


@dataclass
class ReadSpan:
    """What the claims reader read of one partition since its last seek: every record
    from ``start`` to ``next`` (excluded), and the first claim among them of each
    nonce (nonce hash -> (offset, event id))."""

    start: int
    next: int = -1
    firsts: dict[str, tuple[int, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.next < 0:
            self.next = self.start

    def forget_before(self, offset: int) -> None:
        """Drop the claims before ``offset`` (the guard's store holds them)."""
        self.firsts = {n: at for n, at in self.firsts.items() if at[0] >= offset}
        self.start = offset

    def firsts_within(self, nonces: set[str], end: int) -> dict[str, str | None]:
        """The event id of each nonce's first claim read at or before ``end``."""
        found: dict[str, str | None] = {}
        for nonce in nonces:
            hit = self.firsts.get(nonce)
            if hit is not None and hit[0] <= end:
                found[nonce] = hit[1]
        return found


CLIENT_STOP_S = 1.0
"""How long a worker's stop waits for each claims client's stop (seconds): every
claim is answered by then (the gRPC server stops first), and aiokafka's producer stop
waited for a claim's request in flight to a broker that hangs up to its request
timeout (15 s; atk56: the stop took 11 s)."""


class UsageClaims:
    """Publishes claims and decides them (see the module), on the serving loop.

    ``producer_factory`` and ``consumer_factory`` make unstarted aiokafka clients
    (default: the feed's); they are started at the first claim and kept.
    """

    def __init__(
        self,
        feed: UsageFeed,
        *,
        producer_factory: Callable[..., Any] | None = None,
        consumer_factory: Callable[..., Any] | None = None,
        timeout_s: float = CLAIM_TIMEOUT_S,
    ):
        self._feed = feed
        self._make_producer = producer_factory or feed.producer_factory
        self._make_consumer = consumer_factory or feed.consumer_factory
        self.timeout_s = timeout_s
        self._producer: Any = None
        self._reader: Any = None
        self._starting = asyncio.Lock()
        self._reading = asyncio.Lock()
        #: partition -> what the reader read of it since its last seek there
        self._spans: dict[int, ReadSpan] = {}
        #: the feed (and its run) the kept spans were read beside, and the highest
        #: offset it had applied per partition: a new run (the topic may have been
        #: made again) or an applied offset that went back drops every span
        self._spans_of: tuple[int, int] = (id(feed), getattr(feed, "runs", 0))
        self._applied_seen: dict[int, int] = {}
        self._stopping: set[asyncio.Task[None]] = set()

    def deadline(self) -> float:
        """The event loop's time by which a request's claims must be decided: one
        :attr:`timeout_s` for the whole request (the partitions, then its claims)."""
        return asyncio.get_running_loop().time() + self.timeout_s

    async def partitions(self, deadline: float | None = None) -> list[int]:
        """The usage topic's partitions, as the claims producer knows them.

        Raises CertsealError(UNAVAILABLE) as :meth:`claim` does, also once
        ``deadline`` (:meth:`deadline`; None: a new one) has passed."""
        try:
            async with asyncio.timeout_at(deadline or self.deadline()):
                producer = await self._started("_producer", self._producer_factory())
                return sorted(await producer.partitions_for(self._feed.topic))
        except TimeoutError:
            raise unavailable(
                f"waited {self.timeout_s} s for the topic's partitions: nothing was "
                "claimed"
            ) from None
        except KafkaError as exc:
            raise unavailable(type(exc).__name__) from None

    def _producer_factory(self) -> Callable[[], Any]:
        if self._make_producer is None:
            raise unavailable("this worker has no claims producer")
        return self._make_producer

    async def claim(
        self,
        record: OutboxRecord,
        nonces: Sequence[str],
        event_id: str,
        deadline: float | None = None,
    ) -> set[str]:
        """Publish ``record`` (event id ``event_id``, claiming each nonce hash of
        ``nonces``, all of lineages keyed to the partition its key is) and return the
        nonces whose first claim in the log it is not: their codes are REPLAYED, the
        others VALID.

        Raises CertsealError(UNAVAILABLE) when the guard is not caught up, or the
        broker's acknowledgement or the read of the records before the claim does not
        come before ``deadline`` (:meth:`deadline`; None: :attr:`timeout_s` from
        now)."""
        self._feed.ready()
        make = self._producer_factory()
        waited = "the claims producer"  # what the bound was spent on
        try:
            async with asyncio.timeout_at(deadline or self.deadline()):
                producer = await self._started("_producer", make)
                waited = "the topic's partitions"
                sent = await producer.send(
                    self._feed.topic,
                    record.value,
                    key=record.key,
                    headers=kafka_headers(record),
                )
                waited = "the broker to acknowledge the claim"  # handed over
                acked = await sent
                waited = "the broker to give back the records before the claim"
                return await self._lost(nonces, event_id, acked.partition, acked.offset)
        except TimeoutError:
            why = f"waited {self.timeout_s} s for {waited}"
            log.warning("claim of a presentation code undecided: %s", why)
            raise unavailable(why, handed=waited.startswith("the broker")) from None
        except KafkaError as exc:
            log.warning("claim of a presentation code failed: %r", exc)
            raise unavailable(type(exc).__name__) from None

    async def _lost(
        self, nonces: Sequence[str], event_id: str, partition: int, offset: int
    ) -> set[str]:
        """The nonces whose first claim at or before ``offset`` of ``partition`` is
        not ``event_id`` (the claim published there)."""
        applied = self._feed.applied.get(partition, -1)  # before the store's look-ups
        firsts = {nonce: self._feed.store.first_claim(nonce) for nonce in nonces}
        unknown = {nonce for nonce, first in firsts.items() if first is None}
        if unknown:  # claimed after ``applied``: read the records up to the claim
            if applied >= offset:  # the feed passed the claim without storing it
                raise unavailable("the guard skipped the claim's record")
            firsts |= await self._first_between(unknown, partition, applied + 1, offset)
        return {nonce for nonce in nonces if firsts.get(nonce) != event_id}

    async def _first_between(
        self, nonces: set[str], partition: int, start: int, end: int
    ) -> dict[str, str | None]:
        """The event id of the first record of ``partition`` in ``start..end`` that
        claims each of ``nonces`` (absent: none does), ``start`` being past what
        the guard's feed had applied there; read with the claims reader.

        Claims take turns at the reader. When the feed has applied more of the
        partition by a claim's turn, the store answers for those records (all of
        them when it has passed ``end``: no read). The reader stays where the last
        read of the partition left it, and what it read since its last seek there
        is kept (:class:`ReadSpan`): a claim reads only the records after that (none
        when an earlier read already passed ``end``), and the reader seeks only when
        the kept span does not begin at or before the first record to read."""
        tp = TopicPartition(self._feed.topic, partition)
        async with self._reading:
            found: dict[str, str | None] = {}
            applied = self._feed.applied.get(partition, -1)  # before the look-ups
            if applied >= start:
                for nonce in nonces:
                    first = self._feed.store.first_claim(nonce)
                    if first is not None:
                        found[nonce] = first
                nonces = nonces - found.keys()
                if not nonces:
                    return found
                if applied >= end:  # the feed passed the claim without storing it
                    raise unavailable("the guard skipped the claim's record")
                start = applied + 1
            self._drop_spans_of_another_log(partition, applied)
            reader = await self._started("_reader", self._new_reader)
            if tp not in reader.assignment():
                reader.assign([*reader.assignment(), tp])  # every position lost
                reader.pause(*reader.assignment())
                self._spans.clear()
            span = self._spans.get(partition)
            if span is None or not span.start <= start <= span.next:
                span = self._spans[partition] = ReadSpan(start)
                reader.seek(tp, start)
            elif len(span.firsts) > SPAN_PRUNE_AT:
                span.forget_before(start)
            if span.next <= end:
                await self._read_through(reader, tp, span, end)
            return found | span.firsts_within(nonces, end)

    def _drop_spans_of_another_log(self, partition: int, applied: int) -> None:
        """Forget every kept span when the log they were read from may be gone: the
        feed began a new run (it checks at each start whether the topic was deleted
        and made again) or is another feed, or its applied offset of ``partition``
        went back (its consumer started the partition again from the beginning).
        The reader then seeks to each claim's first record again."""
        marker = (id(self._feed), getattr(self._feed, "runs", 0))
        went_back = applied < self._applied_seen.get(partition, -1)
        if marker != self._spans_of or went_back:
            self._spans.clear()
            self._applied_seen.clear()
            self._spans_of = marker
        self._applied_seen[partition] = max(
            applied, self._applied_seen.get(partition, -1)
        )

    async def _read_through(
        self, reader: Any, tp: TopicPartition, span: ReadSpan, end: int
    ) -> None:
        """Read ``tp`` from where ``span`` ends through offset ``end`` (and whatever
        else the same fetches bring), noting every claim in ``span``."""
        reader.resume(tp)
        try:
            while span.next <= end:
                fetched = await reader.getmany(tp, timeout_ms=100)
                for message in fetched.get(tp, []):
                    if message.offset < span.next:  # the reader was reset
                        raise unavailable("the claims reader went back")
                    if message.offset > span.next:
                        # a hole: a record not readable yet (services/verifier/
                        # holes.py); a claim never goes past one, it reads again
                        # until the hole fills or its deadline passes (UNAVAILABLE)
                        reader.seek(tp, span.next)
                        break
                    span.next = message.offset + 1
                    if carries_no_nonce(message.headers or ()):
                        continue
                    try:
                        claimer, claimed = accepted_claims(message.value or b"", [])
                    except Exception:  # the feed logs a bad record
                        continue
                    for nonce, _ in claimed:
                        span.firsts.setdefault(nonce, (message.offset, claimer))
        except BaseException:
            self._spans.pop(tp.partition, None)  # a half-read span: seek next time
            raise
        finally:
            reader.pause(tp)  # no fetching between claims

    def _new_reader(self) -> Any:
        return self._make_consumer(
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_min_bytes=1,
            fetch_max_wait_ms=READ_WAIT_MS,
        )

    async def _started(self, attribute: str, make: Callable[[], Any]) -> Any:
        """The started client kept in ``attribute``, started now if it is not."""
        async with self._starting:
            client = getattr(self, attribute)
            if client is None:
                client = make()
                try:
                    await client.start()
                except BaseException:
                    self._stop_later(client)
                    raise
                setattr(self, attribute, client)
            return client

    def _stop_later(self, client: Any) -> None:
        task = asyncio.ensure_future(client.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def stop(self) -> None:
        """Stop the producer and the reader, each within :data:`CLIENT_STOP_S`."""
        self._spans.clear()
        for attribute in ("_producer", "_reader"):
            client = getattr(self, attribute)
            setattr(self, attribute, None)
            if client is not None and not await stop_within(
                client.stop(), CLIENT_STOP_S
            ):
                log.warning(
                    "the claims' %s did not stop within %.0f s (the broker did not "
                    "answer); cancelled",
                    *(attribute.strip("_"), CLIENT_STOP_S),
                )


class UsagePublisher:
    """Publishes a request's usage (docs/events.md, "Usage records"): without an
    accepted presentation code, its uses are gathered with other requests' of the same
    counter, clerk and purpose for ``window_s`` (:class:`UsageGatherer`, the worker's
    producer; not awaited); with some, the record is a claim
    (:class:`UsageClaims`, awaited), keyed by its first presentation code's lineage,
    and when the request's presentation codes key to several partitions, one claim
    per partition (the first also carries the other uses).

    ``producer`` gives the worker's (Faust's) producer; ``counters`` counts uses
    left out or unpublished (:class:`UsageCounters`)."""

    def __init__(
        self,
        *,
        group: str,
        claims: UsageClaims | None,
        producer: Callable[[], Any],
        counters: UsageCounters | None = None,
        window_s: float = 0.2,
    ):
        self._group = group
        self._claims = claims
        self._counters = counters or UsageCounters()
        self._gathered = UsageGatherer(
            group=group, producer=producer, window_s=window_s, counters=counters
        )

    async def publish(
        self,
        uses: list[events_pb2.LicenceUse],
        claimed: set[int],
        *,
        sizes: Sequence[int],
        carried: int,
        purpose: str,
        acting: Acting,
        now: dt.datetime,
    ) -> set[str]:
        """Publish ``uses`` (in request order; ``claimed``: the positions of the uses
        of presentation codes evaluated VALID; ``sizes``: the bytes each use's code
        carried) within ``carried`` bytes plus one envelope a record (a claim per
        partition: each within its codes' bytes, the purpose and one envelope).
        Returns the nonce hashes whose claim was not the first (REPLAYED). Raises
        CertsealError(UNAVAILABLE) when a claim is undecided."""
        if not claimed:
            await self._gathered.add(
                uses, carried=carried, purpose=purpose, acting=acting, now=now
            )
            return set()
        if self._claims is None:
            raise unavailable("this worker has no replay guard")
        deadline = self._claims.deadline()  # one bound for the whole request
        partitions = await self._claims.partitions(deadline)

        def partition_of(at: int) -> int:
            return int(
                DefaultPartitioner()(uses[at].lineage.encode(), partitions, partitions)
            )

        groups: dict[int, list[int]] = {}
        for at in sorted(claimed):
            groups.setdefault(partition_of(at), []).append(at)
        others = [at for at in range(len(uses)) if at not in claimed]
        pending = []
        for number, members in enumerate(groups.values()):
            kept = sorted(members + others) if number == 0 else members
            share = (
                carried
                if len(groups) == 1
                else sum(sizes[at] for at in kept) + len(purpose.encode())
            )
            event_id = new_event_id()
            record, left_out = self._bounded(
                [uses[at] for at in kept],
                share,
                purpose,
                acting,
                now,
                event_id=event_id,
                key=uses[members[0]].lineage,
            )
            if record is None or left_out:
                raise unavailable("its usage record is over its bound")
            nonces = [uses[at].nonce_hash for at in members]
            pending.append(self._claims.claim(record, nonces, event_id, deadline))
        decided = await asyncio.gather(*pending, return_exceptions=True)
        if failed := [e for e in decided if isinstance(e, BaseException)]:
            raise min(failed, key=lambda e: getattr(e, "retried", True))  # handed first
        return set().union(*decided)  # type: ignore[arg-type]

    async def flush(self) -> None:
        """Hand the gathered uses to the producer now (the worker is stopping)."""
        await self._gathered.stop()

    async def stop(self) -> None:
        """Publish the gathered uses, and stop the claims' Kafka clients (at the
        worker's end)."""
        await self.flush()
        if self._claims is not None:
            await self._claims.stop()

    def _bounded(
        self,
        uses: list[events_pb2.LicenceUse],
        carried: int,
        purpose: str,
        acting: Acting,
        now: dt.datetime,
        *,
        event_id: str | None = None,
        key: str | None = None,
    ) -> tuple[OutboxRecord | None, int]:
        limit = usage_bound(carried)
        record, left_out = bounded_usage(
            uses,
            limit=limit,
            counter=acting.counter,
            clerk=acting.clerk,
            via=acting.via,
            purpose=purpose,
            group=self._group,
            now=now,
            event_id=event_id,
            key=key,
        )
        if left_out:
            log.error("usage over its bound %d: %d uses unpublished", limit, left_out)
            self._counters.over_bound(left_out)
        return record, left_out
