"""Wiring of the issuer process: pool, migrations, keys, service, gRPC server, outbox
relay, audit sealer, expiry sweep, readiness and metrics. Tests run it in-process."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from pathlib import Path

import asyncpg

from certseal import db
from certseal.audit import AuditSealer
from certseal.background import NotifiedWorker
from certseal.config import Config
from certseal.crypto import KeyWrapper, PersonalDataProtector, Suite, read_secret_file
from certseal.events import default_topics
from certseal.metrics import Metrics
from certseal.outbox import OutboxRelay
from certseal.rpc import Health, ServiceInterceptor, build_server, server_credentials
from certseal.timestamps import Clock, utcnow
from certseal.v1 import issuer_pb2, issuer_pb2_grpc
from services.issuer.service import IssuerService, Keyring
from services.issuer.servicer import IssuerAdminServicer, IssuerServicer
from services.issuer.storage import IssuerStore, migrate_all

log = logging.getLogger(__name__)

ISSUER = issuer_pb2.DESCRIPTOR.services_by_name["Issuer"].full_name
ISSUER_ADMIN = issuer_pb2.DESCRIPTOR.services_by_name["IssuerAdmin"].full_name


class ExpirySweeper(NotifiedWorker):
    """Expires live licences past their validity (``licence.expired`` events)."""

    name = "expiry-sweep"
    channel = ""
    lock_id = 0x6365727473656134

    def __init__(
        self, *, dsn: str, service: IssuerService, metrics: Metrics, interval_s: float
    ):
        super().__init__(dsn=dsn, poll_interval_s=interval_s)
        self._service = service
        self._metrics = metrics

    async def work_once(self, conn: asyncpg.Connection) -> int:
        """Expire one batch."""
        count = await self._service.expire_due()
        self._metrics.licences_expired.inc(count)
        return count


class IssuerApp:
    """One issuer process: it serves gRPC, runs the background loops, or both."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock = utcnow,
        listen: str | None = None,
        serve: bool = True,
        background: bool = True,
        reuse_port: bool = False,
    ):
        self.config = config
        self.serve = serve
        self.background = background
        self.reuse_port = reuse_port
        self.clock = clock
        self.listen = listen or config.issuer.listen
        self.metrics = Metrics()
        self.health = Health([ISSUER, ISSUER_ADMIN])
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.port = 0

    async def start(self) -> int:
        """Start serving; returns the bound port."""
        cfg = self.config
        dsn = cfg.database.dsn()
        self.pool = await db.create_pool(
            dsn, min_size=cfg.database.pool_min, max_size=cfg.database.pool_max
        )
        await migrate_all(self.pool)
        self.store = IssuerStore(self.pool)
        self.service = self.make_service(self.clock)
        await self.service.ensure_platform()
        kafka = cfg.kafka.settings("certseal-issuer")
        self.kafka = kafka
        self.relay = OutboxRelay(
            dsn=dsn,
            producer_factory=lambda: kafka.producer(max_batch_size=512 * 1024),
            metrics=self.metrics,
            poll_interval_s=cfg.issuer.outbox_poll_interval_s,
            retention=dt.timedelta(days=cfg.issuer.outbox_retention_days),
        )
        self.sealer = AuditSealer(dsn=dsn, metrics=self.metrics)
        self.sweeper = ExpirySweeper(
            dsn=dsn,
            service=self.service,
            metrics=self.metrics,
            interval_s=cfg.issuer.expiry_sweep_interval_s,
        )
        if self.background:
            for worker in (self.relay, self.sealer, self.sweeper):
                self._tasks.append(asyncio.create_task(worker.run(self._stop)))
        if self.serve:
            await self._serve()
        if cfg.issuer.metrics_listen:
            host, _, port = cfg.issuer.metrics_listen.rpartition(":")
            self.metrics.serve(int(port), host)
        return self.port

    async def _serve(self) -> None:
        cfg = self.config
        interceptor = ServiceInterceptor(
            metrics=self.metrics,
            allowed_kinds={ISSUER: {"dept", "app"}, ISSUER_ADMIN: {"operator"}},
            max_request_bytes=cfg.issuer.max_request_bytes,
        )
        self.server, self.port = build_server(
            listen=self.listen,
            credentials=server_credentials(
                cfg.tls.ca_file, cfg.tls.cert_file, cfg.tls.key_file
            ),
            interceptor=interceptor,
            health_=self.health,
            service_names=[ISSUER, ISSUER_ADMIN],
            reuse_port=self.reuse_port,
        )
        issuer_pb2_grpc.add_IssuerServicer_to_server(
            IssuerServicer(service=self.service), self.server
        )
        issuer_pb2_grpc.add_IssuerAdminServicer_to_server(
            IssuerAdminServicer(service=self.service), self.server
        )
        await self.health.set_serving(False)
        await self.server.start()
        self._tasks.append(asyncio.create_task(self._readiness()))
        log.info("issuer listening on port %d", self.port)

    def make_service(self, clock: Clock) -> IssuerService:
        """An issuer service over this process's pool (tests give their own clock)."""
        cfg = self.config
        wrapper = KeyWrapper(read_secret_file(Path(cfg.secrets.kek_file)))
        protector = PersonalDataProtector(
            read_secret_file(Path(cfg.secrets.data_key_file))
        )
        return IssuerService(
            store=self.store,
            keyring=Keyring(store=self.store, wrapper=wrapper),
            wrapper=wrapper,
            protector=protector,
            clock=clock,
            platform_code=cfg.platform.code,
            platform_name=cfg.platform.name,
            presentation_suite=Suite.parse(cfg.platform.presentation_suite),
            presentation_ttl_s=cfg.issuer.presentation_ttl_s,
            presentation_max_ttl_s=cfg.issuer.presentation_max_ttl_s,
            max_batch=cfg.issuer.max_batch,
        )

    async def _readiness(self) -> None:
        """SERVING only while PostgreSQL answers and the broker has our topics."""
        needed = {t.name for t in default_topics(self.config.kafka.topic_partitions)}
        serving: bool | None = None
        while not self._stop.is_set():
            ok = True
            try:
                async with asyncio.timeout(3):
                    await self.pool.fetchval("select 1")
                    admin = self.kafka.admin()
                    await admin.start()
                    try:
                        ok = needed <= set(await admin.list_topics())
                    finally:
                        await admin.close()
            except Exception as exc:
                ok = False
                log.warning("not ready: %s", exc or type(exc).__name__)
            if ok != serving:
                await self.health.set_serving(ok)
                serving = ok
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 2.0)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting RPCs, finish in-flight ones, stop the workers."""
        if self.serve:
            await self.health.set_serving(False)
            await self.server.stop(grace)
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)
        await self.relay.close()
        await self.pool.close()
