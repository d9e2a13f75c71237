"""Configuration: TOML files decoded with types, every field with a usable default.

The kernel defines the shared sections (``[database]``, ``[kafka]``, ``[tls]``,
``[secrets]``, ``[platform]``), the base every service section embeds
(:class:`ServiceSection`: listen, probe_listen, metrics_listen, max_request_bytes) and the
loader. Each service declares its own section in ``services/<name>/config.py``; the
composition root ``services/config.py`` puts them together into the file's schema.

Decoding is msgspec's (``msgspec.convert`` in strict mode over structs that forbid
unknown fields): a wrong type or an unknown key, in a section or as a section, fails at
start-up with its path, e.g. ``Expected `int`, got `str` - at `$.issuer.workers```.

Secrets are never values in the file: the file names the files that hold them (the
database DSN, the key-encryption key, the personal-data key, TLS keys).
"""

from __future__ import annotations

import re
import ssl
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar

import msgspec

from certseal.bounds import MAX_CA_BUNDLE_BYTES, MAX_SMALL_FILE_BYTES
from certseal.configwords import readable, setting_at
from certseal.errors import CertsealError, ErrorKind, invalid
from certseal.files import read_regular_file
from certseal.kafka import KafkaSettings
from certseal.secretfiles import read_dsn_file
from certseal.tlsfiles import (
    der_bundle,
    load_checked_cert_chain,
    read_certificates,
    read_key_pair,
    section_fields,
)

#: one start-time check of settings: raises CertsealError naming the setting at
#: fault (what it returns is not used); ``certseal config check`` runs a service's
SettingCheck = Callable[[], object]


class Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A configuration section: typed, keyword-only, unknown keys refused."""


class DatabaseConfig(Section):
    """Where PostgreSQL is."""

    dsn_file: str = "/run/secrets/certseal/database.dsn"
    pool_min: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 2
    pool_max: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 10

    def __post_init__(self) -> None:
        if self.pool_min > self.pool_max:  # msgspec reports it at [database]
            raise ValueError(
                f"pool_min ({self.pool_min}) must not exceed pool_max ({self.pool_max})"
            )

    def dsn(self) -> str:
        """The DSN, read from its secret file: every reader of it (services, CLI,
        migrations, tools) goes through here. Raises CertsealError(INVALID_ARGUMENT,
        ``database.dsn_file``) when the file holds no DSN
        (:func:`certseal.secretfiles.read_dsn_file`)."""
        return read_dsn_file(self.dsn_file)


KAFKA_PROTOCOLS = ("PLAINTEXT", "SSL")
"""The ``[kafka] security_protocol`` values certseal's clients speak."""


class KafkaConfig(Section):
    """Where the brokers are; SSL means TLS with the files named: ``ssl_cafile`` the
    brokers' CA (empty: the system's), ``ssl_certfile`` and ``ssl_keyfile`` this
    client's certificate and key for mTLS (empty: none; the key may be in the
    certificate's file)."""

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: str = "PLAINTEXT"
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    topic_partitions: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 12

    def settings(self, client_id: str) -> KafkaSettings:
        """Client settings for aiokafka, with the TLS context :meth:`ssl_context`
        makes (so its CertsealError comes before any client is made)."""
        return KafkaSettings(
            bootstrap_servers=self.bootstrap_servers,
            security_protocol=self.security_protocol,
            ssl_context=self.ssl_context(),
            client_id=client_id,
        )

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of ``security_protocol = "SSL"`` (None for PLAINTEXT),
        each file read and parsed first as :mod:`certseal.tlsfiles` reads a
        service's: ``ssl`` itself says only ``[SSL] PEM lib``, and only when a
        producer or consumer first connects, so a wrong file was a service that
        started and then retried in a loop forever.

        Raises CertsealError(INVALID_ARGUMENT) naming ``kafka.security_protocol``
        when it is neither PLAINTEXT nor SSL, and ``kafka.ssl_cafile``,
        ``kafka.ssl_certfile`` or ``kafka.ssl_keyfile`` when its file cannot be
        read or holds the wrong thing (no certificate, no unencrypted private key,
        another certificate's key, a certificate not valid now), or when a key is
        named without a certificate. Any key OpenSSL reads is taken (not only the
        kinds gRPC's TLS takes)."""
        if self.security_protocol not in KAFKA_PROTOCOLS:
            raise invalid(
                "kafka.security_protocol",
                f"{self.security_protocol!r} is not one of {', '.join(KAFKA_PROTOCOLS)}",
            )
        if self.security_protocol != "SSL":
            return None
        roots = None
        if self.ssl_cafile:
            # a bundle ssl reads whole, without a limit: a system bundle may be one
            _, roots = read_certificates(
                self.ssl_cafile, "kafka.ssl_cafile", MAX_CA_BUNDLE_BYTES
            )
        if self.ssl_keyfile and not self.ssl_certfile:
            raise invalid(
                "kafka.ssl_keyfile",
                "names a key but kafka.ssl_certfile is empty: set both (mTLS) or "
                "neither",
            )
        if self.ssl_certfile:
            key_file, key_field = (
                (self.ssl_keyfile, "kafka.ssl_keyfile")
                if self.ssl_keyfile
                else (self.ssl_certfile, "kafka.ssl_certfile")
            )
            pair = read_key_pair(
                self.ssl_certfile,
                key_file,
                ("kafka.ssl_certfile", key_field),
                grpc_kinds=False,
            )
        # ssl is handed the certificates and key checked above, never a second
        # read of the files (its PEM reader would skip a block behind a byte order
        # mark: a root lost silently, or '[SSL] PEM lib' after the check passed)
        try:
            context = ssl.create_default_context(
                cadata=der_bundle(roots) if roots is not None else None
            )
        except ssl.SSLError as exc:  # what the check above did not foresee
            raise invalid("kafka.ssl_cafile", f"{self.ssl_cafile}: {exc}") from None
        if self.ssl_certfile:
            load_checked_cert_chain(context, *pair, "kafka.ssl_certfile")
        return context


class TlsConfig(Section):
    """mTLS material: the CA that signs every identity, and this process's own pair."""

    ca_file: str = "/run/secrets/certseal/tls/ca.pem"
    cert_file: str = "/run/secrets/certseal/tls/server.pem"
    key_file: str = "/run/secrets/certseal/tls/server.key"


class SecretsConfig(Section):
    """Files holding 32-byte keys."""

    kek_file: str = "/run/secrets/certseal/kek"
    data_key_file: str = "/run/secrets/certseal/data-key"
    # seals the answers (and keys the fingerprints) kept for idempotency keys, in
    # every service that keeps them (issuer, seal, feed, console)
    answers_key_file: str = "/run/secrets/certseal/answers-key"


class Pkcs11Config(Section):
    """A PKCS#11 token (an HSM) that generates and holds signing keys, ``[pkcs11]``
    (certseal/hsm.py). ``module`` empty: every key is kept in software.
    """

    # the vendor's PKCS#11 module library, e.g. /usr/lib/softhsm/libsofthsm2.so
    module: str = ""
    # the token's label (CKA_LABEL of the token, as softhsm2-util --init-token --label)
    token_label: str = ""
    # the file holding the user PIN (one line), mounted like every other secret
    pin_file: str = "/run/secrets/certseal/pkcs11-pin"
    # suites whose new keys are generated in the token; the rest stay in software
    suites: list[str] = msgspec.field(default_factory=lambda: ["es256", "ed25519"])
    # sessions kept open with the token, and threads signing on them (1-64)
    sessions: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4
    # true only for a module documented as thread-safe when initialised with
    # C_Initialize(NULL_PTR); otherwise calls into it are serialised (SoftHSM2: false)
    parallel: bool = False


class PlatformConfig(Section):
    """The platform operator itself."""

    code: str = ""  # its unified social credit code; it owns the presentation key
    name: str = "certseal platform"
    presentation_suite: str = "es256"


class ServiceSection(Section):
    """What every gRPC service's section has; a service's section embeds it.

    A service redeclares a field to give it its own default (its port, its size limit).
    """

    listen: str = "127.0.0.1:50051"
    # plaintext gRPC health only, for Kubernetes' native probes ("": none)
    probe_listen: str = ""
    # Prometheus /metrics ("": none); each process on a host needs its own port
    metrics_listen: str = ""
    # the largest gRPC message this service accepts, in bytes
    max_request_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1 << 30)] = (
        4 * 1024 * 1024
    )
    # this service's own mTLS identity (certificate and key files), when it has one
    # apart from the shared [tls] pair: e.g. service:verifier, the only identity whose
    # offline trust bundles a counter accepts. Empty: the [tls] pair.
    cert_file: str = ""
    key_file: str = ""

    def identity(self, tls: TlsConfig) -> tuple[str, str]:
        """This service's (certificate file, key file): its own pair, else ``tls``'s."""
        if self.cert_file and self.key_file:
            return self.cert_file, self.key_file
        return tls.cert_file, tls.key_file

    def identity_fields(self, section: str) -> tuple[str, str, str]:
        """The settings :meth:`identity` reads (CA, certificate, key), for errors;
        ``section``: this section's name (e.g. ``verifier``)."""
        return section_fields(section if self.cert_file and self.key_file else "tls")


class OutboxConfig(Section):
    """The transactional outbox's relay, ``[outbox]``.

    Every PostgreSQL-backed service process runs a relay, but one outbox table and one
    leader lock serve them all: whichever process leads publishes and purges every
    service's rows, so these settings are the platform's, not a service's.
    """

    # how often the relay looks for rows when no notification came, in seconds
    poll_interval_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 1.0
    # how long published rows are kept (to re-seed a broker that lost its data), days
    retention_days: Annotated[int, msgspec.Meta(ge=0, le=3650)] = 7
    # how long a relay woken from idle waits for more rows to join a round (Kafka's
    # linger.ms), milliseconds: fewer, fuller rounds (less broker CPU at moderate
    # rates) for this much added commit -> topic latency on every event. 0: a round
    # starts at once; rows committed while one is in flight share the next.
    linger_ms: Annotated[float, msgspec.Meta(ge=0, le=10_000)] = 0.0


class IdempotencyConfig(Section):
    """Idempotency keys of mutating RPCs, ``[idempotency]`` (certseal/idempotency.py).

    Platform-wide like ``[outbox]``: every service database keeps its keys this long.
    """

    # how long a key (with the answer first sent) is kept after its first use, hours;
    # a retry after that is a new request
    retention_hours: Annotated[int, msgspec.Meta(ge=1, le=87_600)] = 72
    # how often the purge (a leader across replicas) looks for expired keys, seconds
    purge_interval_s: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 60.0
    # test-only: honour the CERTSEAL_TEST_FAULT environment variable (a process
    # killing itself after a commit); a process refuses to start with that variable
    # set unless this is true. Never true in a deployment.
    allow_fault_hooks: bool = False


class BaseConfig(Section):
    """The shared sections of the configuration file; the schema extends it."""

    database: DatabaseConfig = msgspec.field(default_factory=DatabaseConfig)
    kafka: KafkaConfig = msgspec.field(default_factory=KafkaConfig)
    tls: TlsConfig = msgspec.field(default_factory=TlsConfig)
    secrets: SecretsConfig = msgspec.field(default_factory=SecretsConfig)
    platform: PlatformConfig = msgspec.field(default_factory=PlatformConfig)
    pkcs11: Pkcs11Config = msgspec.field(default_factory=Pkcs11Config)
    outbox: OutboxConfig = msgspec.field(default_factory=OutboxConfig)
    idempotency: IdempotencyConfig = msgspec.field(default_factory=IdempotencyConfig)


class SharedSettings(Protocol):
    """The shared sections, as a process of any service reads them."""

    database: DatabaseConfig
    kafka: KafkaConfig
    tls: TlsConfig
    secrets: SecretsConfig
    platform: PlatformConfig
    pkcs11: Pkcs11Config
    outbox: OutboxConfig
    idempotency: IdempotencyConfig


C = TypeVar("C", bound=BaseConfig)


def read_layers(
    paths: str | Path | Sequence[str | Path] | None,
    origins: dict[tuple[str, str], str] | None = None,
) -> dict[str, Any]:
    """The TOML files in ``paths`` merged: a later file's settings replace an earlier
    one's setting by setting (a deployment's base file, then an overlay's).
    ``origins``, when given, receives the file each (section, setting) came from.

    Raises CertsealError(INVALID_ARGUMENT) naming the file that is missing or not TOML.
    """
    files = [] if paths is None else [paths] if isinstance(paths, str | Path) else paths
    data: dict[str, Any] = {}
    for one in files:
        try:
            if not Path(one).exists():
                raise invalid("config", f"configuration file {one} does not exist")
            # a regular file within a bound: not a device or a FIFO
            raw = read_regular_file(one, "config", MAX_SMALL_FILE_BYTES)
            loaded = tomllib.loads(raw.decode("utf-8"))
        except RecursionError:
            raise invalid(
                "config", f"configuration file {one}: nested too deeply"
            ) from None
        except UnicodeDecodeError:
            raise invalid(
                "config", f"configuration file {one} is not UTF-8 text"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise invalid(
                "config", f"configuration file {one} is not valid TOML: {exc}"
            ) from None
        for section, value in loaded.items():
            if origins is not None and isinstance(value, dict):
                origins.update(((section, key), str(one)) for key in value)
            if isinstance(value, dict) and isinstance(data.get(section), dict):
                data[section] = {**data[section], **value}
            else:
                data[section] = value
    return data


def load_config(
    paths: str | Path | Sequence[str | Path] | None,
    schema: type[C],
    upgrade: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    renamed: Mapping[tuple[str, str], tuple[str, str]] | None = None,
) -> C:
    """Decode the layered files in ``paths`` (None: all defaults) as ``schema``;
    ``upgrade`` first rewrites settings that an earlier version named otherwise
    (``renamed``: old (section, setting) -> new, so that an error about a value
    given by its old name says that name).

    Raises CertsealError(INVALID_ARGUMENT) with the setting's path for a wrong type, an
    unknown setting or an unknown section, and naming the file for a missing or broken
    file.
    """
    origins: dict[tuple[str, str], str] = {}
    data = read_layers(paths, origins)
    if upgrade is not None:
        data = upgrade(data)
    try:
        config = msgspec.convert(data, schema, strict=True)
    except msgspec.ValidationError as exc:
        # the field is "configuration" (the CLI prints error: configuration: …, not
        # the command's name); str() keeps "configuration: [section] key: problem"
        setting = setting_at(str(exc))
        given_as = [
            old
            for old, new in (renamed or {}).items()
            if new == setting and old in origins and setting not in origins
        ]
        message = readable(str(exc), schema) + _set_in(
            paths, origins, [*given_as, setting][0]
        )
        if given_as:  # the file names it so
            message += f" (given as [{given_as[0][0]}] {given_as[0][1]})"
        raise CertsealError(
            ErrorKind.INVALID_ARGUMENT, message, field="configuration"
        ) from None
    check_file_pairs(config)
    return config


def _set_in(
    paths: str | Path | Sequence[str | Path] | None,
    origins: dict[tuple[str, str], str],
    setting: tuple[str, str],
) -> str:
    """`` (set in FILE)``: of several files, the one to edit; '' for one file."""
    layered = not isinstance(paths, str | Path) and len(paths or ()) > 1
    file = origins.get(setting) if layered else None
    return f" (set in {file})" if file else ""


def where_set(
    paths: str | Path | Sequence[str | Path] | None,
    field: str,
    *,
    alone: bool = False,
    defaults: bool = False,
) -> str:
    """For an error naming the setting ``field`` (``section.setting``, as a
    CertsealError names it) found after the files loaded (a file it names, a port,
    a range a start checks): `` (set in FILE)``, the one of the layered ``paths``
    (more than one, or one with ``alone``) that gives it; '' for a single file, a
    field that no file gives (a default; with ``defaults``, `` (not set in the
    files: its default)``), or files that no longer read."""
    section, sep, key = field.partition(".")
    if not sep:
        return ""
    # a table's entry or a list's item (``cli.verifier_groups.desk``,
    # ``seal.seal_makers[0].platform``): the file that gives the setting holding it
    key = re.split(r"[.\[]", key, maxsplit=1)[0]
    origins: dict[tuple[str, str], str] = {}
    try:
        read_layers(paths, origins)
    except Exception:  # an error being told: a file gone meanwhile names none
        return ""
    if alone and (file := origins.get((section, key))):
        return f" (set in {file})"
    if defaults and (section, key) not in origins:
        return " (not set in the files: its default)"
    return _set_in(paths, origins, (section, key))


def check_file_pairs(config: Any) -> None:
    """Refuse half a pair of files: a section's ``<x>cert_file`` set and its
    ``<x>key_file`` empty, or the other way round (``cert_file``/``key_file``,
    ``ca_cert_file``/``ca_key_file``, ``sm2_ca_…``, ``tsa_…``, ``https_…``). Each is
    used only with the other, so half of one would be ignored silently (a service
    presenting the ``[tls]`` pair, SM2 seals chaining to the P-256 CA) and the file
    named never read. CertsealError(INVALID_ARGUMENT) naming the empty setting."""
    for section in getattr(config, "__struct_fields__", ()):
        values = getattr(config, section)
        names = set(getattr(values, "__struct_fields__", ()))
        for cert in sorted(name for name in names if name.endswith("cert_file")):
            key = cert.removesuffix("cert_file") + "key_file"
            if key not in names:
                continue
            cert_path, key_path = getattr(values, cert), getattr(values, key)
            if bool(cert_path) != bool(key_path):
                empty, named = (key, cert) if cert_path else (cert, key)
                raise invalid(
                    f"{section}.{empty}",
                    f"is empty while {section}.{named} is set: the two are used "
                    "together; set both or neither",
                )


def dump_config(config: msgspec.Struct) -> str:
    """The configuration as TOML (strings, numbers, booleans, lists and tables of
    them, the latter inline)."""
    lines: list[str] = []
    for section, values in msgspec.to_builtins(config).items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(
                f"{_toml_value(k)} = {_toml_value(v)}" for k, v in value.items()
            )
            + "}"
        )
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
