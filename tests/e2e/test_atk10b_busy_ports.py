"""atk10b: the busy-port messages of 2326bd9 attacked with addresses other than a
plain ``127.0.0.1:port`` (each failed on main at b370ff3 and was mended).

Found: ``bind_error`` opens an IPv4 socket whatever the host, so the verifier's
pre-check refuses every IPv6 address (``[::1]:port``) as "Address family for
hostname not supported" and names the wrong setting; a port above 65535 is an
OverflowError traceback in the verifier's pre-check and the metrics endpoint, and
gRPC silently listens on the port modulo 65536 (70000 -> 4464); a metrics address in
brackets (``[::1]:9100``) is refused as "Name or service not known"; a busy probe
port names neither its setting nor why; with ``[issuer] workers = 2`` a busy listen
port restarts the children forever; grpc core prints a line of its own above the one
line; the seal's TSA room (``tsa_listen``) says a bare ``[Errno 98]``. (Not tested
here: the TSA room binds with SO_REUSEPORT, so seal processes on one host share its
port by design, and a port another same-user SO_REUSEPORT listener holds is shared,
not refused.)

Held: a busy ``[issuer] metrics_listen`` with ``workers = 2`` stops the supervisor
with exit 1 and one line before any child starts.
"""

from __future__ import annotations

import copy
import os
import signal
import socket
import subprocess
import sys

import pytest

from certseal.config import dump_config
from certseal.errors import CertsealError
from certseal.listen import bind_error
from certseal.metrics import Metrics
from certseal.rpc import ServiceInterceptor
from certseal.rpcserver import Health, build_server
from certseal.tlsfiles import server_credentials
from services.devstack import free_port
from tests.conftest import migrated_database
from tests.e2e.test_busy_ports import _start, taken

NOISE = ("Traceback", "Exception ignored", "Errno 98", "Failed to bind")


def free_v6_port() -> int:
    with socket.create_server(("::1", 0), family=socket.AF_INET6) as probe:
        return probe.getsockname()[1]


def test_atk10b_an_ipv6_address_that_is_free_is_free():
    address = f"[::1]:{free_v6_port()}"
    assert bind_error(address) is None


def test_atk10b_verifier_on_ipv6_names_its_busy_metrics_port(config, tmp_path):
    cfg = copy.deepcopy(config)
    cfg.verifier.data_dir = str(tmp_path / "verifier")
    cfg.verifier.listen = f"[::1]:{free_v6_port()}"  # gRPC listens there fine
    with taken() as address:
        cfg.verifier.metrics_listen = address
        done = _start("services.verifier", cfg, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(
        f"services.verifier: error: verifier.metrics_listen: {address} "
    ), done.stderr


@pytest.mark.parametrize("setting", ["listen", "metrics_listen", "probe_listen"])
def test_atk10b_verifier_port_out_of_range_is_one_line(config, tmp_path, setting):
    cfg = copy.deepcopy(config)
    cfg.verifier.data_dir = str(tmp_path / "verifier")
    # the other two on free ports: the defaults (50052, ...) may be a running
    # make run's, and the first busy one would be named instead (CI 12-1)
    for other in ("listen", "metrics_listen", "probe_listen"):
        setattr(cfg.verifier, other, f"127.0.0.1:{free_port()}")
    setattr(cfg.verifier, setting, "127.0.0.1:70000")
    done = _start("services.verifier", cfg, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"services.verifier: error: verifier.{setting}: "), (
        done.stderr
    )
    for noise in NOISE:
        assert noise not in done.stderr, done.stderr


async def test_atk10b_grpc_port_out_of_range_is_refused(config):
    server = None
    try:
        with pytest.raises(CertsealError, match=r"issuer\.listen"):
            server, _ = build_server(
                listen="127.0.0.1:70000",
                credentials=server_credentials(
                    config.tls.ca_file, config.tls.cert_file, config.tls.key_file
                ),
                interceptor=ServiceInterceptor(
                    metrics=Metrics(families=frozenset({"rpc"})),
                    allowed_kinds={},
                    max_request_bytes=1024,
                ),
                health_=Health([]),
                service_names=[],
                setting="issuer.listen",
            )
    finally:
        if server is not None:
            await server.stop(None)


def test_atk10b_metrics_port_out_of_range_names_the_setting():
    with pytest.raises(CertsealError, match=r"issuer\.metrics_listen"):
        Metrics(families=frozenset({"rpc"})).serve(
            "127.0.0.1:70000", setting="issuer.metrics_listen"
        )


def test_atk10b_metrics_on_an_ipv6_address_in_brackets():
    port = free_v6_port()
    metrics_listen = f"[::1]:{port}"
    Metrics(families=frozenset({"rpc"})).serve(
        metrics_listen, setting="issuer.metrics_listen"
    )
    with socket.create_connection(("::1", port), timeout=5) as conn:
        conn.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        assert conn.recv(12).startswith(b"HTTP/1.0 200")


async def test_atk10b_the_issuer_names_its_busy_probe_port(stack, config, tmp_path):
    dsn_file = tmp_path / "database.dsn"
    dsn_file.write_text(await migrated_database(config, "busyprobe"))
    cfg = copy.deepcopy(config)
    cfg.database.dsn_file = str(dsn_file)
    cfg.issuer.listen = f"127.0.0.1:{free_port()}"
    cfg.issuer.metrics_listen = ""
    with taken() as address:
        cfg.issuer.probe_listen = address
        done = _start("services.issuer", cfg, tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"services.issuer: error: issuer.probe_listen: {address} " in done.stderr
    assert "is already in use" in done.stderr, done.stderr
    for noise in NOISE:
        assert noise not in done.stderr, done.stderr


def _supervised(config_file) -> tuple[int, str]:
    """Run the issuer until it exits (at most 45 s: its children fail within a
    second or two, and a supervisor that gives up on a configuration mistake exits
    well within this); kill its whole process group otherwise."""
    process = subprocess.Popen(
        [sys.executable, "-m", "services.issuer", "--config", str(config_file)],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = process.communicate(timeout=45)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        pytest.fail(f"still running after 45 s:\n{stderr[-2000:]}")
    return process.returncode, stderr


async def test_atk10b_supervised_issuer_stops_on_a_busy_listen_port(
    stack, config, tmp_path
):
    dsn_file = tmp_path / "database.dsn"
    dsn_file.write_text(await migrated_database(config, "busysup"))
    cfg = copy.deepcopy(config)
    cfg.database.dsn_file = str(dsn_file)
    cfg.issuer.workers = 2
    cfg.issuer.metrics_listen = ""
    config_file = tmp_path / "issuer.toml"
    with taken() as address:
        cfg.issuer.listen = address
        config_file.write_text(dump_config(cfg))
        returncode, stderr = _supervised(config_file)
    assert returncode == 2, stderr
    assert f"issuer.listen: {address} is already in use" in stderr, stderr


async def test_atk10b_the_issuer_busy_port_is_one_line_only(stack, config, tmp_path):
    dsn_file = tmp_path / "database.dsn"
    dsn_file.write_text(await migrated_database(config, "busyone"))
    cfg = copy.deepcopy(config)
    cfg.database.dsn_file = str(dsn_file)
    cfg.issuer.metrics_listen = ""
    with taken() as address:
        cfg.issuer.listen = address
        done = _start("services.issuer", cfg, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"services.issuer: error: issuer.listen: {address} is already in use "
        "(another process listens there); choose another address in the "
        "configuration"
    ], done.stderr


async def test_atk10b_the_seal_names_its_busy_tsa_port(stack, config, tmp_path):
    dsn_file = tmp_path / "database.dsn"
    dsn_file.write_text(await migrated_database(config, "busytsa"))
    cfg = copy.deepcopy(config)
    cfg.database.dsn_file = str(dsn_file)
    cfg.seal.listen = f"127.0.0.1:{free_port()}"
    cfg.seal.metrics_listen = ""
    with taken() as address:
        cfg.seal.tsa_listen = address
        cfg.seal.tsa_url = f"http://{address}/"
        done = _start("services.seal", cfg, tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"services.seal: error: seal.tsa_listen: {address} " in done.stderr, (
        done.stderr
    )
    assert "is already in use" in done.stderr, done.stderr
    for noise in NOISE:
        assert noise not in done.stderr, done.stderr
