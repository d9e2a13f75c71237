"""The verifier worker, wired: Faust agents keep the verification index in RocksDB
tables, and the Verifier gRPC service answers from them in the same process.

The agents hand every record to the pure event application (:mod:`.index`), the
servicer to the use cases (:mod:`.service`); this module only connects them to the
broker, the tables and the server. Each deployment (group: one per department or
region) holds its own complete, persistent index, and may run as several workers
(pods): with ``group_size`` 1 every worker reads every partition of the licence topic
into its own on-disk index (:mod:`.diskindex`); a partitioned group's worker reads the
partitions it owns and asks their owners for the others (:mod:`.group`). Each keeps
its own small Faust tables (trust, directory; one Faust app id per worker) and its
replay guard (:mod:`.replay`: the usage topic read in a thread of its own), so each
answers any verification.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any

from faust.exceptions import NotReady
from faust.tables import TableManager
from prometheus_client import Counter

from certseal.errors import CertsealError, invalid
from certseal.events import (
    DIRECTORY_EVENTS,
    LICENCE_EVENTS,
    LICENCE_USAGE,
    TRUST_EVENTS,
    VERIFIER_DEAD_LETTERS,
)
from certseal.files import read_regular_file, without_bom
from certseal.hsm import labelled_key
from certseal.indexkeys import IndexKeys
from certseal.secretfiles import read_secret_file
from certseal.timestamps import utcnow
from certseal.tlsfiles import read_key_pair
from services.verifier.bundle import BundleSigner, TokenBundleSigner
from services.verifier.config import (
    VerifierSettings,
    check_fetch_waits,
    consumer_group_id,
    image_workers,
    peer_addresses,
    worker_data_dir,
    worker_ordinal,
)
from services.verifier.diskindex import FOLDER, DiskIndex, IndexDamaged, Record
from services.verifier.domain import FieldRights
from services.verifier.ends import confirm_ends, fetched_high_waters
from services.verifier.feed import LicenceFeed
from services.verifier.gathering import UsageCounters
from services.verifier.group import GroupIndex, peer_stubs
from services.verifier.index import (
    BadEvent,
    Freshness,
    apply_directory_event,
    apply_trust_event,
)
from services.verifier.logwatch import LogWatch
from services.verifier.offload import FairGate, ProcessWorkerPool, WorkerPool
from services.verifier.partitions import Ownership
from services.verifier.rebuilds import pending_rebuilds, rebuilt
from services.verifier.replay import FOLDER as NONCES_FOLDER
from services.verifier.replay import AcceptedNonces, UsageFeed
from services.verifier.service import BundleExporter, VerifierService
from services.verifier.servicer import VerifierServicer
from services.verifier.storage import MEMBER_FILE, SnapshotStore, VerifierState
from services.verifier.tables import apply_stream, read_through_start
from services.verifier.taskstop import VerifierApp, cleaned_up
from services.verifier.transport import keep_group_member, use_fetch_wait

log = logging.getLogger(__name__)


class Tables(TableManager):
    """Faust's table manager without its 1 s sleep before subscribing.

    Faust waits a second at start for tables made after the app starts; a verifier
    makes every table in :func:`create_app`, before: the sleep only delayed SERVING."""

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


def index_keys(config: VerifierSettings) -> IndexKeys:
    """The index keys of ``[verifier] index_key_files`` (their ids are logged, never
    the keys).

    Raises CertsealError(INVALID_ARGUMENT, ``verifier.index_key_files``) for a file
    that cannot be read or does not hold 32 bytes."""
    keys = IndexKeys(
        read_secret_file(Path(name), "verifier.index_key_files")
        for name in config.verifier.index_key_files
    )
    if not keys.kids:
        log.warning("no index key: restricted field values are shown to no counter")
    else:
        log.info("index keys: %s", ", ".join(sorted(keys.kids)))
    return keys


def create_app(config: VerifierSettings) -> VerifierState:
    """The Faust app of one verifier group, its tables and topics."""
    vcfg = config.verifier
    # INVALID_ARGUMENT naming verifier.<wait>: the start checked them already
    # (check_settings); this guards a caller that builds the app alone (atk9)
    check_fetch_waits(vcfg)
    partitions = config.kafka.topic_partitions
    data_dir = worker_data_dir(vcfg)
    data_dir.mkdir(parents=True, exist_ok=True)
    app = VerifierApp(
        consumer_group_id(vcfg),
        broker=f"certseal://{config.kafka.bootstrap_servers}",
        # [kafka] security_protocol SSL: Faust's clients speak TLS too (None: plain)
        broker_credentials=config.kafka.ssl_context(),
        store="rocksdb://",
        datadir=str(data_dir),
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=partitions,
        topic_replication_factor=vcfg.topic_replication_factor,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=vcfg.session_timeout_s,
        broker_heartbeat_interval=min(1.0, vcfg.session_timeout_s / 3),
        web_enabled=False,
        stream_wait_empty=False,
        # usage records wait in the gatherer (services.verifier.gathering), not here
        producer_linger=0.0,
        producer_max_batch_size=512 * 1024,
        TableManager=Tables,
    )
    use_fetch_wait(app, vcfg.fetch_max_wait_ms, vcfg.idle_fetch_max_wait_ms)
    keep_group_member(app, data_dir / MEMBER_FILE)
    trust_topic = app.topic(
        TRUST_EVENTS,
        key_type=bytes,
        value_type=bytes,
        partitions=max(1, partitions // 4),
    )
    usage_topic = app.topic(
        LICENCE_USAGE, key_type=bytes, value_type=bytes, partitions=partitions
    )
    directory_topic = app.topic(
        DIRECTORY_EVENTS,
        key_type=bytes,
        value_type=bytes,
        partitions=max(1, partitions // 4),
    )
    dead_letters = app.topic(
        VERIFIER_DEAD_LETTERS, key_type=bytes, value_type=bytes, partitions=1
    )
    index = DiskIndex(
        data_dir / FOLDER,
        cache_mb=vcfg.index_cache_mb,
        write_buffer_mb=vcfg.index_write_buffer_mb,
    )
    trust = app.Table(
        "trust-list",
        partitions=max(1, partitions // 4),
        key_type=bytes,
        value_type=bytes,
    )
    directory = app.Table(
        "directory",
        partitions=max(1, partitions // 4),
        key_type=bytes,
        value_type=bytes,
    )
    freshness = Freshness(lag_unknown=True)  # until the broker gives end offsets

    def usage_noted(applied: dict[int, tuple[int, float]]) -> None:
        for partition, (offset, at) in applied.items():
            freshness.note(LICENCE_USAGE, partition, offset, at)

    # the replay guard: every accepted presentation nonce, read from the usage topic
    # in a thread of its own (off the serving loop and off Faust)
    presentations = UsageFeed(
        AcceptedNonces(data_dir / NONCES_FOLDER),
        kafka=config.kafka.settings(f"certseal-verifier-{vcfg.group}-usage"),
        noted=usage_noted,
        fetch_max_wait_ms=vcfg.usage_fetch_max_wait_ms,
        idle_fetch_max_wait_ms=vcfg.idle_fetch_max_wait_ms,
    )
    ownership = Ownership(vcfg.group_size, worker_ordinal(vcfg))

    async def park(
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        why: str,
    ) -> None:
        """Dead-letter one event with the reason: a bad event never stalls its
        partition."""
        log.error("dead-lettering %s/%d@%d: %s", topic, partition, offset, why)
        try:
            await dead_letters.send(
                key=key,
                value=value,
                headers={
                    "error": why.encode(),
                    "group": vcfg.group.encode(),
                    "topic": topic.encode(),
                    "offset": str(offset).encode(),
                },
            )
        except NotReady:
            if not app.should_stop:
                raise
            # the worker stopped while this event was parked (its producer gone): the
            # feed or agent ends here as the stop ends it, not as a crash (CI: a
            # Ctrl-C as the licence feed started, NotReady, exit 1); the event stays
            # in its topic
            log.warning(
                "dead letter of %s/%d@%d not sent: the worker is stopping",
                *(topic, partition, offset),
            )
            raise asyncio.CancelledError from None

    async def dead_letter(record: Record, problem: BadEvent) -> None:
        await park(
            LICENCE_EVENTS,
            record.partition,
            record.offset,
            record.key,
            record.value,
            str(problem),
        )

    feed = LicenceFeed(
        index,
        consumer_factory=lambda **kw: config.kafka.settings(
            f"certseal-verifier-{vcfg.group}"
        ).consumer(**kw),
        freshness=freshness,
        dead_letter=dead_letter,
        fetch_max_wait_ms=vcfg.licence_fetch_max_wait_ms,
        idle_fetch_max_wait_ms=vcfg.idle_fetch_max_wait_ms,
        ownership=ownership,
        catch_up_all=bool(pending_rebuilds(data_dir)),
    )
    cert_file, key_file = vcfg.identity(config.tls)
    lookup = GroupIndex(
        index,
        feed,
        freshness,
        group=vcfg.group,
        ownership=ownership,
        peers=lambda: peer_stubs(
            peer_addresses(vcfg),
            ordinal=ownership.ordinal,
            ca_file=config.tls.ca_file,
            cert_file=cert_file,
            key_file=key_file,
            server_name=vcfg.peer_server_name,
        ),
        peer_timeout_s=vcfg.peer_timeout_s,
    )

    state = VerifierState(
        app,
        index,
        trust,
        presentations,
        usage_topic,
        freshness,
        directory,
        feed,
        lookup,
    )

    @app.task
    async def apply_licence_events() -> None:
        try:  # a stop during the start closes what the start opened
            await feed.start()
            await feed.run()
        finally:
            await cleaned_up(feed.stop())

    @app.agent(trust_topic)
    async def apply_trust_events(stream: Any) -> None:
        await apply_stream(
            stream, state.trust_entries.writes, apply_trust_event, park, freshness
        )

    @app.agent(directory_topic)
    async def apply_directory_events(stream: Any) -> None:
        await apply_stream(
            stream, state.names.writes, apply_directory_event, park, freshness
        )

    @app.task
    async def record_presentations() -> None:
        presentations.start()
        try:
            await asyncio.Event().wait()  # until the worker stops
        finally:
            await cleaned_up(asyncio.to_thread(presentations.stop))

    @app.timer(interval=0.5)
    async def measure_lag() -> None:
        freshness.measure_lag(fetched_high_waters(app.consumer, feed))
        freshness.judge_lag(time.monotonic(), vcfg.lag_unknown_after_s)

    @app.task
    async def ask_for_end_offsets() -> None:
        await confirm_ends(app.consumer, feed, freshness, clock=utcnow)

    checked = asyncio.Event()  # the licence index was read through whole

    @app.task
    async def clear_rebuild_reasons() -> None:
        """A rebuild is done once the index read its topic to the end offsets of this
        start and every block of it was read whole (services.verifier.rebuilds)."""
        await feed.caught_up.wait()
        await checked.wait()
        if index.damage is not None:
            return
        try:
            await asyncio.to_thread(rebuilt, data_dir)
        except OSError as exc:  # the next start counts the rebuild again
            log.warning("cannot clear the rebuild's reasons in %s: %s", data_dir, exc)
            return
        log.info("licence index %s: built, no rebuild pending", index.path)

    @app.task
    async def check_licence_index() -> None:
        """Read every block of the licence index once, in a thread, after SERVING
        (start-up only opens it: RocksDB checks its CURRENT, MANIFEST and that every
        table file is there, whole); then watch for a read that met a damaged block.
        Either stops the worker (IndexDamaged), which drops the index and rebuilds it
        (services.verifier.__main__); reads answer UNAVAILABLE meanwhile."""
        loop, damaged = asyncio.get_running_loop(), asyncio.Event()

        def on_damage() -> None:
            loop.call_soon_threadsafe(damaged.set)

        index.on_damage = on_damage
        if index.damage is not None:
            damaged.set()
        await freshness.recovered.wait()
        await feed.built.wait()
        # a rebuild reads to its start's end first (what it wrote is checked too);
        # a damaged block met meanwhile stops the worker at once
        caught_up = asyncio.ensure_future(feed.caught_up.wait())
        met = asyncio.ensure_future(damaged.wait())
        await asyncio.wait((caught_up, met), return_when=asyncio.FIRST_COMPLETED)
        caught_up.cancel()
        met.cancel()
        if not damaged.is_set():
            stop = threading.Event()
            try:
                started = loop.time()
                read = await asyncio.to_thread(index.verify, stop=stop)
                log.info(
                    "licence index %s: %d keys checked in %.1f s",
                    *(index.path, read, loop.time() - started),
                )
                if index.damage is None:
                    checked.set()
            except CertsealError:
                pass  # index.damage says why
            finally:
                stop.set()
        await damaged.wait()
        raise IndexDamaged(f"Corruption: licence index {index.path}: {index.damage}")

    @app.task
    async def mark_recovered() -> None:
        await app.tables.recovery.completed.wait()  # type: ignore[attr-defined]
        freshness.recovered.set()

    @app.task
    async def read_tables_through_start() -> None:
        await read_through_start(
            config.kafka.settings(f"{consumer_group_id(vcfg)}-start"),
            consumer_group_id(vcfg),
            (TRUST_EVENTS, DIRECTORY_EVENTS),
            freshness,
        )

    return state


def _warm_up(pool: ProcessWorkerPool) -> None:
    """Start ``pool``'s workers (in a thread); a pool stopped meanwhile is no error."""
    try:
        pool.warm_up()
    except Exception as exc:  # the worker stopped first (pebble's pool is closed)
        log.info("image workers not started: %s", exc)


def build_servicer(
    config: VerifierSettings,
    state: VerifierState,
    *,
    data_dir: Path,
    field_rights: FieldRights,
    usage: UsageCounters | None = None,
    unopened: Counter | None = None,
) -> tuple[VerifierServicer, LogWatch]:
    """The Verifier servicer over this group's state; bundles are signed with the
    verifier's own mTLS key (``[verifier] cert_file``, else ``[tls]``) and their
    snapshots kept under ``data_dir``; and the transparency log's watch, which
    :class:`GrpcService` refreshes."""
    vcfg = config.verifier
    cert_file, key_file = vcfg.identity(config.tls)
    log_watch = LogWatch(
        target=vcfg.log_target,
        log_key=vcfg.log_key,
        ca_file=config.tls.ca_file,
        cert_file=cert_file,
        key_file=key_file,
    )
    bundles = BundleExporter(
        group=vcfg.group,
        state=state,
        store=SnapshotStore(data_dir / "bundles"),
        signer=bundle_signer(config, cert_file, key_file),
        refresh_s=vcfg.bundle_refresh_s,
        validity_s=vcfg.bundle_validity_s,
        log_checkpoint=lambda: log_watch.note,
    )
    code_pool = WorkerPool("code", workers=vcfg.code_workers, queue=vcfg.code_queue)
    code_pool.warm_up()
    images = image_workers(vcfg)
    image_pool = ProcessWorkerPool(
        "image",
        workers=images,
        queue=vcfg.image_queue,
        timeout_s=vcfg.image_timeout_s,
        field="image",
        preload=("certseal.qr",),
    )
    # Started beside the worker's start, not before it: forking the image workers
    # from their fork server (which imports certseal.qr first) took 2-3 s of every
    # start under load, while only a request carrying an image needs them (it waits
    # for a worker, as it would for a busy one).
    threading.Thread(
        target=_warm_up, args=(image_pool,), name="verifier-image-warm-up", daemon=True
    ).start()
    service = VerifierService(
        usage_counters=usage,
        usage_linger_s=vcfg.usage_linger_ms / 1000,
        group=vcfg.group,
        state=state,
        bundles=bundles,
        code_pool=code_pool,
        image_pool=image_pool,
        code_turns=FairGate(
            "code",
            slots=vcfg.code_turns,
            per_caller=vcfg.counter_turns,
            waiting_per_caller=vcfg.counter_waiting,
        ),
        image_turns=FairGate(
            "image",
            slots=images,
            per_caller=1,
            waiting_per_caller=vcfg.counter_waiting,
        ),
        counters=frozenset(vcfg.counters),
        field_rights=field_rights,
        index_keys=index_keys(config),
        unopened=unopened,
    )
    return VerifierServicer(service=service), log_watch


def bundle_signer(
    config: VerifierSettings, cert_file: str, key_file: str
) -> BundleSigner | TokenBundleSigner:
    """The bundle signer: the token key ``[verifier] bundle_key`` names with its
    certificate ``bundle_cert_file``, else the verifier's TLS pair. CertsealError
    naming the setting at fault."""
    vcfg = config.verifier
    if not vcfg.bundle_key:
        # the pair the start check read, as it read it (a byte order mark dropped)
        fields = vcfg.identity_fields("verifier")
        return BundleSigner(*read_key_pair(cert_file, key_file, fields[1:]))
    if not vcfg.bundle_cert_file:
        raise invalid("verifier.bundle_cert_file", "is not set (bundle_key is)")
    cert_pem = without_bom(
        read_regular_file(vcfg.bundle_cert_file, "verifier.bundle_cert_file", 64 * 1024)
    )
    key = labelled_key(config.pkcs11, vcfg.bundle_key, "verifier.bundle_key")
    return TokenBundleSigner(cert_pem, key)
