"""How a verifier worker knows how far behind its index is, and when it does not.

The lag in every answer is measured against high waters. Those from fetch responses
cost no broker round trip, but a worker cut off from its broker (a network partition,
a broker that hangs, an address that changed) fetches nothing and keeps the last ones
it saw: it would say "0 events behind" while licences and keys were revoked on the
topics. So every :data:`CONFIRM_EVERY_S` seconds the worker asks the broker for the end
offsets (Kafka ListOffsets, latest) of every partition it applies: the trust and
directory partitions of its Faust consumer and the licence partitions of its feed.
Each complete answer is recorded (:meth:`Freshness.confirm_ends`); once none has come
for ``verifier.lag_unknown_after_s``, :meth:`Freshness.judge_lag` finds the lag unknown:
every answer says so and the worker is not ready (services.verifier.server) until the
broker answers again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from certseal.events import DIRECTORY_EVENTS, TRUST_EVENTS
from services.verifier.feed import LicenceFeed
from services.verifier.index import INDEX_TOPICS, Freshness

log = logging.getLogger(__name__)

Key = tuple[str, int]  # (topic, partition)

#: seconds between two asks (one ListOffsets request per partition leader each)
CONFIRM_EVERY_S = 1.0
#: seconds between two tries while the worker's partitions are not assigned yet
FIRST_ASK_RETRY_S = 0.05


class NotAssigned(Exception):
    """The worker's partitions are not assigned yet (or are being reassigned)."""


#: the topics of the worker's Faust consumer whose lag its answers carry
TABLE_TOPICS = (TRUST_EVENTS, DIRECTORY_EVENTS)


def fetched_high_waters(consumer: Any, feed: LicenceFeed | None) -> dict[Key, int]:
    """The high waters of the latest fetch responses (no broker round trip) of the
    index topics' partitions assigned to Faust's ``consumer`` and of those the licence
    ``feed`` reads, by (topic, partition)."""
    marks = {}
    for tp in consumer.assignment():
        if tp.topic in INDEX_TOPICS:
            try:
                high_water = consumer.highwater(tp)
            except Exception:  # not fetched yet, or just revoked
                continue
            if high_water is not None:
                marks[(tp.topic, tp.partition)] = high_water
    if feed is not None:
        marks.update(feed.high_waters())
    return marks


async def ask_ends(consumer: Any, feed: LicenceFeed) -> dict[Key, int]:
    """The end offsets of every partition the worker applies, by (topic, partition):
    asked of the broker through Faust's ``consumer`` (its trust and directory
    partitions) and the licence ``feed``'s consumer, concurrently.

    Raises :class:`NotAssigned` while either has no partitions assigned yet
    (nothing to confirm), and whatever the Kafka clients raise when the broker does
    not answer.
    """
    tables = sorted(tp for tp in consumer.assignment() if tp.topic in TABLE_TOPICS)
    if feed.consumer is None or not tables:
        raise NotAssigned("the worker's partitions are not assigned yet")
    licences = feed.assignment()
    asks = [consumer.highwaters(*tables)]
    if licences:
        asks.append(feed.consumer.end_offsets(licences))
    # both waited for, also when one fails: an ask left pending while the next is
    # made would pile up in Faust's consumer thread
    ends: dict[Key, int] = {}
    for answer in await asyncio.gather(*asks, return_exceptions=True):
        if isinstance(answer, BaseException):
            raise answer
        ends.update(((tp.topic, tp.partition), int(end)) for tp, end in answer.items())
    return ends


async def confirm_ends(
    consumer: Any,
    feed: LicenceFeed,
    freshness: Freshness,
    *,
    clock: Callable[[], dt.datetime],
    monotonic: Callable[[], float] = time.monotonic,
    every_s: float = CONFIRM_EVERY_S,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Forever: :func:`ask_ends`, and record each answer at ``clock()`` (UTC) and
    ``monotonic()`` (seconds: its age is judged on these); every ``every_s``
    seconds, and every :data:`FIRST_ASK_RETRY_S` while the partitions are being
    assigned (the start gate waits for the first answer: a whole interval there
    made every start up to a second later).

    An ask the broker does not answer is waited for, not abandoned and repeated (a
    cut-off worker's asks would pile up in Faust's consumer thread until their
    request timeouts); meanwhile the last confirmation ages, which is the point.
    """
    failing = False
    while True:
        try:
            ends = await ask_ends(consumer, feed)
        except NotAssigned:
            # the partitions are being assigned: the start gate waits for the first
            # answer, so ask again soon rather than a whole interval later
            await sleep(FIRST_ASK_RETRY_S)
            continue
        except Exception as exc:  # the broker away: the confirmation ages
            if not failing:
                log.warning("cannot ask the broker for the end offsets: %r", exc)
            failing = True
        else:
            if failing:
                log.info("the broker answers for the end offsets again")
            failing = False
            freshness.confirm_ends(ends, clock(), monotonic())
        await sleep(every_s)
