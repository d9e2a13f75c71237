"""Feed storage: the only writer of the feed tables.

``feed_entitlements`` (what each integrator may receive), ``feed_webhooks`` (endpoints,
their filters and wrapped HMAC keys) and ``feed_webhook_replays`` (the parked deliveries
an operator replayed, or whose replay dropped them as no longer allowed). Every mutation an operator makes writes its row and its audit
rows in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from certseal.audit import AuditEntry
from certseal.storage.audit import RefusalAudit, write_audit
from certseal.storage.idempotency import transaction
from services.feed.domain import Entitlement, Filter

MIGRATIONS = Path(__file__).parent / "migrations"

KNOWN_NAMES = 50_000
"""The most integrators' names a mistyped one is compared with
(:meth:`FeedStore.integrators`, for ``feed revoke``'s suggestion)."""


@dataclass(frozen=True, slots=True)
class WebhookRow:
    """A registered webhook as stored (its HMAC key stays wrapped under the KEK)."""

    name: str
    integrator: str
    url: str
    filter: Filter
    wrapped_secret: bytes

    def __repr__(self) -> str:
        return f"WebhookRow(name={self.name}, url={self.url})"


def _sets(row: asyncpg.Record) -> tuple[frozenset[str], ...]:
    """A row's departments, licence types and event types, in that order."""
    return tuple(
        frozenset(row[c]) for c in ("departments", "licence_types", "event_types")
    )


def _entitlement(row: asyncpg.Record) -> Entitlement:
    return Entitlement(row["integrator"], *_sets(row))


def _webhook(row: asyncpg.Record) -> WebhookRow:
    return WebhookRow(
        row["name"],
        row["integrator"],
        row["url"],
        Filter(*_sets(row)),
        row["wrapped_secret"],
    )


class FeedStore(RefusalAudit):
    """Queries and transactions over the feed tables, and the refusals' audit rows."""

    def __init__(self, pool: asyncpg.Pool):
        RefusalAudit.__init__(self, pool)

    async def entitlement(self, integrator: str) -> Entitlement | None:
        """The entitlement of ``integrator`` (``integrator:<name>``), if one was set."""
        row = await self.pool.fetchrow(
            "select * from feed_entitlements where integrator = $1", integrator
        )
        return _entitlement(row) if row else None

    async def entitlements(
        self, after: str = "", limit: int | None = None
    ) -> list[Entitlement]:
        """The entitlements by integrator: every one, or at most ``limit`` of those
        whose integrator sorts after ``after`` (a page, :mod:`certseal.paging`)."""
        rows = await self.pool.fetch(
            """select * from feed_entitlements where integrator > $1
               order by integrator limit $2""",
            after,
            limit,
        )
        return [_entitlement(r) for r in rows]

    async def integrators(self, limit: int = KNOWN_NAMES) -> list[str]:
        """The first ``limit`` integrators with an entitlement, by name (their
        entitlements unread: a mistyped name's suggestions)."""
        rows = await self.pool.fetch(
            "select integrator from feed_entitlements order by integrator limit $1",
            limit,
        )
        return [r["integrator"] for r in rows]

    async def set_entitlement(
        self,
        entitlement: Entitlement,
        *,
        at: dt.datetime,
        by: str,
        audit: Sequence[AuditEntry],
    ) -> bool:
        """Insert or replace an entitlement, set by ``by`` ``at``, with its audit.

        One of no right (every list empty) withdraws: it is written, with its audit,
        only over one that holds a right, in one conditional statement (of two
        withdrawals at once, one withdraws); False, nothing written, otherwise."""
        lists = (
            sorted(entitlement.departments),
            sorted(entitlement.licence_types),
            sorted(entitlement.event_types),
        )
        async with transaction(self.pool) as conn:
            if any(lists):
                await conn.execute(
                    """insert into feed_entitlements values ($1, $2, $3, $4, $5, $6)
                       on conflict (integrator) do update set departments = $2,
                           licence_types = $3, event_types = $4, updated_at = $5,
                           updated_by = $6""",
                    entitlement.integrator,
                    *lists,
                    at,
                    by,
                )
            elif not await conn.fetchval(
                """update feed_entitlements set departments = '{}',
                       licence_types = '{}', event_types = '{}', updated_at = $2,
                       updated_by = $3
                   where integrator = $1 and (cardinality(departments) > 0
                       or cardinality(licence_types) > 0
                       or cardinality(event_types) > 0)
                   returning true""",
                entitlement.integrator,
                at,
                by,
            ):
                return False
            await write_audit(conn, audit)
            return True

    async def webhooks(
        self, integrator: str | None = None, after: str = "", limit: int | None = None
    ) -> list[WebhookRow]:
        """Every registered webhook, or ``integrator``'s, by name; or at most
        ``limit`` of those whose name sorts after ``after`` (a page,
        :mod:`certseal.paging`)."""
        rows = await self.pool.fetch(
            "select * from feed_webhooks where ($1::text is null or integrator = $1) "
            "and name > $2 order by name limit $3",
            integrator,
            after,
            limit,
        )
        return [_webhook(r) for r in rows]

    async def webhook(self, name: str) -> WebhookRow | None:
        """One webhook."""
        row = await self.pool.fetchrow(
            "select * from feed_webhooks where name = $1", name
        )
        return _webhook(row) if row else None

    async def put_webhook(
        self,
        webhook: WebhookRow,
        *,
        at: dt.datetime,
        by: str,
        audit: Sequence[AuditEntry],
    ) -> None:
        """Insert or replace a webhook, registered by ``by`` ``at``, with its audit."""
        async with transaction(self.pool) as conn:
            await conn.execute(
                """insert into feed_webhooks values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                   on conflict (name) do update set integrator = $2, url = $3,
                       departments = $4, licence_types = $5, event_types = $6,
                       wrapped_secret = $7, created_at = $8, created_by = $9""",
                webhook.name,
                webhook.integrator,
                webhook.url,
                sorted(webhook.filter.departments),
                sorted(webhook.filter.licence_types),
                sorted(webhook.filter.event_types),
                webhook.wrapped_secret,
                at,
                by,
            )
            await write_audit(conn, audit)

    async def delete_webhook(self, name: str, *, audit: Sequence[AuditEntry]) -> bool:
        """Delete webhook ``name`` and its replay records, with its audit; False
        (nothing written) when no webhook has that name. The webhook is locked
        first: a replay record written meanwhile waits, then is deleted with the
        rest, or finds the webhook gone (atk74b: a foreign-key violation)."""
        async with transaction(self.pool) as conn:
            if not await conn.fetchval(
                "select true from feed_webhooks where name = $1 for update", name
            ):
                return False
            await conn.execute(
                "delete from feed_webhook_replays where webhook = $1", name
            )
            await conn.execute("delete from feed_webhooks where name = $1", name)
            await write_audit(conn, audit)
        return True

    async def replayed(self, webhook: str) -> set[int]:
        """The dead-letter offsets of ``webhook``'s parked deliveries already replayed."""
        rows = await self.pool.fetch(
            "select dlq_offset from feed_webhook_replays where webhook = $1", webhook
        )
        return {r["dlq_offset"] for r in rows}

    async def end_replay(
        self,
        webhook: str,
        dropped: Sequence[int],
        *,
        at: dt.datetime,
        audit: Sequence[AuditEntry],
    ) -> None:
        """Drop the parked deliveries at dead-letter offsets ``dropped`` (a replay
        skipped them: no longer allowed) from the list, with the replay's audit."""
        async with transaction(self.pool) as conn:
            await conn.execute(_RECORD_REPLAYS, webhook, list(dropped), at)
            await write_audit(conn, audit)

    async def mark_replayed(self, webhook: str, offset: int, at: dt.datetime) -> None:
        """Record that the parked delivery at dead-letter ``offset`` went through
        (nothing once the webhook was removed)."""
        await self.pool.execute(_RECORD_REPLAYS, webhook, [offset], at)


#: replay records of webhook $1 at dead-letter offsets $2, none once the webhook is
#: removed: its row locked, a removal under way is waited for (atk74b: a record
#: written while a removal ran violated the foreign key, INTERNAL)
_RECORD_REPLAYS = """insert into feed_webhook_replays
    select name, o, $3 from feed_webhooks, unnest($2::bigint[]) as o
     where name = $1 for key share of feed_webhooks
    on conflict do nothing"""
