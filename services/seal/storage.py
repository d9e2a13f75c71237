"""Seal storage: the only writer of the seal tables.

Every mutation writes its rows, its outbox rows and its audit rows in one transaction.

It also reads one table it does not own: the issuer's ``departments`` (``code text``,
``roles text[]``) in the same PostgreSQL database, to learn whether a department was
onboarded with the ``seal_owner`` role. That read-only query is the whole contract
between the two services here (they never import each other): the issuer owns the
table and its migrations; a database where the issuer has not migrated yet has no
departments, so every department is refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from certseal.audit import AuditEntry
from certseal.events import OutboxRecord
from certseal.storage.audit import write_audit
from certseal.storage.idempotency import transaction
from certseal.storage.outbox import write_outbox
from certseal.storage.pool import migrate_service
from services.seal.domain import Seal

MIGRATIONS = Path(__file__).parent / "migrations"


async def migrate_all(pool: asyncpg.Pool) -> list[str]:
    """Kernel then seal migrations."""
    return await migrate_service(pool, "seal", MIGRATIONS)


@dataclass(frozen=True, slots=True)
class MakerRow:
    """The platform's seal maker of one suite."""

    suite: str
    ca_fingerprint: str
    kid: str
    public_key: bytes
    wrapped_key: bytes
    certificate: bytes

    def __repr__(self) -> str:
        return f"MakerRow(suite={self.suite}, kid={self.kid})"


def _seal(row: asyncpg.Record) -> Seal:
    return Seal(**{**dict(row), "signers": tuple(row["signers"])})


class SealStore:
    """Queries and transactions over the seal tables."""

    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def maker(self, suite: str, ca_fingerprint: str) -> MakerRow | None:
        """The seal maker of ``suite`` under the seal CA, if one was created."""
        row = await self.pool.fetchrow(
            """select suite, ca_fingerprint, kid, public_key, wrapped_key, certificate
               from seal_makers where suite = $1 and ca_fingerprint = $2""",
            suite,
            ca_fingerprint,
        )
        return MakerRow(**dict(row)) if row else None

    async def insert_maker(self, maker: MakerRow, at: dt.datetime) -> MakerRow:
        """Store a new maker, or return the one another process stored first."""
        async with self.pool.acquire() as conn:
            await conn.execute(
                """insert into seal_makers (suite, ca_fingerprint, kid, public_key,
                       wrapped_key, certificate, created_at)
                   values ($1, $2, $3, $4, $5, $6, $7)
                   on conflict (suite, ca_fingerprint) do nothing""",
                maker.suite,
                maker.ca_fingerprint,
                maker.kid,
                maker.public_key,
                maker.wrapped_key,
                maker.certificate,
                at,
            )
        stored = await self.maker(maker.suite, maker.ca_fingerprint)
        assert stored is not None
        return stored

    async def department_roles(self, code: str) -> tuple[str, ...] | None:
        """The roles of onboarded department ``code`` (the issuer's ``departments``
        table); None when it was never onboarded."""
        try:
            roles = await self.pool.fetchval(
                "select roles from departments where code = $1", code
            )
        except asyncpg.UndefinedTableError:  # the issuer has not migrated yet
            return None
        return tuple(roles) if roles is not None else None

    async def get(self, seal_id: str) -> Seal | None:
        """One seal."""
        row = await self.pool.fetchrow(
            "select * from seals where seal_id = $1", seal_id
        )
        return _seal(row) if row else None

    async def list(self, owner_code: str, *, after: str, limit: int) -> list[Seal]:
        """An owner's seals in seal id order, after the id ``after``."""
        rows = await self.pool.fetch(
            """select * from seals where owner_code = $1 and seal_id > $2
               order by seal_id limit $3""",
            owner_code,
            after,
            limit,
        )
        return [_seal(r) for r in rows]

    async def insert(
        self, seal: Seal, events: Sequence[OutboxRecord], audit: Sequence[AuditEntry]
    ) -> bool:
        """Store a new seal with its event and audit; False when the id is taken."""
        async with transaction(self.pool) as conn:
            inserted = await conn.fetchval(
                """insert into seals (seal_id, owner_code, seal_type, name, suite, status,
                       valid_start, valid_end, signers, kid, wrapped_key, certificate,
                       seal, created_at, revoked_at, revocation_reason, seal_version)
                   values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                           $15, $16, $17)
                   on conflict (seal_id) do nothing returning true""",
                seal.seal_id,
                seal.owner_code,
                seal.seal_type,
                seal.name,
                seal.suite,
                seal.status,
                seal.valid_start,
                seal.valid_end,
                list(seal.signers),
                seal.kid,
                seal.wrapped_key,
                seal.certificate,
                seal.seal,
                seal.created_at,
                seal.revoked_at,
                seal.revocation_reason,
                seal.seal_version,
            )
            if not inserted:
                return False
            await write_outbox(conn, events)
            await write_audit(conn, audit)
        return True

    async def revoke(
        self,
        seal_id: str,
        *,
        at: dt.datetime,
        reason: str,
        make_records: Callable[
            [Seal], tuple[Sequence[OutboxRecord], Sequence[AuditEntry]]
        ],
    ) -> Seal | None:
        """Revoke an active seal under its row lock; None when it is not active.

        ``make_records(row)`` gives the (events, audit) of the revoked row.
        """
        async with transaction(self.pool) as conn:
            row = await conn.fetchrow(
                """update seals set status = 'revoked', revoked_at = $2,
                          revocation_reason = $3, seal_version = seal_version + 1
                   where seal_id = $1 and status = 'active' returning *""",
                seal_id,
                at,
                reason,
            )
            if row is None:
                return None
            revoked = _seal(row)
            events, audit = make_records(revoked)
            await write_outbox(conn, events)
            await write_audit(conn, audit)
        return revoked

    async def record(
        self, events: Sequence[OutboxRecord], audit: Sequence[AuditEntry]
    ) -> None:
        """Write events and audit rows in one transaction (a sealed document)."""
        async with transaction(self.pool) as conn:
            await write_outbox(conn, events)
            await write_audit(conn, audit)

    async def audit(self, entries: Sequence[AuditEntry]) -> None:
        """Write audit rows on their own (refusals)."""
        await write_audit(self.pool, entries)
