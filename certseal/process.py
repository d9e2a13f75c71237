"""One service process over PostgreSQL: what the issuer and seal services share.

A process opens the pool and applies its migrations, runs the outbox relay and the audit
sealer (each a leader across replicas), serves its gRPC services behind the common
interceptor with health (SERVING only while PostgreSQL answers and the broker has the
platform's topics), exposes Prometheus metrics and logs its own pauses
(certseal.pauses). A subclass names its migrations folder, the servicers it adds, who
may call them, and any further background workers."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import grpc

from certseal import logs
from certseal.cli_parser import OneLineParser, given, log_level
from certseal.collector import settle_collector
from certseal.config import ServiceSection, SettingCheck, SharedSettings
from certseal.errors import CertsealError
from certseal.events import default_topics
from certseal.listen import address_checks, check_distinct_listens
from certseal.metrics import Metrics
from certseal.pauses import PauseWatch
from certseal.protectors import AnswerProtector
from certseal.readiness import not_ready
from certseal.rpc import RefusedCall, ServiceInterceptor
from certseal.rpcserver import Health, build_server, start_probe_server
from certseal.secretfiles import ANSWERS_KEY, dsn_address, read_secret_file
from certseal.startfail import (
    START_FAILURES,
    Runnable,
    StopSignals,
    leave,
    start_or_explain,
    stop_on_signals,
)
from certseal.storage.audit import AuditSealer, write_counted_refusals
from certseal.storage.idempotency import (
    IdempotencyPurger,
    IdempotencyStore,
    fault_hook,
    finish_kept,
    scoped,
)
from certseal.storage.kek import session_name
from certseal.storage.outbox import OutboxRelay, refresh_backlog_metrics
from certseal.storage.pool import create_pool, migrate_service, ping
from certseal.storage.worker import NotifiedWorker
from certseal.timestamps import Clock, utcnow
from certseal.tlsfiles import read_tls_identity, server_credentials

log = logging.getLogger(__name__)

#: seconds between two repeats of the same reason a service is not ready
NOT_READY_REPEAT_S = 60.0


def read_answers_key(config: SharedSettings) -> AnswerProtector:
    """The protector of kept answers, from ``[secrets] answers_key_file`` (32 bytes).
    INVALID_ARGUMENT naming the setting when the file is missing or no key."""
    path = Path(config.secrets.answers_key_file)
    return AnswerProtector(read_secret_file(path, ANSWERS_KEY))


class ServiceProcess:
    """A process that serves gRPC, runs the background workers, or both."""

    #: e.g. "issuer": names the Kafka client, the log lines and this service's
    #: section of the settings (``[issuer]``)
    name = "service"
    #: whether this process reads the key-encryption key (it unwraps or wraps keys):
    #: its sessions are named so that ``certseal kek rewrap`` refuses while it runs
    #: (certseal.storage.kek)
    holds_kek = False
    #: what this process exports on ``/metrics``: every such process serves RPCs and
    #: runs an outbox relay and an audit sealer (the issuer adds its expiry sweep)
    metric_families: frozenset[str] = frozenset({"rpc", "outbox", "audit"})
    #: full names of the gRPC services served, and the caller kinds each accepts
    allowed_kinds: dict[str, set[str]] = {}  # noqa: RUF012
    #: the folder of this service's NNNN_name.sql migrations (after the kernel's)
    migrations: Path
    #: whether this process keeps the answers of idempotent requests, sealed under
    #: ``[secrets] answers_key_file`` (certseal.protectors.AnswerProtector): every
    #: service with an :func:`certseal.idempotency.idempotent` method
    keeps_answers = True

    def __init__(
        self,
        config: SharedSettings,
        *,
        listen: str | None = None,
        clock: Clock = utcnow,
        serve: bool = True,
        background: bool = True,
        reuse_port: bool = False,
        relay: bool | None = None,
    ):
        """``config`` holds this service's section under its ``name``; ``listen``
        overrides the section's (tests bind port 0)."""
        section = getattr(config, self.name)
        if not isinstance(section, ServiceSection):
            raise TypeError(f"{self.name}: the settings have no such service section")
        self.config = config
        self.section = section
        self.listen = listen or section.listen
        self.metrics_listen = section.metrics_listen
        self.probe_listen = section.probe_listen
        self.probe_server: grpc.aio.Server | None = None
        self.max_request_bytes = section.max_request_bytes
        self.clock = clock
        self.serve = serve
        self.background = background
        #: whether this process runs the outbox relay (default: with the background
        #: work); a supervisor gives it a process of its own (services.issuer)
        self.run_relay = background if relay is None else relay
        self.reuse_port = reuse_port
        #: a metrics port that cannot be bound is logged, not fatal (a worker
        #: process a supervisor started: see services.issuer's --role)
        self.metrics_optional = False
        self.metrics = Metrics(families=self.metric_families, relay=self.run_relay)
        self.health = Health(list(self.allowed_kinds))
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._loops: list[NotifiedWorker] = []  # the leader-elected ones
        self._pauses = PauseWatch(self.name)  # its own pauses, said as its own
        self.port = 0
        self._answers: AnswerProtector | None = None

    # -- what a service adds --------------------------------------------------------

    def setting_checks(self, *, open_token: bool = True) -> Sequence[SettingCheck]:
        """The steps of :meth:`check_settings`, each reading what settings name apart
        from the others' and keeping it for :meth:`prepare`. ``open_token`` False:
        a PKCS#11 token's settings are checked without loading its module or
        logging in (:func:`certseal.hsm.check_token_config`)."""
        return ()

    def check_settings(self) -> None:
        """Read and check everything this service's settings name that needs no
        database (keys, certificates, trust lists, a PKCS#11 token), before
        :meth:`start` connects: a wrong setting is told with PostgreSQL away too,
        so an operator can check a configuration offline. :meth:`prepare` then
        builds on what this kept. The first of :meth:`setting_checks` that fails
        ends the start; before them, the form of every address it dials and its
        listen addresses' ports, one each."""
        targets = address_checks(self.section, self.name, ("target",))
        ports = partial(check_distinct_listens, self.section, self.name)
        checks: list[SettingCheck] = [*targets, ports, *self._answers_key()]
        for check in [*checks, *self.setting_checks()]:
            check()

    def _answers_key(self) -> list[SettingCheck]:
        """Reading ``[secrets] answers_key_file`` into the protector of kept answers,
        for a service that keeps them (:attr:`keeps_answers`)."""

        def read() -> None:
            self._answers = read_answers_key(self.config)

        return [read] if self.keeps_answers else []

    def offline_checks(self) -> list[SettingCheck]:
        """Each check :meth:`start` makes without the database, the broker or a
        token opened (for ``certseal config check``): ``[database] dsn_file``,
        ``[kafka]``'s TLS files, the ``[tls]`` identity served, the listen
        addresses' form (not bound) and :meth:`setting_checks`."""
        cfg, name = self.config, self.name
        checks: list[SettingCheck] = [cfg.database.dsn, cfg.kafka.ssl_context]
        if self.serve:
            tls = cfg.tls
            checks.append(
                lambda: read_tls_identity(tls.ca_file, tls.cert_file, tls.key_file)
            )
        # every address it binds or dials ([seal] tsa_listen, [issuer] seal_target)
        checks += address_checks(self.section, name)
        checks.append(partial(check_distinct_listens, self.section, name))
        return [*checks, *self._answers_key(), *self.setting_checks(open_token=False)]

    async def prepare(self) -> None:
        """Build the service objects over ``self.pool``."""

    def add_servicers(self, server: grpc.aio.Server) -> None:
        """Add this service's servicers to ``server``."""
        raise NotImplementedError

    def workers(self, dsn: str) -> Sequence[NotifiedWorker]:
        """Background workers beyond the relay and the audit sealer."""
        return ()

    def refused_calls(self) -> RefusedCall | None:
        """What records a call refused for its caller's kind (after :meth:`prepare`;
        :class:`certseal.rpc.ServiceInterceptor`), or None: nothing is recorded."""
        return None

    # -- the common life cycle ------------------------------------------------------

    async def start(self) -> int:
        """Start; returns the bound gRPC port (0 when not serving)."""
        cfg = self.config
        # the files settings name, read and checked before anything connects: a
        # wrong one is one line naming its setting, not a client retrying forever,
        # and is told with the database away too
        dsn = cfg.database.dsn()
        self._database_at = dsn_address(dsn)  # as the readiness names it
        kafka = cfg.kafka.settings(f"certseal-{self.name}")
        self.check_settings()
        self.pool = scoped(
            await create_pool(
                dsn,
                # a KEK holder keeps a session open, so that a re-wrap sees it
                min_size=max(cfg.database.pool_min, int(self.holds_kek)),
                max_size=cfg.database.pool_max,
                application_name=session_name(self.name, holds_kek=self.holds_kek),
            )
        )
        await migrate_service(self.pool, self.name, self.migrations)
        self.idempotency = IdempotencyStore(
            self.pool,
            protector=self._answers,
            retention=dt.timedelta(hours=cfg.idempotency.retention_hours),
            fault=fault_hook(cfg.idempotency.allow_fault_hooks),
        )
        await self.prepare()
        self.kafka = kafka
        self.relay = OutboxRelay(
            dsn=dsn,
            producer_factory=lambda: kafka.producer(max_batch_size=512 * 1024),
            metrics=self.metrics,
            poll_interval_s=cfg.outbox.poll_interval_s,
            retention=dt.timedelta(days=cfg.outbox.retention_days),
            linger_s=cfg.outbox.linger_ms / 1000,
        )
        self.sealer = AuditSealer(dsn=dsn, metrics=self.metrics)
        purger = IdempotencyPurger(
            dsn=dsn,
            store=self.idempotency,
            interval_s=cfg.idempotency.purge_interval_s,
        )
        # every address is bound before any background work starts: a port in use is
        # one line, not a line after the workers' first logs (and no leadership
        # taken by a process that is about to exit)
        if self.serve:
            await self._serve()
        if self.metrics_listen:
            try:
                self.metrics.serve(
                    self.metrics_listen, setting=f"{self.name}.metrics_listen"
                )
            except CertsealError as exc:
                if not self.metrics_optional:
                    raise
                # a supervised worker: its work (serving, relaying) matters more
                # than its metrics; a crash loop would stop both
                log.error(
                    "%s: metrics not served on %s (%s); working without them",
                    *(self.name, self.metrics_listen, exc),
                )
        self._loops = [self.relay] if self.run_relay else []
        if self.background:
            self._loops += [self.sealer, purger, *self.workers(dsn)]
        for worker in self._loops:
            self._tasks.append(asyncio.create_task(worker.run(self._stop)))
        self._pauses.start()
        if self.background and not self.run_relay:  # the relay is another process's
            self._tasks.append(asyncio.create_task(self._backlog_gauges()))
        return self.port

    async def _serve(self) -> None:
        cfg = self.config
        interceptor = ServiceInterceptor(
            metrics=self.metrics,
            allowed_kinds=self.allowed_kinds,
            max_request_bytes=self.max_request_bytes,
            idempotency=self.idempotency,
            refused=self.refused_calls(),
        )
        self.server, self.port = build_server(
            listen=self.listen,
            credentials=server_credentials(
                cfg.tls.ca_file, cfg.tls.cert_file, cfg.tls.key_file
            ),
            interceptor=interceptor,
            health_=self.health,
            service_names=list(self.allowed_kinds),
            reuse_port=self.reuse_port,
            setting=f"{self.name}.listen",
        )
        self.add_servicers(self.server)
        await self.health.set_serving(False)
        await self.server.start()
        if self.probe_listen:
            self.probe_server = await start_probe_server(
                self.probe_listen,
                self.health,
                f"{self.name}.probe_listen",
                alone=not self.reuse_port,
            )
        self._tasks.append(asyncio.create_task(self._readiness()))
        if StopSignals.came:  # its stop follows at once: it never serves
            log.info("%s: a stop came while it started; stopping", self.name)
        else:
            log.info("%s listening on port %d", self.name, self.port)

    async def _backlog_gauges(self, every_s: float = 5.0) -> None:
        """The outbox's backlog and relay-lag gauges, every ``every_s`` seconds, in a
        process whose relay runs in a process of its own (the issuer's supervisor with
        ``workers`` > 0): the gauges stay where they are scraped, and a relay that
        cannot run shows as a growing backlog, not as 0."""
        while not self._stop.is_set():
            try:
                async with asyncio.timeout(every_s), self.pool.acquire() as conn:
                    await refresh_backlog_metrics(conn, self.metrics)
            except Exception as exc:  # the database away: the readiness says so
                log.debug("backlog gauges not refreshed: %r", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), every_s)

    async def _readiness(self) -> None:
        """SERVING only while PostgreSQL answers and the broker has our topics. Why
        not is logged when it starts or changes, and again every
        :data:`NOT_READY_REPEAT_S` while it lasts (not at every check: four
        processes of ``certseal run`` said an empty "not ready:" every 2 s, nu21).

        One admin client serves the checks while they pass, a new one after one
        failed: a client a check made a connection (a TLS handshake) every 2 s."""
        needed = {t.name for t in default_topics(self.config.kafka.topic_partitions)}
        database_at = getattr(self, "_database_at", "")  # set by start
        places = (database_at, self.config.kafka.bootstrap_servers)
        serving: bool | None = None
        said, said_at = "", 0.0
        admin: Any = None

        async def topics() -> list[str]:
            nonlocal admin
            if admin is None:
                admin = self.kafka.admin()
                await admin.start()
            return list(await admin.list_topics())

        try:
            while not self._stop.is_set():
                why = await not_ready(ping(self.pool), topics(), needed, places=places)
                if why and admin is not None:
                    await _close_quietly(admin)
                    admin = None
                now = time.monotonic()
                if why and (why != said or now - said_at >= NOT_READY_REPEAT_S):
                    log.warning("%s not ready: %s", self.name, why)
                    said_at = now
                elif not why and said:
                    log.warning("%s ready again", self.name)
                said = why
                if (not why) != serving:
                    await self.health.set_serving(not why)
                    serving = not why
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 2.0)
        finally:
            if admin is not None:
                await _close_quietly(admin)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting RPCs, finish in-flight ones, stop the workers, let the
        work a call left settle (:func:`certseal.storage.idempotency.finish_kept`,
        within 10 s: a cancelled call's refusal) and write the callers' minutes
        counting refusals (:func:`certseal.storage.audit.write_counted_refusals`)
        before the pool closes; only what
        started. After a failed start (:func:`start_or_explain`: the server never
        served) the workers are cancelled, not waited for: the start's one line is
        all the process says."""
        served = not self.serve or hasattr(self, "server")
        for worker in self._loops:  # none takes a lead while this process stops
            worker.stand_down()
        if self.serve and served:
            await self.health.set_serving(False)
            await self.server.stop(grace)
            if self.probe_server is not None:
                await self.probe_server.stop(0)
        self._stop.set()
        self._pauses.stop()
        for task in self._tasks:
            if not served:
                task.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
        if hasattr(self, "relay"):
            await self.relay.close()
        try:  # a call's refusal, settled after it
            await finish_kept(10)
        except TimeoutError:
            log.error(
                "work left by cancelled calls (refusals to audit) did not end within "
                "10 s of the stop: what it had not written is lost"
            )
        if hasattr(self, "pool"):  # the minutes counting refusals, whatever came before
            with contextlib.suppress(TimeoutError):  # each one lost is logged
                await asyncio.wait_for(write_counted_refusals(self.pool), 10)
        if hasattr(self, "pool"):
            await self.pool.close()


def run_main(
    prog: str,
    make_app: Callable[[Any], Runnable],
    load: Callable[[Sequence[str]], SharedSettings],
) -> None:
    """``python -m <prog> --config FILE``: run one process until SIGTERM/SIGINT.

    ``load`` decodes the layered ``--config`` files (the composition root's schema);
    ``make_app`` builds the process from what it returns.

    A configuration that does not load, a port already taken or anything else in
    :data:`START_FAILURES` ends it with a one-line error (:func:`leave`), not a
    traceback.
    """
    parser = OneLineParser(prog=f"python -m {prog}", lead=f"{prog}: ")
    parser.add_argument(
        "--config",
        required=True,
        action="append",
        type=given("a configuration file"),
        help="TOML configuration file; repeat to layer files",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=log_level,
        help="CRITICAL, ERROR, WARNING, INFO or DEBUG, in any case",
    )
    args = parser.parse_args()
    logs.configure(args.log_level)

    cfg: Any = None

    async def run() -> BaseException | None:
        nonlocal cfg
        try:
            cfg = load(args.config)
            app = make_app(cfg)
        except START_FAILURES as exc:
            return exc
        stop = asyncio.Event()
        stop_on_signals(stop)
        failed = await start_or_explain(app, prog)
        if failed is not None:
            return failed
        settle_collector()
        await stop.wait()
        await app.stop()
        return None

    failed = asyncio.run(run())
    if failed is not None:
        leave(prog, failed, cfg, args.config)


async def _close_quietly(admin: Any) -> None:
    """Close a Kafka admin client (also one whose start failed), within 3 s, whatever
    it raises: it is being given up."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(3):
            await admin.close()
