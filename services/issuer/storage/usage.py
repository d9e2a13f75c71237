"""The usage record (用证记录): ``licence_usage`` rows, written once per entry id and
read per lineage, oldest first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import asyncpg

from certseal.audit import AuditEntry
from certseal.storage.audit import write_audit
from certseal.storage.idempotency import transaction
from services.issuer.usage import UsageEntry, UsageKind

_COLUMNS = (
    "entry_id, lineage, identifier, kind, occurred_at, department_code, counter, "
    "clerk, verifier_group, purpose, verdict, actor, action, reference, recorded_at, "
    "nonce_hash"
)
#: the ``ce_type`` of the licence events that are usage entries
#: (``services.issuer.events.AUTHORISATION_CE_TYPES``), written out as the partial
#: index of migration ``issuer/0009_authorisation_entries.sql`` is, so that the
#: planner uses it
AUTHORISATION_CE_TYPES = (
    "cn.gov.certseal.licence.authorised",
    "cn.gov.certseal.licence.authorisation_revoked",
)
_AUTHORISATION_CE_TYPES_SQL = (
    "(" + ", ".join(f"'{t}'" for t in AUTHORISATION_CE_TYPES) + ")"
)
#: the verdict a verifier answered a presentation code whose claim was not the first
#: (services/verifier/domain.py ``Verdict.REPLAYED``)
REPLAYED = "REPLAYED"


def _row(entry: UsageEntry, recorded_at: dt.datetime) -> tuple:
    e = entry.clipped()
    return (
        e.entry_id,
        e.lineage,
        e.identifier,
        e.kind.value,
        e.occurred_at,
        e.department_code,
        e.counter,
        e.clerk,
        e.verifier_group,
        e.purpose,
        e.verdict,
        e.actor,
        e.action,
        e.reference,
        recorded_at,
        e.nonce_hash,
    )


async def insert_usage(
    conn: asyncpg.Connection,
    entries: Sequence[UsageEntry],
    recorded_at: dt.datetime,
    *,
    known_only: bool = False,
) -> int:
    """Insert ``entries`` on ``conn`` (inside the caller's transaction), each at most
    once (an entry id already stored is left as it is); ``known_only`` drops entries
    of lineages this issuer does not hold. Returns how many rows were new.

    A VALID entry with a nonce hash is a claim of a presentation code
    (docs/architecture.md §2c, "First in the log wins"): when a VALID entry of the same
    lineage and nonce is stored already, or comes earlier in ``entries`` (the order
    they were consumed in, which for one nonce is its partition's order), it is stored
    as REPLAYED, the answer its counter got. Raises asyncpg.UniqueViolationError when
    another transaction stores a claim of the same nonce at the same moment (the
    caller consumes the batch again)."""
    if not entries:
        return 0
    rows = [_row(e, recorded_at) for e in entries]
    inserted = await conn.fetchval(
        f"""with given as (
                select * from unnest($1::text[], $2::text[], $3::text[], $4::text[],
                    $5::timestamptz[], $6::text[], $7::text[], $8::text[], $9::text[],
                    $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
                    $15::timestamptz[], $16::text[]) with ordinality
                    as g({_COLUMNS}, place)
            ), added as (
                insert into licence_usage ({_COLUMNS})
                select g.entry_id, g.lineage, g.identifier, g.kind, g.occurred_at,
                       g.department_code, g.counter, g.clerk, g.verifier_group,
                       g.purpose,
                       case when g.verdict = 'VALID' and g.nonce_hash <> '' and (
                                exists (select 1 from licence_usage u
                                         where u.lineage = g.lineage
                                           and u.nonce_hash = g.nonce_hash
                                           and u.verdict = 'VALID'
                                           and u.entry_id <> g.entry_id)
                             or exists (select 1 from given h
                                         where h.lineage = g.lineage
                                           and h.nonce_hash = g.nonce_hash
                                           and h.verdict = 'VALID'
                                           and h.entry_id <> g.entry_id
                                           and h.place < g.place))
                            then '{REPLAYED}' else g.verdict end,
                       g.actor, g.action, g.reference, g.recorded_at, g.nonce_hash
                  from given g
                 where not $17::boolean
                    or exists (select 1 from lineages l where l.lineage = g.lineage)
                on conflict (entry_id) do nothing
                returning 1
            )
            select count(*) from added""",
        *([list(column) for column in zip(*rows, strict=True)]),
        known_only,
    )
    return int(inserted)


async def insert_refusal(
    conn: asyncpg.Connection,
    entry: UsageEntry,
    recorded_at: dt.datetime,
    authorised_at: dt.datetime,
) -> bool:
    """Insert ``entry``, a refused redemption's, on ``conn`` (inside the caller's
    transaction) unless its lineage's record has an entry of the same kind,
    authorisation (``reference``) and verdict: one per authorisation and reason,
    however often and for however long it is tried (docs/holder.md). Whether it was
    inserted. ``authorised_at`` is when the authorisation was made (no entry of it
    occurred before: the look-up stays in index ``licence_usage_lineage``'s range of
    the lineage's entries since). The caller holds the authorisation's row lock
    (``AuthorisationStore.record_redemption``), so two refusals of one authorisation
    at the same moment do not both find none."""
    inserted = await conn.fetchval(
        f"""with added as (
                insert into licence_usage ({_COLUMNS})
                select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                       $15, $16
                 where not exists (
                       select 1 from licence_usage
                        where lineage = $2 and occurred_at >= $17 and kind = $4
                          and reference = $14 and verdict = $11)
                on conflict (entry_id) do nothing
                returning 1
            )
            select count(*) from added""",
        *_row(entry, recorded_at),
        authorised_at,
    )
    return bool(inserted)


def _entry(row: asyncpg.Record) -> UsageEntry:
    return UsageEntry(
        entry_id=row["entry_id"],
        lineage=row["lineage"],
        identifier=row["identifier"],
        kind=UsageKind(row["kind"]),
        occurred_at=row["occurred_at"],
        department_code=row["department_code"],
        counter=row["counter"],
        clerk=row["clerk"],
        verifier_group=row["verifier_group"],
        purpose=row["purpose"],
        verdict=row["verdict"],
        actor=row["actor"],
        action=row["action"],
        reference=row["reference"],
        department_name=row["department_name"] or "",
    )


class UsageStore:
    """Queries and transactions over ``licence_usage``."""

    pool: asyncpg.Pool

    async def record_usage(
        self,
        entries: Sequence[UsageEntry],
        recorded_at: dt.datetime,
        audit: Sequence[AuditEntry] = (),
    ) -> int:
        """Store ``entries`` (each once) with ``audit`` rows, in one transaction: a
        read by a holder app and its usage entries commit together. Returns how many
        entries were new."""
        async with transaction(self.pool) as conn:
            added = await insert_usage(conn, entries, recorded_at)
            if audit:
                await write_audit(conn, audit)
        return added

    async def record_usage_from_topics(
        self, entries: Sequence[UsageEntry], recorded_at: dt.datetime
    ) -> int:
        """Store the entries of one batch of consumed events in one transaction, each
        once (a redelivered event adds nothing), only for lineages this issuer holds.
        Returns how many were new."""
        async with transaction(self.pool) as conn:
            return await insert_usage(conn, entries, recorded_at, known_only=True)

    async def licence_usage(
        self,
        lineage: str,
        after: tuple[dt.datetime, str] | None,
        limit: int,
        *,
        newest_first: bool = False,
        kinds: Sequence[UsageKind] = (),
    ) -> list[UsageEntry]:
        """At most ``limit`` entries of ``lineage`` (of ``kinds``; empty: every kind
        this version knows, so a row of a kind a later version added, written while
        both run during an upgrade, is left out rather than failing the page) after
        the page key ``after`` (oldest first by time, then entry id; or newest
        first), each with its department's name."""
        compare, order = ("<", "desc") if newest_first else (">", "asc")
        found = await self.pool.fetch(
            f"""select u.*, d.name as department_name
                 from licence_usage u
                 left join departments d on d.code = u.department_code
                where u.lineage = $1
                  and ($2::timestamptz is null
                       or (u.occurred_at, u.entry_id) {compare}
                          ($2::timestamptz, $3::text))
                  and u.kind = any($5::text[])
                order by u.occurred_at {order}, u.entry_id {order}
                limit $4""",
            lineage,
            after[0] if after else None,
            after[1] if after else "",
            limit,
            [k.value for k in kinds or UsageKind],
        )
        return [_entry(r) for r in found]

    async def viewed_since(
        self, lineage: str, actor: str, action: str, since: dt.datetime
    ) -> bool:
        """Whether ``lineage``'s record has an entry of kind viewed by ``actor`` for
        ``action`` that occurred at or after ``since`` (index
        ``licence_usage_lineage``)."""
        return bool(
            await self.pool.fetchval(
                """select exists (
                       select 1 from licence_usage
                        where lineage = $1 and occurred_at >= $2 and kind = $3
                          and actor = $4 and action = $5)""",
                lineage,
                since,
                UsageKind.VIEWED.value,
                actor,
                action,
            )
        )

    async def authorisation_events(self, since: dt.datetime) -> list[bytes]:
        """The values of the outbox's authorisation events (``AUTHORISATION_CE_TYPES``)
        created at or after ``since``, published or not, oldest first: the partial
        index of migration ``issuer/0009_authorisation_entries.sql`` holds just
        these rows, so this reads them and nothing else."""
        rows = await self.pool.fetch(
            f"""select value from outbox
                 where headers->>'ce_type' in {_AUTHORISATION_CE_TYPES_SQL}
                   and created_at >= $1
                 order by created_at, id""",
            since,
        )
        return [bytes(r["value"]) for r in rows]

    async def prune_usage(self, before: dt.datetime, batch: int = 10_000) -> int:
        """Delete at most ``batch`` entries that occurred before ``before``; how many
        were deleted (call again until 0)."""
        deleted = await self.pool.fetchval(
            """with gone as (
                   delete from licence_usage where entry_id in (
                       select entry_id from licence_usage
                        where occurred_at < $1 limit $2)
                   returning 1)
               select count(*) from gone""",
            before,
            batch,
        )
        return int(deleted)
