"""A partitioned worker's licence feed while it starts: between reading the topic's
partitions and marking those it must rebuild, no lookup is answered from them."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.structs import TopicPartition

from certseal.errors import CertsealError, ErrorKind
from services.verifier.diskindex import DiskIndex, Record
from services.verifier.feed import LicenceFeed
from services.verifier.group import GroupIndex
from services.verifier.index import Freshness
from services.verifier.partitions import Ownership, partition_of
from tests.verifier.test_diskindex import event

PARTITIONS = 4


class _Consumer:
    """What LicenceFeed.start asks of a consumer; ``end_offsets`` waits for a gate."""

    def __init__(self, reached: asyncio.Event, gate: asyncio.Event):
        self._reached, self._gate = reached, gate

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(PARTITIONS))

    def assign(self, tps) -> None:
        self.assigned = list(tps)

    def seek(self, tp, offset) -> None:
        pass

    async def seek_to_beginning(self, tp) -> None:
        pass

    async def end_offsets(self, tps) -> dict:
        self._reached.set()
        await self._gate.wait()
        return dict.fromkeys(tps, 0)

    async def position(self, tp: TopicPartition) -> int:
        return 0


def _lineage_of(partition: int) -> bytes:
    n = 0
    while partition_of(f"L-{n}".encode(), PARTITIONS) != partition:
        n += 1
    return f"L-{n}".encode()


async def test_no_lookup_from_a_partition_before_it_is_marked_for_rebuilding(
    tmp_path,
):
    """Worker 1 of 2 owns partitions 1 and 3. Its index holds an entry of partition 1
    but not that partition in full (m:complete names 0 and 2 only: it was being
    rebuilt when the worker stopped), so start() drops it and rebuilds it. While
    start() waits for the broker (end offsets), the feed already says how many
    partitions the topic has but lists none as being rebuilt: a lookup then was
    answered from the partial partition ("not indexed", or before the drop, the old
    entry) instead of UNAVAILABLE."""
    lineage = _lineage_of(1)
    index = DiskIndex(tmp_path / "ix")
    index.apply([Record(1, 0, lineage, event(lineage.decode(), 1), 0)])
    index.mark_complete(PARTITIONS, frozenset({0, 2}))
    reached, gate = asyncio.Event(), asyncio.Event()
    freshness = Freshness()
    feed = LicenceFeed(
        index,
        consumer_factory=lambda **kw: _Consumer(reached, gate),
        freshness=freshness,
        dead_letter=lambda record, problem: asyncio.sleep(0),
        ownership=Ownership(2, 1),
    )
    group = GroupIndex(index, feed, freshness, group="g", ownership=Ownership(2, 1))
    starting = asyncio.create_task(feed.start())
    try:
        await asyncio.wait_for(reached.wait(), 10)
        with pytest.raises(CertsealError) as err:
            group.local([lineage])
        assert err.value.kind is ErrorKind.UNAVAILABLE
    finally:
        gate.set()
        await asyncio.wait_for(starting, 10)
    # started: partition 1 is being rebuilt (its end offset 0 is reached at once
    # here, so it is held in full again)
    assert feed.ready.is_set()
    index.close()


async def test_a_start_cut_short_leaves_no_consumer_open(tmp_path):
    """A worker stopped while its licence feed started (make run stopping the rest
    after one service failed) logged "Unclosed AIOKafkaConsumer": the feed's
    consumer was not yet its to stop, and the end-offset probe was made before the
    await that was cancelled, so nothing ever closed either."""
    reached, gate = asyncio.Event(), asyncio.Event()
    made: list[_Consumer] = []

    def factory(**kw) -> _Consumer:
        made.append(_Consumer(reached, gate))
        made[-1].stopped = False

        async def stop(consumer=made[-1]) -> None:
            consumer.stopped = True

        made[-1].stop = stop  # type: ignore[method-assign]
        return made[-1]

    index = DiskIndex(tmp_path / "ix")
    feed = LicenceFeed(
        index,
        consumer_factory=factory,
        freshness=Freshness(),
        dead_letter=lambda record, problem: asyncio.sleep(0),
        ownership=Ownership(1, 0),
    )
    starting = asyncio.create_task(feed.start())
    await asyncio.wait_for(reached.wait(), 10)  # awaiting the broker's end offsets
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    await feed.stop()
    assert len(made) == 1  # no probe made before the offsets it probes
    assert [c.stopped for c in made] == [True]
    index.close()
