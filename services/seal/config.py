"""The seal service's configuration section, ``[seal]``, and what it reads."""

from __future__ import annotations

from typing import Protocol

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
    vendor_id: str = "certseal"
    # VerifyPdf reports a licence file's licence status from this verifier group
    # (docs/holder.md), calling as service:seal ('' = no status)
    verifier_target: str = ""
    cert_file: str = "/run/secrets/certseal/seal-client/tls.crt"
    key_file: str = "/run/secrets/certseal/seal-client/tls.key"


class SealSettings(SharedSettings, Protocol):
    """The sections a seal process reads."""

    seal: SealConfig
