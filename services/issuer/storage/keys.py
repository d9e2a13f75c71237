"""Signing keys: the ``signing_keys`` table and its trust events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import asyncpg

from certseal.storage.audit import write_audit
from certseal.storage.idempotency import transaction
from certseal.storage.outbox import write_outbox
from services.issuer.domain import SigningKey
from services.issuer.storage import rows
from services.issuer.storage.rows import AlreadyStored, Records


class KeyStore:
    """Queries and transactions over ``signing_keys``."""

    pool: asyncpg.Pool

    async def department_keys(self, code: str) -> list[SigningKey]:
        """A department's keys, newest first."""
        found = await self.pool.fetch(
            "select * from signing_keys where department_code = $1 order by created_at desc",
            code,
        )
        return [rows.signing_key(r) for r in found]

    async def active_presentation_key(self) -> SigningKey | None:
        """The platform's active presentation key."""
        row = await self.pool.fetchrow(
            "select * from signing_keys where presentation and status = 'active'"
        )
        return rows.signing_key(row) if row else None

    async def create_key(
        self,
        key: SigningKey,
        *,
        retire: Sequence[str],
        at: dt.datetime,
        make_records: Callable[[SigningKey, Sequence[SigningKey]], Records],
    ) -> list[SigningKey]:
        """Store ``key`` and retire the keys ``retire`` (kids) at ``at``, in one
        transaction; returns the retired keys.

        ``make_records(key, retired)`` gives the (events, audit rows) written with them.
        Raises :class:`AlreadyStored` when the kid, or the one active presentation key,
        exists already.
        """
        async with transaction(self.pool) as conn:
            try:
                await _insert_key(conn, key)
            except asyncpg.UniqueViolationError as exc:
                raise AlreadyStored(str(exc)) from exc
            retired = [
                await _update_key(conn, kid, status="retired", at=at) for kid in retire
            ]
            events, audit = make_records(key, retired)
            await write_outbox(conn, events)
            await write_audit(conn, audit)
        return retired

    async def change_key_status(
        self,
        kid: str,
        *,
        status: str,
        at: dt.datetime,
        reason: str,
        check: Callable[[SigningKey], None],
        make_records: Callable[[SigningKey], Records],
    ) -> SigningKey | None:
        """Retire or revoke a key under its row lock; None when there is no such key.

        ``check(key)`` sees the locked key first and raises to refuse (nothing is
        written then); ``make_records(changed)`` gives the (events, audit rows) of the
        changed key, written in the same transaction.
        """
        async with transaction(self.pool) as conn:
            row = await conn.fetchrow(
                "select * from signing_keys where kid = $1 for update", kid
            )
            if row is None:
                return None
            check(rows.signing_key(row))
            changed = await _update_key(conn, kid, status=status, at=at, reason=reason)
            events, audit = make_records(changed)
            await write_outbox(conn, events)
            await write_audit(conn, audit)
        return changed


async def _insert_key(conn: asyncpg.Connection, key: SigningKey) -> None:
    await conn.execute(
        """insert into signing_keys (kid, department_code, suite, status, public_key,
               wrapped_private_key, not_before, not_after, created_at, key_version,
               presentation)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
        key.kid,
        key.department_code,
        key.suite,
        key.status,
        key.public_key,
        key.wrapped_private_key,
        key.not_before,
        key.not_after,
        key.created_at,
        key.key_version,
        key.presentation,
    )


async def _update_key(
    conn: asyncpg.Connection,
    kid: str,
    *,
    status: str,
    at: dt.datetime,
    reason: str = "",
) -> SigningKey:
    """Set a key's status (retired_at / revoked_at follow) and bump its version."""
    row = await conn.fetchrow(
        """update signing_keys set status = $2, key_version = key_version + 1,
               retired_at = case when $2 = 'retired' then $3 else retired_at end,
               revoked_at = case when $2 = 'revoked' then $3 else revoked_at end,
               revocation_reason = case when $2 = 'revoked' then $4
                                        else revocation_reason end
           where kid = $1 returning *""",
        kid,
        status,
        at,
        reason,
    )
    return rows.signing_key(row)
