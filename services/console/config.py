"""The counter console's configuration section, ``[console]``."""

from __future__ import annotations

from typing import Protocol

import msgspec

from certseal.config import Section, SharedSettings


class ConsoleConfig(Section):
    """The counter console: an HTTPS page beside the verifier, for clerks and operators.

    It calls the services with the counter's own mTLS identity (``cert_file`` and
    ``key_file``, common name ``dept:<code>``); the browser sees ``https_cert_file``.
    It serves HTTPS, not gRPC, so it has no :class:`~certseal.config.ServiceSection`.
    """

    listen: str = "127.0.0.1:8443"
    cert_file: str = "/run/secrets/certseal/counter/tls.crt"
    key_file: str = "/run/secrets/certseal/counter/tls.key"
    https_cert_file: str = "/run/secrets/certseal/console/tls.crt"
    https_key_file: str = "/run/secrets/certseal/console/tls.key"
    # the first group answers this counter's verifications; the operator page shows all
    verifier_targets: list[str] = msgspec.field(
        default_factory=lambda: ["127.0.0.1:50052"]
    )
    seal_target: str = "127.0.0.1:50053"
    # NAME=URL of the Prometheus endpoints whose outbox figures the operator page shows
    metrics_sources: list[str] = msgspec.field(
        default_factory=lambda: [
            "issuer=http://127.0.0.1:9464/metrics",
            "seal=http://127.0.0.1:9474/metrics",
        ]
    )
    # the operator page (/operator): off for a console that only clerks reach
    operator_page: bool = True
    refresh_s: float = 2.0
    history: int = 150  # operator snapshots kept for the charts
    max_upload_bytes: int = 32 * 1024 * 1024
    # 用证事由 offered in the page (a clerk may also type another)
    purposes: list[str] = msgspec.field(
        default_factory=lambda: [
            "窗口办事",
            "身份核验",
            "资格审查",
            "交通执法检查",
            "市场监管检查",
        ]
    )


class ConsoleSettings(SharedSettings, Protocol):
    """The sections a console process reads."""

    console: ConsoleConfig
