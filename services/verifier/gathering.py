"""Gathering plain licence codes' uses into fewer usage records (docs/events.md, "Usage
records"; docs/architecture.md §2c, "Gathered usage records").

A request whose uses hold no accepted presentation code is not answered on its usage
record: the record used to go into the worker's producer, lingering there up to
``[verifier] usage_linger_ms``. Each such record cost the worker about 200 µs of CPU
(building and sending it, the producer's sender, the replay guard reading it back),
the broker and the issuer's usage consumer their own, and all of it was per request.
:class:`UsageGatherer` keeps those uses for the same linger instead, per acting
counter, clerk, caller and purpose, and publishes each such set as one record: the
first request's uses carry the record's time, each later request's its own
``occurred_at``. A request's uses are never split between records; a record holds
at most :data:`MAX_GATHERED_USES` uses (a request with more goes alone), and its size
bound is the sum of its requests' bounds
(:func:`~services.verifier.events.usage_bound` of each), so a gathered record is never
larger than its requests' records would have been.

Each record is sent by a task of its own, after the record sent before it with the same
key (one lineage: one partition, whose order readers rely on), so a partition that does
not take it holds no other partition's record; it is retried while the producer's error
is transient (a broker away: the uses are held, and requests wait once
:data:`MAX_WAITING_USES` are), and a delivery that fails after the producer took it is
logged (not retried: a lost acknowledgement would publish it twice). What a crash loses
is unchanged: uses wait at most the linger, in memory, as they did in the producer's
buffer. A graceful stop (:meth:`UsageGatherer.stop`, at Faust's ``on_before_shutdown``,
before its producer stops) hands every gathered use to the producer, and a request
verified after it is refused UNAVAILABLE ("retry later") instead of answered with a
use nobody will publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import KafkaTimeoutError

from certseal.errors import CertsealError, ErrorKind
from certseal.events import OutboxRecord
from certseal.timestamps import ts
from certseal.v1 import events_pb2
from services.verifier.access import Acting
from services.verifier.events import (
    bounded_usage,
    kafka_headers,
    usage_bound,
)

log = logging.getLogger(__name__)

MAX_GATHERED_USES = 500
"""The most uses one gathered record holds: a batch request's worth (VerifyCodes takes
at most 500 codes), so a gathered record is never larger than a batch's."""

MAX_WAITING_USES = 100_000
"""The most uses waiting to be delivered (gathered, being sent, or taken by the
producer and not yet acknowledged by the broker) before a request waits for room: a
broker away makes verifications wait, as a full producer buffer did, instead of growing
the worker's memory without bound."""

RETRY_S = (0.5, 10.0)
"""A record's send retried after a transient error: first after 0.5 s, doubling to at
most 10 s between tries, until it is sent or the worker stops."""

STOP_WAIT_S = 5.0
"""How long a stop waits for the records being sent (a broker away holds them); a
record in its retry backoff is tried again at once. What is still unsent then is
counted and logged as not published."""

_Key = tuple[str, str, str, str]  # counter, clerk, via, purpose


@dataclass(frozen=True, slots=True)
class UsageCounters:
    """A worker's usage metrics (prometheus_client objects, made by
    ``services.verifier.metrics.usage_counters``; None: not counted).

    ``refused``: uses left out of a record to keep its bound (above 0 is a bug);
    ``unpublished``: answered uses that no record will carry, by ``reason``
    (:data:`REASONS`: ``not_built``, a bug; ``not_sent``, the producer refused the
    record and the error was not transient, or the worker stopped before it was
    sent; ``not_delivered``, the producer took the record and its delivery failed);
    ``waiting``: uses not yet delivered (gathered, being sent, or in the producer);
    ``oldest``: how long the oldest of them has waited, in seconds (at most the linger
    while the broker takes records; it grows while the broker is away)."""

    refused: Any = None
    unpublished: Any = None
    waiting: Any = None
    oldest: Any = None

    REASONS = ("not_built", "not_sent", "not_delivered")

    def over_bound(self, uses: int) -> None:
        """Count ``uses`` uses left out of a record to keep its bound."""
        if self.refused is not None:
            self.refused.inc(uses)

    def lost(self, reason: str, uses: int) -> None:
        """Count ``uses`` answered uses unpublished for ``reason``."""
        if self.unpublished is not None:
            self.unpublished.labels(reason=reason).inc(uses)


@dataclass(slots=True)
class _Gathered:
    """The uses gathered for one counter, clerk, caller and purpose."""

    first_at: dt.datetime
    uses: list[events_pb2.LicenceUse] = field(default_factory=list)
    bound: int = 0  # bytes: the sum of the gathered requests' usage_bound
    since: float = field(default_factory=lambda: time.monotonic())  # first gathered


def _transient(exc: BaseException | None) -> bool:
    """Whether a send may succeed if tried again: aiokafka's retriable errors and its
    timeout waiting for room in a partition's batch, also as the cause of the error
    Faust's producer raises in their place (``ProducerSendError``)."""
    if exc is None:
        return False
    if isinstance(exc, KafkaTimeoutError) or getattr(exc, "retriable", False):
        return True
    return _transient(exc.__cause__)


def stopping() -> CertsealError:
    """The refusal of a request verified once the worker stopped publishing usage."""
    return CertsealError(
        ErrorKind.UNAVAILABLE,
        "this verifier worker is stopping and no longer records usage; retry later",
    )


class UsageGatherer:
    """Publishes plain codes' uses gathered for ``window_s`` seconds (0: at the loop's
    next turn), one record per acting counter, clerk, caller (``via``) and purpose,
    through ``producer()`` (the worker's Faust producer), counted in ``counters``."""

    def __init__(
        self,
        *,
        group: str,
        producer: Callable[[], Any],
        window_s: float,
        counters: UsageCounters | None = None,
        max_uses: int = MAX_GATHERED_USES,
        max_waiting: int = MAX_WAITING_USES,
        retry_s: tuple[float, float] = RETRY_S,
    ):
        self._retry_s = retry_s
        self._group = group
        self._producer = producer
        self._window_s = max(0.0, window_s)
        self._counters = counters or UsageCounters()
        self._max_uses = max_uses
        self._max_waiting = max_waiting
        self._gathered: dict[_Key, _Gathered] = {}
        self._sending: dict[asyncio.Task[None], int] = {}  # task -> its record's uses
        #: records sent and not yet delivered: token -> when their first use gathered
        self._undelivered: dict[int, float] = {}
        self._tokens = itertools.count()
        self._wake = asyncio.Event()  # set by the stop: a backoff ends at once
        self._tails: dict[bytes, asyncio.Task[None]] = {}  # record key -> its last send
        self._waiting = 0  # uses gathered or being sent, not yet taken by the producer
        self._room = asyncio.Event()
        self._room.set()
        self._timer: asyncio.TimerHandle | None = None
        self._stopped = False
        if self._counters.waiting is not None:
            self._counters.waiting.set_function(lambda: self._waiting)
        if self._counters.oldest is not None:
            self._counters.oldest.set_function(self.oldest_waiting_s)

    @property
    def waiting(self) -> int:
        """Uses not yet delivered: gathered, being sent, or in the producer."""
        return self._waiting

    def oldest_waiting_s(self) -> float:
        """Seconds since the oldest use not yet delivered was gathered (0: none).
        Read by the metrics thread too: it copies what it reads."""
        since = [g.since for g in list(self._gathered.values())]
        since += list(self._undelivered.values())
        return max(0.0, time.monotonic() - min(since)) if since else 0.0

    async def add(
        self,
        uses: Sequence[events_pb2.LicenceUse],
        *,
        carried: int,
        purpose: str,
        acting: Acting,
        now: dt.datetime,
    ) -> None:
        """Gather one request's ``uses`` (at least one; ``carried``: the request's
        bytes, as :func:`~services.verifier.events.bounded_usage` takes them; ``now``:
        when it was verified). Returns at once unless :data:`MAX_WAITING_USES` are
        waiting, then when there is room. Raises CertsealError(UNAVAILABLE) once the
        worker is stopping (:meth:`stop`)."""
        while not self._stopped and self._waiting >= self._max_waiting:
            self._room.clear()
            await self._room.wait()
        if self._stopped:
            raise stopping()
        key = (acting.counter, acting.clerk, acting.via, purpose)
        gathered = self._gathered.get(key)
        if gathered is not None and len(gathered.uses) + len(uses) > self._max_uses:
            self._send(key, self._gathered.pop(key))
            gathered = None
        if gathered is None:
            gathered = self._gathered[key] = _Gathered(first_at=now)
        elif now != gathered.first_at:
            at = ts(now)
            for use in uses:
                use.occurred_at.CopyFrom(at)
        gathered.uses.extend(uses)
        gathered.bound += usage_bound(carried)
        self._waiting += len(uses)
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._window_s, self._window_ended)

    def _window_ended(self) -> None:
        self._timer = None
        gathered, self._gathered = self._gathered, {}
        for key, uses in gathered.items():
            self._send(key, uses)

    def _send(self, key: _Key, gathered: _Gathered) -> None:
        """Send the record of ``gathered`` in a task of its own, after the one sent
        before it with the same record key (a lineage: one partition, whose order a
        reader may rely on); records of other keys do not wait for it."""
        try:
            record = self._record(key, gathered)
        except Exception as exc:  # a bug: logged, never in the way of other records
            log.error(
                "a usage record of %d uses not built: %r", len(gathered.uses), exc
            )
            self._counters.lost("not_built", len(gathered.uses))
            record = None
        after = self._tails.get(record.key) if record is not None else None
        token = next(self._tokens)
        self._undelivered[token] = gathered.since
        uses = len(gathered.uses)
        task = asyncio.get_running_loop().create_task(
            self._sent(record, uses, after, token)
        )
        self._sending[task] = uses
        task.add_done_callback(lambda done: self._sending.pop(done, None))
        if record is not None:
            self._tails[record.key] = task
            task.add_done_callback(lambda done: self._forget_tail(record.key, done))

    def _forget_tail(self, key: bytes, done: asyncio.Task[None]) -> None:
        if self._tails.get(key) is done:
            del self._tails[key]

    async def _sent(
        self,
        record: OutboxRecord | None,
        uses: int,
        after: asyncio.Task[None] | None,
        token: int,
    ) -> None:
        """Send one record of ``uses`` uses once ``after`` is done, retrying while the
        error is transient and the worker runs; uses that cannot be sent, or whose
        delivery fails, are logged at ERROR and counted (never silently). They wait
        (:attr:`waiting`) until the broker acknowledged them."""
        delay = self._retry_s[0]
        taken = False  # by the producer: released when its delivery is done
        try:
            if after is not None:
                await asyncio.wait([after])
            while record is not None:
                try:
                    delivery = await self._producer().send(
                        record.topic,
                        record.key,
                        record.value,
                        None,
                        None,
                        kafka_headers(record),
                    )
                    if isinstance(delivery, asyncio.Future):
                        taken = True
                        delivery.add_done_callback(
                            lambda done: self._delivered(done, uses, token)
                        )
                    return
                except Exception as exc:
                    if self._stopped or not _transient(exc):
                        raise
                    log.warning(
                        "a usage record of %d uses not sent yet (%r): again in %.1f s",
                        *(uses, exc, delay),
                    )
                    with contextlib.suppress(TimeoutError):  # the stop ends it
                        await asyncio.wait_for(self._wake.wait(), delay)
                    delay = min(2 * delay, self._retry_s[1])
        except Exception as exc:
            log.error("a usage record of %d uses was not published: %r", uses, exc)
            self._counters.lost("not_sent", uses)
        finally:
            if not taken:
                self._release(uses, token)

    def _delivered(self, delivery: asyncio.Future[Any], uses: int, token: int) -> None:
        """The broker acknowledged a record, or its delivery failed after the producer
        took it (its batch expired with the broker away): logged and counted, not
        retried, as a lost acknowledgement would publish it twice."""
        if not delivery.cancelled() and delivery.exception() is not None:
            log.error(
                "a usage record of %d uses was not delivered: %r",
                uses,
                delivery.exception(),
            )
            self._counters.lost("not_delivered", uses)
        self._release(uses, token)

    def _release(self, uses: int, token: int) -> None:
        self._undelivered.pop(token, None)
        self._waiting -= uses
        if self._waiting < self._max_waiting:
            self._room.set()

    def _record(self, key: _Key, gathered: _Gathered) -> OutboxRecord | None:
        counter, clerk, via, purpose = key
        record, left_out = bounded_usage(
            gathered.uses,
            limit=gathered.bound,
            counter=counter,
            clerk=clerk,
            via=via,
            purpose=purpose,
            group=self._group,
            now=gathered.first_at,
        )
        if left_out:
            log.error("usage over its bound: %d uses unpublished", left_out)
            self._counters.over_bound(left_out)
        return record

    async def stop(self) -> None:
        """Hand every gathered use to the producer and wait (at most
        :data:`STOP_WAIT_S`) until it has them; from then on a request's uses are
        refused (:func:`stopping`). Called again: nothing more to do."""
        self._stopped = True
        self._room.set()  # a request waiting for room is refused, not kept waiting
        self._wake.set()  # a record in its backoff is tried now, once
        if self._timer is not None:
            self._timer.cancel()
        self._window_ended()
        if self._sending:
            _done, pending = await asyncio.wait(set(self._sending), timeout=STOP_WAIT_S)
            for task in pending:  # the process ends: what is unsent now is lost
                uses = self._sending.get(task, 0)
                log.error(
                    "a usage record of %d uses was not published: not sent within "
                    "%.0f s of the stop",
                    *(uses, STOP_WAIT_S),
                )
                self._counters.lost("not_sent", uses)
                task.cancel()
