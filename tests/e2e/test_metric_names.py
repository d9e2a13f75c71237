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
NAME = re.compile(r"\bcertseal_[a-z0-9_]*[a-z0-9](?:_\*)?")  # name_*: a prefix
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


def unknown(named: set[str], names: set[str]) -> set[str]:
    """What ``named`` holds that is no exported name (``name_*``: no name begins so)."""
    return {
        one
        for one in named
        if not (
            any(n.startswith(one[:-1]) for n in names)
            if one.endswith("_*")
            else one in names
        )
    }


SOURCES = [
    ROOT / "deploy" / "k8s" / "base" / "monitoring.yaml",
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_metric_named_is_exported(path):
    assert unknown(named_in(path), exported()) == set()


def test_the_alerts_name_metrics_at_all():
    alerts = named_in(SOURCES[0])
    assert "certseal_verifier_usage_unpublished_total" in alerts
    assert len(alerts) >= 10


def test_a_name_nobody_exports_is_found(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(
        "alert on `certseal_verifier_usage_lost_total`, `certseal_outbox_backlog`, "
        "`certseal_verifier_usage_*` and `certseal_verifier_usages_*`"
    )
    assert unknown(named_in(doc), exported()) == {
        "certseal_verifier_usage_lost_total",
        "certseal_verifier_usages_*",
    }
