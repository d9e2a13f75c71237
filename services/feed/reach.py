"""A subscription's first contact with the broker, bounded, and the error that says the
broker did not answer (trial: ``events tail`` stayed silent while the broker was away:
each attempt waited out aiokafka's 15 s request timeout, and gRPC's retries five of
them, before anything was said)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from aiokafka.errors import KafkaError

from certseal.errors import CertsealError, ErrorKind
from services.feed.domain import BROKER_AWAY

T = TypeVar("T")

#: how long a subscription waits for its consumer's start and the topics' metadata
#: (seconds): milliseconds from a broker that answers
REACH_WITHIN_S = 3.0


def broker_away(bootstrap: str, why: str) -> CertsealError:
    """UNAVAILABLE (:data:`BROKER_AWAY`): the feed's broker at ``bootstrap`` did not
    answer (``why``), so no subscription is open. Not for gRPC's retries
    (:attr:`CertsealError.retried`): the subscriber's own loop subscribes again
    at its pace (a broker away for minutes outlasts their five quick attempts)."""
    error = CertsealError(
        ErrorKind.UNAVAILABLE,
        f"the event feed's broker (at {bootstrap}) {why}: no subscription is open; "
        "subscribe again once it answers",
        reason=BROKER_AWAY,
    )
    error.retried = False
    return error


async def reached(work: Awaitable[T], bootstrap: str) -> T:
    """``work``'s result (a first contact with the broker at ``bootstrap``: a
    consumer's start, the cluster's id) within :data:`REACH_WITHIN_S`;
    :func:`broker_away` when the broker does not answer by then or its client
    fails."""
    try:
        async with asyncio.timeout(REACH_WITHIN_S):
            return await work
    except TimeoutError:
        raise broker_away(
            bootstrap, f"did not answer within {REACH_WITHIN_S:g} s"
        ) from None
    except (KafkaError, OSError) as exc:
        raise broker_away(bootstrap, f"failed: {exc!r}") from None


async def started(consumer: Any) -> None:
    """Start ``consumer`` and load the topics' metadata (partitions_for_topic reads
    it)."""
    await consumer.start()
    await consumer.topics()
