"""Transparency log storage: the only reader and writer of the tlog tables.

The sequencer's batch is one transaction (:meth:`LogStore.sequence`): lock the head,
take the oldest queued events (``tlog_queue``, filled by the outbox trigger of the
kernel's migration 0004 in the transaction that committed each event), append them as
consecutive leaves, store every perfect subtree they completed, move the head and store
the signed checkpoint, and delete the queued rows. A crash anywhere rolls all of it
back: the events stay queued, the tree keeps its last size, so there is never a gap (a
committed event missing) nor a fork (two trees with one size).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import asyncpg

from certseal.storage.pool import migrate_service
from certseal.storage.worker import NotifiedWorker
from services.tlog.domain import (
    Appended,
    Leaf,
    LogEntry,
    Node,
    SignedCheckpoint,
    entry_of,
    frontier_nodes,
)

MIGRATIONS = Path(__file__).parent / "migrations"


async def migrate_all(pool: asyncpg.Pool) -> list[str]:
    """Kernel then log migrations."""
    return await migrate_service(pool, "tlog", MIGRATIONS)


#: what the sequencer asks of the service per batch: the tree size before, the frontier
#: hashes and the new entries -> the appended nodes and the new signed checkpoint
AppendBatch = Callable[
    [int, list[bytes], list[LogEntry]], tuple[Appended, SignedCheckpoint]
]


class LogStore:
    """Queries and transactions over the tlog tables."""

    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    async def sequence(
        self,
        conn: asyncpg.Connection,
        *,
        limit: int,
        append: AppendBatch,
        now: dt.datetime,
    ) -> int:
        """Append up to ``limit`` queued events as leaves, in one transaction; return
        how many were appended (0: the queue was empty)."""
        async with conn.transaction():
            size = await conn.fetchval("select size from tlog_head for update")
            rows = await conn.fetch(
                """delete from tlog_queue where id in (
                       select id from tlog_queue order by id limit $1
                       for update skip locked)
                   returning id, topic, headers, value_sha256""",
                limit,
            )
            if not rows:
                return 0
            rows = sorted(rows, key=lambda r: r["id"])
            entries = [
                entry_of(r["topic"], _headers(r["headers"]), bytes(r["value_sha256"]))
                for r in rows
            ]
            frontier = await _nodes(conn, frontier_nodes(size))
            appended, checkpoint = append(
                size, [frontier[n] for n in frontier_nodes(size)], entries
            )
            await conn.copy_records_to_table(
                "tlog_leaves",
                records=[
                    (size + i, e.encode(), e.subject, e.type, now)
                    for i, e in enumerate(entries)
                ],
                columns=["leaf_index", "data", "subject", "event_type", "appended_at"],
            )
            await conn.copy_records_to_table(
                "tlog_nodes", records=appended.nodes, columns=["level", "idx", "hash"]
            )
            await conn.execute(
                "update tlog_head set size = $1, updated_at = $2", appended.size, now
            )
            await conn.execute(
                """insert into tlog_checkpoints (size, root_hash, note, signed_at)
                   values ($1, $2, $3, $4)""",
                checkpoint.size,
                checkpoint.root_hash,
                checkpoint.note,
                now,
            )
            return len(rows)

    async def latest_checkpoint(self) -> SignedCheckpoint | None:
        """The checkpoint of the head's size (None before the first append)."""
        row = await self._pool.fetchrow(
            """select c.size, c.root_hash, c.note from tlog_checkpoints c
               join tlog_head h on h.size = c.size"""
        )
        return _checkpoint(row) if row else None

    async def checkpoint(self, size: int) -> SignedCheckpoint | None:
        """The signed checkpoint of tree size ``size``, if the log signed one."""
        row = await self._pool.fetchrow(
            "select size, root_hash, note from tlog_checkpoints where size = $1", size
        )
        return _checkpoint(row) if row else None

    async def size(self) -> int:
        """The tree's size now."""
        return int(await self._pool.fetchval("select size from tlog_head"))

    async def nodes(self, wanted: set[Node]) -> dict[Node, bytes]:
        """The stored hashes of ``wanted`` (one query)."""
        async with self._pool.acquire() as conn:
            return await _nodes(conn, sorted(wanted))

    async def leaves(self, start: int, count: int) -> list[Leaf]:
        """Leaves ``[start, start + count)`` that exist, in order."""
        rows = await self._pool.fetch(
            """select leaf_index, data from tlog_leaves
               where leaf_index >= $1 and leaf_index < $2 order by leaf_index""",
            start,
            start + count,
        )
        return [Leaf(r["leaf_index"], bytes(r["data"])) for r in rows]

    async def find(self, subject: str, *, after: int, limit: int) -> list[Leaf]:
        """Leaves whose subject is ``subject``, after leaf index ``after``, in order."""
        rows = await self._pool.fetch(
            """select leaf_index, data from tlog_leaves
               where subject = $1 and leaf_index > $2 order by leaf_index limit $3""",
            subject,
            after,
            limit,
        )
        return [Leaf(r["leaf_index"], bytes(r["data"])) for r in rows]

    async def queued(self) -> int:
        """How many committed events wait for the sequencer."""
        return int(await self._pool.fetchval("select count(*) from tlog_queue"))


def _headers(value: object) -> Mapping[str, str]:
    data = json.loads(value) if isinstance(value, str) else value
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}


def _checkpoint(row: asyncpg.Record) -> SignedCheckpoint:
    return SignedCheckpoint(row["size"], bytes(row["root_hash"]), row["note"])


async def _nodes(conn: asyncpg.Connection, wanted: Sequence[Node]) -> dict[Node, bytes]:
    if not wanted:
        return {}
    rows = await conn.fetch(
        """select n.level, n.idx, n.hash from tlog_nodes n
           join unnest($1::smallint[], $2::bigint[]) as w(level, idx)
             on n.level = w.level and n.idx = w.idx""",
        [lvl for lvl, _ in wanted],
        [idx for _, idx in wanted],
    )
    found = {(r["level"], r["idx"]): bytes(r["hash"]) for r in rows}
    missing = [n for n in wanted if n not in found]
    if missing:
        raise RuntimeError(f"the log's node store lacks {missing[:3]}")
    return found


class LogSequencer(NotifiedWorker):
    """Appends queued events to the log; one leader across all log replicas.

    Woken by the outbox's NOTIFY (every committed event row notifies), polling too.
    """

    name = "log-sequencer"
    channel = "certseal_outbox"
    lock_id = 0x63657274746C6F67

    def __init__(
        self,
        *,
        dsn: str,
        store: LogStore,
        append: AppendBatch,
        clock: Callable[[], dt.datetime],
        batch_size: int = 1000,
        poll_interval_s: float = 1.0,
    ):
        super().__init__(dsn=dsn, poll_interval_s=poll_interval_s)
        self._store = store
        self._append = append
        self._clock = clock
        self._batch_size = batch_size

    async def work_once(self, conn: asyncpg.Connection) -> int:
        """Sequence one batch."""
        return await self._store.sequence(
            conn, limit=self._batch_size, append=self._append, now=self._clock()
        )
