"""Reading every committed row of a table once, in id order, without marking the row.

The outbox relay and the audit sealer each take the rows that commit to one table
(``outbox``, ``audit_log``), whose ids come from one sequence. Marking each row taken
(an UPDATE of a published or sealed column) made a second row version and index
entries per row: about half of PostgreSQL's work a SealDocument (docs/architecture.md,
"The outbox and the audit log without a mark a row"). An :class:`IdCursor` instead
remembers how far it has read.

Why ``id > last read`` alone is not enough: a transaction takes its row's id when it
inserts it and may commit after a transaction with a higher id, so row 7 can become
visible after row 8 was read. Every id below the highest read that the read did not
return is a *gap*, kept with a *horizon*: a transaction id that the reading statement
takes itself (``pg_current_xact_id()``, PostgreSQL "Transaction ID and Snapshot
Information Functions"; 64-bit ``xid8``), after its snapshot was taken. The
transaction that took a missing id ``g`` took it before the visible id above it was
taken, hence before that snapshot, and so had its transaction id before the horizon
was handed out, *provided it had a transaction id before it took ``g``*. The tables'
id default (``nextval_after_xid``, kernel migration 0007) therefore takes the
transaction id first. A gap is then *settled* once a later snapshot's ``xmin`` (the
oldest transaction still running) reaches its horizon: every transaction that could
hold ``g`` has ended, so ``g`` either was read or never will be (rolled back). The
snapshot's own ``xmax`` is no horizon: it is one past the highest *completed*
transaction id, and a transaction that took its id after that one completed runs
unlisted above it (the fault a test keeps: tests/kernel/test_outbox_positions.py). The
ids must come from a sequence without a per-session cache (``bigserial``'s default),
so that they are taken in time order.

Every gap and every row a round could not finish (``unfinished``) is read
again, by its range, until it is read or settled: nothing committed is skipped, and a
transaction that stays open only holds back :attr:`IdCursor.next_id`, the point
below which everything was read. The cursor itself is a value: a round computes the
next one and keeps it only once the round's work is done. Both readers read with
:func:`read` (statements by :func:`read_statements`) in sessions set as
:data:`SESSION`, and check :func:`check_ids_in_time_order` as they lead.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import asyncpg

#: the planner settings of the relay's and the audit sealer's sessions: their
#: statements are planned once, not at every round (custom plans of the round's
#: statement cost PostgreSQL about 170 µs a round to make, twice what running the
#: generic one costs), and never as a scan of the whole table: a plan made while the
#: table was new and empty scanned it all at every round as it grew (PostgreSQL's
#: CPU an issuance doubled within a minute of a fresh database; docs/architecture.md
#: section 2, "The outbox and the audit log without a mark a row")
SESSION = "set plan_cache_mode = force_generic_plan; set enable_seqscan = off"


async def check_ids_in_time_order(conn: asyncpg.Connection, table: str) -> None:
    """Raise RuntimeError, saying how to mend it, unless ``table``'s id sequence
    hands out ids in time order (a cache of 1, ``bigserial``'s): what a read
    position needs (:mod:`certseal.storage.idcursor`). With a cache each session
    takes a block of ids, and a row committed later may hold an id below one read
    and settled already."""
    cache = await conn.fetchval(
        "select cache_size from pg_sequences where sequencename = $1",
        f"{table}_id_seq",
    )
    if cache != 1:
        raise RuntimeError(
            f"the sequence {table}_id_seq has a cache of {cache}: ids would not be "
            f"taken in time order, and rows could be skipped; set it back with "
            f"'alter sequence {table}_id_seq cache 1'"
        )


#: the most gaps a cursor keeps: past it the closest are joined into one
#: (:attr:`IdCursor.joined`: the relay marks the rows read in between, so that it does
#: not send them again at every read of the joined gap). Many gaps need a writing
#: transaction left open while many others roll back; each gap is one index range per
#: read.
MAX_GAPS = 1000

#: ids ``lo`` to ``hi`` (inclusive)
Space = tuple[int, int]


class Gap(NamedTuple):
    """Ids ``lo`` to ``hi`` (inclusive) to read again, not seen by a read that took
    the transaction id ``horizon`` after its snapshot."""

    lo: int
    hi: int
    horizon: int


@dataclass(frozen=True)
class IdCursor:
    """Where a reader of a table's committed rows stands: every id up to
    ``read_to`` was read, except the ``gaps`` (sorted, disjoint, all at or below
    ``read_to``)."""

    read_to: int
    gaps: tuple[Gap, ...] = ()
    #: the ranges the read that made this cursor joined into its gaps (past
    #: :data:`MAX_GAPS`): every id in them was read and finished, or never commits.
    #: A reader that takes no mark of its own (the relay) marks their rows, which a
    #: read of the joined gap would otherwise return again at every round
    joined: tuple[Space, ...] = field(default=(), compare=False)

    @classmethod
    def at(cls, next_id: int) -> IdCursor:
        """A cursor that reads from ``next_id`` on (a leader's start, from the
        position it finds stored)."""
        return cls(read_to=next_id - 1)

    @property
    def next_id(self) -> int:
        """The lowest id not known to be read or settled: what may be stored as
        the position to start from again (ids below it are done)."""
        return self.gaps[0].lo if self.gaps else self.read_to + 1

    def done(self, row_id: int) -> bool:
        """Whether ``row_id`` was read and finished (or never commits): at or below
        ``read_to``, in no gap."""
        if row_id > self.read_to:
            return False
        at = bisect.bisect_right(self.gaps, row_id, key=lambda gap: gap.lo)
        return at == 0 or self.gaps[at - 1].hi < row_id

    def ranges(self) -> tuple[list[int], list[int]]:
        """The gaps as two arrays, their lows and highs: the read's parameters
        (``id > read_to`` or ``id between lo and hi`` of one of them)."""
        return [g.lo for g in self.gaps], [g.hi for g in self.gaps]

    def after(
        self,
        ids: Sequence[int],
        *,
        xmin: int,
        horizon: int,
        limit_reached: bool,
        unfinished: Collection[int] = (),
    ) -> IdCursor:
        """The cursor after a read that returned ``ids`` (ascending, each above
        ``read_to`` or in a gap) under a snapshot whose ``xmin`` is given, the
        statement having taken the transaction id ``horizon`` after it. The read
        took them ``order by id limit n``: when it returned ``n`` (``limit_reached``),
        ids above the last returned were not looked at. The ``unfinished`` among
        ``ids`` (a send that failed, a batch that was full) are read again, like
        the ids the read did not return (a row no longer there settles like any
        gap): computed with them, never added after, so that no two gaps overlap.

        Raises ValueError for ids not ascending."""
        if any(b <= a for a, b in itertools.pairwise(ids)):
            raise ValueError("ids: not ascending")
        top = ids[-1] if ids else self.read_to
        looked_to = top if limit_reached else None  # None: everything was looked at
        done = [i for i in ids if i not in unfinished] if unfinished else ids
        kept: list[Gap] = []
        for gap in self.gaps:
            if looked_to is not None and gap.lo > looked_to:
                kept.append(gap)
                continue
            hi = gap.hi if looked_to is None else min(gap.hi, looked_to)
            if gap.horizon > xmin:  # not settled: what the read did not return stays
                if hi == gap.hi and not _holds(done, gap.lo, hi):
                    kept.append(gap)  # untouched (most gaps, most rounds)
                    continue
                kept += _missing(done, gap.lo, hi, gap.horizon)
            else:  # settled: only the rows read and not finished stay
                kept += _unfinished(ids, unfinished, gap.lo, hi, horizon)
            if hi < gap.hi:
                kept.append(Gap(hi + 1, gap.hi, gap.horizon))
        read_to = max(self.read_to, top)
        kept += _missing(done, self.read_to + 1, read_to, horizon)
        gaps, joined = _bounded(kept)  # in order: old gaps, then new
        return IdCursor(read_to, gaps, joined)


def _unfinished(
    ids: Sequence[int], unfinished: Collection[int], lo: int, hi: int, horizon: int
) -> list[Gap]:
    """The runs of ``ids`` (ascending) in ``lo..hi`` that are all ``unfinished``, as
    gaps (between two ids of a run no row is visible: no row is read twice)."""
    gaps: list[Gap] = []
    run: list[int] = []
    for i in ids[bisect.bisect_left(ids, lo) : bisect.bisect_right(ids, hi)]:
        if i in unfinished:
            run.append(i)
        elif run:
            gaps.append(Gap(run[0], run[-1], horizon))
            run = []
    if run:
        gaps.append(Gap(run[0], run[-1], horizon))
    return gaps


def _holds(ids: Sequence[int], lo: int, hi: int) -> bool:
    """Whether ``ids`` (ascending) holds an id from ``lo`` to ``hi``."""
    at = bisect.bisect_left(ids, lo)
    return at < len(ids) and ids[at] <= hi


def _missing(ids: Sequence[int], lo: int, hi: int, horizon: int) -> list[Gap]:
    """The runs of ``lo..hi`` that ``ids`` (ascending) does not hold, as gaps."""
    gaps = []
    start = bisect.bisect_left(ids, lo)
    end = bisect.bisect_right(ids, hi)
    at = lo
    for i in ids[start:end]:
        if i > at:
            gaps.append(Gap(at, i - 1, horizon))
        at = i + 1
    if at <= hi:
        gaps.append(Gap(at, hi, horizon))
    return gaps


def _bounded(gaps: list[Gap]) -> tuple[tuple[Gap, ...], tuple[Space, ...]]:
    """``gaps`` (sorted, disjoint) with the closest joined until at most
    :data:`MAX_GAPS` remain (a joined gap keeps the latest horizon of its parts),
    and the ranges between them that were joined in."""
    if len(gaps) <= MAX_GAPS:
        return tuple(gaps), ()
    spaces = sorted(range(len(gaps) - 1), key=lambda i: gaps[i + 1].lo - gaps[i].hi)
    join = set(spaces[: len(gaps) - MAX_GAPS])  # join gap i with gap i + 1
    joined: list[Gap] = []
    filled: list[Space] = []
    for i, gap in enumerate(gaps):
        if i - 1 in join:
            last = joined[-1]
            joined[-1] = Gap(last.lo, gap.hi, max(last.horizon, gap.horizon))
            if last.hi + 1 < gap.lo:
                filled.append((last.hi + 1, gap.lo - 1))
        else:
            joined.append(gap)
    return tuple(joined), tuple(filled)


def read_statements(
    table: str, columns: Sequence[str], *, unread: str, head: str = ""
) -> tuple[str, str]:
    """The two statements a reader of ``table`` runs (:func:`read`): the ``columns``
    of its rows matching ``unread`` (a condition on the table's own columns: not yet
    published, not yet sealed) above ``read_to`` ($1), at most $2 in id order; and
    the same with the rows in the gaps ($3 lows, $4 highs). Every row carries the
    snapshot's ``xmin`` and the ``horizon`` (a transaction id the statement takes
    after its snapshot), and ``head`` (more columns of that kind); with no row
    found, one row of them alone (its ``id`` null)."""
    top = f"""select pg_snapshot_xmin(pg_current_snapshot())::text::bigint as xmin,
       pg_current_xact_id()::text::bigint as horizon{", " + head if head else ""}, o.*
from (select 1) as one left join ("""
    chosen = ", ".join(columns)
    above = f"""select {chosen} from {table}
    where id > $1 and {unread} order by id limit $2"""
    in_gaps = f"""select {", ".join("b." + c for c in columns)}
    from unnest($3::bigint[], $4::bigint[]) as r(lo, hi)
    join {table} b on b.id between r.lo and r.hi where b.{unread}"""
    end = ") o on true order by o.id"
    return (
        top + above + end,
        f"{top}({above}) union all ({in_gaps}) order by id limit $2{end}",
    )


async def read(
    conn: asyncpg.Connection,
    cursor: IdCursor,
    statements: tuple[str, str],
    limit: int,
) -> tuple[asyncpg.Record, list[asyncpg.Record]]:
    """The next at most ``limit`` rows for ``cursor`` (its gaps read only when it has
    any), by :func:`read_statements`: the first row (its ``xmin``, ``horizon`` and
    head columns) and the rows found."""
    plain, with_gaps = statements
    if cursor.gaps:
        found = await conn.fetch(with_gaps, cursor.read_to, limit, *cursor.ranges())
    else:
        found = await conn.fetch(plain, cursor.read_to, limit)
    return found[0], [r for r in found if r["id"] is not None]
