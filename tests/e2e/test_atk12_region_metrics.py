"""atk12: region-demo's metrics port (services.run_layers.region_metrics) is "the
first above dept-demo's that no service's setting names"; these are the settings and
ports it still lands on wrongly."""

from __future__ import annotations

import pytest

from certseal.cli import LOCAL_OVERLAY
from certseal.config import dump_config
from certseal.listen import split_listen
from services.config import Config, load
from services.devstack import DevStack
from services.run import metrics_endpoints
from services.run_layers import (
    VERIFIER_METRICS,
    config_layers,
    group_probes,
    port_clashes,
    region_metrics,
)


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


@pytest.fixture
def run_home(tmp_path):
    """A ``make run`` home: its config.toml as a start writes it, no local.toml."""
    stack = DevStack(tmp_path / "home")
    (tmp_path / "home").mkdir(exist_ok=True)
    (tmp_path / "home" / "config.toml").write_text(dump_config(stack.config))
    return tmp_path / "home"


def clash(home, local: str = "") -> str:
    if local:
        (home / LOCAL_OVERLAY).write_text(local)
    cfg = load(config_layers(home, str(home / "config.toml")))
    return "\n".join(
        port_clashes(
            cfg, home, cfg.verifier.metrics_listen or VERIFIER_METRICS["dept-demo"]
        )
    )


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (  # nu23: the issuer, started first, failed blaming another process
            '[seal]\nmetrics_listen = "127.0.0.1:{issuer_metrics}"\n',
            "error: seal.metrics_listen: 127.0.0.1:{issuer_metrics} takes the port of "
            "issuer.metrics_listen (127.0.0.1:{issuer_metrics}); make run starts every "
            "service on this machine: give each its own port (set in {local})",
        ),
        (
            '[verifier]\nlisten = "127.0.0.1:{issuer_listen}"\n',
            "error: verifier.listen: 127.0.0.1:{issuer_listen} takes the port of "
            "issuer.listen",
        ),
        (  # the issuer's worker processes' metrics ports reach the seal's (README)
            "[issuer]\nworkers = 10\n",
            "error: issuer.workers: ",
        ),
    ],
)
def test_two_services_of_make_run_on_one_port_are_refused_naming_local_toml(
    run_home, local, expected
):
    cfg = load([str(run_home / "config.toml")])
    ports = {
        "issuer_metrics": split_listen(cfg.issuer.metrics_listen)[1],
        "issuer_listen": split_listen(cfg.issuer.listen)[1],
        "local": run_home / LOCAL_OVERLAY,
    }
    assert clash(run_home) == ""  # make run's own addresses never clash
    found = clash(run_home, local.format(**ports))
    assert found.startswith(expected.format(**ports)), found
    assert found.endswith(f"(set in {run_home / LOCAL_OVERLAY})"), found


@pytest.mark.parametrize("metrics", ["oops", "127.0.0.1:"])
def test_a_malformed_issuer_metrics_listen_is_left_to_the_issuer(run_home, metrics):
    """atk23b M1: make run's port checks took the workers' ports from it with int()
    and ended in a traceback; the issuer's start names the setting."""
    local = f'[issuer]\nworkers = 2\nmetrics_listen = "{metrics}"\n'
    assert clash(run_home, local) == ""
    cfg = load(config_layers(run_home, str(run_home / "config.toml")))
    assert region_metrics("127.0.0.1:9494", cfg)["region-demo"] == "127.0.0.1:9495"


def test_a_region_group_given_no_address_is_left_to_its_start(run_home):
    """An empty region-demo address in [cli] verifier_groups: nothing to compare
    (it ended make run's port check in a KeyError)."""
    local = '[cli]\nverifier_groups = { "dept-demo" = "127.0.0.1:50052", "region-demo" = "" }\n'
    assert clash(run_home, local) == ""
