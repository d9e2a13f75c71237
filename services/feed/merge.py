"""One stream in time order across a subscription's partitions. Pure: no I/O.

A subscription reads every partition of the feed's topics. Kafka orders a partition,
never two, and a consumer fetches partition by partition, so a subscription from
``earliest`` (or a token) delivered the kept events topic by topic: every licence
event, then every key event, each a day or a year apart. :class:`TimeMerge` holds what
was fetched and lets it go in the order of the events' time, ties by topic, partition
and offset:

- a partition still behind the end it had when the subscription started (``behind``)
  holds the others back while it holds nothing fetched: its next record may be
  earlier than theirs. Once it reaches that end, what it brings is new (published
  since the subscription started), later than anything kept, and it holds no one
  back;
- :data:`MERGE_WAIT_S` without any record fetched (``quiet``) lets everything held
  go, in order, and ends the wait for every partition behind: the order is the best
  that can be had without waiting longer, and a subscription never hangs on a
  partition that cannot be read to its end (the ends are exact,
  :func:`certseal.kafka_end.exact_end_offsets`, but a fetch may keep failing);
- memory is bounded: a partition holding :attr:`per_partition` records or more is
  :meth:`full`, and the reader pauses it until it has let some go.

Each partition keeps its own offset order (the key's last part), so positions only
advance and a token taken between two events stays exact.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from services.feed.events import record_headers

R = TypeVar("R")
Partition = tuple[str, int]

#: seconds without any record fetched after which what is held goes, in order,
#: without waiting longer for a partition behind: its end is exact, so only a broker
#: that stopped serving leaves it short (an empty fetch or two under load is no
#: reason: 2 s put a loaded CI run's catch-up out of order)
MERGE_WAIT_S = 10.0

#: records a partition may hold before the reader pauses it (with a fetch of 500 on
#: top, at most partitions x 1,000 records are held)
PER_PARTITION = 500


class TimeMerge(Generic[R]):
    """Fetched records of many partitions, let go in the order of their time."""

    def __init__(
        self,
        behind: Mapping[Partition, int],
        *,
        time_of: Callable[[R], float],
        offset_of: Callable[[R], int],
        per_partition: int = PER_PARTITION,
    ) -> None:
        """``behind``: each partition whose position is below its end offset at the
        start -> that end; ``time_of``: a record's time (seconds since the epoch),
        ``offset_of`` its offset."""
        self._behind = dict(behind)
        self._time_of = time_of
        self._offset_of = offset_of
        self.per_partition = per_partition
        #: each partition's records held, in offset order, with their time and offset
        self._queues: dict[Partition, deque[tuple[float, int, R]]] = {}

    def add(self, partition: Partition, records: Sequence[R]) -> None:
        """Hold ``records`` of ``partition`` (in its offset order)."""
        self._queues.setdefault(partition, deque()).extend(
            (self._time_of(r), self._offset_of(r), r) for r in records
        )

    def reached(self, partition: Partition, position: int) -> None:
        """The reader's position in ``partition``: at or past its end at the start,
        it holds no one back any more."""
        end = self._behind.get(partition)
        if end is not None and position >= end:
            del self._behind[partition]

    def full(self) -> set[Partition]:
        """The partitions holding :attr:`per_partition` records or more (pause them)."""
        return {p for p, q in self._queues.items() if len(q) >= self.per_partition}

    @property
    def held(self) -> int:
        """Records held now."""
        return sum(len(q) for q in self._queues.values())

    def take(self, *, quiet: bool = False) -> list[R]:
        """The records that may go now, in time order (ties: topic, partition,
        offset; a partition's own records always in offset order): while no
        partition behind holds nothing, or all of them when ``quiet`` (nothing
        fetched for :data:`MERGE_WAIT_S`; no partition is waited for since)."""
        if quiet:
            self._behind.clear()
        out: list[R] = []
        if any(not self._queues.get(p) for p in self._behind):
            return out  # its next record may come before every one held
        heads = [(q[0][0], p, q[0][1]) for p, q in self._queues.items() if q]
        heapq.heapify(heads)  # a record's turn in O(log partitions)
        while heads:
            _time, first, _offset = heapq.heappop(heads)
            queue = self._queues[first]
            out.append(queue.popleft()[2])
            if queue:
                heapq.heappush(heads, (queue[0][0], first, queue[0][1]))
            elif first in self._behind:
                break  # as above: it holds nothing now
        return out

    @property
    def behind(self) -> frozenset[Partition]:
        """The partitions still behind their end at the start."""
        return frozenset(self._behind)


#: a record as a subscription holds it: the Kafka record and its CloudEvents headers
Held = tuple[Any, dict[str, str]]


def record_time(item: Held) -> float:
    """A held record's event time: its ``ce_time``, else the record's Kafka timestamp
    (milliseconds), in seconds since the epoch."""
    record, headers = item
    try:  # RFC 3339, as services.feed.convert reads it for the subscriber
        when = dt.datetime.fromisoformat(
            headers.get("ce_time", "").replace("Z", "+00:00")
        )
    except ValueError:
        when = None
    if when is not None and when.tzinfo is not None:
        return when.timestamp()
    return float(record.timestamp or 0) / 1000


def held(records: Sequence[Any]) -> list[Held]:
    """Fetched records with their CloudEvents headers, as a subscription holds them."""
    return [(r, record_headers(r.topic, r.headers, r.value)) for r in records]


def time_merge(
    partitions: Sequence[Any],
    positions: Mapping[Partition, int],
    ends: Mapping[Any, int],
) -> TimeMerge[Held]:
    """The merge of a subscription over ``partitions`` (TopicPartitions) standing at
    ``positions``, with the end offsets they had at its start (``ends``)."""
    return TimeMerge(
        {
            (tp.topic, tp.partition): ends[tp]
            for tp in partitions
            if positions[(tp.topic, tp.partition)] < ends[tp]
        },
        time_of=record_time,
        offset_of=lambda item: int(item[0].offset),
    )
