"""Wiring of the seal process: the shared service process plus the seal service."""

from __future__ import annotations

from pathlib import Path

import grpc

from certseal.crypto import KeyWrapper
from certseal.errors import CertsealError, ErrorKind
from certseal.hsm import Pkcs11Token, token_from_config
from certseal.process import ServiceProcess
from certseal.rpc import TargetStub
from certseal.secretfiles import KEK, read_secret_file
from certseal.tlsfiles import section_fields
from certseal.v1 import seal_pb2, seal_pb2_grpc, verifier_pb2, verifier_pb2_grpc
from services.seal.config import SealSettings
from services.seal.licence_files import LicenceFiles, LicenceVerdict
from services.seal.makers import load_seal_trust
from services.seal.ofd_service import OfdSealService
from services.seal.offload import SealOffload
from services.seal.pdf_service import PdfSealService
from services.seal.republish import SealRepublisher
from services.seal.service import SealCa, SealService
from services.seal.servicer import SealServicer
from services.seal.storage import MIGRATIONS, SealStore
from services.seal.trust import TrustStore, load_trust_files
from services.seal.tsa import (
    DEFAULT_TSA_POLICY,
    Timestamper,
    TsaServer,
    check_tsa_settings,
    names_own_room,
)

SEAL = seal_pb2.DESCRIPTOR.services_by_name["Seal"].full_name


class GrpcLicenceVerifier:
    """Verifies licence codes at a verifier group as ``service:seal`` (the channel
    opens on first use, and again when ``verifier_target`` changed)."""

    def __init__(self, *, settings: SealSettings):
        section = settings.seal
        self._verifier = TargetStub(
            verifier_pb2_grpc.VerifierStub,
            lambda: settings.seal.verifier_target,
            (settings.tls.ca_file, section.cert_file, section.key_file),
            section_fields("seal"),
        )

    async def verdict(self, code: str) -> LicenceVerdict:
        """The verdict's name, e.g. ``REVOKED``, and the licence's identifier;
        UNAVAILABLE when the group does not answer."""
        try:
            reply = await self._verifier().VerifyCode(
                verifier_pb2.VerifyCodeRequest(code=code, purpose="电子证照文件核验"),
                timeout=10,
            )
        except grpc.aio.AioRpcError as exc:
            raise CertsealError(
                ErrorKind.UNAVAILABLE, f"verifier group: {exc.details()}"
            ) from None
        return LicenceVerdict(
            verifier_pb2.Verdict.Name(reply.result.verdict).removeprefix("VERDICT_"),
            reply.result.identifier,
        )


class SealApp(ServiceProcess):
    """One seal process: gRPC, outbox relay and audit sealer over PostgreSQL."""

    name = "seal"
    holds_kek = True
    # integrators have no access; the use cases decide per RPC (docs/operations.md,
    # "Security model"): owners with the seal_owner role, signers, anyone verifies
    allowed_kinds = {SEAL: {"dept", "app", "operator", "service"}}  # noqa: RUF012
    migrations = MIGRATIONS
    config: SealSettings
    #: the PKCS#11 token of [pkcs11], opened by ``prepare`` (a test may hand one in)
    token: Pkcs11Token | None = None

    def check_settings(self) -> None:
        """The token, the CAs, the key-encryption key, the trust lists and seal
        makers, the TSA settings and identity: read and checked before connecting."""
        cfg = self.config
        if self.token is None:
            # [pkcs11]: seal and seal-maker keys of its suites in the token
            self.token = token_from_config(cfg.pkcs11)
        check_tsa_settings(
            cfg.seal.tsa_url, cfg.seal.tsa_timeout_s, cfg.seal.tsa_trusted_ca_files
        )
        self.tsa: TsaServer | None = None
        if cfg.seal.tsa_listen:  # the platform's own TSA room, served in prepare
            self.tsa = TsaServer(
                cert_file=cfg.seal.tsa_cert_file,
                key_file=cfg.seal.tsa_key_file,
                clock=self.clock,
                policy=cfg.seal.tsa_policy or DEFAULT_TSA_POLICY,
            )
        self._seal_ca = SealCa.from_files(cfg.seal.ca_cert_file, cfg.seal.ca_key_file)
        self._sm2_ca = (
            SealCa.from_files(
                cfg.seal.sm2_ca_cert_file,
                cfg.seal.sm2_ca_key_file,
                ("seal.sm2_ca_cert_file", "seal.sm2_ca_key_file"),
            )
            if cfg.seal.sm2_ca_cert_file
            else None
        )
        self._wrapper = KeyWrapper(read_secret_file(Path(cfg.secrets.kek_file), KEK))
        self._trust = load_seal_trust(cfg.seal.trusted_ca_files, cfg.seal.seal_makers)
        self._tsa_roots = load_trust_files(
            cfg.seal.tsa_trusted_ca_files, "seal.tsa_trusted_ca_files"
        )

    async def prepare(self) -> None:
        """The seal services over this process's pool (and the TSA room served)."""
        cfg = self.config
        store = self.store = SealStore(self.pool)
        if self.tsa is not None:
            await self.tsa.start(cfg.seal.tsa_listen)
        timestamper = (
            Timestamper(
                cfg.seal.tsa_url,
                timeout_s=cfg.seal.tsa_timeout_s,
                own_room=(
                    self.tsa
                    if self.tsa is not None
                    and names_own_room(
                        cfg.seal.tsa_url, cfg.seal.tsa_listen, self.tsa.port
                    )
                    else None
                ),
            )
            if cfg.seal.tsa_url
            else None
        )
        self.service = SealService(
            store=store,
            wrapper=self._wrapper,
            seal_ca=self._seal_ca,
            clock=self.clock,
            vendor_id=cfg.seal.vendor_id,
            max_document_bytes=cfg.seal.max_document_bytes,
            trust=self._trust,
            kept_verifications=cfg.seal.kept_verifications,
            offload=SealOffload(
                workers=cfg.seal.workers,
                queue=cfg.seal.job_queue,
                timeout_s=cfg.seal.job_timeout_s,
                max_jobs=cfg.seal.max_heavy_jobs,
                max_bytes=cfg.seal.max_bytes_in_flight,
                processes=cfg.seal.verify_processes,
            ),
            sm2_ca=self._sm2_ca,
            token=self.token,
            timestamper=timestamper,
            tsa_trust=TrustStore.of(self._tsa_roots),
        )
        self.republisher = SealRepublisher(store=store, clock=self.clock)
        self.pdfs = PdfSealService(
            seals=self.service,
            store=store,
            seal_ca=self._seal_ca,
            max_document_bytes=cfg.seal.max_document_bytes,
            timestamper=timestamper,
            tsa_roots=self._tsa_roots,
        )
        self.ofds = OfdSealService(
            seals=self.service, max_document_bytes=cfg.seal.max_document_bytes
        )

    async def stop(self, grace: float = 5.0) -> None:
        """Stop serving, then let the worker threads take no more jobs, then stop the
        TSA room and its client, then log out of the PKCS#11 token, if any."""
        await super().stop(grace)
        if hasattr(self, "service"):
            self.service.offload.shutdown()
            if self.service.timestamper is not None:
                await self.service.timestamper.close()
        tsa: TsaServer | None = getattr(self, "tsa", None)
        if tsa is not None:
            await tsa.stop()
        if self.token is not None:
            self.token.close()

    def add_servicers(self, server: grpc.aio.Server) -> None:
        """Seal."""
        seal_pb2_grpc.add_SealServicer_to_server(
            SealServicer(
                service=self.service,
                pdfs=self.pdfs,
                ofds=self.ofds,
                republisher=self.republisher,
                licence_files=LicenceFiles(
                    verifier=GrpcLicenceVerifier(settings=self.config)
                    if self.config.seal.verifier_target
                    else None,
                    store=self.store,
                    clock=self.clock,
                    copier=self.config.platform.code,
                ),
            ),
            server,
        )
