"""Console storage: the only reader and writer of the console's tables.

``console_accounts`` (the accounts an operator manages, with their Argon2id hashes),
``console_sessions`` (signed-in sessions, by the SHA-256 of the cookie's token) and
``console_login_failures`` (failed sign-ins within the throttling window). Every change
to an account, every sign-in, sign-out and failed sign-in writes its audit row in the
same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from certseal.audit import AuditEntry
from certseal.errors import CertsealError, ErrorKind, not_found, precondition
from certseal.storage.audit import write_audit
from certseal.storage.idempotency import scoped, transaction
from certseal.storage.pool import create_pool, migrate_service
from services.console.accounts import Account, Role

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True, slots=True)
class StoredAccount:
    """An account with its password hash ('' when it signs in by certificate only)."""

    account: Account
    password_hash: str

    def __repr__(self) -> str:
        return f"StoredAccount({self.account.name})"


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A signed-in session and its account."""

    account: Account
    created_at: dt.datetime
    last_seen_at: dt.datetime


def _account(row: asyncpg.Record) -> Account:
    return Account(
        name=row["name"],
        department=row["department"],
        role=Role(row["role"]),
        disabled=row["disabled"],
        has_password=row["password_hash"] is not None,
        certificate=row["certificate"] or "",
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class ConsoleStore:
    """Queries and transactions over the console tables."""

    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    @classmethod
    async def open(cls, dsn: str, *, max_size: int = 4) -> ConsoleStore:
        """A store on its own pool, the kernel's and the console's migrations applied."""
        pool = await create_pool(dsn, min_size=1, max_size=max_size)
        try:
            await migrate_service(pool, "console", MIGRATIONS)
        except BaseException:
            await pool.close()
            raise
        return cls(scoped(pool))

    async def close(self) -> None:
        """Close the pool."""
        await self.pool.close()

    # -- accounts ------------------------------------------------------------------

    async def add_account(
        self,
        account: Account,
        password_hash: str,
        *,
        at: dt.datetime,
        by: str,
        audit: AuditEntry,
    ) -> Account:
        """Insert an account with its audit row; ALREADY_EXISTS if the name (or the
        certificate name) is taken."""
        async with transaction(self.pool) as conn:
            try:
                row = await conn.fetchrow(
                    """insert into console_accounts (name, department, role,
                           password_hash, certificate, disabled, created_at,
                           created_by, updated_at, updated_by)
                       values ($1, $2, $3, $4, $5, false, $6, $7, $6, $7)
                       returning *""",
                    account.name,
                    account.department,
                    account.role.value,
                    password_hash or None,
                    account.certificate or None,
                    at,
                    by,
                )
            except asyncpg.UniqueViolationError as exc:
                field = "certificate" if "certificate" in str(exc) else "name"
                raise CertsealError(
                    ErrorKind.ALREADY_EXISTS,
                    f"an account with this {field} exists already",
                    field=field,
                ) from None
            await write_audit(conn, [audit])
        return _account(row)

    async def account(self, name: str) -> StoredAccount | None:
        """One account with its hash, or None."""
        row = await self.pool.fetchrow(
            "select * from console_accounts where name = $1", name
        )
        return StoredAccount(_account(row), row["password_hash"] or "") if row else None

    async def account_by_certificate(self, common_name: str) -> Account | None:
        """The account a client certificate with ``common_name`` signs in as."""
        row = await self.pool.fetchrow(
            "select * from console_accounts where certificate = $1", common_name
        )
        return _account(row) if row else None

    async def accounts(self) -> list[Account]:
        """Every account, by name."""
        rows = await self.pool.fetch("select * from console_accounts order by name")
        return [_account(r) for r in rows]

    async def update_account(
        self,
        name: str,
        *,
        disabled: bool | None = None,
        password_hash: str | None = None,
        at: dt.datetime,
        by: str,
        audit: AuditEntry,
    ) -> Account:
        """Disable/enable an account or set its password, revoke its sessions, audit.

        NOT_FOUND when there is no such account; FAILED_PRECONDITION (field
        ``name``) when it would disable the last enabled operator (nobody could sign
        in to the operator page again). Disables are serialised on the enabled
        operators' rows, so two operators disabling each other at once leave one.
        """
        async with transaction(self.pool) as conn:
            if disabled:
                await conn.execute(
                    """select 1 from console_accounts
                       where role = 'operator' and not disabled for update"""
                )
            row = await conn.fetchrow(
                """update console_accounts
                   set disabled = coalesce($2, disabled),
                       password_hash = coalesce($3, password_hash),
                       updated_at = $4, updated_by = $5
                   where name = $1 returning *""",
                name,
                disabled,
                password_hash,
                at,
                by,
            )
            if row is None:
                raise not_found(f"console account {name}", field="name")
            if (
                disabled
                and row["role"] == "operator"
                and not await conn.fetchval(
                    """select exists (select 1 from console_accounts
                       where role = 'operator' and not disabled)"""
                )
            ):
                raise precondition(
                    f"{name} is the last enabled operator: enable or add another "
                    "operator first",
                    field="name",
                )
            await conn.execute("delete from console_sessions where account = $1", name)
            await write_audit(conn, [audit])
        return _account(row)

    # -- sessions ------------------------------------------------------------------

    async def create_session(
        self,
        token_hash: bytes,
        account: Account,
        *,
        at: dt.datetime,
        address: str,
        method: str,
        stale_before: dt.datetime,
        audit: AuditEntry,
    ) -> None:
        """Record a sign-in: the session, the audit row; the account's failures are
        forgotten and sessions unused since ``stale_before`` dropped."""
        async with transaction(self.pool) as conn:
            await conn.execute(
                "delete from console_sessions where last_seen_at < $1", stale_before
            )
            await conn.execute(
                "insert into console_sessions values ($1, $2, $3, $3, $4, $5)",
                token_hash,
                account.name,
                at,
                address,
                method,
            )
            await conn.execute(
                "delete from console_login_failures where subject = $1",
                f"account:{account.name}",
            )
            await write_audit(conn, [audit])

    async def session(self, token_hash: bytes) -> SessionRow | None:
        """The session with this token hash and its account, or None."""
        row = await self.pool.fetchrow(
            """select a.*, s.created_at as session_created_at, s.last_seen_at
               from console_sessions s join console_accounts a on a.name = s.account
               where s.token_hash = $1""",
            token_hash,
        )
        if row is None:
            return None
        return SessionRow(_account(row), row["session_created_at"], row["last_seen_at"])

    async def touch_session(self, token_hash: bytes, at: dt.datetime) -> None:
        """The session was used ``at``."""
        await self.pool.execute(
            "update console_sessions set last_seen_at = $2 "
            "where token_hash = $1 and last_seen_at < $2",
            token_hash,
            at,
        )

    async def delete_session(
        self, token_hash: bytes, *, audit: AuditEntry | None
    ) -> bool:
        """Sign out (with the audit row); whether there was such a session."""
        async with transaction(self.pool) as conn:
            deleted = await conn.fetchval(
                "delete from console_sessions where token_hash = $1 returning account",
                token_hash,
            )
            if deleted is not None and audit is not None:
                await write_audit(conn, [audit])
        return deleted is not None

    # -- failed sign-ins -----------------------------------------------------------

    async def failures(
        self, subjects: Sequence[str], since: dt.datetime
    ) -> dict[str, list[dt.datetime]]:
        """The failed sign-ins of each subject since ``since``."""
        rows = await self.pool.fetch(
            """select subject, failed_at from console_login_failures
               where subject = any($1::text[]) and failed_at >= $2""",
            list(subjects),
            since,
        )
        found: dict[str, list[dt.datetime]] = {s: [] for s in subjects}
        for row in rows:
            found[row["subject"]].append(row["failed_at"])
        return found

    async def record_failure(
        self,
        subjects: Sequence[str],
        *,
        at: dt.datetime,
        forget_before: dt.datetime,
        audit: AuditEntry,
    ) -> None:
        """A failed (or refused) sign-in: its audit row, and a failure per subject
        unless ``subjects`` is empty; failures older than ``forget_before`` go."""
        async with transaction(self.pool) as conn:
            if subjects:
                await conn.execute(
                    "delete from console_login_failures where failed_at < $1",
                    forget_before,
                )
                await conn.execute(
                    """insert into console_login_failures (subject, failed_at)
                       select unnest($1::text[]), $2""",
                    list(subjects),
                    at,
                )
            await write_audit(conn, [audit])
