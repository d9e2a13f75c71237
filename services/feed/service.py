"""The event feed's use cases: subscriptions, entitlements and webhooks.

Each subscription is its own consumer outside any group, assigned every partition of
the feed's topics and positioned from the subscriber's start (earliest, latest, or a
token). Every event advances the positions; an event the integrator is entitled to and
asked for is delivered with the token of the positions after it.

Operators set entitlements and register webhooks (both audited), list a webhook's
parked deliveries and replay them; the deliveries themselves run in
:mod:`services.feed.webhooks`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Sequence

from aiokafka import TopicPartition

from certseal.audit import AuditEntry
from certseal.crypto import KeyWrapper
from certseal.errors import CertsealError, denied, not_found, precondition
from certseal.holes import OffsetHoles
from certseal.kafka import KafkaSettings, cluster_id, without_holes
from certseal.kafka_end import exact_end_offsets
from certseal.paging import page
from certseal.rpc import Caller
from certseal.timestamps import Clock, utcnow
from services.feed.domain import (
    Delivered,
    Entitlement,
    Filter,
    SubscriptionSlots,
)
from services.feed.events import FEED_TOPICS, event_meta, integrator_view, views
from services.feed.filters import (
    check_entitlement,
    check_lets_through,
    check_sizes,
    check_still_within,
    check_within,
    nothing_to_withdraw,
    webhooks_outside,
)
from services.feed.identities import (
    feed_identity,
    integrator_identity,
)
from services.feed.merge import MERGE_WAIT_S, held, time_merge
from services.feed.reach import reached, started
from services.feed.resume import checked_fingerprints, past_end
from services.feed.rights import HeldRights
from services.feed.storage import FeedStore
from services.feed.tokens import (
    RESUBSCRIBE,
    Fingerprints,
    check_partitions,
    decode_token,
    encode_token,
    record_fingerprint,
    token_fingerprints,
)
from services.feed.webhook_admin import WebhookAdministration
from services.feed.webhooks import WebhookEngine

log = logging.getLogger(__name__)


class FeedService(WebhookAdministration):
    """Entitlements, subscriptions and webhook administration."""

    def __init__(
        self,
        *,
        store: FeedStore,
        kafka: KafkaSettings,
        wrapper: KeyWrapper,
        webhooks: WebhookEngine,
        clock: Clock = utcnow,
        entitlement_refresh_s: float = 5.0,
        max_subscriptions: int = 8,
        legacy_app_integrators: Iterable[str] = (),
    ):
        """``max_subscriptions``: open subscriptions per integrator (this process);
        ``legacy_app_integrators``: the integrator names whose ``app:<name>``
        certificates still read ``integrator:<name>``'s feed (:func:`feed_identity`)."""
        self._store = store
        self._kafka = kafka
        self._wrapper = wrapper
        self._webhooks = webhooks
        self._clock = clock
        self._refresh = entitlement_refresh_s
        self._slots = SubscriptionSlots(max_subscriptions)
        self._legacy_apps = frozenset(legacy_app_integrators)
        self._cluster = ""

    async def cluster_id(self) -> str:
        """The id of the Kafka cluster the feed reads (asked once, then kept: a
        replaced cluster means a restarted feed)."""
        if not self._cluster:
            bootstrap = self._kafka.bootstrap_servers
            self._cluster = await reached(cluster_id(self._kafka), bootstrap)
        return self._cluster

    # -- entitlements ---------------------------------------------------------------

    async def _entitlement_of(self, caller: Caller) -> Entitlement:
        """An integrator's entitlement; operators see everything (events carry no
        personal data in clear) to watch the platform. PERMISSION_DENIED for a
        holder app (:func:`feed_identity`), an integrator without an entitlement,
        or one whose entitlement lets no event through."""
        if caller.kind == "operator":
            every = frozenset({"*"})
            return Entitlement(str(caller), every, every, every)
        identity = feed_identity(caller.kind, caller.name, self._legacy_apps)
        try:
            found = await self.entitlement(integrator_identity(identity))
        except CertsealError:
            found = None
        if found is None:
            raise denied(
                f"{caller} has no entitlement to the event feed (an operator gives "
                "one: certseal feed entitle)",
                field="as",
            )
        check_lets_through(found)
        return found

    async def get_entitlement(self, caller: Caller, integrator: str) -> Entitlement:
        """An entitlement (operators only, by the servicer's allow-list); NOT_FOUND
        when none was set."""
        found = await self.entitlement(integrator_identity(integrator))
        if found is None:
            raise not_found(f"entitlement of {integrator}", field="integrator")
        return found

    async def list_entitlements(
        self, size: int, token: str
    ) -> tuple[list[Entitlement], str]:
        """(A page of the entitlements by integrator, the next one's token or ""):
        INVALID_ARGUMENT as :func:`certseal.paging.page` says. Operators only."""
        window = page(size, token)
        rows = await self._store.entitlements(window.after, window.limit + 1)
        return window.split(rows, lambda found: found.integrator)

    async def set_entitlement(
        self, caller: Caller, entitlement: Entitlement
    ) -> tuple[Entitlement, dict[str, str]]:
        """Set what an integrator may receive; audited (``feed.entitle``). A running
        subscription its new rights no longer cover ends within the refresh
        (PERMISSION_DENIED: :func:`~services.feed.filters.check_still_within`); the
        integrator's webhooks they no longer cover are returned (name → why:
        :func:`~services.feed.filters.webhooks_outside`), audited and logged.
        INVALID_ARGUMENT unless the integrator is an ``integrator:<name>`` identity
        (``app:<name>`` is a holder app's), for a list of more than 1,000 values, for
        a department, licence type or event type no event could carry, or for an
        entitlement that lets nothing through
        (:func:`~services.feed.filters.check_entitlement`): a right is withdrawn with
        :meth:`remove_entitlement`."""
        entitlement = dataclasses.replace(
            entitlement, integrator=integrator_identity(entitlement.integrator)
        )
        check_entitlement(entitlement)
        hooks = await self._store.webhooks(entitlement.integrator)
        outside = webhooks_outside(entitlement, {h.name: h.filter for h in hooks})
        await self._keep(caller, entitlement, "feed.entitle", outside=sorted(outside))
        for name, why in outside.items():
            log.warning("webhook %s is outside its entitlement: %s", name, why)
        return entitlement, outside

    async def remove_entitlement(self, caller: Caller, integrator: str) -> Entitlement:
        """Withdraw every right of ``integrator``; audited (``feed.unentitle``). The empty
        entitlement kept lets nothing through: its subscriptions end within the refresh
        (PERMISSION_DENIED, "withdrawn"), its webhooks post nothing more. NOT_FOUND for
        one never entitled (naming the likely typo) or withdrawn already, said apart."""
        empty = Entitlement(integrator_identity(integrator))
        if not await self._keep(caller, empty, "feed.unentitle"):
            kept = await self.entitlement(empty.integrator)  # or a call's meanwhile
            known = [] if kept else await self._store.integrators()
            raise nothing_to_withdraw(integrator, withdrawn=bool(kept), known=known)
        return empty

    async def _keep(
        self, by: Caller, kept: Entitlement, action: str, outside: Sequence[str] = ()
    ) -> bool:
        """Keep ``kept`` with its audit, naming the webhooks ``outside`` it
        (:meth:`FeedStore.set_entitlement`: one of no right withdraws, False when
        there was none left)."""
        now = self._clock()
        lists = ("departments", "licence_types", "event_types")
        details = {name: sorted(getattr(kept, name)) for name in lists}
        if outside:
            details["webhooks_outside"] = list(outside)
        audit = [AuditEntry(now, str(by), action, kept.integrator, details=details)]
        return await self._store.set_entitlement(kept, at=now, by=str(by), audit=audit)

    # -- subscriptions --------------------------------------------------------------

    async def subscribe(
        self,
        caller: Caller,
        wanted: Filter,
        *,
        start: str,
        token: str = "",
        stopping: asyncio.Event | None = None,
        opened: Callable[[], Awaitable[None]] | None = None,
    ) -> AsyncGenerator[Delivered, None]:
        """The events ``caller`` may see and asked for, from ``start`` on;
        ``opened`` is awaited once the subscription is checked and stands at its
        start, before the first event (the servicer sends its headers then).

        ``start`` is earliest, latest or token. The entitlement is re-read before an
        event, and before each fetch of a quiet stream, once the last read is
        ``entitlement_refresh_s`` old, so a withdrawn right ends the stream.
        INVALID_ARGUMENT for a filter list of more than 1,000 values
        (:func:`~services.feed.filters.check_sizes`); PERMISSION_DENIED for a holder
        app, an integrator without an entitlement or with one that lets no event
        through (also when a re-read finds it so: the stream ends), INVALID_ARGUMENT
        for a token this feed did not issue, FAILED_PRECONDITION for a token taken on
        another Kafka cluster (or naming none), past a partition's end, on another
        incarnation of a topic (deleted and recreated since) or below a partition's log
        start (retention deleted what follows it): resume from earliest and dedupe on
        ids instead; RESOURCE_EXHAUSTED when the integrator has its
        most subscriptions open already (the slot is given back when the stream ends).
        """
        check_sizes(wanted)
        entitlement = await self._entitlement_of(caller)
        check_within(wanted, entitlement)
        cluster = await self.cluster_id()
        tokened = start == "token"
        positions = decode_token(token, FEED_TOPICS, cluster=cluster) if tokened else {}
        fingerprints = token_fingerprints(token) if tokened else {}
        self._slots.take(entitlement.integrator)
        try:
            async with contextlib.aclosing(
                self._stream(
                    caller,
                    entitlement,
                    wanted,
                    start,
                    (positions, fingerprints),
                    stopping,
                    cluster,
                    opened,
                )
            ) as stream:
                async for delivered in stream:
                    yield delivered
        finally:
            self._slots.give_back(entitlement.integrator)

    async def _stream(
        self,
        caller: Caller,
        entitlement: Entitlement,
        wanted: Filter,
        start: str,
        token: tuple[dict[tuple[str, int], int], Fingerprints | None],
        stopping: asyncio.Event | None,
        cluster: str,
        opened: Callable[[], Awaitable[None]] | None = None,
    ) -> AsyncGenerator[Delivered, None]:
        positions = token[0]
        consumer = self._kafka.consumer(
            group_id=None, enable_auto_commit=False, fetch_max_wait_ms=50
        )
        try:
            await reached(started(consumer), self._kafka.bootstrap_servers)
            partitions = [
                TopicPartition(topic, p)
                for topic in FEED_TOPICS
                for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            if positions:  # before the stream waits on partitions that don't exist
                check_partitions(
                    positions, [(tp.topic, tp.partition) for tp in partitions]
                )
            consumer.assign(partitions)
            if positions:
                past = await past_end(consumer, partitions, positions)
                if past:
                    raise precondition(
                        f"the position token stands past the end of {past[0][0]} "
                        f"partition {past[0][1]}: the topic was recreated since; "
                        f"{RESUBSCRIBE}",
                        field="start",
                    )
            # the real ends, not the reported ones (a batch short on the embedded
            # broker): where latest starts, and how long the time merge waits
            ends = await exact_end_offsets(consumer, partitions)
            for tp in partitions:
                if start == "latest":
                    consumer.seek(tp, ends[tp])
                elif (tp.topic, tp.partition) in positions:
                    consumer.seek(tp, positions[(tp.topic, tp.partition)])
                else:
                    await consumer.seek_to_beginning(tp)
            current = {
                (tp.topic, tp.partition): await consumer.position(tp)
                for tp in partitions
            }
            holes = OffsetHoles("event feed", clock=time.monotonic, wall=time.time)
            for tp in partitions:
                holes.expect(tp, current[(tp.topic, tp.partition)])
            # the fingerprint of the record before each position (docs/events.md)
            fingerprints = await checked_fingerprints(
                consumer, partitions, current, token
            )
            merge = time_merge(partitions, current, ends)
            if opened is not None:
                await opened()
            loop = asyncio.get_running_loop()
            fetched = loop.time()
            rights = HeldRights(
                lambda: self._entitlement_of(caller),
                entitlement,
                self._refresh,
                loop.time,
                check=lambda fresh: check_still_within(wanted, fresh),
            )
            while stopping is None or not stopping.is_set():
                # a withdrawn right ends a quiet stream too, not at its next event
                # (trial56: a revoked integrator's tail stayed open until one came)
                entitlement = await rights.now()
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
                if batches:
                    fetched = loop.time()
                for tp, records in without_holes(consumer, holes, batches).items():
                    merge.add((tp.topic, tp.partition), held(records))
                for tp in partitions:
                    if (tp.topic, tp.partition) in merge.behind:
                        merge.reached(
                            (tp.topic, tp.partition), await consumer.position(tp)
                        )
                full = merge.full()  # paused while it holds its most
                consumer.pause(
                    *(p for p in partitions if (p.topic, p.partition) in full)
                )
                consumer.resume(
                    *(p for p in partitions if (p.topic, p.partition) not in full)
                )
                # nothing fetched for a while: a partition behind cannot be read to
                # its end (the broker away, a fetch failing), so what is held goes
                quiet = loop.time() - fetched >= MERGE_WAIT_S
                if quiet and merge.behind:  # what is held goes in the order it has
                    log.warning("event feed: %s not read to its end", merge.behind)
                for record, headers in merge.take(quiet=quiet):
                    value = record.value or b""
                    parts = views(record.topic, record.key or b"", headers, value)
                    key = (record.topic, record.partition)
                    this = record_fingerprint(record.key, record.value, record.headers)
                    for n, part in enumerate(parts, start=1):
                        # a token resumes after the record once its last view
                        # was given, else at the record again (at least once)
                        done = n == len(parts)
                        current[key] = record.offset + done
                        if done:
                            fingerprints[key] = this
                        meta = event_meta(record.topic, part.headers, part.value)
                        if meta is None:
                            continue
                        # before each event, not each batch: a slow subscriber
                        # holds the rest of a batch (up to 500) for as long as it
                        # reads, and a withdrawn right must stop it meanwhile
                        entitlement = await rights.now()
                        if not (entitlement.allows(meta) and wanted.matches(meta)):
                            continue
                        yield Delivered(
                            encode_token(
                                current, cluster=cluster, fingerprints=fingerprints
                            ),
                            record.topic,
                            part.key.decode(),
                            integrator_view(record.topic, part.value),
                            part.headers,
                        )
                    current[key] = record.offset + 1
                    fingerprints[key] = this
        finally:
            await consumer.stop()
