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
from certseal.errors import precondition
from certseal.events import OutboxRecord
from certseal.storage.audit import RefusalAudit, write_audit
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


class SealStore(RefusalAudit):
    """Queries and transactions over the seal tables (and refused operations)."""

    def __init__(self, pool: asyncpg.Pool):
        RefusalAudit.__init__(self, pool)

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

    async def status(self, seal_id: str) -> tuple[str, dt.datetime | None] | None:
        """A seal's (status, revoked_at), what a verification asks the registry;
        None when no such seal is registered."""
        row = await self.pool.fetchrow(
            "select status, revoked_at from seals where seal_id = $1", seal_id
        )
        return (row["status"], row["revoked_at"]) if row else None

    async def statuses(
        self, seal_ids: Sequence[str]
    ) -> dict[str, tuple[str, dt.datetime | None]]:
        """(status, revoked_at) of each of ``seal_ids`` registered here (one absent:
        not registered), in one statement on a connection of the pool's own, never a
        request's held transaction (:mod:`services.seal.statusreads` reads for
        several requests at once)."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                """select seal_id, status, revoked_at from seals
                   where seal_id = any($1::text[])""",
                list(seal_ids),
            )
        return {r["seal_id"]: (r["status"], r["revoked_at"]) for r in rows}

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
        """Store a new seal with its event and audit; False when the id is taken.
        The owner's seal_owner role is read again under a share lock of its
        ``departments`` row: the issuer takes the role only from a department with
        no active seal, under that row's lock, so one of the two sees the other.
        FAILED_PRECONDITION (``owner_code``) when the role went meanwhile."""
        async with transaction(self.pool) as conn:
            if not await conn.fetchval(
                """select true from departments where code = $1
                    and 'seal_owner' = any(roles) for share""",
                seal.owner_code,
            ):
                raise precondition(
                    f"department {seal.owner_code} no longer has the seal_owner role",
                    field="owner_code",
                )
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

    async def record_sealed(self, sealed: Sequence[SealedRecord]) -> set[str]:
        """Write the event and audit rows of documents sealed with seals that are
        still active, in ONE statement (its own transaction, or the request's held
        one under an idempotency key), each seal's row share-locked for it so that a
        revocation commits wholly before or after; the ids of the seals found active.
        Rows of a seal not found active are not written (its caller is told the seal
        is revoked). Events go to the outbox in the order given.

        One statement instead of BEGIN, two inserts and COMMIT: 1 round trip and 1
        commit instead of 4 round trips, and concurrent seals share it
        (:mod:`services.seal.groupcommit`).
        """
        if not sealed:
            return set()
        events = [(r.seal_id, e) for r in sealed for e in r.events]
        audits = [(r.seal_id, a) for r in sealed for a in r.audit]
        async with transaction(self.pool, single_statement=True) as conn:
            rows = await conn.fetch(
                """
            with s as (select seal_id from seals
                       where seal_id = any($1::text[]) and status = 'active'
                       for share),
            ob as (insert into outbox (topic, key, value, headers)
                   select u.topic, u.key, u.value, u.headers
                   from unnest($2::text[], $3::text[], $4::bytea[], $5::bytea[],
                               $6::jsonb[]) with ordinality
                        as u(seal_id, topic, key, value, headers, n)
                   where u.seal_id in (select seal_id from s)
                   order by u.n),
            au as (insert into audit_log (occurred_at, actor, action, subject,
                                          outcome, details, request_id)
                   select u.occurred_at, u.actor, u.action, u.subject, u.outcome,
                          u.details, u.request_id
                   from unnest($7::text[], $8::timestamptz[], $9::text[], $10::text[],
                               $11::text[], $12::text[], $13::jsonb[], $14::text[])
                        with ordinality
                        as u(seal_id, occurred_at, actor, action, subject, outcome,
                             details, request_id, n)
                   where u.seal_id in (select seal_id from s)
                   order by u.n)
            select seal_id from s""",
                sorted({r.seal_id for r in sealed}),
                [sid for sid, _ in events],
                [e.topic for _, e in events],
                [e.key for _, e in events],
                [e.value for _, e in events],
                [e.headers for _, e in events],
                [sid for sid, _ in audits],
                [a.occurred_at for _, a in audits],
                [a.actor for _, a in audits],
                [a.action for _, a in audits],
                [a.subject for _, a in audits],
                [a.outcome for _, a in audits],
                [a.details for _, a in audits],
                [a.request_id for _, a in audits],
            )
        return {row["seal_id"] for row in rows}

    async def audit(self, entries: Sequence[AuditEntry]) -> None:
        """Write audit rows on their own (refusals: :meth:`audit_refusal`)."""
        await write_audit(self.pool, entries)

    async def open_republish_run(
        self, actor: str, at: dt.datetime, *, restart: bool
    ) -> SealRepublishRun:
        """The unfinished republishing run (resumed), or a new one (``restart``: the
        unfinished one is closed as it stands)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("lock table seal_republish_runs in exclusive mode")
            row = await conn.fetchrow(
                "select * from seal_republish_runs where finished_at is null"
            )
            if row is not None and not restart:
                return SealRepublishRun(**dict(row), resumed=True)
            if row is not None:
                await conn.execute(
                    "update seal_republish_runs set finished_at = $2 where run_id = $1",
                    row["run_id"],
                    at,
                )
            row = await conn.fetchrow(
                """insert into seal_republish_runs (actor, started_at) values ($1, $2)
                   returning *""",
                actor,
                at,
            )
            assert row is not None
            return SealRepublishRun(**dict(row))

    async def republish_seals(
        self, run: SealRepublishRun, limit: int, build: Callable[[Seal], OutboxRecord]
    ) -> SealRepublishRun:
        """Write the event of the next ``limit`` seals by id, each under its row lock
        (a concurrent revocation commits its event before or after, in order), and move
        the run's cursor, in one transaction; the run after (finished when none was
        left). Raises :class:`RepublishSuperseded` if a restarted run closed it."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """select * from seals where seal_id > $1 order by seal_id limit $2
                   for share""",
                run.after_seal_id,
                limit,
            )
            await write_outbox(conn, [build(_seal(r)) for r in rows])
            row = await conn.fetchrow(
                """update seal_republish_runs set after_seal_id = $2,
                       published = published + $3,
                       finished_at = case when $3 = 0 then clock_timestamp() end
                   where run_id = $1 and finished_at is null returning *""",
                run.run_id,
                rows[-1]["seal_id"] if rows else run.after_seal_id,
                len(rows),
            )
            if row is None:
                raise RepublishSuperseded(run.run_id)
            return SealRepublishRun(**dict(row), resumed=run.resumed)


@dataclass(frozen=True, slots=True)
class SealedRecord:
    """What one sealed document writes: its seal's id, its events and audit rows."""

    seal_id: str
    events: Sequence[OutboxRecord]
    audit: Sequence[AuditEntry]


@dataclass(frozen=True, slots=True)
class SealRepublishRun:
    """One republishing run of the seal registry: the last seal id republished ('' at
    first), how many events it wrote, and whether this call resumed it."""

    run_id: int
    actor: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    after_seal_id: str
    published: int
    resumed: bool = False


class RepublishSuperseded(Exception):
    """The run was closed by a restarted one while this batch ran (rolled back)."""
