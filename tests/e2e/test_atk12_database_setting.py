"""atk12: the database's DSN ([database] dsn_file's content) is the operator's
setting. A role or database that does not exist ends a service with asyncpg's
traceback (about 50 lines, exit 1: asyncpg's PostgresError is none of
certseal.process.START_FAILURES); a DSN that is not one ends it with exit 1 and
``invalid DSN: ...`` naming no setting."""

from __future__ import annotations

import asyncio
import copy
import sys

import pytest

from certseal.config import dump_config
from services.devstack import free_port


async def _start(module: str, cfg, tmp_path, dsn: str) -> tuple[int, str]:
    cfg = copy.deepcopy(cfg)
    for name in ("issuer", "seal", "console", "feed", "tlog"):
        getattr(cfg, name).listen = f"127.0.0.1:{free_port()}"
        getattr(cfg, name).metrics_listen = f"127.0.0.1:{free_port()}"
    dsn_file = tmp_path / "database.dsn"
    dsn_file.write_text(dsn)
    cfg.database.dsn_file = str(dsn_file)
    config_file = tmp_path / "service.toml"
    config_file.write_text(dump_config(cfg))
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", f"services.{module}", "--config", str(config_file)),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(120):  # a bound on a start that fails at once
            _, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, err.decode(errors="replace")


@pytest.mark.parametrize("module", ["issuer", "tlog"])
@pytest.mark.parametrize("wrong", ["role", "database"])
async def test_a_dsn_naming_a_role_or_database_that_does_not_exist_is_one_line(
    stack, config, tmp_path, module, wrong
):
    dsn = config.database.dsn()
    dsn = (
        dsn.replace("postgres:", "nosuchrole:", 1)
        if wrong == "role"
        else dsn.replace("/certseal?", "/nosuchdatabase?", 1)
    )
    assert dsn != config.database.dsn()
    code, stderr = await _start(module, config, tmp_path, dsn)
    assert code != 0, stderr
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and errors[0].startswith(f"services.{module}: error: ")


@pytest.mark.parametrize("module", ["issuer", "tlog"])
async def test_a_dsn_that_is_not_one_exits_2_naming_the_setting(
    stack, config, tmp_path, module
):
    code, stderr = await _start(module, config, tmp_path, "not a dsn at all")
    assert code == 2, stderr
    assert f"services.{module}: error: database.dsn_file: " in stderr, stderr
