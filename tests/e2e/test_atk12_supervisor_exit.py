"""atk12: a wrong setting ends the issuer with exit status 2 and one line, also with
``[issuer] workers = 2``, where the supervisor's children are the ones that bind."""

from __future__ import annotations

import asyncio
import copy
import socket
import sys

import pytest

from certseal.config import dump_config
from services.devstack import free_port
from tests.conftest import migrated_database


@pytest.mark.xfail(
    strict=True,
    reason="atk12: the supervisor checks issuer.listen before it starts its children "
    "but not issuer.probe_listen, which each serving child binds; a child's exit 2 "
    "is restarted like a crash, for ever",
)
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
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "services.issuer", "--config", str(config_file)),
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stderr is not None
        said: list[str] = []
        restarted = False
        try:
            # until the supervisor ends, or says it restarts a child (an event the
            # process reports, not a time waited for)
            async with asyncio.timeout(180):
                while line := (await process.stderr.readline()).decode():
                    said.append(line)
                    if "restarting in" in line:
                        restarted = True
                        break
        finally:
            if process.returncode is None:
                process.terminate()
            await process.wait()
    stderr = "".join(said)
    assert not restarted, stderr
    assert process.returncode == 2, stderr
    assert f"services.issuer: error: issuer.probe_listen: {busy} " in stderr, stderr
    for noise in ("Traceback", "Failed to add port"):  # grpcio's own line, twice
        assert noise not in stderr, stderr
