"""A partition's real end: one past its last record, whatever the broker reports.

The embedded Tansu broker answers ListOffsets(latest) with one past the *first* record
of a partition's last batch (README, "Measured behaviour of the embedded broker"): a
batch of 3 at offset 0 reports end offset 1. A reader that starts "from now" at that
figure replays the rest of the batch, and a check "is this offset past the end" refuses
offsets that exist. :func:`exact_end_offsets` reads from the reported end - 1 to the last
record; on Apache Kafka, where the reported end is exact, it reads the last record and
changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import TopicPartition

#: how long the last records of the partitions may take to arrive
END_DEADLINE_S = 2.0


async def exact_end_offsets(
    consumer: Any,
    partitions: Sequence[TopicPartition],
    *,
    deadline_s: float = END_DEADLINE_S,
) -> dict[TopicPartition, int]:
    """The end offset of each of ``partitions``: one past its last record.

    ``consumer`` is started, outside any group, with ``partitions`` assigned; it is
    left positioned anywhere (the caller seeks every partition after). A partition
    whose last record cannot be read within ``deadline_s`` keeps its reported end,
    never less.
    """
    ends = dict(await consumer.end_offsets(list(partitions)))
    # what is read from: the last record the broker admits to
    pending = {tp: ends[tp] - 1 for tp in partitions if ends.get(tp, 0) > 0}
    if not pending:
        return ends
    assigned = list(consumer.assignment())
    consumer.pause(*(tp for tp in assigned if tp not in pending))
    for tp, offset in pending.items():
        consumer.seek(tp, offset)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    try:
        while pending and loop.time() < deadline:
            batches = await consumer.getmany(*pending, timeout_ms=100)
            for tp in list(pending):
                records = batches.get(tp) or ()
                if records:
                    ends[tp] = max(ends[tp], records[-1].offset + 1)
                elif await consumer.position(tp) > pending[tp]:
                    # read past where it started and nothing follows: the end
                    del pending[tp]
    finally:
        consumer.resume(*assigned)
    return ends
