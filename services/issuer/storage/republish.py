"""Republishing: the current state of every lineage and signing key, written to the
outbox again, batch by batch, with a resumable cursor (``republish_runs``).

Each batch is one transaction: it share-locks the rows it reads (so a concurrent change,
which takes the same row lock, commits its outbox row either before or after ours, never
interleaved), writes one outbox row per entity and moves the run's cursor. An
interruption loses at most the batch in flight; the next call resumes after the last
committed one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from certseal.events import OutboxRecord
from certseal.storage.outbox import write_outbox
from services.issuer.domain import SigningKey
from services.issuer.storage import rows
from services.issuer.storage.rows import LICENCE_COLUMNS, StoredLicence

#: the parts of a run, in the order they are republished
PARTS = ("trust", "lineages", "done")


@dataclass(frozen=True, slots=True)
class RepublishRun:
    """One run: its id, who started it and when, the part it is at, the last key
    republished in that part ('' before the first) and how many events it wrote."""

    run_id: int
    actor: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    part: str
    after_key: str
    published: int
    resumed: bool = False


def _run(row: asyncpg.Record, *, resumed: bool = False) -> RepublishRun:
    return RepublishRun(
        run_id=row["run_id"],
        actor=row["actor"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        part=row["part"],
        after_key=row["after_key"],
        published=row["published"],
        resumed=resumed,
    )


class RepublishStore:
    """Queries and transactions over ``republish_runs`` (and the rows republished)."""

    pool: asyncpg.Pool

    async def open_republish_run(
        self, actor: str, now: dt.datetime, *, restart: bool
    ) -> RepublishRun:
        """The unfinished run (resumed), or a new one from the start.

        ``restart``: close an unfinished run unfinished-as-is and start afresh.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("lock table republish_runs in exclusive mode")
            row = await conn.fetchrow(
                "select * from republish_runs where finished_at is null"
            )
            if row is not None and not restart:
                return _run(row, resumed=True)
            if row is not None:
                await conn.execute(
                    "update republish_runs set finished_at = $2 where run_id = $1",
                    row["run_id"],
                    now,
                )
            row = await conn.fetchrow(
                """insert into republish_runs (actor, started_at, part)
                   values ($1, $2, $3) returning *""",
                actor,
                now,
                PARTS[0],
            )
            assert row is not None
            return _run(row)

    async def republish_keys(
        self,
        run: RepublishRun,
        limit: int,
        build: Callable[[SigningKey], OutboxRecord],
    ) -> RepublishRun:
        """Republish the next ``limit`` signing keys by kid; the run after the batch
        (moved on to the lineages when none was left)."""
        async with self.pool.acquire() as conn, conn.transaction():
            found = await conn.fetch(
                """select * from signing_keys where kid > $1
                   order by kid limit $2 for share""",
                run.after_key,
                limit,
            )
            events = [build(rows.signing_key(r)) for r in found]
            return await self._advance(conn, run, events, found, "kid", "lineages")

    async def republish_lineages(
        self,
        run: RepublishRun,
        limit: int,
        build: Callable[[StoredLicence], OutboxRecord],
    ) -> RepublishRun:
        """Republish the current version of the next ``limit`` lineages by lineage;
        the run after the batch (done when none was left)."""
        async with self.pool.acquire() as conn, conn.transaction():
            locked = await conn.fetch(
                """select lineage, current_identifier from lineages where lineage > $1
                   order by lineage limit $2 for share""",
                run.after_key,
                limit,
            )
            current = await conn.fetch(
                f"""select {LICENCE_COLUMNS}, code from licences
                    where identifier = any($1::text[])""",
                [r["current_identifier"] for r in locked],
            )
            by_identifier = {r["identifier"]: r for r in current}
            events = [
                build(rows.stored_licence(by_identifier[r["current_identifier"]]))
                for r in locked
            ]
            return await self._advance(conn, run, events, locked, "lineage", "done")

    async def _advance(
        self,
        conn: asyncpg.Connection,
        run: RepublishRun,
        events: list[OutboxRecord],
        found: list[asyncpg.Record],
        key: str,
        next_part: str,
    ) -> RepublishRun:
        await write_outbox(conn, events)
        if found:
            part, after = run.part, str(found[-1][key])
        else:
            part, after = next_part, ""
        row = await conn.fetchrow(
            """update republish_runs set part = $2, after_key = $3,
                   published = published + $4,
                   finished_at = case when $2 = 'done' then clock_timestamp() end
               where run_id = $1 and finished_at is null returning *""",
            run.run_id,
            part,
            after,
            len(events),
        )
        if row is None:  # another run restarted this one: write nothing
            raise RepublishSuperseded(run.run_id)
        return _run(row, resumed=run.resumed)

    async def last_republish_run(self) -> RepublishRun | None:
        """The newest run, finished or not."""
        row = await self.pool.fetchrow(
            "select * from republish_runs order by run_id desc limit 1"
        )
        return _run(row) if row else None


class RepublishSuperseded(Exception):
    """The run was closed by a restarted one while this batch ran (rolled back)."""
