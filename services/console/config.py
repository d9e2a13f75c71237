"""The counter console's configuration section, ``[console]``."""

from __future__ import annotations

from typing import Annotated, Protocol

import msgspec

from certseal.config import Section, SharedSettings


class ConsoleConfig(Section):
    """The counter console: an HTTPS page beside the verifier, for clerks and operators.

    Clerks and operators sign in with console accounts (``certseal console account``;
    kept in PostgreSQL). The console calls the services with its own mTLS identity
    (``cert_file`` and ``key_file``, common name ``service:console``) and names the
    signed-in clerk's counter and name in gRPC metadata; the browser sees
    ``https_cert_file``. It serves HTTPS, not gRPC, so it has no
    :class:`~certseal.config.ServiceSection`.
    """

    listen: str = "127.0.0.1:8443"
    cert_file: str = "/run/secrets/certseal/console-client/tls.crt"
    key_file: str = "/run/secrets/certseal/console-client/tls.key"
    https_cert_file: str = "/run/secrets/certseal/console/tls.crt"
    https_key_file: str = "/run/secrets/certseal/console/tls.key"
    # the first group answers this counter's verifications; the operator page shows all
    verifier_targets: list[str] = msgspec.field(
        default_factory=lambda: ["127.0.0.1:50052"]
    )
    seal_target: str = "127.0.0.1:50053"
    # the issuer's Redemption service: clerks redeem holders' authorisation codes
    issuer_target: str = "127.0.0.1:50051"
    # NAME=URL of the Prometheus endpoints whose outbox figures the operator page shows
    metrics_sources: list[str] = msgspec.field(
        default_factory=lambda: [
            "issuer=http://127.0.0.1:9464/metrics",
            "seal=http://127.0.0.1:9474/metrics",
        ]
    )
    # the console's own Prometheus endpoint (http://<this>/metrics; '' = none)
    metrics_listen: str = "127.0.0.1:9504"
    # the operator page (/operator): off for a console that only clerks reach
    operator_page: bool = True
    refresh_s: Annotated[float, msgspec.Meta(ge=0.1, le=3600)] = 2.0
    history: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = (
        150  # operator snapshots kept for the charts
    )
    # a request body (a sealed PDF or OFD to verify); 0: the seal service's document
    # limit, [seal] max_document_bytes, so the counter takes what the seal service
    # verifies (body_limit). An image upload is held to the one image limit,
    # certseal.bounds.MAX_IMAGE_BYTES, before it is read
    max_upload_bytes: Annotated[int, msgspec.Meta(ge=0, le=1 << 30)] = 0
    # the font for Han characters outside the BMP (names such as 𠈌): Debian's
    # fonts-hanazono, which the Noto Sans SC the console ships lacks
    rare_font_file: str = "/usr/share/fonts/truetype/hanazono/HanaMinB.ttf"
    # sessions end after this long without a request, and this long after sign-in
    session_idle_s: Annotated[float, msgspec.Meta(gt=0, le=30 * 86_400)] = 15 * 60
    session_absolute_s: Annotated[float, msgspec.Meta(gt=0, le=365 * 86_400)] = (
        10 * 3600
    )
    # failed sign-ins tolerated per account and per client address within the window
    login_max_failures: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 5
    login_max_failures_per_address: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 20
    login_failure_window_s: Annotated[float, msgspec.Meta(gt=0, le=7 * 86_400)] = (
        15 * 60
    )
    # the CA of clerks' browser client certificates ('' = no certificate sign-in)
    client_ca_file: str = ""
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


class DocumentLimit(Protocol):
    """What the console reads of the seal service's section: its document limit."""

    @property
    def max_document_bytes(self) -> int:
        """``[seal] max_document_bytes``."""
        ...


class ConsoleSettings(SharedSettings, Protocol):
    """The sections a console process reads."""

    console: ConsoleConfig

    @property
    def seal(self) -> DocumentLimit:
        """The seal service's section (its document limit: :func:`body_limit`)."""
        ...


def body_limit(config: ConsoleSettings) -> int:
    """The bytes a request body may have: ``[console] max_upload_bytes``, or (0)
    the seal service's ``[seal] max_document_bytes``. A PDF or OFD to verify is sent
    as the body itself, no form around it, so the counter takes every document the
    seal service verifies (a new user's trial: a 40 MB sealed PDF verified in the
    CLI and was refused at the counter, whose limit was 32 MiB)."""
    return config.console.max_upload_bytes or config.seal.max_document_bytes
