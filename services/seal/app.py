"""Wiring of the seal process: the shared service process plus the seal service."""

from __future__ import annotations

from pathlib import Path

import grpc

from certseal.crypto import KeyWrapper
from certseal.process import ServiceProcess
from certseal.secretfiles import read_secret_file
from certseal.timestamps import Clock, utcnow
from certseal.v1 import seal_pb2, seal_pb2_grpc
from services.seal.config import SealSettings
from services.seal.ofd_service import OfdSealService
from services.seal.offload import SealOffload
from services.seal.pdf_service import PdfSealService
from services.seal.republish import SealRepublisher
from services.seal.service import SealCa, SealService
from services.seal.servicer import SealServicer
from services.seal.storage import MIGRATIONS, SealStore
from services.seal.trust import TrustStore, load_trust_files

SEAL = seal_pb2.DESCRIPTOR.services_by_name["Seal"].full_name


class SealApp(ServiceProcess):
    """One seal process: gRPC, outbox relay and audit sealer over PostgreSQL."""

    name = "seal"
    # integrators have no access; the use cases decide per RPC (docs/operations.md,
    # "Security model"): owners with the seal_owner role, signers, anyone verifies
    allowed_kinds = {SEAL: {"dept", "app", "operator", "service"}}  # noqa: RUF012
    migrations = MIGRATIONS
    config: SealSettings

    def __init__(
        self,
        config: SealSettings,
        *,
        clock: Clock = utcnow,
        listen: str | None = None,
        serve: bool = True,
        background: bool = True,
    ):
        super().__init__(
            config,
            section=config.seal,
            listen=listen,
            clock=clock,
            serve=serve,
            background=background,
        )

    async def prepare(self) -> None:
        """The seal services over this process's pool."""
        cfg = self.config
        store = SealStore(self.pool)
        seal_ca = SealCa.from_files(cfg.seal.ca_cert_file, cfg.seal.ca_key_file)
        self.service = SealService(
            store=store,
            wrapper=KeyWrapper(read_secret_file(Path(cfg.secrets.kek_file))),
            seal_ca=seal_ca,
            clock=self.clock,
            vendor_id=cfg.seal.vendor_id,
            max_document_bytes=cfg.seal.max_document_bytes,
            trust=TrustStore.of(load_trust_files(cfg.seal.trusted_ca_files)),
            offload=SealOffload(
                workers=cfg.seal.workers,
                queue=cfg.seal.job_queue,
                timeout_s=cfg.seal.job_timeout_s,
                max_jobs=cfg.seal.max_heavy_jobs,
                max_bytes=cfg.seal.max_bytes_in_flight,
                processes=cfg.seal.verify_processes,
            ),
            sm2_ca=(
                SealCa.from_files(cfg.seal.sm2_ca_cert_file, cfg.seal.sm2_ca_key_file)
                if cfg.seal.sm2_ca_cert_file
                else None
            ),
        )
        self.republisher = SealRepublisher(store=store, clock=self.clock)
        self.pdfs = PdfSealService(
            seals=self.service,
            store=store,
            seal_ca=seal_ca,
            max_document_bytes=cfg.seal.max_document_bytes,
        )
        self.ofds = OfdSealService(
            seals=self.service, max_document_bytes=cfg.seal.max_document_bytes
        )

    async def stop(self, grace: float = 5.0) -> None:
        """Stop serving, then let the worker threads take no more jobs."""
        await super().stop(grace)
        if hasattr(self, "service"):
            self.service.offload.shutdown()

    def add_servicers(self, server: grpc.aio.Server) -> None:
        """Seal."""
        seal_pb2_grpc.add_SealServicer_to_server(
            SealServicer(
                service=self.service,
                pdfs=self.pdfs,
                ofds=self.ofds,
                republisher=self.republisher,
            ),
            server,
        )
