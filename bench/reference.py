"""What every bench shares to measure a service against the limit in the same run.

- :func:`start_echo`: the echo reference server (bench.echo) as its own process, with
  the stack's server identity, on a free port.
- :func:`watch`: the ``--watch`` arguments for the load generator: the service's
  process tree, PostgreSQL's (postmaster and backends) and the broker's, so that every
  run reports ``cpu_us`` per operation for each (bench.proccpu).
- :func:`versus`: a rate divided by the same-run echo rate (``*_vs_echo``).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any, Protocol

from bench import proccpu
from certseal.devpki import DevCA
from certseal.devstack import EmbeddedStack, free_port


class _WithCA(Protocol):
    ca: DevCA


def start_echo(
    stack: _WithCA, model: str = "aio"
) -> tuple[subprocess.Popen[bytes], int]:
    """The echo reference server over the stack's mTLS; (process, port) once listening.
    ``model``: its process model (``bench.echo.MODELS``; the reference is ``aio``)."""
    server = stack.ca.identity("service:certseal", server=True)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.echo",
            "--listen",
            f"127.0.0.1:{port}",
            "--ca",
            str(stack.ca.ca_file),
            "--cert",
            str(server.cert_file),
            "--key",
            str(server.key_file),
            "--model",
            model,
        ]
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the echo reference server exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    process.terminate()
    raise RuntimeError("the echo reference server did not listen within 30 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a bench process and wait for it."""
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_loadgen(
    ca: DevCA, port: int, identities: Sequence[str], *options: str
) -> dict[str, Any]:
    """One run of the load generator (``bench.loadgen``, a process of its own)
    against ``localhost:port`` over ``ca``'s mTLS, its callers spread over
    ``identities`` (common names, each issued by ``ca``); ``options``: its other
    arguments. Its JSON result; RuntimeError with the end of its stderr when it
    fails."""
    certificates: list[str] = []
    for name in identities:
        identity = ca.identity(name)
        certificates += [
            "--cert",
            str(identity.cert_file),
            "--key",
            str(identity.key_file),
        ]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.loadgen",
            "--target",
            f"localhost:{port}",
            "--ca",
            str(ca.ca_file),
            *certificates,
            *options,
        ],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise RuntimeError(f"load generator failed:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def watch(stack: EmbeddedStack, service_pid: int) -> list[str]:
    """``--watch`` arguments: the service, PostgreSQL and the broker."""
    groups = {
        "service": [service_pid],
        "postgres": [proccpu.postgres_pid(stack.home / "pg")],
        "broker": [stack.broker_pid],
    }
    return [
        arg
        for name, pids in groups.items()
        for arg in ("--watch", f"{name}=" + ",".join(map(str, pids)))
    ]


def versus(rate: float, echo_rate: float) -> float:
    """``rate`` as a fraction of the same-run echo reference's (3 decimals)."""
    return round(rate / echo_rate, 3) if echo_rate else 0.0
