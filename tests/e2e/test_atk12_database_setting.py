"""atk12: the database's DSN ([database] dsn_file's content) is the operator's
setting. A role or database that does not exist ended a service with asyncpg's
traceback (about 50 lines, exit 1); a DSN that is not one with exit 1 and
``invalid DSN: ...`` naming no setting. Now: one line each (certseal.storage.pool.
create_pool), the second exit 2 naming database.dsn_file."""

from __future__ import annotations

import copy

import pytest

from services.devstack import free_port
from tests.e2e.test_busy_ports import _start as _run_service


async def _start(module: str, cfg, tmp_path, dsn: str) -> tuple[int, str]:
    cfg = copy.deepcopy(cfg)
    for name in ("issuer", "seal", "console", "feed", "tlog"):
        getattr(cfg, name).listen = f"127.0.0.1:{free_port()}"
        getattr(cfg, name).metrics_listen = f"127.0.0.1:{free_port()}"
    dsn_file = tmp_path / "database.dsn"
    dsn_file.write_text(dsn)
    cfg.database.dsn_file = str(dsn_file)
    done = _run_service(f"services.{module}", cfg, tmp_path)
    return done.returncode, done.stderr


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
