"""The Kafka reads that check a position token before a subscription resumes.

A version 3 token carries, per partition, the fingerprint of the record before its
offset (:mod:`services.feed.tokens`). Before anything is delivered the feed reads the
log start of every partition and the one record before each position (one bounded
fetch per partition, the others paused), and refuses a token of another incarnation
of a topic, or one below a log start, with FAILED_PRECONDITION
(:func:`services.feed.tokens.incarnation_mismatch`). The fingerprints read are those
the subscription's next tokens carry for partitions where it has read nothing yet.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import TopicPartition

from certseal.errors import CertsealError, ErrorKind, precondition
from certseal.kafka_end import exact_end_offsets
from services.feed.tokens import (
    RESUBSCRIBE,
    Fingerprints,
    beyond_end,
    incarnation_mismatch,
    record_fingerprint,
)

#: how long the records a token is checked against may take to arrive
FETCH_DEADLINE_S = 10.0

Key = tuple[str, int]


async def records_before(
    consumer: Any,
    partitions: list[TopicPartition],
    offsets: dict[Key, int],
    *,
    deadline_s: float = FETCH_DEADLINE_S,
) -> dict[Key, bytes | None]:
    """The fingerprint of the record at each of ``offsets`` (a partition's position
    - 1), None where the first record at or after it has another offset.

    One bounded fetch per partition (the first record returned is kept, the partition
    paused), the other partitions paused meanwhile and all resumed after; the caller
    seeks every partition again. UNAVAILABLE when the broker does not return them
    within ``deadline_s`` seconds (:data:`FETCH_DEADLINE_S`).
    """
    found: dict[Key, bytes | None] = {}
    if not offsets:
        return found
    targets = [tp for tp in partitions if (tp.topic, tp.partition) in offsets]
    consumer.pause(*(tp for tp in partitions if tp not in targets))
    for tp in targets:
        consumer.seek(tp, offsets[(tp.topic, tp.partition)])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    try:
        while len(found) < len(offsets):
            if loop.time() > deadline:
                raise CertsealError(
                    ErrorKind.UNAVAILABLE,
                    "the event broker did not return the records a position token "
                    "is checked against; try again",
                )
            pending = [tp for tp in targets if (tp.topic, tp.partition) not in found]
            batches = await consumer.getmany(*pending, timeout_ms=200)
            for tp, records in batches.items():
                key = (tp.topic, tp.partition)
                if records and key not in found:
                    first = records[0]
                    found[key] = (
                        record_fingerprint(first.key, first.value, first.headers)
                        if first.offset == offsets[key]
                        else None
                    )
                    consumer.pause(tp)
    finally:
        consumer.resume(*partitions)
    return found


async def checked_fingerprints(
    consumer: Any,
    partitions: list[TopicPartition],
    current: dict[Key, int],
    token: tuple[dict[Key, int], Fingerprints | None],
) -> dict[Key, bytes]:
    """The fingerprint of the record before each position of ``current`` (none for a
    partition at its log start), after checking the token's ``(positions,
    fingerprints)`` against them (empty positions: no token).

    FAILED_PRECONDITION (field ``start``) when the token stands below a partition's
    log start or is of another incarnation of a topic; UNAVAILABLE as
    :func:`records_before`. Leaves every partition at its ``current`` offset.
    """
    positions, fingerprints = token
    starts = {
        (tp.topic, tp.partition): offset
        for tp, offset in (await consumer.beginning_offsets(partitions)).items()
    }
    wanted = {k: o - 1 for k, o in current.items() if o > starts.get(k, 0)}
    found = await records_before(consumer, partitions, wanted)
    for tp in partitions:
        consumer.seek(tp, current[(tp.topic, tp.partition)])
    mismatch = incarnation_mismatch(positions, fingerprints, starts, found)
    if mismatch:
        raise precondition(f"{mismatch}; {RESUBSCRIBE}", field="start")
    return {k: fp for k, fp in found.items() if fp is not None}


async def past_end(
    consumer: Any,
    partitions: list[TopicPartition],
    positions: dict[tuple[str, int], int],
) -> list[tuple[str, int]]:
    """The partitions where ``positions`` stand past the end: beyond one past the
    last record (:func:`certseal.kafka_end.exact_end_offsets`: the embedded broker's
    reported end can be a batch short)."""
    ends = await exact_end_offsets(consumer, partitions)
    return beyond_end(
        positions, {(tp.topic, tp.partition): o for tp, o in ends.items()}
    )
