"""atk12: region-demo's metrics port (services.run_layers.region_metrics) is "the
first above dept-demo's that no service's setting names"; these are the settings and
ports it still lands on wrongly."""

from __future__ import annotations

import pytest

from certseal.listen import split_listen
from services.config import Config
from services.run import metrics_endpoints
from services.run_layers import group_probes, region_metrics


def test_region_demo_metrics_avoid_the_issuer_workers_metrics_ports():
    """[issuer] workers = 2 (read from local.toml, as the banner does) and
    [verifier] metrics_listen = 127.0.0.1:9463: region-demo is started on 9465, the
    issuer's serving worker 0's metrics port; whichever binds second loses it (the
    verifier exits 2 on a setting the operator never wrote, or the worker serves
    without metrics), and the banner lists 9465 twice."""
    cfg = Config()
    cfg.issuer.workers = 2
    verifiers = region_metrics("127.0.0.1:9463", cfg)
    endpoints = metrics_endpoints(cfg, verifiers)
    assert len(set(endpoints.values())) == len(endpoints), endpoints


@pytest.mark.parametrize("dept", ["127.0.0.1:65535", "127.0.0.1:0"])
def test_region_demo_metrics_port_is_one_it_can_listen_on(dept):
    """A dept-demo metrics port that is valid gives region-demo a port from 1024 to
    65,535 (or a one-line error naming [verifier] metrics_listen), not one that
    region-demo's own start then refuses as a setting the operator did not write."""
    region = region_metrics(dept, Config())["region-demo"]
    _, port = split_listen(region)  # 65536: ValueError, not host:port
    # port 0 is "any free port", as dept-demo's own is then
    assert port == 0 if dept.endswith(":0") else 1024 <= port <= 65_535, region


def test_a_probe_listen_in_local_toml_gives_each_group_its_own_port():
    """nu14: [verifier] probe_listen in local.toml was read by both groups, which
    bound one port: region-demo's start failed and make run stopped (exit 2)."""
    cfg = Config()
    cfg.verifier.probe_listen = "127.0.0.1:9493"  # the groups' metrics just above
    metrics = region_metrics("127.0.0.1:9494", cfg)  # 9494 and 9495
    probes = group_probes(cfg, metrics)
    assert probes["dept-demo"] == ("--probe-listen", "127.0.0.1:9493")
    region = probes["region-demo"][1]
    assert region not in {"127.0.0.1:9493", *metrics.values()}, (probes, metrics)
    assert 1024 <= split_listen(region)[1] <= 65_535
    assert group_probes(Config(), metrics) == {"dept-demo": (), "region-demo": ()}
