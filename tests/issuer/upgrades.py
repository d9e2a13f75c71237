"""What the issuer's in-place upgrade tests share: a database of its own as a previous
main left it, and the migrations an issuer's start applies to it."""

from __future__ import annotations

import shutil

import asyncpg

from certseal.storage.pool import create_pool, migrate_service
from services.config import Config
from services.issuer.app import IssuerApp
from services.issuer.storage import MIGRATIONS
from tests.conftest import own_database


async def previous_main_database(
    config: Config, tmp_path, last: int
) -> tuple[Config, asyncpg.Pool]:
    """A new database migrated as a previous main left it (issuer migrations up to
    ``last``), the configuration that points at it, and a pool on it."""
    cfg = await own_database(config, tmp_path, "issuer_upgrade")
    previous = tmp_path / "previous"
    previous.mkdir()
    for migration in sorted(MIGRATIONS.glob("*.sql")):
        if int(migration.name[:4]) <= last:
            shutil.copy(migration, previous)
    pool = await create_pool(cfg.database.dsn(), min_size=1, max_size=2)
    await migrate_service(pool, "issuer", previous)
    return cfg, pool


async def applied_by_an_issuer(
    cfg: Config, pool: asyncpg.Pool, component: str
) -> set[str]:
    """Start and stop an issuer on ``cfg``'s database (it migrates it); the names of
    ``component``'s migrations applied there."""
    app = IssuerApp(cfg, serve=False, background=False)
    await app.start()
    await app.stop()
    return {
        r["name"]
        for r in await pool.fetch(
            "select name from schema_migrations where component = $1", component
        )
    }
