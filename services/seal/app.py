"""Wiring of the seal process: the shared service process plus the seal service."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import grpc

from certseal.config import SettingCheck
from certseal.crypto import KeyWrapper
from certseal.errors import CertsealError, ErrorKind
from certseal.hsm import Pkcs11Token, check_token_config, token_from_config
from certseal.process import ServiceProcess
from certseal.rpc import RefusedCall
from certseal.secretfiles import KEK, read_secret_file
from certseal.targetstub import TargetStub
from certseal.tlsfiles import section_fields
from certseal.v1 import seal_pb2, seal_pb2_grpc, verifier_pb2, verifier_pb2_grpc
from services.seal.config import SealSettings
from services.seal.licence_files import (
    CLERK_METADATA,
    COUNTER_METADATA,
    Asker,
    LicenceFiles,
    LicenceVerdict,
)
from services.seal.makers import load_seal_trust
from services.seal.ofd_service import OfdSealService
from services.seal.offload import SealOffload
from services.seal.pdf_service import PdfSealService
from services.seal.refusals import audit_refused_call
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
    """Verifies licence codes at a verifier group as ``service:seal`` on behalf of
    who asked (the channel opens on first use, and again when ``verifier_target``
    changed)."""

    def __init__(self, *, settings: SealSettings):
        section = settings.seal
        self._verifier = TargetStub(
            verifier_pb2_grpc.VerifierStub,
            lambda: settings.seal.verifier_target,
            (settings.tls.ca_file, section.cert_file, section.key_file),
            section_fields("seal"),
            presents="service:seal",  # the verifier acts for it as the platform
        )

    async def verdict(self, code: str, asker: Asker) -> LicenceVerdict:
        """The verdict's name, e.g. ``REVOKED``, and the licence's identifier, asked
        for ``asker``, whom the group's usage record names (its counter and clerk in
        the metadata the console sends the verifier too); UNAVAILABLE when the group
        does not answer."""
        # gRPC metadata is ASCII; an identity need not be (app:政务钱包): percent-encoded
        # UTF-8 (RFC 3986), which the verifier decodes
        counter = urllib.parse.quote(asker.counter, safe=":")
        named = [(COUNTER_METADATA, counter)] if asker.counter else []
        if asker.clerk:  # as the console sent it (percent-encoded UTF-8)
            named.append((CLERK_METADATA, asker.clerk))
        try:
            reply = await self._verifier().VerifyCode(
                verifier_pb2.VerifyCodeRequest(code=code, purpose="电子证照文件核验"),
                timeout=10,
                metadata=tuple(named),
            )
        except grpc.aio.AioRpcError as exc:
            raise CertsealError(
                ErrorKind.UNAVAILABLE, f"verifier group: {exc.details()}"
            ) from None
        failed = [c.detail for c in reply.result.checks if not c.passed]
        return LicenceVerdict(
            verifier_pb2.Verdict.Name(reply.result.verdict).removeprefix("VERDICT_"),
            reply.result.identifier,
            failed[-1] if failed else "",
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

    def setting_checks(self, *, open_token: bool = True) -> list[SettingCheck]:
        """The token, the CAs, the key-encryption key, the trust lists and seal
        makers, the TSA settings and identity: read and checked before connecting."""
        return [
            self._open_token if open_token else self._check_token,
            self._check_tsa_settings,
            self._read_tsa_identity,
            self._read_seal_ca,
            self._read_sm2_ca,
            self._read_kek,
            self._read_trust,
            self._read_tsa_roots,
        ]

    def offline_checks(self) -> list[SettingCheck]:
        """As every service process's, and the identity the seal service presents to
        a verifier group (``[seal] cert_file``), read when :meth:`add_servicers`
        makes its client."""
        checks = super().offline_checks()
        if self.config.seal.verifier_target:
            checks.append(lambda: GrpcLicenceVerifier(settings=self.config))
        return checks

    def _open_token(self) -> None:
        if self.token is None:
            # [pkcs11]: seal and seal-maker keys of its suites in the token
            self.token = token_from_config(self.config.pkcs11)

    def _check_token(self) -> None:
        check_token_config(self.config.pkcs11)

    def _check_tsa_settings(self) -> None:
        seal = self.config.seal
        check_tsa_settings(seal.tsa_url, seal.tsa_timeout_s, seal.tsa_trusted_ca_files)

    def _read_tsa_identity(self) -> None:
        seal = self.config.seal
        self.tsa: TsaServer | None = None
        if seal.tsa_listen:  # the platform's own TSA room, served in prepare
            self.tsa = TsaServer(
                cert_file=seal.tsa_cert_file,
                key_file=seal.tsa_key_file,
                clock=self.clock,
                policy=seal.tsa_policy or DEFAULT_TSA_POLICY,
            )

    def _read_seal_ca(self) -> None:
        seal = self.config.seal
        self._seal_ca = SealCa.from_files(seal.ca_cert_file, seal.ca_key_file)

    def _read_sm2_ca(self) -> None:
        seal = self.config.seal
        self._sm2_ca = (
            SealCa.from_files(
                seal.sm2_ca_cert_file,
                seal.sm2_ca_key_file,
                ("seal.sm2_ca_cert_file", "seal.sm2_ca_key_file"),
            )
            if seal.sm2_ca_cert_file
            else None
        )

    def _read_kek(self) -> None:
        kek = read_secret_file(Path(self.config.secrets.kek_file), KEK)
        self._wrapper = KeyWrapper(kek)

    def _read_trust(self) -> None:
        seal = self.config.seal
        self._trust = load_seal_trust(seal.trusted_ca_files, seal.seal_makers)

    def _read_tsa_roots(self) -> None:
        self._tsa_roots = load_trust_files(
            self.config.seal.tsa_trusted_ca_files, "seal.tsa_trusted_ca_files"
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
                light_processes=cfg.seal.light_verify_processes,
            ),
            sm2_ca=self._sm2_ca,
            token=self.token,
            timestamper=timestamper,
            tsa_trust=TrustStore.of(self._tsa_roots),
        )
        # before serving: a first VerifySealedDocument does not wait for them
        await self.service.start_light_processes()
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

    def refused_calls(self) -> RefusedCall:
        """Audit a Seal change refused for the caller's kind (an integrator
        registering a seal: :func:`services.seal.refusals.audit_refused_call`)."""
        return audit_refused_call(self.store, self.clock)

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
