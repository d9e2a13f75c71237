"""The issuer's configuration section, ``[issuer]``, and what an issuer process reads."""

from __future__ import annotations

from typing import Annotated, Protocol

import msgspec

from certseal.config import ServiceSection, SharedSettings
from certseal.errors import invalid
from certseal.listen import ports_clash, split_listen


class IssuerConfig(ServiceSection):
    """The issuer service."""

    listen: str = "127.0.0.1:50051"
    metrics_listen: str = "127.0.0.1:9464"
    max_request_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1 << 30)] = (
        8 * 1024 * 1024
    )
    # Worker processes serving gRPC on the listen port (SO_REUSEPORT); one more process
    # then runs only the outbox relay, and the supervising process the audit sealer,
    # expiry sweep and usage consumer. 0: one process does everything (on Kubernetes,
    # scale pods instead).
    workers: Annotated[int, msgspec.Meta(ge=0, le=64)] = 0
    max_batch: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1000
    presentation_ttl_s: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 60
    presentation_max_ttl_s: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 600
    expiry_sweep_interval_s: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 30.0
    # The index key (32 bytes) that seals licences' restricted field values for the
    # verifiers (certseal.indexkeys): the newest of the keys the verifiers hold.
    index_key_file: str = "/run/secrets/certseal/index-key"
    # The usage record (用证记录, docs/architecture.md): its entries are kept this many
    # days (as long as the usage topic keeps its records), pruned every
    # usage_prune_interval_s by one issuer (a leader); the consumer group that fills
    # it from the usage and licence topics (one per issuer database).
    usage_retention_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 180
    usage_prune_interval_s: Annotated[float, msgspec.Meta(gt=0, le=7 * 86_400)] = 3600.0
    usage_consumer_group: str = "certseal-usage-record"
    # Licence files and annotated copies (docs/holder.md): the issuer seals them through
    # the seal service as its own mTLS identity (common name service:issuer), which a
    # department lists among its official seal's signers. seal_target '' = no licence
    # files (FAILED_PRECONDITION); `make run` and the tests set it.
    seal_target: str = ""
    cert_file: str = "/run/secrets/certseal/issuer-client/tls.crt"
    key_file: str = "/run/secrets/certseal/issuer-client/tls.key"
    # Han characters outside the BMP (names such as 𠈌): Debian's fonts-hanazono
    rare_font_file: str = "/usr/share/fonts/truetype/hanazono/HanaMinB.ttf"
    # worker processes rendering licence files (CPU-bound, off the event loop)
    document_workers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 2
    # operator-supplied licence file templates, <type_code>.toml ('' = default layouts)
    document_templates_dir: str = ""

    def __post_init__(self) -> None:
        if self.presentation_ttl_s > self.presentation_max_ttl_s:  # at [issuer]
            raise ValueError(
                f"presentation_ttl_s ({self.presentation_ttl_s}) must not exceed "
                f"presentation_max_ttl_s ({self.presentation_max_ttl_s})"
            )

    def child_metrics_listen(self, index: int) -> str:
        """The metrics ``host:port`` of the supervisor's child ``index`` ('' when
        ``metrics_listen`` is ''): serving processes 0..workers-1 on ``metrics_listen``'s
        port + 1 .. + workers, the outbox relay (index ``workers``) on port + workers + 1;
        the supervisor keeps ``metrics_listen`` itself. Port 0 (any free port) gives
        each child port 0 too."""
        if not self.metrics_listen:
            return ""
        host, _, port = self.metrics_listen.rpartition(":")
        return f"{host}:{int(port) + 1 + index if int(port) else 0}"

    def child_metrics_listens(self) -> list[str]:
        """The metrics ``host:port`` of each of a supervisor's children, by index
        (:meth:`child_metrics_listen`; the relay last): none when ``workers`` is 0,
        or when ``metrics_listen`` is '' or not ``host:port`` (told as its own
        error by the issuer's start and ``certseal config check``)."""
        try:
            split_listen(self.metrics_listen)
        except ValueError:
            return []
        if not self.workers:
            return []
        return [self.child_metrics_listen(i) for i in range(self.workers + 1)]

    def check_child_ports(self) -> None:
        """The ports a supervisor's children take (:meth:`child_metrics_listens`)
        are ports: INVALID_ARGUMENT ``issuer.metrics_listen`` when one is past
        65,535 or is ``listen``'s or ``probe_listen``'s (a child would be started on
        a port it cannot have)."""
        children = self.child_metrics_listens()
        if not children:
            return
        port = split_listen(self.metrics_listen)[1]
        first, last = (port + 1, port + len(children)) if port else (0, 0)
        ports = f"ports {first} to {last}"
        if last > 65_535:
            raise invalid(
                "issuer.metrics_listen",
                f"{self.metrics_listen} gives its {self.workers} worker processes and "
                f"relay the metrics {ports}, past 65,535; choose a lower port",
            )
        for child in children:
            for setting in ("listen", "probe_listen"):
                if ports_clash(child, value := getattr(self, setting)):
                    raise invalid(
                        "issuer.metrics_listen",
                        f"{self.metrics_listen} gives its worker processes and relay "
                        f"the metrics {ports}, one of them issuer.{setting}'s "
                        f"({value}); move one of the two",
                    )


class IssuerSettings(SharedSettings, Protocol):
    """The sections an issuer process reads."""

    issuer: IssuerConfig
