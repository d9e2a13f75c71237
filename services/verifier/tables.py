"""A worker's trust and directory tables read through to where their topics ended at
its start.

A worker answers from two small Faust tables: the trust list (kid -> the key's last
TrustEvent) and the directory (names). Their agents resume where the worker's own
consumer group committed (``services.verifier.config.consumer_group_id``), so after
a stop the tables lack what was published meanwhile until the agents get to it: a key
revoked while the worker was down left a licence signed with it VALID for as long as
the agent took to read the events ahead of the revocation
(tests/e2e/test_verifier_start_tables.py). :func:`read_through_start` sets
``Freshness.tables_read`` once every event the two topics held at the worker's start
is applied; until then a verification is UNAVAILABLE, never a verdict
(:meth:`services.verifier.group.GroupIndex.get_many`), no offline bundle is signed, and
the worker is not SERVING (services.verifier.server).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from certseal.kafka import KafkaSettings, group_offsets, offset_clients
from services.verifier.index import BadEvent, Freshness
from services.verifier.transport import read_end_offsets

log = logging.getLogger(__name__)

#: seconds before asking the broker again after it could not tell the end offsets
RETRY_S = 1.0
#: seconds of waiting for the agents after which (and after each further such span)
#: the worker says at its default level what it still waits for
SLOW_S = 10.0

#: ``park(topic, partition, offset, key, value, why)``: dead-letters one record
Park = Callable[[str, int, int, bytes | None, bytes | None, str], Awaitable[None]]


async def apply_stream(
    stream: Any,
    table: Any,
    applier: Callable[[bytes | None, bytes], bytes | None],
    park: Park,
    freshness: Freshness,
) -> None:
    """Apply each record of a Faust agent's ``stream`` to ``table``:
    ``applier(stored, value)`` gives the key's new value, or None when it is not newer.

    A record the applier refuses (BadEvent) or cannot take (any other error; a record
    without a key, or without a value: a tombstone) is dead-lettered by ``park`` with
    the reason, never a crashed agent: Faust starts a crashed agent again, but the
    records fetched with the one that crashed it are lost to it, and the start gate
    (:func:`read_through_start`) would wait for them for ever. Every record is noted
    in ``freshness``, applied or not."""
    async for event in stream.events():
        message = event.message
        try:
            if not event.key:
                raise BadEvent("a record without a key")
            if event.value is None:
                raise BadEvent("a record without a value (a tombstone)")
            new = applier(table.get(event.key), event.value)
            if new is not None:
                table[event.key] = new
        except Exception as exc:  # one bad record never stops its partition
            why = (
                str(exc)
                if isinstance(exc, BadEvent)
                else f"{type(exc).__name__}: {exc}"
            )
            await park(
                message.topic,
                message.partition,
                message.offset,
                event.key,
                event.value,
                why,
            )
        freshness.note(
            message.topic, message.partition, message.offset, message.timestamp
        )


async def ends_to_read(
    kafka: KafkaSettings,
    group_id: str,
    topics: Sequence[str],
    resumed: dict[tuple[str, int], int] | None = None,
) -> dict[tuple[str, int], int]:
    """The end offset now (one past the last record, exact on the embedded broker:
    :func:`services.verifier.transport.read_end_offsets`) of each partition of
    ``topics`` that consumer group ``group_id`` has not committed to its end: what
    this worker's agents must apply before its tables are whole. ``resumed``, when
    given, receives where the group resumes each partition (its committed offset; 0
    when none). Raises what aiokafka raises when the broker cannot be asked."""
    async with offset_clients(kafka) as (consumer, admin):
        reported, committed = await group_offsets(consumer, admin, group_id, topics)
        if not reported:
            return {}
        ends = await read_end_offsets(  # starts and stops the probe it is given
            kafka.consumer(group_id=None, enable_auto_commit=False), reported
        )
    if resumed is not None:
        for tp in ends:
            resumed[(tp.topic, tp.partition)] = committed.get(tp, 0)
    return {
        (tp.topic, tp.partition): end
        for tp, end in ends.items()
        if end > 0 and committed.get(tp, -1) < end
    }


def behind(freshness: Freshness, ends: dict[tuple[str, int], int]) -> list[str]:
    """``topic/partition`` of each partition whose agent has not applied the event
    before its end offset in ``ends`` yet."""
    return [
        f"{topic}/{partition}"
        for (topic, partition), end in sorted(ends.items())
        if freshness.applied.get((topic, partition), -1) < end - 1
    ]


async def applied_through(
    freshness: Freshness, ends: dict[tuple[str, int], int]
) -> None:
    """Return once ``freshness`` has applied every partition of ``ends`` to the event
    before its end offset (a skipped, dead-lettered event counts: it is noted)."""
    while behind(freshness, ends):
        freshness.noted.clear()
        await freshness.noted.wait()


async def read_through_start(
    kafka: KafkaSettings,
    group_id: str,
    topics: Sequence[str],
    freshness: Freshness,
) -> None:
    """Set ``freshness.tables_read`` once the agents of ``topics`` (the worker's
    consumer group ``group_id``) have applied every event those topics held now and
    the tables are recovered (``freshness.recovered``).
    Asks the broker again every second while it cannot answer; returns only when set
    (or cancelled with the worker)."""
    resumed: dict[tuple[str, int], int] = {}
    while True:
        try:
            ends = await ends_to_read(kafka, group_id, topics, resumed)
            break
        except Exception as exc:  # the broker away: nothing is answered meanwhile
            log.warning("trust and directory tables: end offsets not read: %s", exc)
            await asyncio.sleep(RETRY_S)
    # every partition's lag counts from where its agent resumes, until it applies
    # an event there: a partition with nothing applied since the start counted as
    # none behind, its unapplied key.revoked unseen (atk21)
    for tp, offset in resumed.items():
        freshness.applied.setdefault(tp, offset - 1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    waiting = asyncio.ensure_future(applied_through(freshness, ends))
    try:
        while not (await asyncio.wait({waiting}, timeout=SLOW_S))[0]:
            log.warning(
                "trust and directory tables: still reading %s to their end offsets of "
                "this start (%.0f s); verifications are UNAVAILABLE and the worker is "
                "not ready until then",
                ", ".join(behind(freshness, ends)),
                loop.time() - started,
            )
    finally:
        waiting.cancel()
    # nor before Faust has recovered the tables from their changelogs: a resuming
    # worker answered meanwhile from a licence index it had not read on from its
    # stored offsets yet, "0 events behind" (nu19: UNKNOWN_LICENCE for valid licences)
    await freshness.recovered.wait()
    freshness.tables_read.set()
    log.info(
        "trust and directory tables: read through this start's end offsets in %.1f s",
        loop.time() - started,
    )
