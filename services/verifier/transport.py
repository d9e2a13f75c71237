"""Faust's aiokafka transport with a configurable fetch wait and exact end offsets.

faust-streaming builds its worker consumer with ``fetch_max_wait_ms=1500``; a fetch on
the embedded broker is not woken by new data, so that alone delays every update of the
index by up to 1.5 s. This transport (broker URL scheme ``certseal://``) sets the wait
from ``VerifierConfig.fetch_max_wait_ms`` (set on the app) instead.

After a second without events the wait grows, fetch by fetch, up to
``VerifierConfig.idle_fetch_max_wait_ms`` (:class:`AdaptiveFetchWait`), and the first
fetch that brings records returns it to the short wait: an idle verifier costs the
broker a few fetches a second instead of fifty.

It also reads end offsets (high waters) to the last record: the embedded broker reports
one past the *first* record of a partition's last batch. Faust's table recovery trusts
that figure, so it would stop a batch short, or refuse a store that is ahead of it
(ConsistencyError) and force a rebuild on every restart. On Apache Kafka the probe reads
the last record and changes nothing.

And a worker killed without leaving its group (SIGKILL, OOM kill, a lost node) is
replaced at once by its successor: the member id the worker last had is kept in its data
folder (:func:`rejoin_as_before`), and the restarted worker joins with it, which takes
the dead member's place instead of waiting for its session to time out (docs/
architecture.md §6, "Recovery after a kill"). Everything else is Faust's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import aiokafka
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import KafkaError
from aiokafka.protocol.group import JoinGroupRequest
from aiokafka.structs import TopicPartition
from faust.transport import drivers
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode.utils.logging import CompositeLogger

from certseal.holes import OffsetHoles
from certseal.kafka import (
    fetches_end_on_stop,
    give_up_unacknowledged,
    leave_group_on_stop,
    records_in_flight,
    stop_within,
    without_holes,
)
from services.verifier.storage import read_member_id, write_member_id

log = logging.getLogger(__name__)

FETCH_WAIT_ATTRIBUTE = "certseal_fetch_max_wait_ms"

FETCH_MIN_BYTES = 64 * 1024
"""The worker consumer's ``fetch_min_bytes``: the broker answers a fetch once this
much is there or the fetch wait is over. Under load (every verification publishes a
usage record that this consumer reads back for the replay guard) that makes fewer,
fuller fetches instead of one per record or two; when quiet, an event waits at most
the fetch wait, as before (the issuer's usage consumer does the same)."""
IDLE_FETCH_WAIT_ATTRIBUTE = "certseal_idle_fetch_max_wait_ms"
MEMBER_FILE_ATTRIBUTE = "certseal_member_file"


class AdaptiveFetchWait:
    """How long the next fetch may wait: ``busy_ms`` while fetches bring records and
    for ``patience_ms`` of empty fetches after the last that did (so paced traffic, an
    event every few hundred milliseconds, keeps the short wait); after that each empty
    fetch doubles it, up to ``idle_ms``.

    Pure: :meth:`after` is told what the last fetch brought and returns the next wait.
    """

    def __init__(self, busy_ms: int, idle_ms: int, patience_ms: int = 1000):
        self.busy_ms = max(1, busy_ms)
        self.idle_ms = max(self.busy_ms, idle_ms)
        self.patience = max(0, patience_ms // self.busy_ms)  # empty fetches
        self.wait_ms = self.busy_ms
        self._empty = 0

    def after(self, got_records: bool) -> int:
        """The wait for the next fetch (ms)."""
        if got_records:
            self._empty, self.wait_ms = 0, self.busy_ms
        else:
            self._empty += 1
            if self._empty > self.patience:
                self.wait_ms = min(self.idle_ms, self.wait_ms * 2)
        return self.wait_ms


def adapt_fetch_wait(
    consumer: aiokafka.AIOKafkaConsumer, wait: AdaptiveFetchWait
) -> None:
    """Make a started consumer's fetches wait as ``wait`` says, fetch by fetch.

    aiokafka builds every fetch request from its fetcher's ``_fetch_max_wait_ms`` and
    tells, per response, whether it added records; the wrapper updates the former from
    the latter (one broker here: one fetch in flight at a time).
    """
    fetcher = consumer._fetcher
    fetch = fetcher._proc_fetch_request
    fetcher._fetch_max_wait_ms = wait.busy_ms

    async def proc_fetch_request(assignment: Any, node_id: Any, request: Any) -> Any:
        got = await fetch(assignment, node_id, request)
        fetcher._fetch_max_wait_ms = wait.after(bool(got))
        return got

    fetcher._proc_fetch_request = proc_fetch_request


COMMIT_ON_STOP_S = 3.0
"""How long a stopping worker waits for its consumer's last commit (seconds)."""

SLOW_CONSUMER_THREAD = (
    "the Kafka consumer thread was slow to answer (its event loop did not run for "
    "over 3 s: this process was stopped, the machine is busy, or a fetch or a commit "
    "took long); verification goes on, and the thread catches up (docs/operations.md, "
    "troubleshooting)"
)
"""What mode's ``Thread keepalive is not responding...`` (an ERROR) is logged as."""


class _ThreadLog(CompositeLogger):
    """The consumer thread's log: mode's keepalive complaint a WARNING in certseal's
    words (:data:`SLOW_CONSUMER_THREAD`), every other record as it was."""

    def log(self, severity: int, message: str, *args: Any, **kwargs: Any) -> None:
        if message.startswith("Thread keepalive is not responding"):
            severity, message = logging.WARNING, SLOW_CONSUMER_THREAD
        super().log(severity, message, *args, **kwargs)


def _left_request_failed(
    loop: asyncio.AbstractEventLoop, context: dict[str, Any]
) -> None:
    """The consumer thread's loop's handler of what no task took: a Kafka request
    that aiokafka shields from its caller's cancellation (its offset commit) and that
    failed after the stop gave it up (:data:`COMMIT_ON_STOP_S`, the broker away) is one
    warning line; everything else goes to asyncio's own handler. It was an ERROR,
    "Task exception was never retrieved", with aiokafka's traceback."""
    exc = context.get("exception")
    if isinstance(exc, KafkaError) and "never retrieved" in context.get("message", ""):
        log.warning("a Kafka request left by the consumer's stop failed: %s", exc)
        return
    loop.default_exception_handler(context)


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Creates the worker consumer, then sets its fetch wait (adaptive once it runs);
    logs a slow thread as a warning (:class:`_ThreadLog`)."""

    _holes: OffsetHoles | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log = _ThreadLog(self.logger, formatter=self._format_log)
        self.thread_loop.set_exception_handler(_left_request_failed)

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = getattr(self.app, FETCH_WAIT_ATTRIBUTE, 1500)
        consumer._fetch_min_bytes = FETCH_MIN_BYTES
        return consumer

    async def _shutdown_thread(self) -> None:
        """mode's end of the thread, whose ``set_shutdown`` tells the worker's stop
        that the thread has stopped: told also when stopping the consumer failed (it
        was not, and the stop waited for mode's shutdown timeout, 60 s), the failure
        logged."""
        try:
            await super()._shutdown_thread()
        except BaseException:
            log.exception(
                "the Kafka consumer thread's stop failed; it ends all the same"
            )
            self.set_shutdown()
            raise

    async def on_start(self) -> None:
        """Start the consumer, then let its fetch wait follow the traffic; it leaves
        the group when stopped, also in the broker's first generation (a restarted
        worker otherwise waited for its old member's session to expire)."""
        await super().on_start()
        member_file = getattr(self.app, MEMBER_FILE_ATTRIBUTE, None)
        if member_file is not None:
            # started, not yet subscribed (Faust subscribes later): no join sent yet
            rejoin_as_before(self._consumer, member_file)
        leave_group_on_stop(self._consumer)
        fetches_end_on_stop(self._consumer)
        busy = getattr(self.app, FETCH_WAIT_ATTRIBUTE, 1500)
        idle = getattr(self.app, IDLE_FETCH_WAIT_ATTRIBUTE, busy)
        consumer = self._consumer
        if idle > busy and consumer is not None and hasattr(consumer, "_fetcher"):
            adapt_fetch_wait(consumer, AdaptiveFetchWait(busy, idle))

    async def _fetch_records(
        self,
        consumer: aiokafka.AIOKafkaConsumer,
        active_partitions: set[TP],
        timeout: float | None = None,  # noqa: ASYNC109 - Faust's signature
        max_records: int | None = None,
    ) -> Any:
        """Faust's fetch, cut at a hole near a partition's head (certseal.holes):
        the trust and directory agents never go past a record not readable yet."""
        fetched = await super()._fetch_records(
            consumer, active_partitions, timeout=timeout, max_records=max_records
        )
        if self._holes is None:
            self._holes = OffsetHoles(
                "verifier agents", clock=time.monotonic, wall=time.time
            )
        return without_holes(consumer, self._holes, fetched)

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        reported = await super()._highwaters(partitions)
        transport = cast(faust_aiokafka.Transport, self.transport)
        return await read_end_offsets(self._create_client_consumer(transport), reported)


def rejoin_as_before(consumer: Any, member_file: Path) -> None:
    """Make a started group ``consumer`` that has not joined yet join with the member
    id kept in ``member_file``, and keep there the member id of every join it makes.

    A process killed without LeaveGroup stays a member until its session times out
    (``session_timeout_s``). A new member's join made the group wait for it: the
    broker handed the new member a follower's place under the dead leader, its
    SyncGroup failed after the wait, and it joined again (12.4 s after a SIGKILL at
    1 M entries, against 4.4 s after a SIGTERM). A JoinGroup naming a member id the
    group knows is that member rejoining (Kafka protocol, JoinGroupRequest: member
    ids are not bound to a connection; Apache Kafka and the embedded broker alike),
    so the successor takes the dead member's place in the next generation at once.

    Safe because only one process holds a data folder: the worker opens its RocksDB
    licence index (which holds the folder's LOCK) in ``create_app``, before the
    consumer starts, so a second process on the same folder fails before it joins;
    the member id never leaves the folder. A member id the group does not know (the
    member left on stop, its session expired, another cluster) still joins: the
    embedded broker takes it as given; Apache Kafka answers UNKNOWN_MEMBER_ID and
    aiokafka joins as a new member at once (one round trip).
    Committed offsets keep at-least-once: the successor resumes from them, as after
    any rebalance. No-op for a consumer without group management or one that has
    joined already (a set-up made twice wraps once)."""
    coordinator = getattr(consumer, "_coordinator", None)
    if not isinstance(coordinator, GroupCoordinator) or getattr(
        coordinator, "_certseal_rejoins", False
    ):
        return
    coordinator._certseal_rejoins = True
    kept = read_member_id(member_file)
    if kept is not None and coordinator.member_id == JoinGroupRequest.UNKNOWN_MEMBER_ID:
        log.info("group %s: joining as member %s again", coordinator.group_id, kept)
        coordinator.member_id = kept
    join_complete = coordinator._on_join_complete

    async def on_join_complete(
        generation: int, member_id: str, protocol: str, assignment: bytes
    ) -> Any:
        nonlocal kept
        if member_id != kept:
            try:
                write_member_id(member_file, member_id)
                kept = member_id
            except OSError as exc:  # the next start joins as a new member
                log.warning(
                    "cannot keep the group member id in %s: %s", member_file, exc
                )
        return await join_complete(generation, member_id, protocol, assignment)

    coordinator._on_join_complete = on_join_complete


async def read_end_offsets(
    probe: aiokafka.AIOKafkaConsumer, reported: Mapping[TP, int], timeout_s: float = 5.0
) -> dict[TP, int]:
    """The end offsets one past the last record, reading from the reported ones - 1.

    ``probe`` is a consumer outside any group; it is started and stopped here. A
    partition whose last batch cannot be read in time keeps its reported offset.
    """
    ends = dict(reported)
    wanted = {TopicPartition(tp.topic, tp.partition): tp for tp, e in ends.items() if e}
    if not wanted:
        await probe.stop()  # never started, but it holds a client until closed
        return ends
    try:
        await probe.start()
        probe.assign(list(wanted))
        for atp, tp in wanted.items():
            probe.seek(atp, ends[tp] - 1)
        # a partition is done after a round that returns nothing more for it
        pending, seen = set(wanted), set[TopicPartition]()
        deadline = asyncio.get_running_loop().time() + timeout_s
        while pending and asyncio.get_running_loop().time() < deadline:
            batches = await probe.getmany(
                *pending, timeout_ms=0 if pending <= seen else 100
            )
            got = {atp for atp, records in batches.items() if records}
            for atp in got:
                tp = wanted[atp]
                ends[tp] = max(ends[tp], batches[atp][-1].offset + 1)
            pending -= seen - got
            seen |= got
    finally:
        await probe.stop()
    return ends


def _gave_up(app: Any) -> bool:
    """Whether ``app``'s producer gave up records at the stop (:class:`Producer`)."""
    return bool(getattr(getattr(app, "_producer", None), "gave_up", False))


class Consumer(faust_aiokafka.Consumer):
    """Faust's consumer using :class:`ConsumerThread`, its commit at the stop
    bounded (:meth:`commit_and_end_transactions`), no commit made once its
    producer gave up records (:meth:`_commit`)."""

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        """Faust's commit, unless the producer gave up records at the stop: Faust
        flushes its producer before each commit so that what the events applied
        produced (their tables' changelog records, dead letters) is in the log
        before their offsets are committed; records given up are not, so their
        events must be read again (a commit waiting in that flush went on)."""
        if _gave_up(self.app):
            return False
        return await super()._commit(offsets)

    async def commit_and_end_transactions(self) -> None:
        """Faust's commit of the offsets the agents have applied, made when the
        worker stops (``stream_wait_empty`` off), within :data:`COMMIT_ON_STOP_S`:
        against a broker that does not answer it waited for ever (aiokafka retries a
        commit while its coordinator is unknown), and the worker's stop with it.
        Offsets not committed are read again at the next start, whose agents apply
        each event again to the same effect (at-least-once).

        A commit in flight (the periodic one, hanging on that broker) is waited for
        here, not in Faust's commit: Faust takes a cancellation of its wait for it
        as that commit's end and starts one of its own, which the bound no longer
        cancelled (the stop waited for the worker's watchdog, or ended without the
        warning). Once it has ended the stop commits what was applied since (Faust
        committed nothing more)."""
        if _gave_up(self.app):
            log.warning(
                "the consumer's offsets are not committed at the stop: its producer "
                "gave up records; the next start reads the events since the last "
                "commit again"
            )
            return
        try:
            async with asyncio.timeout(COMMIT_ON_STOP_S):
                while (in_flight := self._commit_fut) is not None:
                    if in_flight.done():  # cancelled, its commit ending: not waited
                        break
                    await asyncio.wait({in_flight})  # not cancelled with this wait
                await super().commit_and_end_transactions()
        except TimeoutError:
            log.warning(
                "the consumer's offsets were not committed within %.0f s of the stop "
                "(the broker did not answer); the next start reads the events since "
                "the last commit again",
                COMMIT_ON_STOP_S,
            )

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


FLUSH_ON_STOP_S = 3.0
"""How long a stopping worker waits for the broker to acknowledge the records its
producer holds (seconds)."""


def _given_up() -> str:
    """Why a record given up at the stop failed (its delivery's KafkaTimeoutError)."""
    return f"not acknowledged within {FLUSH_ON_STOP_S:.0f} s of the stop"


PRODUCER_STOP_S = 1.0
"""How long a stopping worker then waits for its producer's stop (seconds): it holds
no record by then, and a broker that answers ends it at once."""


class Producer(faust_aiokafka.Producer):
    """Faust's producer, its flush at the worker's stop (:meth:`flush_at_stop`) and
    its own stop bounded: with the broker away (a usage record of a licence code
    verified meanwhile held), each waited for its acknowledgement, and the worker's
    stop with them until its watchdog ended it (atk56)."""

    #: records were given up at the stop: no offset is committed after
    gave_up = False

    async def flush_at_stop(self) -> None:
        """Faust's flush, within :data:`FLUSH_ON_STOP_S`; the records then still
        held are given up (:func:`certseal.kafka.give_up_unacknowledged`): their
        senders are told (the usage gatherer logs and counts each record's uses as
        lost), the producer's stop no longer waits for them, and no offset is
        committed after (:meth:`Consumer._commit`)."""
        try:
            async with asyncio.timeout(FLUSH_ON_STOP_S):
                await self.flush()
        except TimeoutError:
            self.gave_up = True  # first: a commit waiting in a flush goes on now
            held = give_up_unacknowledged(self._producer, _given_up())
            log.error(
                "%d records were %s (the broker did not answer): given up, lost unless "
                "the broker took them",
                *(held, _given_up()),
            )

    async def on_stop(self) -> None:
        """Faust's stop of the producer, within :data:`PRODUCER_STOP_S`: aiokafka's
        waits for the requests in flight, which a broker that hangs answers after
        the request timeout (15 s) at the earliest. What the broker has not
        acknowledged is then given up, each record said by its sender; when the stop
        was cut short its sender may still run, and what it has in flight is only
        counted (failing it could break the sender, atk57)."""
        producer = self._producer
        if not await stop_within(super().on_stop(), PRODUCER_STOP_S):
            log.warning(
                "the producer did not stop within %.0f s (the broker did not "
                "answer); the process ends with it",
                PRODUCER_STOP_S,
            )
        give_up_unacknowledged(producer, _given_up(), in_flight=True)
        if left := records_in_flight(producer):
            log.error(
                "%d records were in flight when the producer's stop was cut short: "
                "lost unless the broker took them",
                left,
            )


class Transport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with :class:`Consumer` and :class:`Producer`."""

    Consumer = Consumer
    Producer = Producer


def keep_group_member(app: Any, member_file: Path) -> None:
    """Make ``app``'s worker consumer join with the member id kept in ``member_file``
    and keep its own there (:func:`rejoin_as_before`)."""
    setattr(app, MEMBER_FILE_ATTRIBUTE, member_file)


def use_fetch_wait(
    app: Any, fetch_max_wait_ms: int, idle_fetch_max_wait_ms: int | None = None
) -> str:
    """Make ``app`` consume with this fetch wait while events flow, growing up to
    ``idle_fetch_max_wait_ms`` while none do (None: always ``fetch_max_wait_ms``);
    return the broker URL scheme to use."""
    drivers.TRANSPORTS.data["certseal"] = f"{__name__}:Transport"
    setattr(app, FETCH_WAIT_ATTRIBUTE, fetch_max_wait_ms)
    setattr(
        app,
        IDLE_FETCH_WAIT_ATTRIBUTE,
        fetch_max_wait_ms if idle_fetch_max_wait_ms is None else idle_fetch_max_wait_ms,
    )
    return "certseal"
