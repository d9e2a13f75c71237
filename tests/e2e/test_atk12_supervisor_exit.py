"""atk12: a wrong setting ends the issuer with exit status 2 and one line, also with
``[issuer] workers = 2``, where the supervisor's children are the ones that bind."""

from __future__ import annotations

import copy
import socket

from certseal.config import dump_config
from services.devstack import free_port
from tests.conftest import migrated_database
from tests.e2e.test_atk10b_busy_ports import _supervised


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
