"""Kafka client settings in one place, for the embedded broker and Apache Kafka alike.

Also owns :func:`ensure_topics`, which creates the platform's topics (as declared in
:mod:`certseal.events`) through the admin API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import KafkaError, KafkaTimeoutError
from aiokafka.protocol.group import JoinGroupRequest, LeaveGroupRequest
from aiokafka.structs import TopicPartition

from certseal.events import TopicSpec
from certseal.holes import OffsetHoles, R

log = logging.getLogger(__name__)


#: how the embedded broker's cluster id begins (certseal.devstack): it keeps topics in
#: memory, so each start is a new, empty cluster, and what was built from the last
#: one (a verifier's index) is rebuilt as a matter of course
EMBEDDED_CLUSTER_PREFIX = "certseal-dev-"

LEAVE_GROUP_TIMEOUT_S = 1.0
"""How long a stop waits for the LeaveGroup :func:`leave_group_on_stop` adds: a broker
that hangs must not hold a stopping process for the request timeout (15 s)."""


def leave_group_on_stop(consumer: Any) -> None:
    """Make a started group ``consumer`` (an aiokafka consumer, also the one a Faust
    worker makes) leave its group when stopped, also in the group's first generation.

    aiokafka (0.14) sends LeaveGroup on stop only when its generation is above 0, as
    Apache Kafka numbers generations from 1; the embedded broker (Tansu) numbers them
    from 0. A first-generation member that stopped (a restarted process, a consumer
    made again after a failed batch) then stayed in the group until its session timed
    out, and the next member's join waited for it, or the group rebalanced a second
    time when it expired: a restarted verifier worker took two rebalances to serve,
    the issuer's usage record stalled for a session timeout. LeaveGroup names only the
    group and the member (Kafka protocol, LeaveGroupRequest v0-v2), so sending it at
    generation 0 is the same request. Best effort, like aiokafka's own: a failure, or
    no answer within :data:`LEAVE_GROUP_TIMEOUT_S`, is logged and the session timeout
    remains the fallback. No-op for a consumer without group management, or one
    already set up."""
    coordinator = getattr(consumer, "_coordinator", None)
    if not isinstance(coordinator, GroupCoordinator) or getattr(
        coordinator, "_certseal_leaves", False
    ):
        return
    leave_if_member = coordinator._maybe_leave_group

    async def leave() -> None:
        if (
            coordinator.generation == 0
            and coordinator.member_id != JoinGroupRequest.UNKNOWN_MEMBER_ID
            and coordinator._group_instance_id is None
        ):
            try:
                await asyncio.wait_for(
                    coordinator._send_req(
                        LeaveGroupRequest(coordinator.group_id, coordinator.member_id)
                    ),
                    LEAVE_GROUP_TIMEOUT_S,
                )
            except (KafkaError, TimeoutError) as exc:
                log.warning(
                    "kafka: LeaveGroup of group %s failed: %s",
                    coordinator.group_id,
                    str(exc) or f"no answer within {LEAVE_GROUP_TIMEOUT_S:.0f} s",
                )
        await leave_if_member()

    coordinator._maybe_leave_group = leave
    coordinator._certseal_leaves = True


def fetches_end_on_stop(consumer: Any) -> None:
    """Make a started aiokafka ``consumer``'s stop end the fetches it cancels
    without raising their cancellation.

    aiokafka (0.14; its issue 647) cancels each fetch still in flight when it closes
    the consumer's fetcher and awaits it, so a fetch that waited in its retry back-off
    (a broker gone: every fetch fails and waits) raises CancelledError out of
    ``stop()``, which then never closes the client. A Faust worker's consumer thread
    stopped so, and its ``on_thread_stop`` never told the worker it had: the
    verifier's stop waited for mode's shutdown timeout (60 s) whenever its broker
    was away. The fetcher's routine and its fetches now end first, each one's
    cancellation taken as its end; the fetcher's own close then finds nothing in
    flight. A cancellation of the stopping task itself still raises. No-op for a
    consumer without a fetcher (not started) or one already set up."""
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is None or getattr(fetcher, "_certseal_ends_fetches", False):
        return
    close = fetcher.close

    async def end_fetches_then_close() -> None:
        fetcher._fetch_task.cancel()  # first, as close does: it starts no more
        await asyncio.gather(fetcher._fetch_task, return_exceptions=True)
        fetching = list(fetcher._pending_tasks)
        for task in fetching:
            task.cancel()
        await asyncio.gather(*fetching, return_exceptions=True)
        fetcher._pending_tasks.difference_update(fetching)
        await close()

    fetcher.close = end_fetches_then_close
    fetcher._certseal_ends_fetches = True


def give_up_unacknowledged(producer: Any, why: str, *, in_flight: bool = False) -> int:
    """Fail every record a started aiokafka ``producer`` holds that the broker has not
    acknowledged, each send's future with KafkaTimeoutError(``why``), and return how
    many. For a stop whose broker does not answer: aiokafka's flush and stop wait for
    every acknowledgement (a batch expires only after a request timeout, and one in
    flight to a broker that hangs is retried).

    The batches waiting to be sent are failed and taken out of the producer, so that
    its sender never sends them. Those sent and not answered are failed only with
    ``in_flight`` and once the producer's sender has ended (a stop cut short leaves
    it running): failing one its sender may still send again broke the sender
    (aiokafka put the batch back among those waiting and did not find it among those
    sent: KeyError, trial55, atk57); see :func:`records_in_flight`."""
    accumulator = getattr(producer, "_message_accumulator", None)
    if accumulator is None:
        return 0
    held = []
    for tp in list(accumulator._batches):  # the key too: an empty deque breaks a drain
        held.extend(accumulator._batches.pop(tp))
    sender = getattr(getattr(producer, "_sender", None), "sender_task", None)
    if in_flight and (sender is None or sender.done()):
        held.extend(accumulator._pending_batches)
    held = [batch for batch in held if not batch.future.done()]
    for batch in held:
        batch.failure(KafkaTimeoutError(why))
        drained = batch._drain_waiter  # a drain no sender waits for: no GC error
        if drained.done() and not drained.cancelled():
            drained.exception()
    return sum(batch.record_count for batch in held)


def records_in_flight(producer: Any) -> int:
    """How many records aiokafka ``producer`` has sent and the broker has not yet
    acknowledged."""
    accumulator = getattr(producer, "_message_accumulator", None)
    pending = accumulator._pending_batches if accumulator is not None else ()
    return sum(batch.record_count for batch in pending if not batch.future.done())


async def stop_within(stop: Awaitable[None], seconds: float) -> bool:
    """Await a client's ``stop`` for at most ``seconds``, then cancel it where it
    waits and wait as long again; whether it ended in time (raises what it raised).
    aiokafka's producer stop waits for its requests in flight, which a broker that
    hangs answers after the request timeout (15 s) at the earliest."""
    stopping = asyncio.ensure_future(stop)
    try:
        await asyncio.wait({stopping}, timeout=seconds)
    finally:
        if not stopping.done():
            stopping.cancel()
            await asyncio.wait({stopping}, timeout=seconds)
    if stopping.done() and not stopping.cancelled():
        stopping.result()
        return True
    return False


class Consumer(AIOKafkaConsumer):
    """aiokafka's consumer, leaving its group when stopped whatever the broker's
    generation numbering (:func:`leave_group_on_stop`), its stop ending the fetches
    in flight (:func:`fetches_end_on_stop`)."""

    async def start(self) -> None:
        """Start, then make the group's member leave on stop."""
        await super().start()
        leave_group_on_stop(self)
        fetches_end_on_stop(self)


@dataclass(frozen=True)
class KafkaSettings:
    """Where the brokers are and how to talk to them."""

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: str = "PLAINTEXT"  # or SSL (mTLS to Apache Kafka)
    # SSL's context, made from [kafka]'s files read and checked once
    # (certseal.config.KafkaConfig.ssl_context), never from a second raw read
    ssl_context: ssl.SSLContext | None = None
    client_id: str = "certseal"
    request_timeout_ms: int = 15000
    extra: dict[str, Any] = field(default_factory=dict)

    def common(self) -> dict[str, Any]:
        """Arguments every aiokafka client takes."""
        args: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
            "request_timeout_ms": self.request_timeout_ms,
        }
        if self.security_protocol == "SSL":
            if self.ssl_context is None:
                raise ValueError("security_protocol SSL needs an ssl_context")
            args["ssl_context"] = self.ssl_context
        return args

    def producer(self, **overrides: Any) -> AIOKafkaProducer:
        """A producer with acks=all.

        The idempotent producer is not enabled: the embedded broker rejects it, and the
        outbox relay gets ordering from one in-flight batch per partition instead.
        """
        args = {
            **self.common(),
            "acks": "all",
            "linger_ms": 0,
            **self.extra,
            **overrides,
        }
        return AIOKafkaProducer(**args)

    def consumer(self, *topics: str, **overrides: Any) -> Consumer:
        """A consumer (give ``group_id`` for a consumer group), one that leaves its
        group when stopped (:class:`Consumer`)."""
        return Consumer(*topics, **{**self.common(), **overrides})

    def admin(self) -> AIOKafkaAdminClient:
        """An admin client."""
        args = self.common()
        args.pop("client_id")
        return AIOKafkaAdminClient(**args, client_id=f"{self.client_id}-admin")


async def cluster_id(settings: KafkaSettings) -> str:
    """The id of the Kafka cluster ``settings`` point at (an admin client's
    DescribeCluster; the client stopped also when starting it fails). Raises what
    the client raises when the broker does not answer (KafkaError, OSError)."""
    admin = settings.admin()
    try:
        await admin.start()
        described: dict[str, Any] = await admin.describe_cluster()
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    return str(described["cluster_id"])


@contextlib.asynccontextmanager
async def offset_clients(
    settings: KafkaSettings,
) -> AsyncIterator[tuple[AIOKafkaConsumer, AIOKafkaAdminClient]]:
    """A consumer outside any group (with the cluster's topic metadata) and an admin
    client, started; both stopped on the way out, also when a start fails. Raises
    what aiokafka raises when the broker cannot be reached."""
    consumer = settings.consumer(group_id=None, enable_auto_commit=False)
    admin = settings.admin()
    async with contextlib.AsyncExitStack() as clients:
        clients.push_async_callback(consumer.stop)
        clients.push_async_callback(admin.close)
        await consumer.start()
        await admin.start()
        await consumer.topics()  # the topics' metadata
        yield consumer, admin


async def group_offsets(
    consumer: AIOKafkaConsumer,
    admin: AIOKafkaAdminClient,
    group_id: str,
    topics: Sequence[str],
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """For every partition of ``topics`` (of :func:`offset_clients`' metadata): its
    end offset now, and the offset consumer group ``group_id`` committed there (a
    partition it never committed is left out)."""
    tps = [
        TopicPartition(topic, partition)
        for topic in topics
        for partition in sorted(consumer.partitions_for_topic(topic) or ())
    ]
    if not tps:
        return {}, {}
    ends = await consumer.end_offsets(tps)
    done = await admin.list_consumer_group_offsets(group_id, partitions=tps)
    return ends, {tp: meta.offset for tp, meta in done.items() if meta.offset >= 0}


async def ensure_topics(
    admin_factory: Callable[[], AIOKafkaAdminClient], specs: Iterable[TopicSpec]
) -> list[str]:
    """Create the missing topics; fail when an existing one has fewer partitions.

    ``admin_factory`` is a zero-argument callable returning an unstarted
    ``AIOKafkaAdminClient`` (so TLS settings stay in one place, :class:`KafkaSettings`).
    """
    admin = admin_factory()
    await admin.start()
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        specs = list(specs)
        missing = [s for s in specs if s.name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(s.name, s.partitions, 1, topic_configs=s.configs())
                    for s in missing
                ]
            )
            created = [s.name for s in missing]
        for desc in await admin.describe_topics([s.name for s in specs]):
            want = next(s for s in specs if s.name == desc["topic"])
            have = len(desc["partitions"])
            if have < want.partitions:
                raise RuntimeError(
                    f"topic {want.name} has {have} partitions, the platform needs "
                    f"{want.partitions}"
                )
    finally:
        await admin.close()
    if created:
        log.info("created topics %s", ", ".join(created))
    return created


def without_holes(
    consumer: Any, holes: OffsetHoles, fetched: Mapping[TopicPartition, Sequence[R]]
) -> dict[TopicPartition, Sequence[R]]:
    """The records of one ``getmany`` (partition -> records) a reader may take now:
    each partition's cut at a hole near its head (:mod:`certseal.holes`, keyed by
    TopicPartition), the consumer sought back to the hole to fetch it again. A reader
    that commits then commits the hole's start, never past it."""
    taken: dict[TopicPartition, Sequence[R]] = {}
    holes.keep_only(consumer.assignment())  # a group member's may change
    for tp, records in fetched.items():
        cut = holes.cut(tp, records, consumer.highwater(tp))
        if cut.seek_to is not None:
            consumer.seek(tp, cut.seek_to)
        if cut.records:
            taken[tp] = cut.records
    return taken


async def read_to_end(
    consumer: Any, partitions: Sequence[TopicPartition], what: str
) -> list[Any]:
    """Every record of ``partitions`` (assigned to ``consumer``: started, no group)
    from their beginning to the end offsets they have now, in the order fetched
    (each partition in offset order); a hole near a partition's head is waited for
    (:func:`without_holes`, ``what`` names the reader in the log). Stops early when
    a fetch brings nothing within 500 ms, unless it sought back to a hole (its next
    fetch may wait for one already asking past the last record: 500 ms) and that
    hole's settle time has not run out; reads on past the end offsets while it
    waits for a hole."""
    consumer.assign(list(partitions))
    await consumer.seek_to_beginning(*partitions)
    ends = await consumer.end_offsets(partitions)
    holes = OffsetHoles(what, clock=time.monotonic, wall=time.time)
    for tp in partitions:
        holes.expect(tp, await consumer.position(tp))
    found: list[Any] = []
    fetched_at = time.monotonic()
    # a hole waited for is read past even at the end offset: the embedded broker's
    # can be its last batch's first offset + 1 (README, the embedded broker)
    while holes.waiting or any(
        [await consumer.position(tp) < ends[tp] for tp in partitions]
    ):
        fetched = await consumer.getmany(timeout_ms=500)
        if not fetched:
            if holes.waiting and time.monotonic() - fetched_at < holes.settle_s + 1:
                continue
            break
        fetched_at = time.monotonic()
        for records in without_holes(consumer, holes, fetched).values():
            found += records
    return found
