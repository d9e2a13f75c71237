"""atk11b: ``make run`` following listens moved in ``.certseal/local.toml``
(services.run_layers.follow_local_listens), attacked with odd overlays.

Findings, each an xfail(strict) test until fixed:

- the moves are applied to config.toml's text one after another, so a service moved
  to the port another service left (or two services swapping ports) has its callers
  rewritten twice: they end up calling the other service's new address;
- a listen moved to IPv6 loopback (``[::1]:port``, or ``[::]:port``, which the rewrite
  itself maps to ``[::1]``) is called at ``[::1]``, which the dev server certificate
  does not name (its subjectAltName: localhost, 127.0.0.1): every client's TLS
  handshake fails (a real gRPC server and the CLI's channel below), so the run waits
  2 minutes and says NOT READY;
- region-demo moved as the README says ("its entry in [cli] verifier_groups" in
  local.toml) replaces the whole table, setting by setting: the CLI no longer knows
  ``--group dept-demo``.

What held (tests below without xfail): a port that is a prefix of another (5005 and
50055), 0.0.0.0, [seal] tsa_listen (the TSA URL follows), a local.toml that does not
parse (nothing is rewritten; the services say why).
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from certseal.calls import channel
from certseal.cli import LOCAL_OVERLAY
from certseal.config import dump_config
from certseal.devstack import free_port
from certseal.tlsfiles import server_credentials
from services.config import Config, load
from services.devstack import DevStack
from services.run_layers import (
    REGION_LISTEN,
    config_layers,
    follow_local_listens,
)
from tests.e2e.atk10_run_child import ConfigOnly


def _as_make_run_writes_it(home: Path) -> tuple[Config, Path]:
    """The configuration ``make run`` writes (its two verifier groups), without its
    certificates."""
    cfg = DevStack(home).config
    cfg.issuer.seal_target = cfg.seal.listen
    cfg.seal.verifier_target = cfg.verifier.listen
    cfg.seal.tsa_listen = "127.0.0.1:50098"  # make run's is a free port
    cfg.seal.tsa_url = "http://127.0.0.1:50098/"
    cfg.console.verifier_targets = [cfg.verifier.listen, REGION_LISTEN]
    cfg.cli.verifier_groups = {
        "dept-demo": cfg.verifier.listen,
        "region-demo": REGION_LISTEN,
    }
    config_file = home / "config.toml"
    config_file.write_text(dump_config(cfg))
    return cfg, config_file


def _moved(home: Path, local: str) -> Config:
    cfg, config_file = _as_make_run_writes_it(home)
    (home / LOCAL_OVERLAY).write_text(local)
    moved = follow_local_listens(cfg, home, config_file)
    # what every service and every certseal command reads
    assert load(config_layers(home, str(config_file))) == moved
    return moved


def test_atk11b_a_service_moved_to_a_port_another_left_is_called_there(tmp_path):
    """The issuer takes the verifier's old port; the verifier moves on."""
    moved = _moved(
        tmp_path,
        '[issuer]\nlisten = "127.0.0.1:50052"\n[verifier]\nlisten = "127.0.0.1:60000"\n',
    )
    assert moved.cli.issuer_target == "127.0.0.1:50052"
    assert moved.console.issuer_target == "127.0.0.1:50052"
    assert moved.cli.verifier_target == "127.0.0.1:60000"


def test_atk11b_two_services_swapping_ports_are_each_called_where_they_are(tmp_path):
    moved = _moved(
        tmp_path,
        '[issuer]\nlisten = "127.0.0.1:50052"\n[verifier]\nlisten = "127.0.0.1:50051"\n',
    )
    assert (moved.cli.issuer_target, moved.cli.verifier_target) == (
        "127.0.0.1:50052",
        "127.0.0.1:50051",
    )


def test_a_port_that_is_a_prefix_of_another_moves_alone(tmp_path):
    """What held: 5005 is a prefix of region-demo's 50055, 0.0.0.0 is called at
    127.0.0.1, the TSA's URL follows [seal] tsa_listen."""
    moved = _moved(
        tmp_path,
        '[issuer]\nlisten = "127.0.0.1:5005"\n'
        '[seal]\nlisten = "0.0.0.0:50073"\ntsa_listen = "127.0.0.1:50099"\n',
    )
    assert moved.cli.issuer_target == "127.0.0.1:5005"
    assert moved.console.verifier_targets[1] == REGION_LISTEN
    assert moved.cli.verifier_groups["region-demo"] == REGION_LISTEN
    assert moved.issuer.seal_target == "127.0.0.1:50073"
    assert moved.seal.tsa_url == "http://127.0.0.1:50099/"


def test_a_local_toml_that_does_not_parse_moves_nothing(tmp_path):
    cfg, config_file = _as_make_run_writes_it(tmp_path)
    before = config_file.read_text()
    (tmp_path / LOCAL_OVERLAY).write_text('[issuer\nlisten = "127.0.0.1:1"\n')
    assert follow_local_listens(cfg, tmp_path, config_file) == cfg
    assert config_file.read_text() == before


def test_atk11b_region_demo_moved_as_the_readme_says_keeps_dept_demo(tmp_path):
    """A table in local.toml replaces config.toml's (the CLI reads the same layers):
    the README gives both groups, and so the CLI keeps both."""
    moved = _moved(
        tmp_path,
        '[cli]\nverifier_groups = {dept-demo = "127.0.0.1:50052", '
        'region-demo = "127.0.0.1:50065"}\n',
    )
    assert moved.console.verifier_targets[1] == "127.0.0.1:50065"  # this followed
    assert set(moved.cli.verifier_groups) == {"dept-demo", "region-demo"}


async def _health(cfg: Config, listen: str, target: str) -> str:
    """Serve health with the dev server certificate on ``listen``; ask ``target``
    with the CLI's channel: SERVING, or the failure's status and details."""
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    credentials = server_credentials(
        cfg.tls.ca_file, cfg.tls.cert_file, cfg.tls.key_file
    )
    server.add_secure_port(listen, credentials)
    await server.start()
    try:
        async with channel(cfg, target) as chan:
            reply = await health_pb2_grpc.HealthStub(chan).Check(
                health_pb2.HealthCheckRequest(), timeout=10, wait_for_ready=False
            )
            return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    except grpc.aio.AioRpcError as exc:
        return f"{exc.code().name}: {exc.details()}"
    finally:
        await server.stop(None)


@pytest.mark.parametrize("host", ["[::1]", "[::]"])
async def test_atk11b_a_service_moved_to_ipv6_loopback_is_reachable(tmp_path, host):
    port = free_port()
    stack = ConfigOnly(tmp_path)
    certs = await stack.start()  # the dev CA and server certificate
    moved = _moved(tmp_path, f'[issuer]\nlisten = "{host}:{port}"\n')
    moved.tls, moved.cli.cert_file, moved.cli.key_file = (
        certs.tls,
        certs.cli.cert_file,
        certs.cli.key_file,
    )
    assert moved.cli.issuer_target == f"[::1]:{port}"
    assert (await _health(moved, f"[::1]:{port}", moved.cli.issuer_target)) == (
        "SERVING"
    )


async def test_a_service_moved_to_0000_is_reachable_where_it_is_called(tmp_path):
    """What held: 0.0.0.0 is called at 127.0.0.1, which the certificate names."""
    port = free_port()
    certs = await ConfigOnly(tmp_path).start()
    moved = _moved(tmp_path, f'[issuer]\nlisten = "0.0.0.0:{port}"\n')
    moved.tls, moved.cli.cert_file, moved.cli.key_file = (
        certs.tls,
        certs.cli.cert_file,
        certs.cli.key_file,
    )
    assert moved.cli.issuer_target == f"127.0.0.1:{port}"
    assert (await _health(moved, f"0.0.0.0:{port}", moved.cli.issuer_target)) == (
        "SERVING"
    )
