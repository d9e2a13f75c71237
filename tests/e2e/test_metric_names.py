"""Every metric the alerts (deploy/k8s/base/monitoring.yaml) and the docs name is one a
certseal process exports: an alert on a name nobody exports never fires, and a
runbook naming one sends the operator looking for nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from certseal.metrics import FAMILIES, Metrics
from services.feed.metrics import WebhookMetrics
from services.verifier.metrics import (
    index_rebuild_counter,
    unopened_counter,
    usage_counters,
)

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"\bcertseal_[a-z0-9_]*[a-z0-9]")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
}


def exported() -> set[str]:
    """The family and sample names of every process's metrics (the console's
    HTTP figures are documented in its module, not named by an alert)."""
    metrics = Metrics(CollectorRegistry(), families=FAMILIES)
    WebhookMetrics(metrics.registry)
    index_rebuild_counter(metrics)
    unopened_counter(metrics)
    usage_counters(metrics)
    names = set()
    for family in metrics.registry.collect():
        names.add(family.name)
        names.update(family.name + end for end in SUFFIXES.get(family.type, ("",)))
    return names


def named_in(path: Path) -> set[str]:
    return set(NAME.findall(path.read_text()))


SOURCES = [
    ROOT / "deploy" / "k8s" / "base" / "monitoring.yaml",
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_metric_named_is_exported(path):
    names = exported()
    assert named_in(path) - names == set()


def test_the_alerts_name_metrics_at_all():
    alerts = named_in(SOURCES[0])
    assert "certseal_verifier_usage_unpublished_total" in alerts
    assert len(alerts) >= 10


def test_a_name_nobody_exports_is_found(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(
        "alert on `certseal_verifier_usage_lost_total` and `certseal_outbox_backlog`"
    )
    assert named_in(doc) - exported() == {"certseal_verifier_usage_lost_total"}
