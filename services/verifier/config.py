"""The verifier's configuration section, ``[verifier]``, and what a verifier reads."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Protocol

import msgspec
from cryptography import x509

from certseal.bounds import MAX_IMAGE_BYTES
from certseal.config import ServiceSection, SharedSettings
from certseal.errors import invalid
from certseal.listen import address_checks, check_target
from certseal.tlsfiles import check_valid_now
from services.verifier.bundle_sign import (
    VERIFIER_IDENTITY,
    is_verifier_identity,
    issued_by,
    signer_name,
)


class VerifierConfig(ServiceSection):
    """A verifier deployment: one consumer group with its own complete index."""

    listen: str = "127.0.0.1:50052"
    # above certseal.bounds.MAX_IMAGE_BYTES, so a phone photo meets the one image
    # limit (a VerifyImage's own message) and not this one
    max_request_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1 << 30)] = (
        MAX_IMAGE_BYTES + 256 * 1024
    )
    group: str = "default"
    # This worker's name within its group when the group runs as several workers
    # (pods): each keeps the whole index in its own folder, <data_dir>/<group>@<worker>
    # (a StatefulSet's pod name). Empty: the group's only worker, <data_dir>/<group>.
    worker: str = ""
    data_dir: str = "/var/lib/certseal/verifier"
    # A group run partitioned (docs/architecture.md §6): group_size workers, worker i
    # (the number that ends its name, a StatefulSet's pod ordinal: verifier-a-2 is 2)
    # applies only the licence-topic partitions p with p mod group_size == i, and asks
    # the worker that owns a lineage's partition for its entry (VerifierPeer, same
    # mTLS). peers: every worker's gRPC address, by ordinal (its own included), or
    # one address with {ordinal} in it (a StatefulSet's pods behind its headless
    # service: "verifier-gz-{ordinal}.verifier-headless-gz:50052").
    # 1: every worker holds the whole index and asks nobody.
    group_size: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1
    peers: list[str] = msgspec.field(default_factory=list)
    # the TLS name the peers' certificates carry ("": the host of each address)
    peer_server_name: str = ""
    # how long a peer may take to answer before the verification is UNAVAILABLE
    peer_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    # The worker asks the broker for the end offsets of what it applies every second
    # (services.verifier.ends). With no answer for this long, the lag its answers
    # carry is unknown (they say so: a cut-off worker cannot see what was revoked
    # meanwhile) and it is not ready until the broker answers. 2 to 3,600 s.
    lag_unknown_after_s: float = 5.0
    # The licence index's RocksDB memory (services.verifier.diskindex): block cache
    # and write buffers (two of them), whatever the number of licences.
    index_cache_mb: Annotated[int, msgspec.Meta(ge=1, le=1 << 20)] = 32
    index_write_buffer_mb: Annotated[int, msgspec.Meta(ge=1, le=1 << 16)] = 16
    # Replicas of the Faust topics a worker creates for its small tables (changelogs,
    # assignor): at least the cluster's min.insync.replicas (3 on a three-node Kafka).
    topic_replication_factor: int = 1
    # Faust's consumer waits up to this long for data; the embedded broker does not
    # wake a fetch on new data, so this bounds how stale an answer can be.
    fetch_max_wait_ms: int = 20
    # ... while events flow. After a second without events each empty fetch doubles
    # the wait, up to this, and the first that brings events returns it to
    # fetch_max_wait_ms: an idle verifier asks the broker 5 times a second instead of
    # 50 (the first event after a quiet spell waits at most this long).
    idle_fetch_max_wait_ms: int = 200
    # The licence index's own consumer (services.verifier.feed.LicenceFeed) waits
    # this long while licence events flow (idle: as above). A revocation reaches the
    # index within about this wait after it is on the topic (issue 17: revocation ->
    # REVOKED p99 <= 20 ms), so it is shorter than fetch_max_wait_ms, which also paces
    # the usage records every verification publishes.
    licence_fetch_max_wait_ms: int = 5
    # The replay guard's consumer of the usage topic (services.verifier.replay.
    # UsageFeed) waits this long while usage records flow (idle: as above). It reads
    # every verification's record, so its fetches are the broker's largest load under
    # verification (docs/architecture.md §2d); no answer waits for it: a presentation
    # code's claim reads the records the guard has not applied yet itself (§2c).
    usage_fetch_max_wait_ms: int = 100
    # How long the worker gathers plain codes' uses of one counter, clerk and purpose
    # into one usage record before sending it (services/verifier/gathering.py). A
    # record costs every process per record, not per use (about 200 µs of the
    # worker's CPU a record, docs/architecture.md §2c), and the embedded broker lists
    # every stored batch of a partition on each fetch (§2d). A holder's usage record
    # (用证记录) appears this much later; no answer waits for it (a presentation
    # code's claim is published at once, §2c). 0 to 5,000.
    usage_linger_ms: int = 200
    session_timeout_s: Annotated[float, msgspec.Meta(ge=1, le=3600)] = 6.0
    # Offline trust bundles: how long a counter may rely on one, and how often a new
    # snapshot is taken when asked (a snapshot scans the whole index).
    bundle_validity_s: Annotated[int, msgspec.Meta(ge=60, le=30 * 86_400)] = 24 * 3600
    bundle_refresh_s: Annotated[float, msgspec.Meta(ge=0, le=86_400)] = 10.0
    # Sign bundles with a key kept in the [pkcs11] token instead of the verifier's TLS
    # key: the CKA_LABEL of its key pair (EC P-256 or Ed25519; made with `certseal
    # pkcs11 bundle-key`), and the certificate the platform CA issued for it to
    # service:verifier or service:verifier-<group>. Empty: the TLS key signs.
    bundle_key: str = ""
    bundle_cert_file: str = ""
    # Department codes whose counters may call this group (every Verifier RPC; the
    # console acting for a counter counts as that counter); empty: every department.
    counters: list[str] = msgspec.field(default_factory=list)
    # Worker threads that decode codes and check signatures, and how many more jobs
    # may wait for them; beyond that a request is refused with RESOURCE_EXHAUSTED
    # (services.verifier.offload). A VerifyCodes batch is one job per 50 codes.
    code_workers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 2
    code_queue: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 64
    # The same for reading QR images, in worker processes at a lower CPU priority:
    # each one in flight may take up to ~120 MiB (certseal.bounds.MAX_IMAGE_PIXELS;
    # a HEIC's pixels by its format's cost, MAX_HEIC_DECODE_BYTES),
    # so these bound the verifier's memory. 0 workers: one per CPU but one, 2 to 4.
    # An image not read within image_timeout_s is refused, its worker replaced.
    image_workers: Annotated[int, msgspec.Meta(ge=0, le=64)] = 0
    image_queue: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 4
    image_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 5.0
    # Fair turns (services.verifier.offload.FairGate): at most code_turns chunks of
    # codes are worked on at once, at most counter_turns of one counter's (images:
    # image_workers at once, one per counter), and a counter with counter_waiting
    # requests waiting for a turn is refused with RESOURCE_EXHAUSTED. A flood from
    # one counter so waits behind itself, not in front of the others; code_turns
    # lets many counters at once keep the code workers busy between their turns'
    # steps on the event loop.
    code_turns: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 16
    counter_turns: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1
    counter_waiting: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 32
    # TYPE:DEPARTMENT:FIELD,FIELD rules: the restricted fields of TYPE that
    # DEPARTMENT's counters see (DEPARTMENT * for every counter without a rule of its
    # own; services.verifier.domain.FieldRights). No rule: no restricted field. Public
    # fields are in every code, so every counter sees them.
    field_rights: list[str] = msgspec.field(default_factory=list)
    # The index keys (32-byte secret files) that open licences' sealed restricted
    # field values (certseal.indexkeys), by key id: the issuer's current one and,
    # during a rotation, the others still in events. Only verifiers and the issuer
    # hold them.
    index_key_files: list[str] = msgspec.field(
        default_factory=lambda: ["/run/secrets/certseal/index-key"]
    )
    # The transparency log (services/tlog) whose latest checkpoint this group carries
    # in every verification result and offline bundle: its gRPC address ("" = none),
    # its note-verifier key (<origin>+<hex id>+<base64 key>, given out of band), and
    # how often the checkpoint is fetched (each new one must be consistent with the
    # last, RFC 9162 §2.1.4, or it is not taken).
    log_target: str = ""
    log_key: str = ""
    log_refresh_s: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 10.0


def worker_data_dir(config: VerifierConfig) -> Path:
    """This worker's index folder: ``<data_dir>/<group>``, or
    ``<data_dir>/<group>@<worker>`` for a named worker of a group."""
    name = f"{config.group}@{config.worker}" if config.worker else config.group
    return Path(config.data_dir) / name


def worker_ordinal(config: VerifierConfig) -> int:
    """This worker's ordinal in a partitioned group: the number its name ends with
    (``verifier-a-2`` -> 2; a StatefulSet's pod ordinal); 0 for a group of one.

    Raises CertsealError INVALID_ARGUMENT naming the setting at fault
    (``verifier.<setting>``): a partitioned group needs a worker name ending in a
    number below ``group_size``, and one peer address per worker."""
    if config.group_size < 1:
        raise invalid(
            "verifier.group_size", f"must be at least 1 (got {config.group_size})"
        )
    if config.group_size == 1:
        return 0
    found = re.search(r"(\d+)$", config.worker)
    if found is None:
        raise invalid(
            "verifier.worker",
            f"a group of {config.group_size} workers needs a worker name "
            f"ending in its ordinal, e.g. verifier-{config.group}-0 (got "
            f"{config.worker!r})",
        )
    ordinal = int(found.group(1))
    if ordinal >= config.group_size:
        raise invalid(
            "verifier.worker",
            f"ordinal {ordinal} of {config.worker!r} is not below group_size "
            f"{config.group_size}",
        )
    addresses = peer_addresses(config)
    if len(addresses) != config.group_size:
        raise invalid(
            "verifier.peers",
            f"give one address per worker, by ordinal, or one with {{ordinal}} "
            f"in it ({config.group_size} workers; got {len(config.peers)})",
        )
    for address in addresses:
        check_target("verifier.peers", address, schemes=False)
    return ordinal


#: the fetch waits of a worker's consumers, ms: at least 1 (aiokafka's fetch with a
#: wait of 0 is never answered by the embedded broker) and at most a minute
FETCH_WAITS = (
    "fetch_max_wait_ms",
    "idle_fetch_max_wait_ms",
    "licence_fetch_max_wait_ms",
    "usage_fetch_max_wait_ms",
)
FETCH_WAIT_RANGE_MS = (1, 60_000)


#: ``usage_linger_ms``: 0 (each record at once) to 5 s (a holder's record later still)
USAGE_LINGER_RANGE_MS = (0, 5_000)


def _check_wait(name: str, bounds: tuple[int, int]) -> Callable[[VerifierConfig], None]:
    """The check of one wait setting ``name`` (ms) against ``bounds``."""

    def check(config: VerifierConfig) -> None:
        low, high = bounds
        value = getattr(config, name)
        if not low <= value <= high:
            raise invalid(
                f"verifier.{name}",
                f"must be between {low} and {high:,} ms (got {value})",
            )

    return check


#: one check per wait: config check reports each one out of bounds
WAIT_CHECKS = (
    *(_check_wait(name, FETCH_WAIT_RANGE_MS) for name in FETCH_WAITS),
    _check_wait("usage_linger_ms", USAGE_LINGER_RANGE_MS),
)


def check_fetch_waits(config: VerifierConfig) -> None:
    """Raise CertsealError INVALID_ARGUMENT naming (``verifier.<setting>``) the
    first of :data:`FETCH_WAITS` outside
    :data:`FETCH_WAIT_RANGE_MS` (a guard that never fetches would answer every
    presentation code UNAVAILABLE, with no error), or ``usage_linger_ms`` outside
    :data:`USAGE_LINGER_RANGE_MS`."""
    for check in WAIT_CHECKS:
        check(config)


#: ``lag_unknown_after_s``: more than the asks' interval (services.verifier.ends),
#: at most an hour
LAG_UNKNOWN_AFTER_RANGE_S = (2, 3_600)


#: a worker's name: it names its folder, its consumer group and its metrics
WORKER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def check_worker_name(config: VerifierConfig) -> None:
    """INVALID_ARGUMENT ``verifier.worker`` unless it is empty or a
    :data:`WORKER_NAME`."""
    if config.worker and not WORKER_NAME.fullmatch(config.worker):
        raise invalid(
            "verifier.worker",
            "letters, digits, '.', '_' and '-' only, at most 63 characters (got "
            f"{config.worker!r})",
        )


def check_group_name(config: VerifierConfig) -> None:
    """INVALID_ARGUMENT ``verifier.group`` unless it is a :data:`WORKER_NAME`: it
    names the group's folder, its consumer groups and its Faust application (a
    group named ``../x`` reached outside ``data_dir``)."""
    if not WORKER_NAME.fullmatch(config.group):
        raise invalid(
            "verifier.group",
            "letters, digits, '.', '_' and '-' only, starting with a letter or digit, "
            f"at most 63 characters (got {config.group!r})",
        )


def check_lag_unknown_after(config: VerifierConfig) -> None:
    """INVALID_ARGUMENT ``verifier.lag_unknown_after_s`` outside
    :data:`LAG_UNKNOWN_AFTER_RANGE_S`."""
    low, high = LAG_UNKNOWN_AFTER_RANGE_S
    if not low <= config.lag_unknown_after_s <= high:
        raise invalid(
            "verifier.lag_unknown_after_s",
            f"must be between {low} and {high:,} s (got {config.lag_unknown_after_s})",
        )


def check_targets(config: VerifierConfig) -> None:
    """INVALID_ARGUMENT naming the first address the worker dials (``log_target``)
    that is not one (:func:`certseal.listen.check_target`)."""
    for check in address_checks(config, "verifier", ("target",)):
        check()


def check_replication_factor(config: VerifierConfig) -> None:
    """INVALID_ARGUMENT ``verifier.topic_replication_factor`` outside 1 to 100 (a
    topic has at most one replica per broker)."""
    if not 1 <= config.topic_replication_factor <= 100:
        raise invalid(
            "verifier.topic_replication_factor",
            f"must be between 1 and 100 (got {config.topic_replication_factor})",
        )


#: the checks of :func:`check_settings`, in its order; each stands apart from the
#: others (``certseal config check`` runs every one and reports each failure)
SETTING_CHECKS = (
    check_group_name,
    check_worker_name,
    worker_ordinal,
    *WAIT_CHECKS,
    check_lag_unknown_after,
    check_replication_factor,
    check_targets,
)


def check_settings(config: VerifierConfig) -> None:
    """Every ``[verifier]`` setting a worker checks before it touches anything (its
    name, its group's shape, the fetch waits and the linger, the replication factor
    of its own topics), as ``python -m services.verifier`` and ``certseal run`` both
    check them: CertsealError INVALID_ARGUMENT naming ``verifier.<setting>`` (the
    first of :data:`SETTING_CHECKS` that fails)."""
    for check in SETTING_CHECKS:
        check(config)


def apply_worker_options(
    config: VerifierConfig,
    *,
    group: str | None = None,
    worker: str | None = None,
    group_size: int | None = None,
    peers: str | None = None,
    peer_server_name: str | None = None,
    topic_replication_factor: int | None = None,
) -> None:
    """A worker's command-line options over ``[verifier]`` (None or empty: the
    setting stays): ``peers`` comma-separated, as ``python -m services.verifier``
    and ``certseal config check`` both take them."""
    config.group = group or config.group
    config.worker = worker or config.worker
    if group_size is not None:
        config.group_size = group_size
    if peers:
        config.peers = [p.strip() for p in peers.split(",") if p.strip()]
    if peer_server_name:
        config.peer_server_name = peer_server_name
    if topic_replication_factor is not None:
        config.topic_replication_factor = topic_replication_factor


#: the ``[verifier]`` settings a worker's flags replace (``--probe-listen`` is
#: verifier.probe_listen), in ``python -m services.verifier``; ``certseal config
#: check`` takes the first four
WORKER_FLAGS = (
    "group",
    "worker",
    "group_size",
    "peers",
    "peer_server_name",
    "topic_replication_factor",
    "listen",
    "data_dir",
    "metrics_listen",
    "probe_listen",
)


def flagged_settings(args: object) -> frozenset[str]:
    """The fields (``verifier.<setting>``) that a worker's flags, parsed into
    ``args`` (an argparse namespace), replace: each flag given, and not empty (an
    empty one leaves its setting, as :func:`apply_worker_options` does). An error
    about one of them names no file (:func:`certseal.config.where_set`)."""
    return frozenset(
        f"verifier.{name}"
        for name in WORKER_FLAGS
        if getattr(args, name, None) not in (None, "")
    )


def peer_addresses(config: VerifierConfig) -> list[str]:
    """Every worker's address, by ordinal: ``peers``, or its one address with
    ``{ordinal}`` filled in for each of the ``group_size`` workers."""
    if len(config.peers) == 1 and "{ordinal}" in config.peers[0]:
        template = config.peers[0]
        return [template.replace("{ordinal}", str(i)) for i in range(config.group_size)]
    return list(config.peers)


def consumer_group_id(config: VerifierConfig) -> str:
    """The Faust app id (consumer group) of this worker's small tables (trust and
    directory): one per worker, so every worker holds all of them. The replay guard
    is not among them: it reads the usage topic with no consumer group
    (:mod:`services.verifier.replay`)."""
    base = f"certseal-verifier-{config.group}"
    return f"{base}-{config.worker}" if config.worker else base


def image_workers(config: VerifierConfig) -> int:
    """The image worker processes to start: ``image_workers``, or if 0 one per CPU
    but one (the loop and code verification keep one), at least 2 (a counter has one
    image turn at a time, so another counter's image finds a free worker) and at most
    4 (each may take ~120 MiB)."""
    if config.image_workers > 0:
        return config.image_workers
    return min(4, max(2, (os.cpu_count() or 1) - 1))


class VerifierSettings(SharedSettings, Protocol):
    """The sections a verifier process reads."""

    verifier: VerifierConfig


def check_bundle_certificate(
    cert: x509.Certificate,
    platform_ca: x509.Certificate,
    *,
    group: str,
    now: dt.datetime,
    described: str,
) -> None:
    """Refuse a token key's bundle certificate (``[verifier] bundle_cert_file``) whose
    every bundle the counters would refuse (:func:`services.verifier.bundle.
    open_bundle`'s rules): not valid at ``now``, not issued directly by
    ``platform_ca`` (the first certificate of ``tls.ca_file``, which the counters
    open bundles with), or not a verifier identity of ``group``. ``described``: how
    the message names the file. CertsealError(INVALID_ARGUMENT, field
    ``verifier.bundle_cert_file``)."""
    field = "verifier.bundle_cert_file"
    check_valid_now(
        cert, field, described, "counters would refuse every bundle it signs", now=now
    )
    if not issued_by(cert, platform_ca):
        raise invalid(
            field,
            f"{described} is not issued by the platform CA (the first certificate "
            "of tls.ca_file), with which counters open bundles",
        )
    name = signer_name(cert)
    if not is_verifier_identity(name, group):
        raise invalid(
            field,
            f"{described} names {name!r}; a bundle of group {group} is signed by "
            f"{VERIFIER_IDENTITY} or {VERIFIER_IDENTITY}-{group}",
        )
