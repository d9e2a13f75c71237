"""Holder authorisations (授权用证): ``licence_authorisations`` rows, written with their
outbox and audit rows in one transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import asyncpg

from certseal.audit import AuditEntry
from certseal.events import OutboxRecord
from certseal.storage.audit import write_audit
from certseal.storage.idempotency import transaction
from certseal.storage.outbox import write_outbox
from services.issuer.authorisation import Authorisation
from services.issuer.domain import LicenceRecord
from services.issuer.storage.rows import LICENCE_COLUMNS, stored_licence
from services.issuer.storage.usage import insert_refusal, insert_usage
from services.issuer.usage import UsageEntry, UsageKind


def _authorisation(row: asyncpg.Record) -> Authorisation:
    return Authorisation(
        authorisation_id=row["authorisation_id"],
        lineage=row["lineage"],
        identifier=row["identifier"],
        holder_ref=row["holder_ref"],
        department_code=row["department_code"],
        counter=row["counter"],
        purpose=row["purpose"],
        fields=tuple(row["fields"]),
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        revoked_at=row["revoked_at"],
    )


class AuthorisationStore:
    """Queries and transactions over ``licence_authorisations``."""

    pool: asyncpg.Pool

    async def insert_authorisation(
        self,
        auth: Authorisation,
        code_digest: str,
        event: OutboxRecord,
        audit: AuditEntry,
        usage: Sequence[UsageEntry] = (),
    ) -> None:
        """Store a new authorisation with its ``licence.authorised`` event, audit row
        and ``usage`` entries (the holder's usage record)."""
        async with transaction(self.pool) as conn:
            await conn.execute(
                """insert into licence_authorisations (authorisation_id, code_digest,
                     lineage, identifier, holder_ref, department_code, counter,
                     purpose, fields, expires_at, created_at, created_by)
                   values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
                auth.authorisation_id,
                code_digest,
                auth.lineage,
                auth.identifier,
                auth.holder_ref,
                auth.department_code,
                auth.counter,
                auth.purpose,
                list(auth.fields),
                auth.expires_at,
                auth.created_at,
                auth.created_by,
            )
            await write_outbox(conn, [event])
            await write_audit(conn, [audit])
            await insert_usage(conn, usage, auth.created_at)

    async def revoke_authorisation(
        self,
        authorisation_id: str,
        at: dt.datetime,
        by: str,
        reason: str,
        event: OutboxRecord,
        audit: AuditEntry,
        usage: Sequence[UsageEntry] = (),
    ) -> Authorisation | None:
        """Withdraw an active authorisation with its event, audit row and ``usage``
        entries; None (and nothing written) when it was already withdrawn. The update
        locks the row: it waits for a redemption being recorded
        (:meth:`record_redemption`), which then sees it withdrawn if it comes after."""
        async with transaction(self.pool) as conn:
            row = await conn.fetchrow(
                """update licence_authorisations
                      set revoked_at = $2, revoked_by = $3, revocation_reason = $4
                    where authorisation_id = $1 and revoked_at is null
                   returning *""",
                authorisation_id,
                at,
                by,
                reason,
            )
            if row is None:
                return None
            await write_outbox(conn, [event])
            await write_audit(conn, [audit])
            await insert_usage(conn, usage, at)
        return _authorisation(row)

    async def record_redemption(
        self,
        authorisation_id: str,
        clock: Callable[[], dt.datetime],
        rows: Callable[
            [Authorisation, LicenceRecord, dt.datetime],
            tuple[Sequence[AuditEntry], Sequence[UsageEntry]],
        ],
    ) -> Authorisation | None:
        """Lock the authorisation's row, then its lineage's row, read ``clock``, and
        write the audit rows and usage entries ``rows`` makes of the authorisation
        and the lineage's current version as they are now, at that time (the
        redemption's, or its refusal's), in one transaction; the authorisation as
        locked (None, nothing written, when there is no such row). The time is read
        once both locks are held, so what is recorded is never dated before a
        withdrawal or change it waited for and reports (atk41h F8).

        An entry of kind ``redemption_refused`` is written only when the lineage's
        record has none of the same authorisation and verdict (:func:`insert_refusal`:
        under this lock, so repeated refusals are counted one by one): a refused
        code tried again and again adds at most one entry per reason; its audit row
        is written every time. A withdrawal (:meth:`revoke_authorisation`, whose
        update locks the same row) committed before this is seen here; one after it
        waits for it, so a redemption is recorded entirely before or after a
        withdrawal, never beside it. The lineage's row is share-locked, a lock every
        change of the lineage (``change_lineage``: revocation, suspension, transfer,
        expiry, renewal) conflicts with, so a change committed before is seen here
        and one after waits (atk39b_holder)."""
        async with transaction(self.pool) as conn:
            row = await conn.fetchrow(
                """select * from licence_authorisations
                    where authorisation_id = $1 for update""",
                authorisation_id,
            )
            if row is None:
                return None
            auth = _authorisation(row)
            # its own statement: the licence is then read after the lock is had
            current = await conn.fetchval(
                """select current_identifier from lineages
                    where lineage = $1 for share""",
                auth.lineage,
            )
            licence = await conn.fetchrow(
                f"select {LICENCE_COLUMNS}, code from licences where identifier = $1",
                current,
            )
            if licence is None:  # (rows are never deleted: cannot happen)
                return None
            at = clock()
            audit, usage = rows(auth, stored_licence(licence).record, at)
            refusals = [e for e in usage if e.kind is UsageKind.REDEMPTION_REFUSED]
            await insert_usage(conn, [e for e in usage if e not in refusals], at)
            for entry in refusals:
                await insert_refusal(conn, entry, at, auth.created_at)
            await write_audit(conn, audit)
        return auth

    async def get_authorisation(self, authorisation_id: str) -> Authorisation | None:
        """One authorisation by id."""
        row = await self.pool.fetchrow(
            "select * from licence_authorisations where authorisation_id = $1",
            authorisation_id,
        )
        return _authorisation(row) if row else None

    async def authorisation_by_code(self, code_digest: str) -> Authorisation | None:
        """The authorisation whose code has this digest."""
        row = await self.pool.fetchrow(
            "select * from licence_authorisations where code_digest = $1", code_digest
        )
        return _authorisation(row) if row else None
