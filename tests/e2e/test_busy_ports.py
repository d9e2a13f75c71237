"""A port another process already listens on is a configuration mistake, and each
service says so in one line naming its setting and the address (``error:
<section>.<setting>: <host:port> is already in use ...``), with no traceback: the
issuer and the console exit 1 (services' start-up failures), the verifier exits 2
before Faust starts (its bad settings are bad input). Found by a new user whose
``make run`` met a busy port: grpcio's RuntimeError, Faust's traceback and a bare
``[Errno 98]`` named neither the setting nor, for the verifier, the right port."""

from __future__ import annotations

import copy
import errno
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from certseal.config import dump_config
from certseal.listen import bind_error, bind_problem
from certseal.v1 import verifier_pb2
from services.devstack import free_port
from tests.conftest import migrated_database, verifier_process


@contextmanager
def taken() -> Iterator[str]:
    """A ``127.0.0.1:port`` this test listens on while the block runs."""
    with socket.create_server(("127.0.0.1", 0)) as holder:
        yield f"127.0.0.1:{holder.getsockname()[1]}"


def _start(
    module: str, cfg, tmp_path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    config_file = tmp_path / f"{module}.toml"
    config_file.write_text(dump_config(cfg))
    return subprocess.run(
        [sys.executable, "-m", module, "--config", str(config_file)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _one_clear_line(done: subprocess.CompletedProcess[str], expected: str) -> None:
    assert expected in done.stderr, done.stderr
    assert "is already in use" in done.stderr, done.stderr
    for noise in ("Traceback", "Exception ignored", "Errno 98", "Failed to bind"):
        assert noise not in done.stderr, done.stderr


@pytest.mark.parametrize("setting", ["listen", "metrics_listen"])
async def test_the_issuer_names_its_busy_port(stack, config, tmp_path, setting):
    dsn_file = tmp_path / "database.dsn"
    dsn_file.write_text(await migrated_database(config, "busyport"))
    cfg = copy.deepcopy(config)
    cfg.database.dsn_file = str(dsn_file)
    cfg.issuer.listen = f"127.0.0.1:{free_port()}"
    cfg.issuer.metrics_listen = f"127.0.0.1:{free_port()}"
    with taken() as address:
        setattr(cfg.issuer, setting, address)
        done = _start("services.issuer", cfg, tmp_path)
    assert done.returncode == 2, done.stderr
    _one_clear_line(done, f"services.issuer: error: issuer.{setting}: {address} ")


@pytest.mark.parametrize("setting", ["listen", "metrics_listen", "probe_listen"])
def test_the_verifier_names_its_busy_port_before_it_starts(config, tmp_path, setting):
    cfg = copy.deepcopy(config)
    cfg.verifier.data_dir = str(tmp_path / "verifier")
    for other in ("listen", "metrics_listen", "probe_listen"):  # not the defaults,
        setattr(cfg.verifier, other, f"127.0.0.1:{free_port()}")  # maybe in use
    with taken() as address:
        setattr(cfg.verifier, setting, address)
        done = _start("services.verifier", cfg, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(
        f"services.verifier: error: verifier.{setting}: {address} "
    ), done.stderr
    _one_clear_line(done, f"verifier.{setting}")
    assert not (tmp_path / "verifier").exists()  # refused before touching anything


async def test_the_test_harness_moves_a_verifier_off_a_port_taken_before_it_binds(
    stack, config, tmp_path
):
    """VerifierProcess's port comes from free_port(), which cannot hold it: when
    another process takes it first, the verifier says so and the harness starts it on
    another (a CI run lost a module to such a port)."""
    verifier = verifier_process(stack, config, tmp_path, "p")
    first = verifier.port
    kept = verifier.stub  # as a test keeps it across a restart (CI: refused)
    with socket.create_server(("127.0.0.1", first)):
        await verifier.start()
        try:
            await verifier.wait_serving()
            # the stub kept from before follows the worker to its new port
            status = await kept.GetIndexStatus(
                verifier_pb2.GetIndexStatusRequest(), timeout=30
            )
            assert status.group, status
        finally:
            await verifier.stop()
    # at least once: the next free_port() can be taken too while the suite's other
    # workers start theirs (CI, 2026-12-06: twice)
    assert verifier.rebinds >= 1 and verifier.port != first, verifier.rebinds
    log = (tmp_path / f"{verifier.group}.log").read_text(errors="replace")
    assert f"error: verifier.listen: 127.0.0.1:{first} is already in use" in log


@pytest.mark.parametrize("setting", ["listen", "metrics_listen"])
def test_the_console_names_its_busy_port(stack, config, tmp_path, setting):
    cfg = copy.deepcopy(config)
    cfg.console.listen = f"127.0.0.1:{free_port()}"
    cfg.console.metrics_listen = f"127.0.0.1:{free_port()}"
    with taken() as address:
        setattr(cfg.console, setting, address)
        done = _start("services.console", cfg, tmp_path)
    assert done.returncode == 2, done.stderr
    _one_clear_line(done, f"services.console: error: console.{setting}: {address} ")
    # no background work started before the refusal (the purger took leadership)
    assert "certseal.storage.worker" not in done.stderr, done.stderr


def test_why_an_address_cannot_be_listened_on():
    with taken() as address:
        busy = bind_error(address)
        assert busy is not None and busy.errno == errno.EADDRINUSE
        assert bind_problem(address, busy).startswith(f"{address} is already in use")
    assert bind_error(address) is None  # free again
    for malformed in ("no port", "127.0.0.1:70000", "127.0.0.1:-1", "127.0.0.1:x"):
        assert isinstance(bind_error(malformed), ValueError), malformed
    elsewhere = bind_error("192.0.2.1:8080")  # TEST-NET-1: not this machine's
    assert elsewhere is not None
    assert "is not an address of this machine" in bind_problem("x:1", elsewhere)
    assert bind_problem("x:1", None) == (
        "x:1 cannot be listened on; choose another address in the configuration"
    )


@pytest.mark.skipif(not socket.has_dualstack_ipv6(), reason="no dual-stack IPv6 here")
def test_an_ipv6_wildcard_is_busy_when_ipv4_holds_its_port():
    """gRPC listens on ``[::]:P`` dual-stack, so a process holding ``0.0.0.0:P`` (or
    127.0.0.1:P) stops it: the check finds that too (atk28: an IPv6-only probe said
    the port was free)."""
    for holder_host in ("0.0.0.0", "127.0.0.1"):
        with socket.create_server((holder_host, 0)) as holder:
            port = holder.getsockname()[1]
            busy = bind_error(f"[::]:{port}")
            assert isinstance(busy, OSError), holder_host
            assert busy.errno == errno.EADDRINUSE, holder_host
    port = free_port()
    assert bind_error(f"[::]:{port}") is None


def test_a_name_is_busy_when_any_address_it_resolves_to_is_held(monkeypatch):
    """gRPC listens on every address a name resolves to (``localhost``: ``::1`` and
    ``127.0.0.1`` where both are in /etc/hosts), so a holder of any one is found, not
    only of the first (atk28: an IPv4 holder of 127.0.0.1 was missed when ::1 came
    first). The name's two addresses here are both IPv4 loopback (127.0.0.0/8), so
    the test needs no IPv6."""
    resolve = socket.getaddrinfo

    def two_addresses(host, port, *args, **kwargs):  # the name's resolution only
        if host != "both.test":
            return resolve(host, port, *args, **kwargs)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in ("127.0.0.2", "127.0.0.1")
        ]

    monkeypatch.setattr(socket, "getaddrinfo", two_addresses)
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        busy = bind_error(f"both.test:{port}")
        assert isinstance(busy, OSError) and busy.errno == errno.EADDRINUSE
        assert "127.0.0.1" in str(busy)
    assert bind_error(f"both.test:{port}") is None  # let go: both free
