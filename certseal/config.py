"""Configuration: a TOML file whose every field has a usable default.

Secrets are never values in the file: the file names the files that hold them (the
database DSN, the key-encryption key, the personal-data key, TLS keys).
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from certseal.errors import CertsealError, ErrorKind
from certseal.kafka import KafkaSettings


@dataclass
class DatabaseConfig:
    """Where PostgreSQL is."""

    dsn_file: str = "/run/secrets/certseal/database.dsn"
    pool_min: int = 2
    pool_max: int = 10

    def dsn(self) -> str:
        """The DSN, read from its secret file."""
        return Path(self.dsn_file).read_text().strip()


@dataclass
class KafkaConfig:
    """Where the brokers are; SSL means mTLS with the files named."""

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: str = "PLAINTEXT"
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    topic_partitions: int = 12

    def settings(self, client_id: str) -> KafkaSettings:
        """Client settings for aiokafka."""
        return KafkaSettings(
            bootstrap_servers=self.bootstrap_servers,
            security_protocol=self.security_protocol,
            ssl_cafile=self.ssl_cafile or None,
            ssl_certfile=self.ssl_certfile or None,
            ssl_keyfile=self.ssl_keyfile or None,
            client_id=client_id,
        )


@dataclass
class TlsConfig:
    """mTLS material: the CA that signs every identity, and this process's own pair."""

    ca_file: str = "/run/secrets/certseal/tls/ca.pem"
    cert_file: str = "/run/secrets/certseal/tls/server.pem"
    key_file: str = "/run/secrets/certseal/tls/server.key"


@dataclass
class SecretsConfig:
    """Files holding 32-byte keys."""

    kek_file: str = "/run/secrets/certseal/kek"
    data_key_file: str = "/run/secrets/certseal/data-key"


@dataclass
class IssuerConfig:
    """The issuer service."""

    listen: str = "127.0.0.1:50051"
    # plaintext gRPC health only, for Kubernetes' native probes ("": none)
    probe_listen: str = ""
    # Worker processes serving gRPC on the listen port (SO_REUSEPORT); the supervising
    # process then runs the outbox relay, audit sealer and expiry sweep. 0: one process
    # does everything (on Kubernetes, scale pods instead).
    workers: int = 0
    metrics_listen: str = "127.0.0.1:9464"
    max_batch: int = 1000
    max_request_bytes: int = 8 * 1024 * 1024
    presentation_ttl_s: int = 60
    presentation_max_ttl_s: int = 600
    expiry_sweep_interval_s: float = 30.0
    outbox_poll_interval_s: float = 1.0
    outbox_retention_days: int = 7


@dataclass
class VerifierConfig:
    """A verifier deployment: one consumer group with its own complete index."""

    group: str = "default"
    listen: str = "127.0.0.1:50052"
    # plaintext gRPC health only, for Kubernetes' native probes ("": none)
    probe_listen: str = ""
    # Prometheus /metrics ("": none); each group on a host needs its own port
    metrics_listen: str = ""
    data_dir: str = "/var/lib/certseal/verifier"
    # Faust's consumer waits up to this long for data; the embedded broker does not
    # wake a fetch on new data, so this bounds how stale an answer can be.
    fetch_max_wait_ms: int = 20
    session_timeout_s: float = 6.0
    max_request_bytes: int = 1024 * 1024
    # Offline trust bundles: how long a counter may rely on one, and how often a new
    # snapshot is taken when asked (a snapshot scans the whole index).
    bundle_validity_s: int = 24 * 3600
    bundle_refresh_s: float = 10.0
    # Department codes whose counters may verify here; empty: every department.
    counters: list[str] = field(default_factory=list)
    # TYPE:DEPARTMENT:FIELD,FIELD rules narrowing the fields a counter sees (see
    # services.verifier.domain.FieldRights); none: the fields the code carries.
    field_rights: list[str] = field(default_factory=list)


@dataclass
class SealConfig:
    """The seal service."""

    listen: str = "127.0.0.1:50053"
    # plaintext gRPC health only, for Kubernetes' native probes ("": none)
    probe_listen: str = ""
    metrics_listen: str = "127.0.0.1:9474"
    max_request_bytes: int = 64 * 1024 * 1024
    max_document_bytes: int = 60 * 1024 * 1024
    # the platform's seal CA: it certifies seal keys and seal makers (EC P-256)
    ca_cert_file: str = "/run/secrets/certseal/seal-ca/ca.pem"
    ca_key_file: str = "/run/secrets/certseal/seal-ca/ca.key"
    vendor_id: str = "certseal"


@dataclass
class FeedConfig:
    """The event feed."""

    listen: str = "127.0.0.1:50054"
    # plaintext gRPC health only, for Kubernetes' native probes ("": none)
    probe_listen: str = ""
    metrics_listen: str = "127.0.0.1:9484"
    # Webhooks: CA bundle for the endpoints ("": the system's), and the retry budget
    # (attempts with exponential backoff) before an event is parked.
    webhook_ca_file: str = ""
    webhook_attempts: int = 8
    webhook_first_delay_s: float = 0.2
    webhook_max_delay_s: float = 30.0


@dataclass
class ConsoleConfig:
    """The counter console: an HTTPS page beside the verifier, for clerks and operators.

    It calls the services with the counter's own mTLS identity (``cert_file`` and
    ``key_file``, common name ``dept:<code>``); the browser sees ``https_cert_file``.
    """

    listen: str = "127.0.0.1:8443"
    cert_file: str = "/run/secrets/certseal/counter/tls.crt"
    key_file: str = "/run/secrets/certseal/counter/tls.key"
    https_cert_file: str = "/run/secrets/certseal/console/tls.crt"
    https_key_file: str = "/run/secrets/certseal/console/tls.key"
    # the first group answers this counter's verifications; the operator page shows all
    verifier_targets: list[str] = field(default_factory=lambda: ["127.0.0.1:50052"])
    seal_target: str = "127.0.0.1:50053"
    # NAME=URL of the Prometheus endpoints whose outbox figures the operator page shows
    metrics_sources: list[str] = field(
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
    purposes: list[str] = field(
        default_factory=lambda: [
            "窗口办事",
            "身份核验",
            "资格审查",
            "交通执法检查",
            "市场监管检查",
        ]
    )


@dataclass
class PlatformConfig:
    """The platform operator itself."""

    code: str = ""  # its unified social credit code; it owns the presentation key
    name: str = "certseal platform"
    presentation_suite: str = "es256"


@dataclass
class CliConfig:
    """What the ``certseal`` CLI presents when it calls the services."""

    cert_file: str = ""
    key_file: str = ""
    issuer_target: str = "127.0.0.1:50051"
    verifier_target: str = "127.0.0.1:50052"
    seal_target: str = "127.0.0.1:50053"
    feed_target: str = "127.0.0.1:50054"


@dataclass
class Config:
    """The whole configuration."""

    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    secrets: SecretsConfig = field(default_factory=SecretsConfig)
    issuer: IssuerConfig = field(default_factory=IssuerConfig)
    verifier: VerifierConfig = field(default_factory=VerifierConfig)
    seal: SealConfig = field(default_factory=SealConfig)
    feed: FeedConfig = field(default_factory=FeedConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    platform: PlatformConfig = field(default_factory=PlatformConfig)
    cli: CliConfig = field(default_factory=CliConfig)


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise CertsealError(
            ErrorKind.INVALID_ARGUMENT,
            f"unknown setting(s) {', '.join(sorted(unknown))} in [{where}]",
        )
    values = {}
    for name, value in data.items():
        sub = known[name].default_factory
        if isinstance(value, dict) and callable(sub) and is_dataclass(sub()):
            values[name] = _build(type(sub()), value, name)
        else:
            values[name] = value
    return cls(**values)


def load_config(path: str | Path | Sequence[str | Path] | None) -> Config:
    """Load ``path`` (defaults for everything it leaves out); None gives all defaults.

    Several files are read in order, a later one's settings replacing an earlier one's
    setting by setting (a deployment's base file, then an overlay's).
    """
    paths = [] if path is None else [path] if isinstance(path, str | Path) else path
    data: dict[str, Any] = {}
    for one in paths:
        try:
            loaded = tomllib.loads(Path(one).read_text())
        except FileNotFoundError:
            raise CertsealError(
                ErrorKind.INVALID_ARGUMENT, f"configuration file {one} does not exist"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise CertsealError(
                ErrorKind.INVALID_ARGUMENT, f"configuration file {one}: {exc}"
            ) from None
        for section, value in loaded.items():
            if isinstance(value, dict) and isinstance(data.get(section), dict):
                data[section] = {**data[section], **value}
            else:
                data[section] = value
    config: Config = _build(Config, data, "config")
    return config


def dump_config(config: Config) -> str:
    """The configuration as TOML (strings, numbers and lists only)."""
    lines: list[str] = []
    for section in fields(config):
        lines.append(f"[{section.name}]")
        for item in fields(getattr(config, section.name)):
            value = getattr(getattr(config, section.name), item.name)
            lines.append(f"{item.name} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
