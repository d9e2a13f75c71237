"""A verifier worker's index status: per assigned partition of the event topics, the
applied offset, the high water and the lag (the GetIndexStatus RPC)."""

from __future__ import annotations

from services.verifier.ends import fetched_high_waters
from services.verifier.index import INDEX_TOPICS, IndexStatus, PartitionStatus
from services.verifier.storage import LicenceCount, VerifierState, estimated_entries


async def index_status(
    state: VerifierState, group: str, licences: LicenceCount
) -> IndexStatus:
    """Per assigned partition of the event topics (the worker's Faust consumer's and
    its licence feed's): applied offset, high water and lag, in offsets; with the
    tables' estimated entry counts and ``licences``'s exact count (kept for 5 s)."""
    consumer = state.app.consumer
    freshness = state.freshness
    assigned = sorted(tp for tp in consumer.assignment() if tp.topic in INDEX_TOPICS)
    feed = state.feed
    fed = feed.assignment() if feed is not None else []
    # no broker round trip (a worker cut off from its broker answers this too, saying
    # so): the end offsets it last confirmed, or a fetch response's newer high water
    marks = freshness.marks(fetched_high_waters(consumer, feed))
    partitions = []
    for tp in [*fed, *assigned]:
        applied = freshness.applied.get((tp.topic, tp.partition))
        if applied is None:  # nothing new since start: where consumption resumed
            owner = feed.consumer if tp in fed else consumer
            position = await owner.position(tp)
            applied = position - 1 if position is not None else -1
        high_water = marks.get((tp.topic, tp.partition), applied + 1)
        partitions.append(
            PartitionStatus(
                topic=tp.topic,
                partition=tp.partition,
                applied_offset=applied,
                high_water=high_water,
                lag=max(0, high_water - applied - 1),
            )
        )
    # the replay guard's feed reads every usage partition in its own thread: its
    # positions and high waters as it last noted them
    guard = state.presentations
    for partition, resumed in sorted(getattr(guard, "resumed", {}).items()):
        topic = guard.topic
        applied = freshness.applied.get((topic, partition), resumed)
        # never below what was applied (the embedded broker may report a high
        # water up to a batch short: transport.read_end_offsets)
        high_water = max(guard.high_waters.get(partition, 0), applied + 1)
        partitions.append(
            PartitionStatus(
                topic=topic,
                partition=partition,
                applied_offset=applied,
                high_water=high_water,
                lag=max(0, high_water - applied - 1),
            )
        )
    return IndexStatus(
        group=group,
        partitions=tuple(partitions),
        licence_entries=estimated_entries(state.index),
        trust_entries=estimated_entries(state.trust),
        last_event_time=freshness.last_event_time,
        licences=await licences.count(state.index),
        lag_unknown=freshness.lag_unknown,
        lag_measured_at=freshness.lag_measured_at,
    )
