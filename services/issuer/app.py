"""Wiring of the issuer process: pool, migrations, keys, service, gRPC server, outbox
relay, audit sealer, expiry sweep, readiness and metrics. Tests run it in-process."""

from __future__ import annotations

import logging
from pathlib import Path

import grpc

from certseal.crypto import KeyWrapper, PersonalDataProtector, Suite
from certseal.hsm import Pkcs11Token, token_from_config
from certseal.indexkeys import IndexSealer
from certseal.metrics import Metrics
from certseal.process import ServiceProcess
from certseal.secretfiles import read_secret_file
from certseal.storage.worker import NotifiedWorker
from certseal.timestamps import Clock, utcnow
from certseal.v1 import issuer_pb2, issuer_pb2_grpc
from services.issuer.config import IssuerSettings
from services.issuer.service import IssuerService
from services.issuer.service.keys import Keyring
from services.issuer.servicer import IssuerAdminServicer, IssuerServicer
from services.issuer.storage import MIGRATIONS, IssuerStore

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

    async def work_once(self, conn: object) -> int:
        """Expire one batch (through the service's store: ``conn``, the worker's
        leader session, is not used)."""
        count = await self._service.expire_due()
        self._metrics.licences_expired.inc(count)
        return count


class IssuerApp(ServiceProcess):
    """One issuer process: it serves gRPC, runs the background loops, or both."""

    name = "issuer"
    metric_families = frozenset({"rpc", "outbox", "audit", "expiry"})
    allowed_kinds = {ISSUER: {"dept", "app"}, ISSUER_ADMIN: {"operator"}}  # noqa: RUF012
    migrations = MIGRATIONS
    config: IssuerSettings

    def __init__(
        self,
        config: IssuerSettings,
        *,
        clock: Clock = utcnow,
        listen: str | None = None,
        serve: bool = True,
        background: bool = True,
        reuse_port: bool = False,
    ):
        super().__init__(
            config,
            section=config.issuer,
            listen=listen,
            clock=clock,
            serve=serve,
            background=background,
            reuse_port=reuse_port,
        )
        self.token: Pkcs11Token | None = None

    async def stop(self, grace: float = 5.0) -> None:
        """Stop serving, then log out of the PKCS#11 token, if any."""
        await super().stop(grace)
        if self.token is not None:
            self.token.close()

    async def prepare(self) -> None:
        """The store and the service; the platform department and its keys."""
        self.store = IssuerStore(self.pool)
        self.service = self.make_service(self.clock)
        await self.service.ensure_platform()

    def workers(self, dsn: str) -> list[NotifiedWorker]:
        """The expiry sweep."""
        self.sweeper = ExpirySweeper(
            dsn=dsn,
            service=self.service,
            metrics=self.metrics,
            interval_s=self.config.issuer.expiry_sweep_interval_s,
        )
        return [self.sweeper]

    def add_servicers(self, server: grpc.aio.Server) -> None:
        """Issuer and IssuerAdmin."""
        issuer_pb2_grpc.add_IssuerServicer_to_server(
            IssuerServicer(service=self.service), server
        )
        issuer_pb2_grpc.add_IssuerAdminServicer_to_server(
            IssuerAdminServicer(service=self.service), server
        )

    def make_service(self, clock: Clock) -> IssuerService:
        """An issuer service over this process's pool (tests give their own clock)."""
        cfg = self.config
        wrapper = KeyWrapper(read_secret_file(Path(cfg.secrets.kek_file)))
        if self.token is None:
            # [pkcs11]: department and presentation keys of its suites in the token
            self.token = token_from_config(cfg.pkcs11)
        protector = PersonalDataProtector(
            read_secret_file(Path(cfg.secrets.data_key_file))
        )
        return IssuerService(
            store=self.store,
            keyring=Keyring(store=self.store, wrapper=wrapper, token=self.token),
            wrapper=wrapper,
            protector=protector,
            sealer=IndexSealer(read_secret_file(Path(cfg.issuer.index_key_file))),
            clock=clock,
            platform_code=cfg.platform.code,
            platform_name=cfg.platform.name,
            presentation_suite=Suite.parse(cfg.platform.presentation_suite),
            presentation_ttl_s=cfg.issuer.presentation_ttl_s,
            presentation_max_ttl_s=cfg.issuer.presentation_max_ttl_s,
            max_batch=cfg.issuer.max_batch,
        )
