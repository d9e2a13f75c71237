"""Departments and licence types: the issuer's catalogue tables."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence

import asyncpg

from certseal.audit import AuditEntry
from certseal.errors import CertsealError, ErrorKind, invalid
from certseal.events import OutboxRecord
from certseal.storage.audit import write_audit
from certseal.storage.idempotency import transaction
from certseal.storage.outbox import write_outbox
from services.issuer.domain import Department, LicenceType, first_codes
from services.issuer.storage import rows

#: how long a change of a type's issuers waits for the licence writes in flight (it
#: holds every new one back meanwhile)
CHANGE_LOCK_TIMEOUT = "2s"


class DirectoryStore:
    """Queries and transactions over ``departments`` and ``licence_types``."""

    pool: asyncpg.Pool

    async def insert_department(
        self,
        code: str,
        name: str,
        roles: Sequence[str],
        at: dt.datetime,
        audit: AuditEntry,
        announce: Callable[[Department], OutboxRecord],
    ) -> Department:
        """Onboard a department with its audit row and its directory event
        (``announce(department)``), in one transaction; ALREADY_EXISTS if the code is
        taken."""
        department = Department(code, name, tuple(roles), at)
        async with transaction(self.pool) as conn:
            try:
                await conn.execute(
                    "insert into departments (code, name, roles, created_at, "
                    "announced) values ($1, $2, $3, $4, true)",
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
            await write_outbox(conn, [announce(department)])
            await write_audit(conn, [audit])
        return department

    async def set_department_roles(
        self,
        code: str,
        roles: Sequence[str],
        at: dt.datetime,
        check: Callable[[Department, DepartmentUse], None],
        audit: Callable[[Department], AuditEntry],
    ) -> Department:
        """Replace department ``code``'s roles, with its audit row (``audit(the
        department as it was)``), in one transaction; the department as it is now.
        ``check(the department as it was, what the roles it loses are in use
        for at `at`)`` runs under the row's lock (FOR NO KEY UPDATE: the foreign
        keys of rows naming it are still checked meanwhile), before the change,
        and refuses it by raising. INVALID_ARGUMENT (field ``code``) when no
        department ``code`` is onboarded."""
        async with transaction(self.pool) as conn:
            row = await conn.fetchrow(
                "select * from departments where code = $1 for no key update", code
            )
            if (
                row is None
            ):  # as a key's department is told (services.issuer.service.keys)
                raise invalid("code", f"department {code} is not onboarded")
            was = rows.department(row)
            taken = frozenset(was.roles) - frozenset(roles)
            check(was, await _department_use(conn, code, at, taken))
            await conn.execute(
                "update departments set roles = $2 where code = $1", code, list(roles)
            )
            await write_audit(conn, [audit(was)])
        return dataclasses.replace(was, roles=tuple(roles))

    async def get_department(self, code: str) -> Department | None:
        """A department, or None."""
        row = await self.pool.fetchrow(
            "select * from departments where code = $1", code
        )
        return rows.department(row) if row else None

    async def list_departments(self) -> list[Department]:
        """All departments by code."""
        return [
            rows.department(r)
            for r in await self.pool.fetch("select * from departments order by code")
        ]

    async def insert_licence_type(
        self,
        t: LicenceType,
        at: dt.datetime,
        audit: AuditEntry,
        announce: Callable[[LicenceType], OutboxRecord],
    ) -> None:
        """Register a licence type with its audit row and its directory event
        (``announce(type)``), in one transaction; ALREADY_EXISTS if the code is
        taken. Its issuers are read again under a share lock, so a concurrent
        :meth:`set_department_roles` either sees the type or is seen by it:
        INVALID_ARGUMENT (``issuer_codes``) for an issuer not onboarded or that
        lost the role (:func:`_lock_issuers`)."""
        async with transaction(self.pool) as conn:
            await _lock_issuers(conn, t.issuer_codes)
            try:
                await conn.execute(
                    """insert into licence_types (type_code, name, fields,
                           default_validity_days, issuer_codes, created_at, announced)
                       values ($1, $2, $3, $4, $5, $6, true)""",
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
            await write_outbox(conn, [announce(t)])
            await write_audit(conn, [audit])

    async def set_licence_type_issuers(
        self,
        type_code: str,
        issuer_codes: frozenset[str],
        audit: Callable[[LicenceType], AuditEntry],
    ) -> tuple[LicenceType, dt.datetime]:
        """Replace licence type ``type_code``'s issuers with ``issuer_codes``, with
        its audit row (``audit(the type as it was)``), in one transaction; the type
        as it was and when it was registered. The type's row is locked first and
        its new issuers under a share lock (:func:`_lock_issuers`), so a concurrent
        :meth:`set_department_roles` that takes an issuer's role either sees it
        listed or is seen without the role. The type's lock is FOR UPDATE: it
        waits for the writes in flight that read the type's issuers under a key
        share lock (an issuance, a renewal, a transfer: their foreign keys take
        that lock too), and they wait for it and see the new issuers. A row lock
        waiter does not stop new key share lockers, so under writes that overlap
        the change would wait for ever: it takes the table EXCLUSIVE first (plain
        reads go on), which queues the writes that come after it, for at most
        :data:`CHANGE_LOCK_TIMEOUT` (UNAVAILABLE then, nothing written).
        INVALID_ARGUMENT on ``type_code`` (not registered) or ``issuer_codes`` (an
        issuer not onboarded or without the issuer role)."""
        async with transaction(self.pool) as conn:
            await conn.execute(f"set local lock_timeout = '{CHANGE_LOCK_TIMEOUT}'")
            await conn.execute("lock table licence_types in exclusive mode")
            row = await conn.fetchrow(
                "select * from licence_types where type_code = $1 for update",
                type_code,
            )
            if row is None:  # as an issuance of an unknown type is told
                raise invalid("type_code", f"unknown licence type {type_code!r}")
            was = rows.licence_type(row)
            await _lock_issuers(conn, issuer_codes)
            await conn.execute(
                "update licence_types set issuer_codes = $2 where type_code = $1",
                type_code,
                sorted(issuer_codes),
            )
            await write_audit(conn, [audit(was)])
        return was, row["created_at"]

    async def get_licence_type(
        self, type_code: str
    ) -> tuple[LicenceType, dt.datetime] | None:
        """A licence type and when it was registered, or None."""
        row = await self.pool.fetchrow(
            "select * from licence_types where type_code = $1", type_code
        )
        return (rows.licence_type(row), row["created_at"]) if row else None

    async def list_licence_types(self) -> list[tuple[LicenceType, dt.datetime]]:
        """All licence types (with when each was registered) by code."""
        found = await self.pool.fetch("select * from licence_types order by type_code")
        return [(rows.licence_type(r), r["created_at"]) for r in found]

    async def announce_unannounced(
        self,
        department: Callable[[Department], OutboxRecord],
        licence_type: Callable[[LicenceType], OutboxRecord],
    ) -> int:
        """Write the directory event of every department and licence type never
        announced (registered before directory events existed) and mark them, in one
        transaction; returns how many. Rows are locked (``skip locked``), so replicas
        starting together announce each entry once."""
        async with self.pool.acquire() as conn, conn.transaction():
            depts = await conn.fetch(
                "select * from departments where not announced order by code "
                "for update skip locked"
            )
            types = await conn.fetch(
                "select * from licence_types where not announced order by type_code "
                "for update skip locked"
            )
            if not depts and not types:
                return 0
            await write_outbox(
                conn,
                [department(rows.department(r)) for r in depts]
                + [licence_type(rows.licence_type(r)) for r in types],
            )
            await conn.execute(
                "update departments set announced = true where code = any($1)",
                [r["code"] for r in depts],
            )
            await conn.execute(
                "update licence_types set announced = true where type_code = any($1)",
                [r["type_code"] for r in types],
            )
        return len(depts) + len(types)

    async def add_department_role(self, code: str, role: str) -> None:
        """Give department ``code`` ``role`` too (idempotent)."""
        await self.pool.execute(
            """update departments set roles = array_append(roles, $2)
                where code = $1 and not ($2 = any(roles))""",
            code,
            role,
        )


@dataclasses.dataclass(frozen=True)
class DepartmentUse:
    """The roles a change takes from a department, and what they are in use for at
    a moment (each read only for a role taken): the licence types that list it as
    an issuer (their codes), whether it has licences in force (valid or suspended,
    current, not expired), and its active seals (the seal service's ``seals``, in
    the same database)."""

    taken: frozenset[str] = frozenset()
    licence_types: tuple[str, ...] = ()
    licences_in_force: bool = False
    active_seals: int = 0


async def _lock_issuers(conn: asyncpg.Connection, codes: frozenset[str]) -> None:
    """Take a share lock on the departments ``codes`` (no role can be taken from
    them until the transaction ends); INVALID_ARGUMENT (``issuer_codes``) naming
    those, by code, that are not onboarded or lack the issuer role, and what
    gives them (``department add``, ``department roles``)."""
    found = await conn.fetch(
        "select code, roles from departments where code = any($1) for share",
        sorted(codes),
    )
    roles = {r["code"]: r["roles"] for r in found}
    absent = [code for code in sorted(codes) if code not in roles]
    lacking = [c for c in sorted(roles) if "issuer" not in roles[c]]
    problems = []
    if absent:
        problems.append(
            f"{_departments(absent, 'is', 'are')} not onboarded ('certseal "
            "department add')"
        )
    if lacking:
        problems.append(
            f"{_departments(lacking, 'lacks', 'lack')} the issuer role ('certseal "
            "department roles CODE --roles …,issuer')"
        )
    if problems:
        raise invalid("issuer_codes", "; ".join(problems))


def _departments(codes: list[str], one: str, many: str) -> str:
    """``department A <one>`` or ``departments A, B and 3 more <many>``."""
    if len(codes) == 1:
        return f"department {codes[0]} {one}"
    return f"departments {first_codes(codes, 5)} {many}"


async def _department_use(
    conn: asyncpg.Connection, code: str, at: dt.datetime, taken: frozenset[str]
) -> DepartmentUse:
    if "issuer" not in taken and "seal_owner" not in taken:
        return DepartmentUse(taken)  # nothing to read: the common change adds one
    types: tuple[str, ...] = ()
    in_force = False
    if "issuer" in taken:
        listed = await conn.fetch(
            "select type_code from licence_types where $1 = any(issuer_codes) "
            "order by type_code",
            code,
        )
        types = tuple(r["type_code"] for r in listed)
        in_force = await conn.fetchval(
            """select exists(select from licences where issuer_code = $1
                and status in ('01', '02') and superseded_by is null
                and valid_until > $2)""",
            code,
            at,
        )
    seals = 0
    if "seal_owner" in taken and await conn.fetchval(
        "select to_regclass('seals') is not null"
    ):
        seals = await conn.fetchval(
            """select count(*) from seals where owner_code = $1
                and status = 'active' and valid_end > $2""",
            code,
            at,
        )
    return DepartmentUse(taken, types, in_force, seals)
