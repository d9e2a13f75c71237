"""A verifier worker's own metrics (prometheus_client families in its
:class:`~certseal.metrics.Metrics` registry; docs/operations.md, "Alerts")."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from certseal.metrics import Metrics
from services.verifier.gathering import UsageCounters


def index_rebuild_counter(metrics: Metrics) -> Counter:
    """``certseal_verifier_index_rebuilds_total{reason}``: index rebuilds at start-up,
    by reason (damaged, inconsistent, other_cluster, format: a licence index kept
    by a version before the on-disk one)."""
    return Counter(
        "certseal_verifier_index_rebuilds",
        "Times this verifier dropped its index and rebuilt it from the topics",
        ["reason"],
        registry=metrics.registry,
    )


def usage_counters(metrics: Metrics) -> UsageCounters:
    """The worker's usage metrics (docs/events.md, "Usage records"; alert
    ``CertsealUsageUnpublished``): ``certseal_verifier_usage_refused_total`` (uses
    left out of a record to keep it within its bound; above 0 is a bug),
    ``certseal_verifier_usage_unpublished_total{reason}`` (answered uses no record will
    carry; every reason a series from the start, at 0, so that Prometheus's
    ``increase()`` sees the first loss), ``certseal_verifier_usage_waiting`` (uses not
    yet delivered) and ``certseal_verifier_usage_oldest_waiting_seconds`` (how long
    the oldest of them has waited)."""
    registry = metrics.registry
    unpublished = Counter(
        "certseal_verifier_usage_unpublished",
        "Answered uses that no usage record will carry, by reason",
        ["reason"],
        registry=registry,
    )
    for reason in UsageCounters.REASONS:
        unpublished.labels(reason=reason)
    return UsageCounters(
        refused=Counter(
            "certseal_verifier_usage_refused",
            "Uses not published because a usage record would exceed its request's "
            "bound",
            registry=registry,
        ),
        unpublished=unpublished,
        waiting=Gauge(
            "certseal_verifier_usage_waiting",
            "Uses not yet delivered to the broker: gathered, being sent, or in the "
            "producer",
            registry=registry,
        ),
        oldest=Gauge(
            "certseal_verifier_usage_oldest_waiting_seconds",
            "How long the oldest use not yet delivered to the broker has waited",
            registry=registry,
        ),
    )


def unopened_counter(metrics: Metrics) -> Counter:
    """``certseal_verifier_restricted_unopened_total{reason}``: licences whose sealed
    restricted field values no configured index key opened (``unknown_kid``: the key
    is missing, e.g. mid-rotation; ``tampered``: changed or moved from another
    licence; ``malformed``); such a licence is shown without them."""
    return Counter(
        "certseal_verifier_restricted_unopened",
        "Sealed restricted field values that no configured index key opened",
        ["reason"],
        registry=metrics.registry,
    )
