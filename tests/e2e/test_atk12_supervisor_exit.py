"""atk12: a wrong setting ends the issuer with exit status 2 and one line, also with
``[issuer] workers = 2``, where the supervisor's children are the ones that bind."""

from __future__ import annotations

import copy
import os
import signal
import socket
import subprocess
import sys

import pytest

from certseal.config import dump_config
from services.devstack import free_port
from tests.conftest import migrated_database


async def test_a_busy_probe_port_stops_the_issuer_supervisor_with_exit_2(
    stack, config, tmp_path
):
    dsn_file = tmp_path / "database.dsn"
    dsn_file.write_text(await migrated_database(config, "atk12probe"))
    cfg = copy.deepcopy(config)
    cfg.database.dsn_file = str(dsn_file)
    cfg.issuer.workers = 2
    cfg.issuer.listen = f"127.0.0.1:{free_port()}"
    cfg.issuer.metrics_listen = f"127.0.0.1:{free_port()}"
    config_file = tmp_path / "issuer.toml"
    with socket.create_server(("127.0.0.1", 0)) as holder:
        busy = f"127.0.0.1:{holder.getsockname()[1]}"
        cfg.issuer.probe_listen = busy
        config_file.write_text(dump_config(cfg))
        returncode, stderr = _supervised(config_file)
    restarted = "restarting in" in stderr
    assert not restarted, stderr
    assert returncode == 2, stderr
    assert f"services.issuer: error: issuer.probe_listen: {busy} " in stderr, stderr
    for noise in ("Traceback", "Failed to add port"):  # grpcio's own line, twice
        assert noise not in stderr, stderr


def _supervised(config_file) -> tuple[int, str]:
    """The issuer's exit status and stderr, run with a plain Popen (asyncio's child
    watcher lost this fast exit now and then: "Unknown child process pid ..., will
    report returncode 255"); killed, and the test failed, if it runs for 120 s (a
    supervisor that restarts its children for ever)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "services.issuer", "--config", str(config_file)],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        pytest.fail(f"still running after 120 s:\n{stderr[-2000:]}")
    return process.returncode, stderr
