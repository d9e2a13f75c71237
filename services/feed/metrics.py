"""The feed's own metrics: how each webhook's deliveries go (docs/operations.md,
"Alerts": ``CertsealWebhookFailing``, ``CertsealWebhookParked``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class WebhookMetrics:
    """Per-webhook delivery metrics (docs/operations.md, "Alerts")."""

    def __init__(self, registry: CollectorRegistry | None = None):
        r = registry or CollectorRegistry()
        self.registry = r
        self.failing = Gauge(
            "certseal_webhook_failing",
            "1 while the webhook's endpoint fails and events wait for it",
            ["webhook"],
            registry=r,
        )
        self.failing_since = Gauge(
            "certseal_webhook_failing_since_timestamp_seconds",
            "When the oldest event now waiting for the endpoint first failed (0: none)",
            ["webhook"],
            registry=r,
        )
        self.failed_attempts = Counter(
            "certseal_webhook_failed_attempts",
            "POSTs the endpoint did not accept",
            ["webhook"],
            registry=r,
        )
        self.delivered = Counter(
            "certseal_webhook_delivered_events",
            "Events the endpoint accepted",
            ["webhook"],
            registry=r,
        )
        self.parked = Counter(
            "certseal_webhook_parked_events",
            "Events parked after the retry window",
            ["webhook"],
            registry=r,
        )
