"""The seal service's configuration section, ``[seal]``, and what it reads."""

from __future__ import annotations

from typing import Annotated, Protocol

import msgspec

from certseal.bounds import MAX_DOCUMENT_BYTES
from certseal.config import Section, ServiceSection, SharedSettings


class SealMakerConfig(Section):
    """One ``[[seal.seal_makers]]`` table: who may make seals (GB/T 38540's seal
    maker, 制章者) for one trusted seal platform (services.seal.makers.MakerRule)."""

    # the platform's name, for messages (required)
    platform: str = ""
    # its seal-making systems' own certificates (PEM or DER files): each is a maker
    certificate_files: list[str] = msgspec.field(default_factory=list)
    # or its maker CA(s), each also in trusted_ca_files: a certificate issued below
    # one is a maker when it carries one of extended_key_usages (if any is given)
    # and one of certificate_policies (if any is given); a CA alone: only for a CA
    # that certifies nothing but seal-making systems
    ca_files: list[str] = msgspec.field(default_factory=list)
    extended_key_usages: list[str] = msgspec.field(default_factory=list)
    certificate_policies: list[str] = msgspec.field(default_factory=list)


class SealConfig(ServiceSection):
    """The seal service."""

    listen: str = "127.0.0.1:50053"
    metrics_listen: str = "127.0.0.1:9474"
    max_request_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1 << 30)] = (
        64 * 1024 * 1024
    )
    # a PDF or OFD to seal or verify, a document to seal whole; a sealed one is held
    # to it too (services.seal.limits: what the service makes, it verifies)
    max_document_bytes: Annotated[int, msgspec.Meta(ge=1, le=1 << 30)] = (
        MAX_DOCUMENT_BYTES
    )
    # the platform's seal CA: it certifies seal keys and seal makers (EC P-256)
    ca_cert_file: str = "/run/secrets/certseal/seal-ca/ca.pem"
    ca_key_file: str = "/run/secrets/certseal/seal-ca/ca.key"
    # the platform's SM2 seal CA (optional): it certifies sm2 seals and the sm2 seal
    # maker, so they chain to an SM2 CA as the ecosystem's do; empty: the P-256 one
    sm2_ca_cert_file: str = ""
    sm2_ca_key_file: str = ""
    vendor_id: str = "certseal"
    # CPU work off the event loop (services.seal.offload; docs/operations.md, "Seal
    # service: CPU work and admission"): worker threads, jobs waiting for one, and
    # each job's time bound (past it: INVALID_ARGUMENT naming the input)
    workers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 2
    # worker processes for verifying heavy requests (VerifyPdf, SES checks of large
    # documents or OFDs): killed past job_timeout_s; 0: the worker threads do it
    verify_processes: Annotated[int, msgspec.Meta(ge=1, le=64)] = 2
    # worker processes for VerifySealedDocument's checks of a request of at most 1 MiB
    # (a first verification: the trust stores sent to each once), verifying beside
    # the serving loop rather than taking turns with it; 0: the light thread does it
    light_verify_processes: Annotated[int, msgspec.Meta(ge=0, le=64)] = 1
    job_queue: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 16
    # VerifySealedDocument: what the bytes of this many verifications showed (every
    # check but the registry's status, asked at every call) is kept, per signature and
    # document of at most 64 KiB together, within 16 MiB; 0: none is kept
    kept_verifications: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)] = 4096
    job_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 60.0
    # admission: requests with documents at once, and their bytes together (one
    # request alone is always admitted); beyond either, RESOURCE_EXHAUSTED
    max_heavy_jobs: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 8
    max_bytes_in_flight: Annotated[int, msgspec.Meta(ge=1, le=1 << 40)] = (
        96 * 1024 * 1024
    )
    # other seal platforms' CAs whose seals verify here: PEM or DER files, SM2 or
    # ECDSA, roots (self-signed: trust anchors) and intermediates (used to build
    # paths to a root); services.seal.trust. Their certificates may SIGN with a seal
    # (GB/T 38540's signers, 用章者); only seal_makers may MAKE one (制章者): when
    # this names any CA, seal_makers must name the makers (atk15 F13)
    trusted_ca_files: list[str] = msgspec.field(default_factory=list)
    # who may make seals, per trusted platform ([[seal.seal_makers]], SealMakerConfig);
    # the platform's own seal CA's makers need no entry
    seal_makers: list[SealMakerConfig] = msgspec.field(default_factory=list)
    # VerifyPdf and VerifyOfd report a licence file's licence status from this verifier group
    # (docs/holder.md), calling as service:seal ('' = no status)
    verifier_target: str = ""
    cert_file: str = "/run/secrets/certseal/seal-client/tls.crt"
    key_file: str = "/run/secrets/certseal/seal-client/tls.key"
    # trusted timestamps (RFC 3161 / GB/T 20520): the TSA that stamps every SES
    # signature and PDF seal (PAdES B-T); empty: no token, the signer's clock only
    tsa_url: str = ""
    tsa_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 5.0
    # roots (and intermediates) of the TSAs whose tokens verify here: PEM or DER
    tsa_trusted_ca_files: list[str] = msgspec.field(default_factory=list)
    # the platform's own TSA, served by the seal process over HTTP (empty: none);
    # its RSA key and certificate (extendedKeyUsage timeStamping, critical)
    tsa_listen: str = ""
    tsa_cert_file: str = ""
    tsa_key_file: str = ""
    # the policy OID the platform's TSA names in its tokens (its practice statement's);
    # empty: services.seal.tsa.DEFAULT_TSA_POLICY, certseal's own under 2.25
    tsa_policy: str = ""


class SealSettings(SharedSettings, Protocol):
    """The sections a seal process reads."""

    seal: SealConfig
