"""Wiring of the issuer process: pool, migrations, keys, service, gRPC server, outbox
relay, audit sealer, expiry sweep, readiness and metrics. Tests run it in-process."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import grpc

from certseal.config import SettingCheck
from certseal.crypto import KeyWrapper, Suite
from certseal.errors import CertsealError, ErrorKind
from certseal.hsm import Pkcs11Token, check_token_config, token_from_config
from certseal.indexkeys import IndexSealer
from certseal.metrics import Metrics
from certseal.process import ServiceProcess
from certseal.protectors import PersonalDataProtector
from certseal.rpc import RefusedCall
from certseal.secretfiles import DATA_KEY, KEK, read_secret_file
from certseal.storage.worker import NotifiedWorker
from certseal.targetstub import TargetStub
from certseal.timestamps import Clock
from certseal.tlsfiles import section_fields
from certseal.v1 import issuer_pb2, issuer_pb2_grpc, seal_pb2, seal_pb2_grpc
from services.issuer.admin_servicer import IssuerAdminServicer, audit_refused_call
from services.issuer.config import IssuerSettings
from services.issuer.document import DocumentRenderer, Fonts, load_templates
from services.issuer.document_overlay import COPY_STAMP
from services.issuer.service import IssuerService
from services.issuer.service.keys import Keyring
from services.issuer.service.sealing import platform_setup_error
from services.issuer.servicer import (
    ATTEMPTS,
    IssuerServicer,
    LicenceHolderServicer,
    RedemptionServicer,
)
from services.issuer.storage import MIGRATIONS, IssuerStore
from services.issuer.usage_consumer import UsageConsumer

log = logging.getLogger(__name__)

ISSUER = issuer_pb2.DESCRIPTOR.services_by_name["Issuer"].full_name
ISSUER_ADMIN = issuer_pb2.DESCRIPTOR.services_by_name["IssuerAdmin"].full_name
HOLDER = issuer_pb2.DESCRIPTOR.services_by_name["LicenceHolder"].full_name
REDEMPTION = issuer_pb2.DESCRIPTOR.services_by_name["Redemption"].full_name


class GrpcDocumentSealer:
    """Seals licence files through the seal service's ``SealPdf`` and ``SealOfd`` as the issuer's own
    identity (``service:issuer``), with the owner's official seal. The channel opens on
    first use, and again when ``seal_target`` changed (tests start the seal service
    after the issuer)."""

    def __init__(self, *, settings: IssuerSettings):
        self._settings = settings
        section = settings.issuer
        self._seal_stub = TargetStub(
            seal_pb2_grpc.SealStub,
            lambda: settings.issuer.seal_target,
            (settings.tls.ca_file, section.cert_file, section.key_file),
            section_fields("issuer"),
            presents="service:issuer",  # the signer a department lists on its seal
        )

    async def seal_pdf(
        self, pdf: bytes, *, owner_code: str, reason: str
    ) -> tuple[bytes, str]:
        """The sealed PDF and the seal id; the seal service's errors come back as
        ``CertsealError`` of the same kind, a refusal of the platform's seal (an
        annotated copy) as the platform's set-up (field ``setup``). A licence file's
        stamp goes beside the QR code, a copy's below it, clear of the copy's lines
        under the fields (``document_overlay.COPY_STAMP``)."""
        copy = owner_code == self._settings.platform.code
        stamp = COPY_STAMP if copy else (110, 40)
        try:
            reply = await self._seal_stub().SealPdf(
                seal_pb2.SealPdfRequest(
                    owner_code=owner_code,
                    pdf=pdf,
                    reason=reason,
                    x_mm=stamp[0],
                    y_mm=stamp[1],
                ),
                timeout=30,
            )
        except grpc.aio.AioRpcError as exc:
            error = _sealing_error(exc)
            if copy:  # an annotated copy
                error = platform_setup_error(error, owner_code)
            raise error from None
        return reply.pdf, reply.seal_id

    async def seal_ofd(self, ofd: bytes, *, owner_code: str) -> tuple[bytes, str]:
        """The sealed OFD (``SealOfd``, the stamp's corner at 100 mm, 200 mm from the
        page's top left, beside the QR code) and the seal id; errors as
        :meth:`seal_pdf`."""
        try:
            reply = await self._seal_stub().SealOfd(
                seal_pb2.SealOfdRequest(
                    owner_code=owner_code, ofd=ofd, page=0, x_mm=100, y_mm=200
                ),
                timeout=30,
            )
        except grpc.aio.AioRpcError as exc:
            raise _sealing_error(exc) from None
        return reply.ofd, reply.seal_id


def _sealing_error(exc: grpc.aio.AioRpcError) -> CertsealError:
    """The seal service's refusal as the issuer's (field ``seal``), its message
    without the seal service's own request field (``owner_code: ``)."""
    from certseal.rpcerrors import error_from_rpc

    kind = {
        grpc.StatusCode.FAILED_PRECONDITION: ErrorKind.FAILED_PRECONDITION,
        grpc.StatusCode.NOT_FOUND: ErrorKind.FAILED_PRECONDITION,
        grpc.StatusCode.PERMISSION_DENIED: ErrorKind.FAILED_PRECONDITION,
    }.get(exc.code(), ErrorKind.UNAVAILABLE)
    said = error_from_rpc(exc).message
    return CertsealError(
        kind, f"sealing through the seal service: {said}", field="seal"
    )


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


class UsagePruner(NotifiedWorker):
    """Deletes usage-record entries past ``[issuer] usage_retention_days``, and makes
    the entries of authorisation events in the outbox that have none
    (``UsageRecord.backfill``)."""

    name = "usage-prune"
    channel = ""
    lock_id = 0x6365727473656136

    def __init__(self, *, dsn: str, service: IssuerService, interval_s: float):
        super().__init__(dsn=dsn, poll_interval_s=interval_s)
        self._service = service

    async def work_once(self, conn: object) -> int:
        """Prune (through the service's store; ``conn`` is not used). Returns 0 so
        the worker waits its interval: one call deletes everything due."""
        pruned = await self._service.usage.prune()
        if pruned:
            log.info("usage record: pruned %d entries past retention", pruned)
        # an authorisation published by a previous version still running beside this
        # one (its event is in the outbox, its entry is not): UsageRecord.backfill
        added = await self._service.usage.backfill()
        if added:
            log.info("usage record: %d authorisation entries from the outbox", added)
        return 0


class IssuerApp(ServiceProcess):
    """One issuer process: it serves gRPC, runs the background loops, or both."""

    name = "issuer"
    holds_kek = True
    metric_families = frozenset({"rpc", "outbox", "audit", "expiry"})
    allowed_kinds = {  # noqa: RUF012
        ISSUER: {"dept", "app"},
        ISSUER_ADMIN: {"operator"},
        HOLDER: {"dept", "app"},  # AuthoriseUse/RevokeAuthorisation: apps only
        REDEMPTION: {"dept", "service"},  # service: the console only
    }
    migrations = MIGRATIONS
    config: IssuerSettings
    #: the PKCS#11 token of [pkcs11], opened by ``make_service``
    token: Pkcs11Token | None = None

    _renderers: list[DocumentRenderer]

    async def stop(self, grace: float = 5.0) -> None:
        """Stop as every service process does, then the rendering workers, then log
        out of the PKCS#11 token, if any."""
        await super().stop(grace)
        for renderer in getattr(self, "_renderers", []):
            await renderer.close()
        if self.token is not None:
            self.token.close()

    def setting_checks(self, *, open_token: bool = True) -> list[SettingCheck]:
        """The secrets, the index key, the token, the templates and fonts: read and
        checked before connecting (:meth:`make_service` builds on them)."""
        return [
            self._read_kek,
            self._open_token if open_token else self._check_token,
            self._read_data_key,
            self._read_index_key,
            self._read_presentation_suite,
            self._read_templates,
            self._read_fonts,
        ]

    def offline_checks(self) -> list[SettingCheck]:
        """As every service process's, the ports of a supervisor's children
        (:meth:`IssuerConfig.check_child_ports`), and the identity the issuer
        presents to the seal service (``[issuer] cert_file``), read when
        :meth:`make_service` makes its client."""
        checks = [*super().offline_checks(), self.config.issuer.check_child_ports]
        if self.config.issuer.seal_target:
            checks.append(lambda: GrpcDocumentSealer(settings=self.config))
        return checks

    def _read_kek(self) -> None:
        kek = read_secret_file(Path(self.config.secrets.kek_file), KEK)
        self._wrapper = KeyWrapper(kek)

    def _open_token(self) -> None:
        if self.token is None:
            # [pkcs11]: department and presentation keys of its suites in the token
            self.token = token_from_config(self.config.pkcs11)

    def _check_token(self) -> None:
        check_token_config(self.config.pkcs11)

    def _read_data_key(self) -> None:
        key = read_secret_file(Path(self.config.secrets.data_key_file), DATA_KEY)
        self._protector = PersonalDataProtector(key)

    def _read_index_key(self) -> None:
        path = self.config.issuer.index_key_file
        self._index_sealer = IndexSealer(
            read_secret_file(Path(path), "issuer.index_key_file")
        )

    def _read_presentation_suite(self) -> None:
        suite = self.config.platform.presentation_suite
        self._presentation_suite = Suite.parse(suite, "platform.presentation_suite")

    def _read_templates(self) -> None:
        folder = self.config.issuer.document_templates_dir
        self._templates = load_templates(Path(folder)) if folder else None

    def _read_fonts(self) -> None:
        self._fonts = self._licence_file_fonts()

    async def prepare(self) -> None:
        """The store and the service; the platform department and its keys."""
        self.store = IssuerStore(self.pool)
        self.service = self.make_service(self.clock)
        await self.service.ensure_platform()

    def workers(self, dsn: str) -> list[NotifiedWorker]:
        """The expiry sweep and the usage record's pruning."""
        self.sweeper = ExpirySweeper(
            dsn=dsn,
            service=self.service,
            metrics=self.metrics,
            interval_s=self.config.issuer.expiry_sweep_interval_s,
        )
        pruner = UsagePruner(
            dsn=dsn,
            service=self.service,
            interval_s=self.config.issuer.usage_prune_interval_s,
        )
        return [self.sweeper, pruner]

    async def start(self) -> int:
        """As every service process, plus (with the background work) the consumer
        group that keeps the usage record."""
        port = await super().start()
        self.usage_consumer = UsageConsumer(
            kafka=self.kafka,
            usage=self.service.usage,
            group_id=self.config.issuer.usage_consumer_group,
        )
        if self.background:
            self._tasks.append(asyncio.create_task(self.usage_consumer.run(self._stop)))
        return port

    def add_servicers(self, server: grpc.aio.Server) -> None:
        """Issuer and IssuerAdmin."""
        issuer_pb2_grpc.add_IssuerServicer_to_server(
            IssuerServicer(service=self.service), server
        )
        issuer_pb2_grpc.add_IssuerAdminServicer_to_server(
            IssuerAdminServicer(service=self.service), server
        )
        issuer_pb2_grpc.add_LicenceHolderServicer_to_server(
            LicenceHolderServicer(service=self.service, clock=self.clock), server
        )
        issuer_pb2_grpc.add_RedemptionServicer_to_server(
            RedemptionServicer(service=self.service, clock=self.clock), server
        )

    def refused_calls(self) -> RefusedCall:
        """Audit an IssuerAdmin change refused for the caller's kind (a department
        calling SetDepartmentRoles), and any refusal on the way in of a call whose
        attempts are audited (:data:`ATTEMPTS`): :func:`audit_refused_call`."""
        return audit_refused_call(self.service, ATTEMPTS)

    def make_service(self, clock: Clock) -> IssuerService:
        """An issuer service over this process's pool (tests give their own clock),
        from what :meth:`check_settings` read."""
        cfg = self.config
        return IssuerService(
            store=self.store,
            keyring=Keyring(store=self.store, wrapper=self._wrapper, token=self.token),
            wrapper=self._wrapper,
            protector=self._protector,
            sealer=self._index_sealer,
            clock=clock,
            platform_code=cfg.platform.code,
            platform_name=cfg.platform.name,
            presentation_suite=self._presentation_suite,
            presentation_ttl_s=cfg.issuer.presentation_ttl_s,
            presentation_max_ttl_s=cfg.issuer.presentation_max_ttl_s,
            max_batch=cfg.issuer.max_batch,
            usage_retention_days=cfg.issuer.usage_retention_days,
            document_sealer=GrpcDocumentSealer(settings=cfg)
            if cfg.issuer.seal_target
            else None,
            renderer=self._renderer(),
            templates=self._templates,
        )

    def _licence_file_fonts(self) -> Fonts | None:
        """The bundled fonts with the rare-character font, or None (no licence
        files) without it."""
        rare = self.config.issuer.rare_font_file
        try:
            if not rare:
                raise FileNotFoundError("issuer.rare_font_file is empty")
            return Fonts.bundled(Path(rare))  # CertsealError: no font
        except FileNotFoundError as exc:
            log.warning("licence files are off: %s", exc)
            return None

    def _renderer(self) -> DocumentRenderer | None:
        """A licence file renderer over the fonts :meth:`check_settings` read, or
        None (no licence files)."""
        if self._fonts is None:
            return None
        renderer = DocumentRenderer(
            fonts=self._fonts, workers=self.config.issuer.document_workers
        )
        if not hasattr(self, "_renderers"):
            self._renderers = []
        self._renderers.append(renderer)
        return renderer
