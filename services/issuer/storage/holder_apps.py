"""Holder-app grants: which licence types each holder app may read, holder-bound."""

from __future__ import annotations

import datetime as dt

import asyncpg

from certseal.audit import AuditEntry
from certseal.storage.audit import write_audit
from certseal.storage.idempotency import transaction
from services.issuer.domain import HolderAppGrant


def _grant(row: asyncpg.Record) -> HolderAppGrant:
    return HolderAppGrant(
        row["app"], row["type_code"], row["granted_at"], row["granted_by"]
    )


class HolderAppStore:
    """Queries and transactions over ``holder_app_grants``."""

    pool: asyncpg.Pool

    async def grant_holder_app(
        self, app: str, type_code: str, at: dt.datetime, by: str, audit: AuditEntry
    ) -> HolderAppGrant:
        """Grant ``app`` the type (idempotent: an existing grant is kept as it was),
        with its audit row."""
        async with transaction(self.pool) as conn:
            await conn.execute(
                """insert into holder_app_grants (app, type_code, granted_at, granted_by)
                   values ($1, $2, $3, $4) on conflict (app, type_code) do nothing""",
                app,
                type_code,
                at,
                by,
            )
            row = await conn.fetchrow(
                "select * from holder_app_grants where app = $1 and type_code = $2",
                app,
                type_code,
            )
            await write_audit(conn, [audit])
        return _grant(row)

    async def revoke_holder_app(
        self, app: str, type_code: str, audit: AuditEntry
    ) -> HolderAppGrant | None:
        """Withdraw a grant with its audit row; None (and no audit) when there was
        none."""
        async with transaction(self.pool) as conn:
            row = await conn.fetchrow(
                """delete from holder_app_grants where app = $1 and type_code = $2
                   returning *""",
                app,
                type_code,
            )
            if row is None:
                return None
            await write_audit(conn, [audit])
        return _grant(row)

    async def holder_app_grants(self, app: str | None = None) -> list[HolderAppGrant]:
        """The grants of ``app`` (None: of every app), by app and type."""
        found = await self.pool.fetch(
            """select * from holder_app_grants where ($1::text is null or app = $1)
               order by app, type_code""",
            app,
        )
        return [_grant(r) for r in found]
