"""The seal service's configuration section, ``[seal]``, and what it reads."""

from __future__ import annotations

from typing import Protocol

import msgspec

from certseal.config import ServiceSection, SharedSettings


class SealConfig(ServiceSection):
    """The seal service."""

    listen: str = "127.0.0.1:50053"
    metrics_listen: str = "127.0.0.1:9474"
    max_request_bytes: int = 64 * 1024 * 1024
    max_document_bytes: int = 60 * 1024 * 1024
    # the platform's seal CA: it certifies seal keys and seal makers (EC P-256)
    ca_cert_file: str = "/run/secrets/certseal/seal-ca/ca.pem"
    ca_key_file: str = "/run/secrets/certseal/seal-ca/ca.key"
    # the platform's SM2 seal CA (optional): it certifies sm2 seals and the sm2 seal
    # maker, so they chain to an SM2 CA as the ecosystem's do; empty: the P-256 one
    sm2_ca_cert_file: str = ""
    sm2_ca_key_file: str = ""
    vendor_id: str = "certseal"
    # other seal platforms' CAs whose seals verify here (GB/T 38540 makers and
    # signers): PEM or DER files, SM2 or ECDSA, roots (self-signed: trust anchors)
    # and intermediates (used to build paths to a root); services.seal.trust
    trusted_ca_files: list[str] = msgspec.field(default_factory=list)
    # VerifyPdf and VerifyOfd report a licence file's licence status from this verifier group
    # (docs/holder.md), calling as service:seal ('' = no status)
    verifier_target: str = ""
    cert_file: str = "/run/secrets/certseal/seal-client/tls.crt"
    key_file: str = "/run/secrets/certseal/seal-client/tls.key"


class SealSettings(SharedSettings, Protocol):
    """The sections a seal process reads."""

    seal: SealConfig
