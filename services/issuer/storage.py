"""Issuer storage: the only writer of the issuer's tables.

Every mutation writes its rows, its outbox rows and its audit rows in ONE transaction.
Issuance is a single statement (data-modifying CTEs) so that a licence costs one round
trip; the signing key is re-checked as active, under a share lock, in that statement.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from certseal import db
from certseal.audit import AuditEntry, write_audit
from certseal.errors import CertsealError, ErrorKind
from certseal.events import OutboxRecord, write_outbox
from services.issuer.domain import (
    FieldKind,
    FieldSpec,
    FieldValue,
    LicenceRecord,
    LicenceType,
    Operation,
    Status,
)

MIGRATIONS = Path(__file__).parent / "migrations"


async def migrate_all(pool: asyncpg.Pool) -> list[str]:
    """Kernel then issuer migrations."""
    return await db.migrate_service(pool, "issuer", MIGRATIONS)


@dataclass(frozen=True, slots=True)
class KeyRow:
    """A signing key row (the wrapped private key stays opaque)."""

    kid: str
    department_code: str
    suite: str
    status: str
    public_key: bytes
    wrapped_private_key: bytes
    not_before: dt.datetime
    not_after: dt.datetime
    created_at: dt.datetime
    retired_at: dt.datetime | None
    revoked_at: dt.datetime | None
    revocation_reason: str
    key_version: int
    presentation: bool

    def __repr__(self) -> str:
        return f"KeyRow(kid={self.kid}, status={self.status})"


@dataclass(frozen=True, slots=True)
class DepartmentRow:
    """A department."""

    code: str
    name: str
    roles: tuple[str, ...]
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class NewLicence:
    """Everything one new licence version writes."""

    record: LicenceRecord
    private_data: bytes
    clear_fields: dict[str, Any]
    code: str


def encode_fields(values: dict[str, FieldValue]) -> dict[str, Any]:
    """Field values as JSON (dates as ISO strings)."""
    return {
        k: v.isoformat() if isinstance(v, dt.date) else v for k, v in values.items()
    }


def decode_fields(
    licence_type: LicenceType, data: dict[str, Any]
) -> dict[str, FieldValue]:
    """Field values from JSON, typed by the schema."""
    out: dict[str, FieldValue] = {}
    for name, value in data.items():
        spec = licence_type.spec(name)
        if spec is not None and spec.kind is FieldKind.DATE and isinstance(value, str):
            out[name] = dt.date.fromisoformat(value)
        else:
            out[name] = value
    return out


_LICENCE_COLUMNS = """identifier, lineage, version, type_code, issuer_code, holder_ref,
    holder_display_name, private_data, clear_fields, valid_from, valid_until, status,
    status_reason, last_operation, issued_at, updated_at, replaces, superseded_by,
    transferred_to, kid, lineage_version"""


class IssuerStore:
    """Queries and transactions of the issuer."""

    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    # -- departments ------------------------------------------------------------

    async def insert_department(
        self,
        code: str,
        name: str,
        roles: Sequence[str],
        at: dt.datetime,
        audit: AuditEntry,
    ) -> DepartmentRow:
        """Onboard a department; ALREADY_EXISTS if its code is taken."""
        async with self.pool.acquire() as conn, conn.transaction():
            try:
                await conn.execute(
                    "insert into departments (code, name, roles, created_at) "
                    "values ($1, $2, $3, $4)",
                    code,
                    name,
                    list(roles),
                    at,
                )
            except asyncpg.UniqueViolationError:
                raise CertsealError(
                    ErrorKind.ALREADY_EXISTS,
                    f"department {code} is already onboarded",
                    field="code",
                ) from None
            await write_audit(conn, [audit])
        return DepartmentRow(code, name, tuple(roles), at)

    async def get_department(self, code: str) -> DepartmentRow | None:
        """A department, or None."""
        row = await self.pool.fetchrow(
            "select * from departments where code = $1", code
        )
        return _department(row) if row else None

    async def list_departments(self) -> list[DepartmentRow]:
        """All departments by code."""
        return [
            _department(r)
            for r in await self.pool.fetch("select * from departments order by code")
        ]

    # -- licence types ----------------------------------------------------------

    async def insert_licence_type(
        self, t: LicenceType, at: dt.datetime, audit: AuditEntry
    ) -> None:
        """Register a licence type; ALREADY_EXISTS if the code is taken."""
        async with self.pool.acquire() as conn, conn.transaction():
            try:
                await conn.execute(
                    """insert into licence_types (type_code, name, fields,
                           default_validity_days, issuer_codes, created_at)
                       values ($1, $2, $3, $4, $5, $6)""",
                    t.type_code,
                    t.name,
                    [f.to_json() for f in t.fields],
                    t.default_validity_days,
                    sorted(t.issuer_codes),
                    at,
                )
            except asyncpg.UniqueViolationError:
                raise CertsealError(
                    ErrorKind.ALREADY_EXISTS,
                    f"licence type {t.type_code} is already registered",
                    field="type_code",
                ) from None
            await write_audit(conn, [audit])

    async def get_licence_type(
        self, type_code: str
    ) -> tuple[LicenceType, dt.datetime] | None:
        """A licence type and when it was registered, or None."""
        row = await self.pool.fetchrow(
            "select * from licence_types where type_code = $1", type_code
        )
        return (_licence_type(row), row["created_at"]) if row else None

    async def list_licence_types(self) -> list[tuple[LicenceType, dt.datetime]]:
        """All licence types by code."""
        rows = await self.pool.fetch("select * from licence_types order by type_code")
        return [(_licence_type(r), r["created_at"]) for r in rows]

    # -- keys -------------------------------------------------------------------

    async def get_key(
        self, kid: str, conn: asyncpg.Connection | None = None, *, lock: bool = False
    ) -> KeyRow | None:
        """A key by kid (``lock``: for update, inside the caller's transaction)."""
        query = "select * from signing_keys where kid = $1" + (
            " for update" if lock else ""
        )
        row = await (conn or self.pool).fetchrow(query, kid)
        return _key(row) if row else None

    async def department_keys(self, code: str) -> list[KeyRow]:
        """A department's keys, newest first."""
        rows = await self.pool.fetch(
            "select * from signing_keys where department_code = $1 order by created_at desc",
            code,
        )
        return [_key(r) for r in rows]

    async def active_presentation_key(self) -> KeyRow | None:
        """The platform's active presentation key."""
        row = await self.pool.fetchrow(
            "select * from signing_keys where presentation and status = 'active'"
        )
        return _key(row) if row else None

    # -- licences ---------------------------------------------------------------

    async def insert_licences(
        self,
        kid: str,
        now: dt.datetime,
        items: Sequence[NewLicence],
        events: Sequence[OutboxRecord],
        audits: Sequence[AuditEntry],
        idempotency: Sequence[tuple[str, str, bytes, str]],
    ) -> bool:
        """Insert new lineages' first versions in one statement; False if ``kid`` is no
        longer active (nothing is written then)."""
        recs = [i.record for i in items]
        key_ok: int = await self.pool.fetchval(
            f"""
            with k as (select kid from signing_keys
                       where kid = $1 and status = 'active' and not_after > $2 for share),
            lin as (insert into lineages (lineage, current_identifier, lineage_version,
                                          issuer_code)
                    select u.l, u.i, 1, u.c
                    from unnest($3::text[], $4::text[], $5::text[]) as u(l, i, c)
                    where exists (select 1 from k)),
            lic as (insert into licences ({_LICENCE_COLUMNS}, code)
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
                    where exists (select 1 from k)),
            ob as (insert into outbox (topic, key, value, headers)
                   select * from unnest($20::text[], $21::bytea[], $22::bytea[],
                                        $23::jsonb[])
                   where exists (select 1 from k)),
            au as (insert into audit_log (occurred_at, actor, action, subject, outcome,
                                          details, request_id)
                   select * from unnest($24::timestamptz[], $25::text[], $26::text[],
                                        $27::text[], $28::text[], $29::jsonb[],
                                        $30::text[])
                   where exists (select 1 from k)),
            idem as (insert into idempotency_keys (department_code, key, request_hash,
                                                   identifier, created_at)
                     select u.*, $2 from unnest($31::text[], $32::text[], $33::bytea[],
                                                $34::text[]) as u
                     where exists (select 1 from k))
            select count(*) from k""",
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
        )
        return key_ok > 0

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

    async def get_licence_row(
        self, identifier: str, conn: asyncpg.Connection | None = None
    ) -> asyncpg.Record | None:
        """The stored row of one licence version."""
        return await (conn or self.pool).fetchrow(
            f"select {_LICENCE_COLUMNS}, code from licences where identifier = $1",
            identifier,
        )

    async def current_identifier(self, lineage: str) -> str | None:
        """The current version of a lineage."""
        value: str | None = await self.pool.fetchval(
            "select current_identifier from lineages where lineage = $1", lineage
        )
        return value

    async def list_licence_rows(
        self,
        *,
        issuer_code: str | None,
        holder_ref: str | None,
        type_code: str | None,
        status: str | None,
        include_superseded: bool,
        after: str,
        limit: int,
    ) -> list[asyncpg.Record]:
        """One page of licences by identifier, filtered."""
        return await self.pool.fetch(
            f"""select {_LICENCE_COLUMNS}, code from licences
                where ($1::text is null or issuer_code = $1)
                  and ($2::text is null or holder_ref = $2)
                  and ($3::text is null or type_code = $3)
                  and ($4::text is null or status = $4)
                  and ($5 or superseded_by is null)
                  and identifier > $6
                order by identifier limit $7""",
            issuer_code,
            holder_ref,
            type_code,
            status,
            include_superseded,
            after,
            limit,
        )

    async def lineages_to_expire(self, now: dt.datetime, limit: int) -> list[str]:
        """Lineages whose current version is live and past its validity."""
        rows = await self.pool.fetch(
            """select lineage from licences
               where status in ('01', '02') and superseded_by is null
                 and valid_until <= $1 order by valid_until limit $2""",
            now,
            limit,
        )
        return [r["lineage"] for r in rows]


def _department(row: asyncpg.Record) -> DepartmentRow:
    return DepartmentRow(
        row["code"], row["name"], tuple(row["roles"]), row["created_at"]
    )


def _licence_type(row: asyncpg.Record) -> LicenceType:
    return LicenceType(
        type_code=row["type_code"],
        name=row["name"],
        fields=tuple(FieldSpec.from_json(f) for f in row["fields"]),
        default_validity_days=row["default_validity_days"],
        issuer_codes=frozenset(row["issuer_codes"]),
    )


def _key(row: asyncpg.Record) -> KeyRow:
    return KeyRow(
        kid=row["kid"],
        department_code=row["department_code"],
        suite=row["suite"],
        status=row["status"],
        public_key=bytes(row["public_key"]),
        wrapped_private_key=bytes(row["wrapped_private_key"]),
        not_before=row["not_before"],
        not_after=row["not_after"],
        created_at=row["created_at"],
        retired_at=row["retired_at"],
        revoked_at=row["revoked_at"],
        revocation_reason=row["revocation_reason"],
        key_version=row["key_version"],
        presentation=row["presentation"],
    )


def record_from_row(row: asyncpg.Record, licence_type: LicenceType) -> LicenceRecord:
    """A licence record from its row (holder not decrypted)."""
    return LicenceRecord(
        identifier=row["identifier"],
        lineage=row["lineage"],
        version=row["version"],
        type_code=row["type_code"],
        issuer_code=row["issuer_code"],
        holder_ref=row["holder_ref"],
        holder_display_name=row["holder_display_name"],
        fields=decode_fields(licence_type, row["clear_fields"]),
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        status=Status(row["status"]),
        status_reason=row["status_reason"],
        last_operation=Operation(row["last_operation"]),
        issued_at=row["issued_at"],
        updated_at=row["updated_at"],
        replaces=row["replaces"],
        superseded_by=row["superseded_by"],
        kid=row["kid"],
        lineage_version=row["lineage_version"],
        transferred_to=row["transferred_to"],
    )


def dumps(value: Any) -> bytes:
    """Compact JSON bytes (for encrypted personal data)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class LineageTx:
    """The writes of one lineage change, inside the transaction that locked it."""

    def __init__(self, conn: asyncpg.Connection, lineage_version: int):
        self.conn = conn
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
        await self.conn.execute(
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
        await self.conn.execute(
            f"""insert into licences ({_LICENCE_COLUMNS}, code) values ($1, $2, $3, $4,
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
        await self.conn.execute(
            "update licences set superseded_by = $2, updated_at = $3 where identifier = $1",
            r.replaces,
            r.identifier,
            now,
        )
        await self.conn.execute(
            "update lineages set current_identifier = $2 where lineage = $1",
            r.lineage,
            r.identifier,
        )

    async def insert_lineage(self, new: NewLicence) -> None:
        """Start a new lineage (a transfer in) with ``new`` as version 1."""
        r = new.record
        await self.conn.execute(
            "insert into lineages values ($1, $2, 1, $3)",
            r.lineage,
            r.identifier,
            r.issuer_code,
        )
        await self._insert_version(new)

    async def key_is_active(self, kid: str, now: dt.datetime) -> bool:
        """Re-check a signing key under a share lock."""
        found = await self.conn.fetchval(
            """select kid from signing_keys
               where kid = $1 and status = 'active' and not_after > $2 for share""",
            kid,
            now,
        )
        return found is not None

    async def finish(
        self, events: Sequence[OutboxRecord], audits: Sequence[AuditEntry]
    ) -> None:
        """The outbox and audit rows of the change."""
        await write_outbox(self.conn, events)
        await write_audit(self.conn, audits)


async def lock_lineage(
    conn: asyncpg.Connection, lineage: str
) -> tuple[str, int] | None:
    """Lock a lineage and bump its version: (current identifier, new lineage version)."""
    row = await conn.fetchrow(
        """update lineages set lineage_version = lineage_version + 1 where lineage = $1
           returning current_identifier, lineage_version""",
        lineage,
    )
    return (row["current_identifier"], row["lineage_version"]) if row else None


async def insert_key(conn: asyncpg.Connection, key: KeyRow) -> None:
    """Store a new key (in the caller's transaction, beside its trust event)."""
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


async def update_key(
    conn: asyncpg.Connection,
    kid: str,
    *,
    status: str,
    at: dt.datetime,
    reason: str = "",
) -> KeyRow:
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
    return _key(row)
