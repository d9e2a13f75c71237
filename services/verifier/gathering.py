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

What a stop loses is unchanged: uses wait at most the linger, in memory, as they did
in the producer's buffer; a graceful stop publishes them (:meth:`UsageGatherer.stop`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from certseal.timestamps import ts
from certseal.v1 import events_pb2
from services.verifier.access import Acting
from services.verifier.events import (
    ENVELOPE_BYTES,
    bounded_usage,
    kafka_headers,
    usage_bound,
)

log = logging.getLogger(__name__)

MAX_GATHERED_USES = 500
"""The most uses one gathered record holds: a batch request's worth (VerifyCodes takes
at most 500 codes), so a gathered record is never larger than a batch's."""

MAX_WAITING_USES = 100_000
"""The most uses waiting to be published before a request waits for room: the producer
not taking records (a broker away) makes verifications wait, as a full producer buffer
did, instead of growing the worker's memory without bound."""


@dataclass(slots=True)
class _Gathered:
    """The uses gathered for one counter, clerk, caller and purpose."""

    first_at: dt.datetime
    uses: list[events_pb2.LicenceUse] = field(default_factory=list)
    bound: int = 0  # bytes: the sum of the gathered requests' usage_bound


class UsageGatherer:
    """Publishes plain codes' uses gathered for ``window_s`` seconds (0: at the loop's
    next turn), one record per acting counter, clerk, caller (``via``) and purpose,
    through ``producer()`` (the worker's Faust producer). ``refused`` counts uses left
    out of a record to keep its bound (a bug: logged too)."""

    def __init__(
        self,
        *,
        group: str,
        producer: Callable[[], Any],
        window_s: float,
        refused: Any = None,
        max_uses: int = MAX_GATHERED_USES,
        max_waiting: int = MAX_WAITING_USES,
    ):
        self._group = group
        self._producer = producer
        self._window_s = max(0.0, window_s)
        self._refused = refused
        self._max_uses = max_uses
        self._max_waiting = max_waiting
        self._gathered: dict[tuple[str, str, str, str], _Gathered] = {}
        self._ready: list[tuple[tuple[str, str, str, str], _Gathered]] = []
        self._waiting = 0  # uses gathered or ready, not yet handed to the producer
        self._room = asyncio.Event()
        self._room.set()
        self._timer: asyncio.TimerHandle | None = None
        self._sending: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """Uses gathered or ready and not yet handed to the producer."""
        return self._waiting

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
        waiting, then when there is room."""
        while self._waiting >= self._max_waiting:
            self._room.clear()
            await self._room.wait()
        key = (acting.counter, acting.clerk, acting.via, purpose)
        gathered = self._gathered.get(key)
        if gathered is not None and len(gathered.uses) + len(uses) > self._max_uses:
            self._ready.append((key, self._gathered.pop(key)))
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
        if self._ready:
            self._send_soon()
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._window_s, self._window_ended)

    def _window_ended(self) -> None:
        self._timer = None
        self._ready.extend(self._gathered.items())
        self._gathered.clear()
        self._send_soon()

    def _send_soon(self) -> None:
        if self._sending is None or self._sending.done():
            self._sending = asyncio.get_running_loop().create_task(self._send_ready())

    async def _send_ready(self) -> None:
        while self._ready:
            key, gathered = self._ready.pop(0)
            try:
                await self._send(key, gathered)
            except Exception as exc:  # never in the way of the next records
                log.error(
                    "a usage record of %d uses was not published: %r",
                    len(gathered.uses),
                    exc,
                )
            finally:
                self._waiting -= len(gathered.uses)
                if self._waiting < self._max_waiting:
                    self._room.set()

    async def _send(self, key: tuple[str, str, str, str], gathered: _Gathered) -> None:
        counter, clerk, via, purpose = key
        record, left_out = bounded_usage(
            gathered.uses,
            carried=gathered.bound - ENVELOPE_BYTES,
            counter=counter,
            clerk=clerk,
            via=via,
            purpose=purpose,
            group=self._group,
            now=gathered.first_at,
        )
        if left_out:
            log.error("usage over its bound: %d uses unpublished", left_out)
            if self._refused is not None:
                self._refused.inc(left_out)
        if record is not None:
            await self._producer().send(
                record.topic,
                record.key,
                record.value,
                None,
                None,
                kafka_headers(record),
            )

    async def stop(self) -> None:
        """Publish what is gathered now, and wait until the producer has it."""
        if self._timer is not None:
            self._timer.cancel()
            self._window_ended()
        if self._sending is not None:
            await self._sending
