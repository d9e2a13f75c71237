"""Licences and their lineages: issuance in one statement, lineage changes under the
lineage's row lock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg

from certseal.audit import AuditEntry
from certseal.events import OutboxRecord
from certseal.storage.audit import write_audit
from certseal.storage.idempotency import transaction
from certseal.storage.outbox import write_outbox
from services.issuer.domain import Operation, Status
from services.issuer.storage.rows import (
    LICENCE_COLUMNS,
    AlreadyStored,
    NewLicence,
    NotListed,
    Records,
    StoredLicence,
    stored_licence,
)

T = TypeVar("T")


class LicenceStore:
    """Queries and transactions over ``lineages``, ``licences`` and
    ``idempotency_keys``."""

    pool: asyncpg.Pool

    async def insert_licences(
        self,
        kid: str,
        now: dt.datetime,
        items: Sequence[NewLicence],
        events: Sequence[OutboxRecord],
        audits: Sequence[AuditEntry],
        idempotency: Sequence[tuple[str, str, bytes, str]],
    ) -> bool:
        """Insert new lineages' first versions with their outbox, audit and idempotency
        rows in one statement; False if ``kid`` is no longer active (nothing is written
        then).

        ``idempotency`` rows are (department code, key, request hash, identifier).
        Raises :class:`AlreadyStored` when an identifier or idempotency key is taken
        and :class:`NotListed` when a licence type no longer lists the issuing
        department (nothing is written then either). The types are read under a
        key share lock, which a change of their issuers (FOR UPDATE,
        :meth:`DirectoryStore.set_licence_type_issuers`) waits for, or waits on and
        is then seen: no licence is committed for a department once a change that
        took it out has answered.
        """
        recs = [i.record for i in items]
        issuers = {r.issuer_code for r in recs}
        assert len(issuers) <= 1, "one department's licences"
        issuer = next(iter(issuers), "")
        types = sorted({r.type_code for r in recs})
        try:
            async with transaction(self.pool, single_statement=True) as conn:
                found = await conn.fetchrow(
                    f"""
            with k as (select kid from signing_keys
                       where kid = $1 and status = 'active' and not_after > $2 for share),
            t as (select type_code from licence_types
                  where type_code = any($35::text[]) and $36 = any(issuer_codes)
                  for key share),
            ok as (select exists (select from k)
                          and (select count(*) from t) = cardinality($35::text[]) as ok),
            lin as (insert into lineages (lineage, current_identifier, lineage_version,
                                          issuer_code)
                    select u.l, u.i, 1, u.c
                    from unnest($3::text[], $4::text[], $5::text[]) as u(l, i, c)
                    where (select ok from ok)),
            lic as (insert into licences ({LICENCE_COLUMNS}, code)
                    select u.identifier, u.lineage, u.version, u.type_code, u.issuer_code,
                           u.holder_ref, u.holder_display_name, u.private_data,
                           u.clear_fields, u.valid_from, u.valid_until, u.status,
                           u.status_reason, u.last_operation, u.issued_at, u.issued_at,
                           u.nil, u.nil, u.nil, $1, 1, u.code
                    from unnest($4::text[], $3::text[], $6::int[], $7::text[], $5::text[],
                                $8::text[], $9::text[], $10::bytea[], $11::jsonb[],
                                $12::timestamptz[], $13::timestamptz[], $14::text[],
                                $15::text[], $16::text[], $17::timestamptz[], $18::text[],
                                $19::text[])
                         as u(identifier, lineage, version, type_code, issuer_code,
                              holder_ref, holder_display_name, private_data, clear_fields,
                              valid_from, valid_until, status, status_reason,
                              last_operation, issued_at, nil, code)
                    where (select ok from ok)),
            ob as (insert into outbox (topic, key, value, headers)
                   select * from unnest($20::text[], $21::bytea[], $22::bytea[],
                                        $23::jsonb[])
                   where (select ok from ok)),
            au as (insert into audit_log (occurred_at, actor, action, subject, outcome,
                                          details, request_id)
                   select * from unnest($24::timestamptz[], $25::text[], $26::text[],
                                        $27::text[], $28::text[], $29::jsonb[],
                                        $30::text[])
                   where (select ok from ok)),
            idem as (insert into idempotency_keys (department_code, key, request_hash,
                                                   identifier, created_at)
                     select u.*, $2 from unnest($31::text[], $32::text[], $33::bytea[],
                                                $34::text[]) as u
                     where (select ok from ok))
            select (select count(*) from k) as keys,
                   array(select type_code from t) as listed""",
                    kid,
                    now,
                    [r.lineage for r in recs],
                    [r.identifier for r in recs],
                    [r.issuer_code for r in recs],
                    [r.version for r in recs],
                    [r.type_code for r in recs],
                    [r.holder_ref for r in recs],
                    [r.holder_display_name for r in recs],
                    [i.private_data for i in items],
                    [i.clear_fields for i in items],
                    [r.valid_from for r in recs],
                    [r.valid_until for r in recs],
                    [r.status.value for r in recs],
                    [r.status_reason for r in recs],
                    [r.last_operation.value for r in recs],
                    [r.issued_at for r in recs],
                    [None] * len(recs),
                    [i.code for i in items],
                    [e.topic for e in events],
                    [e.key for e in events],
                    [e.value for e in events],
                    [e.headers for e in events],
                    [a.occurred_at for a in audits],
                    [a.actor for a in audits],
                    [a.action for a in audits],
                    [a.subject for a in audits],
                    [a.outcome for a in audits],
                    [a.details for a in audits],
                    [a.request_id for a in audits],
                    [i[0] for i in idempotency],
                    [i[1] for i in idempotency],
                    [i[2] for i in idempotency],
                    [i[3] for i in idempotency],
                    types,
                    issuer,
                )
        except asyncpg.UniqueViolationError as exc:
            raise AlreadyStored(str(exc)) from exc
        assert found is not None
        if found["keys"] == 0:
            return False
        unlisted = frozenset(types) - frozenset(found["listed"])
        if unlisted:
            raise NotListed(unlisted)
        return True

    async def idempotent_result(
        self, department: str, key: str
    ) -> tuple[bytes, str] | None:
        """(request hash, identifier) stored for an idempotency key, or None."""
        row = await self.pool.fetchrow(
            "select request_hash, identifier from idempotency_keys "
            "where department_code = $1 and key = $2",
            department,
            key,
        )
        return (bytes(row["request_hash"]), row["identifier"]) if row else None

    async def get_licence(self, identifier: str) -> StoredLicence | None:
        """One stored licence version, or None."""
        row = await self.pool.fetchrow(
            f"select {LICENCE_COLUMNS}, code from licences where identifier = $1",
            identifier,
        )
        return stored_licence(row) if row else None

    async def current_identifier(self, lineage: str) -> str | None:
        """The current version of a lineage."""
        value: str | None = await self.pool.fetchval(
            "select current_identifier from lineages where lineage = $1", lineage
        )
        return value

    async def holder_current(self, holder_ref: str, identifier: str) -> str:
        """The version that now stands for ``identifier`` (the holder ``holder_ref``'s):
        its lineage's current version, followed through transfers (the receiving
        department's licence ``replaces`` the transferred-out one, found by the
        holder's index ``licences_holder``) to the current version of the last;
        ``identifier`` itself when nothing stands for it."""
        found = identifier
        for _ in range(64):  # a lineage transferred on and on, bounded all the same
            row = await self.pool.fetchrow(
                """select l.current_identifier,
                          (select n.lineage from licences n
                            where n.holder_ref = $1 and n.replaces = l.current_identifier
                            limit 1) as moved
                     from licences v join lineages l on l.lineage = v.lineage
                    where v.identifier = $2""",
                holder_ref,
                found,
            )
            if row is None:
                return found
            found = row["current_identifier"] or found
            if row["moved"] is None:
                return found
            moved = await self.current_identifier(row["moved"])
            if moved is None:
                return found
            found = moved
        return found

    async def list_licences(
        self,
        *,
        issuer_code: str | None,
        holder_ref: str | None,
        type_code: str | None,
        status: str | None,
        include_superseded: bool,
        after: str,
        limit: int,
        type_codes: Sequence[str] | None = None,
    ) -> list[StoredLicence]:
        """One page of licences by identifier, after ``after``, filtered (None: any;
        ``type_codes``: only these types)."""
        found = await self.pool.fetch(
            f"""select {LICENCE_COLUMNS}, code from licences
                where ($1::text is null or issuer_code = $1)
                  and ($2::text is null or holder_ref = $2)
                  and ($3::text is null or type_code = $3)
                  and ($4::text is null or status = $4)
                  and ($5 or superseded_by is null)
                  and identifier > $6
                  and ($8::text[] is null or type_code = any($8))
                order by identifier limit $7""",
            issuer_code,
            holder_ref,
            type_code,
            status,
            include_superseded,
            after,
            limit,
            list(type_codes) if type_codes is not None else None,
        )
        return [stored_licence(r) for r in found]

    async def lineages_to_expire(self, now: dt.datetime, limit: int) -> list[str]:
        """Lineages whose current version is live and past its validity."""
        found = await self.pool.fetch(
            """select lineage from licences
               where status in ('01', '02') and superseded_by is null
                 and valid_until <= $1 order by valid_until limit $2""",
            now,
            limit,
        )
        return [r["lineage"] for r in found]

    async def change_lineage(
        self,
        lineage: str,
        identifier: str,
        change: Callable[[LineageTx, StoredLicence], Awaitable[tuple[T, Records]]],
    ) -> T | None:
        """Change a lineage under its row lock, in one transaction.

        Locks ``lineage`` and bumps its ``lineage_version`` (so its events are ordered
        as they commit), reads its version ``identifier`` and awaits
        ``change(tx, stored)``, which writes through ``tx`` and returns (result,
        (events, audit rows)); those rows are written in the same transaction. An
        exception from ``change`` rolls everything back and propagates. None when the
        lineage or the version does not exist.
        """
        async with transaction(self.pool) as conn:
            locked = await conn.fetchrow(
                """update lineages set lineage_version = lineage_version + 1
                   where lineage = $1 returning current_identifier, lineage_version""",
                lineage,
            )
            if locked is None:
                return None
            row = await conn.fetchrow(
                f"select {LICENCE_COLUMNS}, code from licences where identifier = $1",
                identifier,
            )
            if row is None:
                return None
            result, (events, audit) = await change(
                LineageTx(conn, locked["lineage_version"]), stored_licence(row)
            )
            await write_outbox(conn, events)
            await write_audit(conn, audit)
        return result


class LineageTx:
    """The writes of one lineage change, inside the transaction that locked it."""

    def __init__(self, conn: asyncpg.Connection, lineage_version: int):
        self._conn = conn
        #: the lineage's version after this change
        self.lineage_version = lineage_version

    async def update_status(
        self,
        identifier: str,
        status: Status,
        reason: str,
        operation: Operation,
        now: dt.datetime,
        transferred_to: str | None = None,
    ) -> None:
        """Move a version to a new status."""
        await self._conn.execute(
            """update licences set status = $2, status_reason = $3, last_operation = $4,
                   updated_at = $5, lineage_version = $6,
                   transferred_to = coalesce($7, transferred_to)
               where identifier = $1""",
            identifier,
            status.value,
            reason,
            operation.value,
            now,
            self.lineage_version,
            transferred_to,
        )

    async def _insert_version(self, new: NewLicence) -> None:
        r = new.record
        await self._conn.execute(
            f"""insert into licences ({LICENCE_COLUMNS}, code) values ($1, $2, $3, $4,
                $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16, null, null,
                $17, $18, $19)""",
            r.identifier,
            r.lineage,
            r.version,
            r.type_code,
            r.issuer_code,
            r.holder_ref,
            r.holder_display_name,
            new.private_data,
            new.clear_fields,
            r.valid_from,
            r.valid_until,
            r.status.value,
            r.status_reason,
            r.last_operation.value,
            r.issued_at,
            r.replaces,
            r.kid,
            r.lineage_version,
            new.code,
        )

    async def supersede(self, new: NewLicence, now: dt.datetime) -> None:
        """Insert ``new`` as the lineage's current version, replacing the one it names."""
        r = new.record
        await self._insert_version(new)
        await self._conn.execute(
            "update licences set superseded_by = $2, updated_at = $3 where identifier = $1",
            r.replaces,
            r.identifier,
            now,
        )
        await self._conn.execute(
            "update lineages set current_identifier = $2 where lineage = $1",
            r.lineage,
            r.identifier,
        )

    async def insert_lineage(self, new: NewLicence) -> None:
        """Start a new lineage (a transfer in) with ``new`` as version 1."""
        r = new.record
        await self._conn.execute(
            "insert into lineages values ($1, $2, 1, $3)",
            r.lineage,
            r.identifier,
            r.issuer_code,
        )
        await self._insert_version(new)

    async def type_issuers(self, type_code: str) -> frozenset[str]:
        """Licence type ``type_code``'s issuers, read under a key share lock: a
        change of them (FOR UPDATE) waits for this transaction, or this waits for
        it and reads what it made."""
        found = await self._conn.fetchval(
            "select issuer_codes from licence_types where type_code = $1 for key share",
            type_code,
        )
        return frozenset(found or ())

    async def key_is_active(self, kid: str, now: dt.datetime) -> bool:
        """Re-check a signing key under a share lock."""
        found = await self._conn.fetchval(
            """select kid from signing_keys
               where kid = $1 and status = 'active' and not_after > $2 for share""",
            kid,
            now,
        )
        return found is not None
