"""A stand-in for the aiokafka consumer that ``LicenceFeed.start`` (and
``read_end_offsets``' probe) use, for tests of the feed's start without a broker:
a licence topic whose partitions all end at ``end``, positions as sought, no fetch
made yet (no high water)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class _Last:
    offset: int  # the partition's last record, as the probe reads it


class FakeConsumer:
    def __init__(self, partitions: tuple[int, ...] = (0,), end: int = 0) -> None:
        self.partitions, self.end = set(partitions), end
        self.positions: dict = {}
        self.assigned: list = []
        self.asked_end_offsets = 0

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions

    def assign(self, tps) -> None:
        self.assigned = sorted(tps)

    def assignment(self) -> list:
        return self.assigned

    def highwater(self, tp) -> int | None:
        return None  # no fetch yet

    def seek(self, tp, offset: int) -> None:
        self.positions[tp] = offset

    async def seek_to_beginning(self, tp) -> None:
        self.positions[tp] = 0

    async def position(self, tp) -> int:
        return self.positions[tp]

    async def end_offsets(self, tps) -> dict:
        self.asked_end_offsets += 1
        return dict.fromkeys(tps, self.end)

    async def getmany(self, *tps, timeout_ms: int = 0, max_records=None) -> dict:
        """As ``read_end_offsets``' probe sees it, sought to the end - 1: the last
        record, once."""
        fetched = {
            tp: [_Last(self.end - 1)] for tp in tps if self.positions[tp] < self.end
        }
        for tp in fetched:
            self.positions[tp] = self.end
        return fetched
