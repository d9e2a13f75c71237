"""Prometheus metrics of one service process, on a registry of its own."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)

from certseal.errors import invalid
from certseal.listen import bind_problem, split_listen

_LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
)


#: the metric families a process may export (:class:`Metrics`)
FAMILIES = frozenset({"rpc", "outbox", "audit", "expiry", "index"})


class Metrics:
    """RPC, outbox, audit, expiry and verifier-index metrics; pass one instance to
    whatever records.

    ``families`` (a subset of :data:`FAMILIES`, default all) are the ones this process
    exports: every attribute exists, so recording code needs no checks, but a family
    a process does not run is registered nowhere, so ``/metrics`` never shows a
    verifier's outbox or an issuer's index lag as a misleading zero. ``relay``:
    whether this process runs the outbox relay; one that does not (the issuer's
    supervisor and serving processes, whose relay is a process of its own) exports
    no ``certseal_outbox_relay_leading``, which said 0, "standing by", while its
    relay process led (the console's issuer card, atk54).
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        families: frozenset[str] = FAMILIES,
        relay: bool = True,
    ):
        unknown = families - FAMILIES
        if unknown:
            raise ValueError(f"unknown metric families: {', '.join(sorted(unknown))}")
        self.registry = registry or CollectorRegistry()
        self.families = families

        def into(family: str) -> CollectorRegistry | None:
            return self.registry if family in families else None

        r = into("rpc")
        self.rpc_requests = Counter(
            "certseal_rpc_requests", "RPCs handled", ["method", "code"], registry=r
        )
        self.rpc_latency = Histogram(
            "certseal_rpc_latency_seconds",
            "RPC latency",
            ["method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        r = into("outbox")
        self.events_published = Counter(
            "certseal_outbox_published_events", "Events the relay published", registry=r
        )
        self.events_republished = Counter(
            "certseal_outbox_republished_events",
            "Events the relay published again after a republish (among the published)",
            registry=r,
        )
        self.commit_to_publish = Histogram(
            "certseal_outbox_commit_to_publish_seconds",
            "From outbox insert to broker acknowledgement, of events not republished",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.relay_leading = Gauge(
            "certseal_outbox_relay_leading",
            "1 while this process's relay leads (publishes every service's outbox "
            "rows), 0 while it stands by",
            registry=r if relay else None,
        )
        self.outbox_backlog = Gauge(
            "certseal_outbox_backlog", "Committed events not yet published", registry=r
        )
        self.relay_lag = Gauge(
            "certseal_outbox_relay_lag_seconds",
            "Age of the oldest unpublished event",
            registry=r,
        )
        self.audit_sealed = Counter(
            "certseal_audit_sealed_rows",
            "Audit rows sealed into the chain",
            registry=into("audit"),
        )
        self.licences_expired = Counter(
            "certseal_licences_expired",
            "Licences the expiry sweep expired",
            registry=into("expiry"),
        )
        r = into("index")
        self.index_lag_events = Gauge(
            "certseal_verifier_index_lag_events",
            "Events published but not yet applied to this verifier group's index",
            registry=r,
        )
        self.index_last_event = Gauge(
            "certseal_verifier_index_last_event_timestamp_seconds",
            "Time of the last event applied to this verifier group's index",
            registry=r,
        )
        self.index_lag_measured = Gauge(
            "certseal_verifier_index_lag_measured_timestamp_seconds",
            "Time the broker last gave this verifier worker the end offsets its lag is "
            "measured against (older than verifier.lag_unknown_after_s: lag unknown)",
            registry=r,
        )
        self.index_lag_unknown = Gauge(
            "certseal_verifier_index_lag_unknown",
            "1 while this verifier worker's lag is unknown (no answer from its broker "
            "for verifier.lag_unknown_after_s; its lag_events is what was behind then)",
            registry=r,
        )

    def serve(self, listen: str, *, setting: str = "metrics_listen") -> None:
        """Expose ``/metrics`` over HTTP on ``listen`` (``host:port``, an IPv6 host
        in brackets).

        Raises CertsealError (INVALID_ARGUMENT, field ``setting``) for a malformed
        address or port, or one that cannot be bound (another process listens there,
        or it is not this machine's), naming the address: a configuration mistake,
        not a crash."""
        try:
            host, port = split_listen(listen)
        except ValueError as exc:
            raise invalid(setting, str(exc)) from exc
        try:
            start_http_server(port, addr=host or "0.0.0.0", registry=self.registry)
        except OSError as exc:
            raise invalid(setting, bind_problem(listen, exc)) from exc
