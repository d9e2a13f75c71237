"""The operator page's figures, gathered every few seconds from the running platform.

Verifier groups answer their own health service and ``GetIndexStatus``; the issuer and
seal processes expose their outbox through Prometheus; the broker tells each topic's end
offsets, from which the event rates follow. A source that does not answer is shown as
down with the reason; it never stops the others from being shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import grpc
from aiokafka import AIOKafkaConsumer, TopicPartition
from grpc_health.v1 import health_pb2, health_pb2_grpc

from certseal.kafka import KafkaSettings
from certseal.rpcerrors import failure_reason
from certseal.timestamps import from_ts, rfc3339, utcnow
from certseal.v1 import verifier_pb2, verifier_pb2_grpc
from services.console.domain import (
    GroupStatus,
    History,
    OutboxStatus,
    PartitionLag,
    TopicRates,
    outbox_status,
)

log = logging.getLogger(__name__)

_TIMEOUT_S = 1.5


async def group_status(target: str, channel: grpc.aio.Channel) -> GroupStatus:
    """One verifier group's health and index position."""
    try:
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=_TIMEOUT_S
        )
        reply = await verifier_pb2_grpc.VerifierStub(channel).GetIndexStatus(
            verifier_pb2.GetIndexStatusRequest(), timeout=_TIMEOUT_S
        )
    except (grpc.aio.AioRpcError, TimeoutError) as exc:
        return GroupStatus(
            target=target,
            group="",
            serving=False,
            error=failure_reason(exc),
            lag_unknown=True,  # whatever was published since, unknown
        )
    return GroupStatus(
        target=target,
        group=reply.group,
        serving=health.status == health_pb2.HealthCheckResponse.SERVING,
        partitions=tuple(
            PartitionLag(p.topic, p.partition, p.applied_offset, p.high_water, p.lag)
            for p in reply.partitions
        ),
        licence_entries=reply.licence_entries,
        licences=reply.licences,
        last_event_time=from_ts(reply.last_event_time),
        lag_unknown=reply.lag_unknown,
    )


async def scrape_outbox(
    session: aiohttp.ClientSession, name: str, url: str
) -> OutboxStatus:
    """One process's outbox figures from its ``/metrics``."""
    try:
        async with session.get(
            url, timeout=aiohttp.ClientTimeout(total=_TIMEOUT_S)
        ) as reply:
            reply.raise_for_status()
            return outbox_status(name, url, await reply.text())
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return OutboxStatus(name=name, url=url, up=False, error=failure_reason(exc))


class TopicOffsets:
    """End offsets of the platform's topics, from a consumer outside any group."""

    def __init__(self, kafka: KafkaSettings, topics: Sequence[str]):
        self._kafka = kafka
        self._topics = list(topics)
        self._consumer: AIOKafkaConsumer | None = None

    async def totals(self) -> dict[str, int]:
        """Each topic's end offsets summed over its partitions."""
        if self._consumer is None:
            consumer = self._kafka.consumer(group_id=None, enable_auto_commit=False)
            try:
                await consumer.start()
            except BaseException:  # the broker away, or the caller's bound: no leak
                with contextlib.suppress(Exception):
                    await consumer.stop()
                raise
            self._consumer = consumer
        consumer = self._consumer
        await consumer.topics()
        partitions = [
            TopicPartition(topic, p)
            for topic in self._topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        ends = await consumer.end_offsets(partitions) if partitions else {}
        totals = dict.fromkeys(self._topics, 0)
        for tp, end in ends.items():
            totals[tp.topic] += end
        return totals

    async def close(self) -> None:
        """Stop the consumer."""
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
            self._consumer = None


class StatusCollector:
    """Gathers a snapshot every ``refresh_s`` and keeps the history for the charts."""

    def __init__(
        self,
        *,
        groups: Sequence[tuple[str, grpc.aio.Channel]],
        metrics_sources: Sequence[tuple[str, str]],
        offsets: TopicOffsets,
        refresh_s: float,
        history: int,
        clock: Callable[[], dt.datetime] = utcnow,
    ):
        self._groups = groups
        self._sources = metrics_sources
        self._offsets = offsets
        self._refresh_s = refresh_s
        self._clock = clock
        self._rates = TopicRates()
        self.history = History(history)
        self.snapshot: dict[str, Any] = {}
        self._answered: dict[str, GroupStatus] = {}  # target -> its last answer

    async def collect(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        """Take one snapshot, record it, and return it as the page's JSON."""
        groups, outboxes = await asyncio.gather(
            asyncio.gather(*(group_status(t, c) for t, c in self._groups)),
            asyncio.gather(*(scrape_outbox(session, n, u) for n, u in self._sources)),
        )
        groups = [g.known_as(self._answered.get(g.target)) for g in groups]
        self._answered.update((g.target, g) for g in groups if not g.error)
        broker_error = ""
        try:
            totals = await asyncio.wait_for(self._offsets.totals(), 5)
            rates = self._rates.update(time.monotonic(), totals)
        except Exception as exc:  # the page says the broker is unreachable
            broker_error, totals, rates = failure_reason(exc), {}, {}
            await self._offsets.close()
        now = self._clock()
        self.history.add(now, groups, outboxes, rates)
        snapshot = {
            "at": rfc3339(now),
            "refresh_s": self._refresh_s,
            "groups": [g.to_json(now) for g in groups],
            "outboxes": [o.to_json() for o in outboxes],
            "topics": [
                {"topic": t, "end_offset": totals[t], "rate": rates.get(t)}
                for t in sorted(totals)
            ],
            "broker_error": broker_error,
            "history": list(self.history.samples),
        }
        self.snapshot = snapshot
        return snapshot

    async def run(self, stop: asyncio.Event) -> None:
        """Collect until ``stop`` is set."""
        async with aiohttp.ClientSession() as session:
            while not stop.is_set():
                try:
                    await self.collect(session)
                except Exception:
                    log.exception("operator status collection failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._refresh_s)
        await self._offsets.close()
