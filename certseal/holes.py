"""Holes in a partition's offsets while reading it: a record fetched whose offset is
past the one the reader expects next.

On Apache Kafka a partition of a topic with ``cleanup.policy=delete`` that no
transactional producer writes has no holes: a consumer is only given records below
the high water, and every offset below it holds a record. Two cases skip offsets
legitimately: compaction (the licence topic; only in closed segments, never at its
head) and transaction markers (one offset each; certseal never writes transactions).

The embedded broker (Tansu, memory storage) has a third: while two producers append
to one partition at once, a fetch may return the later record before the earlier one
can be read (measured: 2 holes in 12,000 records appended by four producers at once,
each filled a few milliseconds later). A reader that moves past such a hole never
reads that record: a replay guard that misses a claim accepts a presentation code
twice; an index that misses a revocation answers VALID; an integrator's feed or webhook
that goes past one never delivers that event.

:class:`OffsetHoles` keeps, per partition, the offset a reader expects next, and cuts
each fetch at a hole near the partition's head (within :data:`HEAD_WINDOW` offsets of
its high water): the reader applies the records before it, seeks back to the hole
and fetches again. A hole still there after ``settle_s`` is taken as a legitimate
one, logged, and gone past. A hole that cannot be a race is gone past at once,
unlogged: one far below the high water, or one before a record appended more than
:data:`YOUNG_S` ago (a race's hole fills within milliseconds of the records around
it; compaction's stay, and in a small topic they are all near the head). Pure: no
broker, no clock of its own.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

log = logging.getLogger(__name__)

#: a hole this close to the partition's high water (offsets) is waited for
HEAD_WINDOW = 10_000
#: how long a reader waits for a hole near the head to fill (seconds)
SETTLE_S = 1.0
#: a hole before a record appended longer ago than this (seconds, by the record's
#: timestamp) is no race: compaction's or a transaction marker's, gone past at once
YOUNG_S = 300.0


class Offsetted(Protocol):
    @property
    def offset(self) -> int: ...


R = TypeVar("R", bound=Offsetted)


@dataclass(frozen=True)
class Cut(Generic[R]):
    """What to do with one partition's fetched records: apply ``records`` (the
    contiguous ones, in order), then, when ``seek_to`` is not None, seek the reader
    there (the first offset of a hole) and fetch again."""

    records: Sequence[R]
    seek_to: int | None = None


class OffsetHoles:
    """Per partition, the next offset a reader expects, and the holes it waits for.
    A partition is any hashable key (a partition number, or (topic, partition) for a
    reader of several topics).

    ``settle_s``: how long a hole near the head is waited for before it is gone past
    (``math.inf``: never; the reader then never moves past one, for a reader whose
    answer may not miss a record: the claims reader). ``clock``: seconds, monotonic.
    ``wall``: seconds since the epoch, the clock of the records' timestamps (ms; a
    record without one, or below 0, is taken as young). ``what``: the reader's name
    in the log."""

    def __init__(
        self,
        what: str,
        *,
        clock: Callable[[], float],
        wall: Callable[[], float],
        settle_s: float = SETTLE_S,
        window: int = HEAD_WINDOW,
        young_s: float = YOUNG_S,
    ):
        self._what = what
        self._clock = clock
        self._wall = wall
        self._young_s = young_s
        self.settle_s = settle_s
        self._window = window
        #: partition -> the offset expected next (absent: unknown, anything goes)
        self.expected: dict[Hashable, int] = {}
        #: (partition, first offset of a hole) -> when the reader first met it
        self._waiting: dict[tuple[Hashable, int], float] = {}
        #: holes near the head met so far (waited for), and holes gone past
        self.met = 0
        self.gone_past = 0

    @property
    def waiting(self) -> bool:
        """Whether the reader is waiting for a hole to fill (it sought back to one)."""
        return bool(self._waiting)

    def expect(self, partition: Hashable, offset: int) -> None:
        """The reader was positioned at ``offset`` of ``partition`` (a seek)."""
        self.expected[partition] = offset
        self._forget(partition)

    def forget(self, partition: Hashable) -> None:
        """The reader's position in ``partition`` is unknown again."""
        self.expected.pop(partition, None)
        self._forget(partition)

    def keep_only(self, partitions: Collection[Hashable]) -> None:
        """Forget every partition but ``partitions`` (a consumer group's member lost
        the others: whoever reads them next may have moved on)."""
        kinds = {type(p) for p in partitions}
        for partition in [p for p in self.expected if p not in partitions]:
            if kinds and type(partition) not in kinds:  # never met: the reader's slip
                raise TypeError(
                    f"{self._what}: partition {partition!r} expected under a key of "
                    f"another type than {sorted(k.__name__ for k in kinds)}"
                )
            self.forget(partition)

    def cut(
        self, partition: Hashable, records: Sequence[R], high_water: int | None
    ) -> Cut[R]:
        """The records of one fetch of ``partition`` (in offset order) that the
        reader may apply now; see :class:`Cut`. ``high_water``: the partition's high
        water from the same fetch (None: unknown; every hole is then near the head).
        """
        expected = self.expected.get(partition)
        for at, record in enumerate(records):
            offset = record.offset
            if (
                expected is not None
                and offset > expected
                and self._wait_for(partition, expected, record, high_water)
            ):
                return Cut(records[:at], expected)
            expected = offset + 1
        if expected is not None:
            self.expected[partition] = expected
            self._forget(partition, before=expected)
        return Cut(records)

    def _wait_for(
        self, partition: Hashable, start: int, after: R, high_water: int | None
    ) -> bool:
        """Whether the reader waits for the hole ``start``..``after.offset - 1``."""
        found = after.offset
        near_head = high_water is None or start >= high_water - self._window
        race = near_head and self._young(after)  # else compaction's, or a marker's
        if race:
            now = self._clock()
            if (partition, start) not in self._waiting:
                self.met += 1
            first = self._waiting.setdefault((partition, start), now)
            if math.isinf(self.settle_s) or now - first < self.settle_s:
                self.expected[partition] = start
                return True
        self.gone_past += 1
        if race:  # one that cannot be a race's is the normal case: not logged
            log.warning(
                "%s: offsets %d..%d of partition %s still hold no record after %g s; "
                "going past them (a transaction marker?)",
                *(self._what, start, found - 1, partition, self.settle_s),
            )
        return False

    def _young(self, record: R) -> bool:
        """Whether ``record`` was appended recently enough for a hole before it to be
        a race's (its timestamp unknown: taken as young)."""
        timestamp_ms = getattr(record, "timestamp", None)
        if not isinstance(timestamp_ms, int) or timestamp_ms < 0:
            return True
        return self._wall() - timestamp_ms / 1000 < self._young_s

    def _forget(self, partition: Hashable, before: int | None = None) -> None:
        for key in [k for k in self._waiting if k[0] == partition]:
            if before is None or key[1] < before:
                del self._waiting[key]
