"""The audit trail in PostgreSQL: writing rows, sealing them into the chain, verifying it.

Writers insert rows in their own transaction (:func:`write_audit`), a refused
operation's row on its own (:class:`RefusalAudit`); the :class:`AuditSealer` then links
committed rows into a SHA-256 chain in the order it sees them:
``hash = SHA-256(prev_hash || canonical(row))`` (see :mod:`certseal.audit`).
Sealing off the request path keeps the chain from serialising every transaction of the
platform. :func:`verify_chain` recomputes it and reports any edited, inserted or deleted
row.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import weakref
from collections.abc import Callable, Sequence

import asyncpg

from certseal.audit import (
    COUNTED_ACTION,
    GENESIS,
    HELD_REFUSALS,
    Asked,
    AuditEntry,
    AuditReport,
    RefusalBudget,
    chain_hash,
    refusal,
)
from certseal.logs import REQUEST_ID
from certseal.metrics import Metrics
from certseal.storage.idcursor import (
    SESSION,
    IdCursor,
    check_ids_in_time_order,
    read,
    read_statements,
)
from certseal.storage.idempotency import kept
from certseal.storage.worker import NotifiedWorker

log = logging.getLogger(__name__)


async def write_audit(
    conn: asyncpg.Connection | asyncpg.Pool, entries: Sequence[AuditEntry]
) -> None:
    """Insert audit rows (in the caller's transaction when given a connection)."""
    if not entries:
        return
    await conn.execute(
        """insert into audit_log (occurred_at, actor, action, subject, outcome, details,
                                  request_id)
           select * from unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[],
                                $5::text[], $6::jsonb[], $7::text[])""",
        [e.occurred_at for e in entries],
        [e.actor for e in entries],
        [e.action for e in entries],
        [e.subject for e in entries],
        [e.outcome for e in entries],
        [e.details for e in entries],
        [e.request_id for e in entries],
    )


class RefusalAudit:
    """What a service's store writes when the service refuses an operation: the one
    writer of refusals (the seal service's, the issuer's and the feed's), each
    caller's rows bounded a minute (:class:`certseal.audit.RefusalBudget`)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        budget: RefusalBudget | None = None,
        *,
        call_later: Callable[[float, Callable[[], None]], object] | None = None,
    ):
        """``call_later(seconds, callback)``: the timer that writes a counted minute
        when it ends (default: the running loop's)."""
        self.pool = pool
        self.refusal_budget = budget or RefusalBudget()
        self._call_later = call_later
        self._flush_at: dt.datetime | None = None  # the minute end a timer waits for
        _COUNTING.add(self)

    async def audit_refusal(
        self,
        *,
        at: dt.datetime,
        actor: str,
        action: str,
        subject: str,
        why: str,
        asked: Asked | None = None,
    ) -> AuditEntry:
        """Record that ``actor`` was refused ``action`` on ``subject`` because
        ``why``: ONE audit row (:func:`certseal.audit.refusal`: outcome ``denied``,
        details ``{"why": why}`` and what was ``asked``, the RPC's request id),
        written on its own, outside
        the refused change's transaction, which rolls back without it. In a call with
        an idempotency key the row waits for the call's answer
        (:data:`certseal.audit.HELD_REFUSALS`): it is written only when the refusal
        is answered, not when a retry is answered the stored answer instead.

        One row per refused call and nothing else: a caller is refused after it is
        known (its certificate read), and the subject is bounded, so repeating a
        refused call costs its writer one small row each time, up to
        :data:`~certseal.audit.REFUSAL_ROWS_PER_MINUTE` a minute per caller; past
        them the caller's refusals are counted and its minute written as one row
        when it ends (:class:`~certseal.audit.RefusalBudget`; by a timer of this
        loop's, and by :func:`write_counted_refusals` when the process stops; a
        held refusal takes its place in the minute only when it is recorded). A row
        that cannot be written (the database away) is logged at ERROR and the
        refusal answered as it is: the caller is refused either way, and told so
        rather than to retry. Returns the entry."""
        entry = refusal(at, actor, action, subject, why, REQUEST_ID.get(), asked)

        async def record() -> None:
            budget = self.refusal_budget
            await self._write_counted(budget.due(at))  # minutes ended, before this
            if budget.admit(actor, action, at):
                await self._write(
                    [entry], f"the refusal of {action} to {actor} on {entry.subject}"
                )
                return
            if budget.counting(actor) == 1:
                log.warning(
                    "%s was refused more than %d times within a minute: its further "
                    "refusals this minute are counted and recorded as one %s row "
                    "when the minute ends",
                    actor,
                    budget.rows,
                    COUNTED_ACTION,
                )
            self._flush_later(at)

        held = HELD_REFUSALS.get()
        if held is None or not held.open:
            await record()
        else:
            held.records.append(record)
        return entry

    async def write_counted(
        self, now: dt.datetime, *, all_counted: bool = False
    ) -> None:
        """Write the summary rows of the callers' minutes that counted refusals and
        have ended by ``now`` (``all_counted``: all of them, ended or not)."""
        await self._write_counted(self.refusal_budget.due(now, all_counted=all_counted))

    async def _write_counted(self, rows: list[AuditEntry]) -> None:
        for at, row in enumerate(rows):
            try:
                await self._write([row], _counted(row))
            except BaseException:  # cancelled (a stop's bound): say what is lost
                for lost in rows[at:]:
                    log.error(
                        "%s could not be recorded in the audit log", _counted(lost)
                    )
                raise

    async def _write(self, entries: list[AuditEntry], what: str) -> None:
        try:
            await write_audit(self.pool, entries)
        except Exception:
            log.exception("%s could not be recorded in the audit log", what)

    def _flush_later(self, at: dt.datetime) -> None:
        """A timer of this loop's that writes the first counted minute when it
        ends, then the next (``at``: the callers' time now)."""
        end = self.refusal_budget.next_end()
        if end is None or (self._flush_at is not None and self._flush_at <= end):
            return
        self._flush_at = end

        def fire() -> None:
            if self._flush_at != end:
                return  # a sooner timer took over
            self._flush_at = None
            kept(self._flushed(end))

        delay = max(0.0, (end - at).total_seconds())
        (self._call_later or asyncio.get_running_loop().call_later)(delay, fire)

    async def _flushed(self, end: dt.datetime) -> None:
        await self.write_counted(end)
        self._flush_later(end)


def _counted(row: AuditEntry) -> str:
    """A summary row as a log line says it: whose, how many, of what."""
    actions = ", ".join(f"{a} {n}" for a, n in row.details["actions"].items())
    return (
        f"the {row.details['counted']} refusals of {row.actor} counted from "
        f"{row.details['from']} to {row.details['to']} ({actions})"
    )


#: the refusal writers of this process, so that a stopping process writes the minutes
#: they are counting (:func:`write_counted_refusals`)
_COUNTING: weakref.WeakSet[RefusalAudit] = weakref.WeakSet()


async def write_counted_refusals(pool: asyncpg.Pool) -> None:
    """Write the counted minutes of every refusal writer over ``pool`` now, ended or
    not: a process stopping (:meth:`certseal.process.ServiceProcess.stop`, before
    it closes ``pool``)."""
    writers = [w for w in _COUNTING if w.pool is pool]
    rows = [
        row
        for writer in writers
        for row in writer.refusal_budget.due(dt.datetime.now(dt.UTC), all_counted=True)
    ]
    if writers:
        await writers[0]._write_counted(rows)  # one pool: any writer writes them


class AuditSealer(NotifiedWorker):
    """Links newly committed audit rows into the chain; one leader across replicas."""

    name = "audit-sealer"
    channel = ""  # polls: see migration 0002
    lock_id = 0x6365727473656133

    def __init__(
        self,
        *,
        dsn: str,
        metrics: Metrics,
        batch_size: int = 2000,
        poll_interval_s: float = 0.5,
    ):
        super().__init__(dsn=dsn, poll_interval_s=poll_interval_s)
        self._metrics = metrics
        self._batch_size = batch_size
        #: where this leader reads from (set from the head as it leads)
        self._cursor = IdCursor.at(1)

    async def on_leader(self, conn: asyncpg.Connection) -> None:
        """Read from the position the head keeps (every row below it is sealed),
        with the outbox relay's planner settings
        (:data:`certseal.storage.idcursor.SESSION`)."""
        await conn.execute(SESSION)
        await check_ids_in_time_order(conn, "audit_log")
        self._cursor = IdCursor.at(
            await conn.fetchval("select unsealed_from from audit_head")
        )

    def more_to_do(self, handled: int) -> bool:
        """Seal again at once only after a full batch: otherwise the next poll
        (``poll_interval_s``) seals what committed meanwhile in one transaction,
        rather than a transaction for every few rows under load."""
        return handled >= self._batch_size

    async def work_once(self, conn: asyncpg.Connection) -> int:
        """Seal one batch of the rows committed since the last (read by an
        :class:`~certseal.storage.idcursor.IdCursor`: no index on unsealed rows), and
        store the position with the head. The rows are read by the transaction's
        first statement, which takes its transaction id after its snapshot (the
        cursor's horizon); the head row (kernel migration 0007), locked after,
        serialises two sealers (FOR UPDATE), and a row another sealed meanwhile
        fails the batch (RuntimeError), which is rolled back and read again."""
        async with conn.transaction():
            snapshot, rows = await read(conn, self._cursor, _READS, self._batch_size)
            cursor = self._cursor.after(
                [r["id"] for r in rows],
                xmin=snapshot["xmin"],
                horizon=snapshot["horizon"],
                limit_reached=len(rows) == self._batch_size,
            )
            head = await conn.fetchrow("select seq, hash from audit_head for update")
            seq, prev = head["seq"], bytes(head["hash"])
            if not rows:
                if cursor.next_id != self._cursor.next_id:
                    await conn.execute(
                        "update audit_head set unsealed_from = $1", cursor.next_id
                    )
                self._cursor = cursor
                return 0
            ids, seqs, prevs, hashes = [], [], [], []
            for row in rows:
                seq += 1
                digest = chain_hash(prev, dict(row.items()), seq)
                ids.append(row["id"])
                seqs.append(seq)
                prevs.append(prev)
                hashes.append(digest)
                prev = digest
            sealed = await conn.execute(
                """update audit_log a set seq = u.seq, prev_hash = u.prev, hash = u.hash
                   from unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[])
                        as u(id, seq, prev, hash)
                   where a.id = u.id and a.seq is null""",
                ids,
                seqs,
                prevs,
                hashes,
            )
            if sealed != f"UPDATE {len(ids)}":
                raise RuntimeError(
                    f"audit rows were sealed by another sealer meanwhile ({sealed})"
                )
            await conn.execute(
                "update audit_head set seq = $1, hash = $2, unsealed_from = $3",
                seq,
                prev,
                cursor.next_id,
            )
        self._cursor = cursor  # kept only once the transaction committed
        self._metrics.audit_sealed.inc(len(rows))
        return len(rows)


#: the sealer's reads (:func:`certseal.storage.idcursor.read`): the rows not sealed
_READS = read_statements(
    "audit_log",
    (
        "id",
        "occurred_at",
        "actor",
        "action",
        "subject",
        "outcome",
        "details",
        "request_id",
    ),
    unread="seq is null",
)


async def audit_rows(
    conn: asyncpg.Connection,
    *,
    actor: str | None = None,
    action: str | None = None,
    subject: str | None = None,
    outcome: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 50,
) -> list[asyncpg.Record]:
    """The audit log's rows, newest first, at most ``limit``: those of ``actor``,
    ``action``, ``subject`` and ``outcome`` (each exact; None: any) that occurred at
    or after ``since``. Each row: id, occurred_at, actor, action, subject, outcome,
    details, request_id and seq (None while not sealed into the chain). Read from
    the newest row back (the table keeps no index but its id's, so that writing a
    row costs nothing more): a filter matching few rows reads far."""
    return await conn.fetch(
        """select id, occurred_at, actor, action, subject, outcome, details,
                  request_id, seq
             from audit_log
            where ($1::text is null or actor = $1)
              and ($2::text is null or action = $2)
              and ($3::text is null or subject = $3)
              and ($4::text is null or outcome = $4)
              and ($5::timestamptz is null or occurred_at >= $5)
            order by id desc
            limit $6""",
        actor,
        action,
        subject,
        outcome,
        since,
        limit,
    )


async def audit_actions(conn: asyncpg.Connection) -> list[str]:
    """Every action the audit log has a row of, sorted: for saying that an action
    asked for is none of them (``key.revoke`` where the log writes ``key.revoked``).
    Reads the whole table (it keeps no index on the action): for a miss only."""
    return [
        row["action"]
        for row in await conn.fetch("select distinct action from audit_log order by 1")
    ]


async def verify_chain(conn: asyncpg.Connection, *, page: int = 5000) -> AuditReport:
    """Recompute the whole chain and compare it with the rows and the head.

    Rows, head and the unsealed count are read in one read-only REPEATABLE READ
    transaction: one snapshot, so a batch the sealer commits while the chain is being
    read (rows sealed after the last page read, the head moved on) is not reported as
    tampering. Inside a caller's transaction, that transaction is used as it is.
    """
    if conn.is_in_transaction():  # the caller's transaction is the snapshot
        return await _verify_snapshot(conn, page)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return await _verify_snapshot(conn, page)


async def _verify_snapshot(conn: asyncpg.Connection, page: int) -> AuditReport:
    report = AuditReport()
    prev, expected_seq = GENESIS, 1
    while True:
        rows = await conn.fetch(
            """select id, occurred_at, actor, action, subject, outcome, details,
                      request_id, seq, prev_hash, hash
               from audit_log where seq >= $1 order by seq limit $2""",
            expected_seq,
            page,
        )
        for row in rows:
            seq = row["seq"]
            if seq != expected_seq:
                report.problems.append(
                    f"rows {expected_seq}..{seq - 1} of the chain are missing (deleted)"
                )
            if bytes(row["prev_hash"]) != prev:
                report.problems.append(
                    f"row seq {seq} (id {row['id']}) does not link to the previous row"
                )
            digest = chain_hash(bytes(row["prev_hash"]), dict(row.items()), seq)
            if digest != bytes(row["hash"]):
                report.problems.append(f"row seq {seq} (id {row['id']}) was modified")
            prev, expected_seq = bytes(row["hash"]), seq + 1
            report.rows_checked += 1
        if len(rows) < page:
            break
    head = await conn.fetchrow("select seq, hash from audit_head")
    if head is not None and (
        head["seq"] != expected_seq - 1 or bytes(head["hash"]) != prev
    ):
        report.problems.append(
            f"the chain ends at seq {expected_seq - 1} but the head says {head['seq']}: "
            "rows at the end were deleted"
        )
    report.unsealed = await conn.fetchval(
        "select count(*) from audit_log where seq is null"
    )
    return report
