"""An integrator that keeps its own table of licence statuses from certseal's events.

It needs nothing from certseal but the topic contract (docs/events.md) and the generated
protobuf classes: a plain aiokafka consumer group reads ``certseal.licence-events.v1``
and folds each event into an SQLite table, the way any other government system would.

Delivery is at-least-once, so the table is written idempotently: an event is applied
only if its ``lineage_version`` is newer than the row's, and offsets are committed only
after the rows are written. After a crash or restart the group resumes from its
committed offsets; events seen twice change nothing.

    python examples/licence_status_table.py --bootstrap "$CERTSEAL_KAFKA" \\
        --group my-system --db statuses.sqlite

with the classes generated from ``protos/`` on the path (docs/events.md, "Consuming: a
worked example", has every step; ``make run`` prints the embedded broker's address).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
from pathlib import Path
from typing import NoReturn

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from certseal.v1 import events_pb2

TOPIC = "certseal.licence-events.v1"


class StatusTable:
    """lineage → current identifier, status code and lineage_version, in SQLite."""

    def __init__(self, path: Path):
        self.db = sqlite3.connect(path)
        self.db.execute(
            """create table if not exists licence_status (
                   lineage text primary key,
                   identifier text not null,
                   status integer not null,
                   lineage_version integer not null,
                   last_event_id text not null)"""
        )
        self.db.commit()

    def apply(self, event: events_pb2.LicenceEvent) -> bool:
        """Apply ``event`` unless the table already holds this version or a newer one."""
        cursor = self.db.execute(
            """insert into licence_status values (?, ?, ?, ?, ?)
               on conflict (lineage) do update set
                   identifier = excluded.identifier, status = excluded.status,
                   lineage_version = excluded.lineage_version,
                   last_event_id = excluded.last_event_id
               where excluded.lineage_version > licence_status.lineage_version""",
            (
                event.lineage,
                event.identifier,
                event.status,
                event.lineage_version,
                event.event_id,
            ),
        )
        return cursor.rowcount > 0

    def status(self, lineage: str) -> tuple[str, int] | None:
        """(current identifier, status code) of a lineage, if known."""
        row = self.db.execute(
            "select identifier, status from licence_status where lineage = ?",
            (lineage,),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def counts(self) -> dict[int, int]:
        """How many lineages are at each status code (1 valid, 3 revoked, ...)."""
        rows = self.db.execute(
            "select status, count(*) from licence_status group by status order by 1"
        )
        return dict(rows.fetchall())

    def commit(self) -> None:
        """Make the applied rows durable."""
        self.db.commit()

    def close(self) -> None:
        """Close the database."""
        self.db.close()


async def follow(
    bootstrap: str,
    group: str,
    table: StatusTable,
    *,
    stop: asyncio.Event | None = None,
    until_caught_up: bool = False,
    session_timeout_ms: int = 10_000,
) -> int:
    """Consume until ``stop`` is set (or, with ``until_caught_up``, until the end).

    Returns how many events changed the table.
    """
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,  # commit only what is in the table
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=min(3000, session_timeout_ms // 3),
    )
    try:
        await consumer.start()
    except BaseException:
        await consumer.stop()  # its connections, or "Unclosed AIOKafkaConsumer"
        raise
    changed = 0
    try:
        while stop is None or not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=1000)
            for records in batches.values():
                for record in records:
                    if record.value is None:
                        continue
                    event = events_pb2.LicenceEvent.FromString(record.value)
                    changed += table.apply(event)
            if batches:
                table.commit()
                await consumer.commit()
            if until_caught_up and not batches and await _at_end(consumer):
                break
    finally:
        await consumer.stop()
    return changed


async def _at_end(consumer: AIOKafkaConsumer) -> bool:
    assigned = list(consumer.assignment())
    if not assigned:
        return False
    ends: dict[TopicPartition, int] = await consumer.end_offsets(assigned)
    positions = [await consumer.position(tp) for tp in assigned]
    return all(p >= ends[tp] for tp, p in zip(assigned, positions, strict=True))


class OneLineParser(argparse.ArgumentParser):
    """argparse, a bad command line said in one line, ``error: <option>: <problem>``
    with exit status 2, as certseal's own commands say it (no usage block above)."""

    def error(self, message: str) -> NoReturn:
        field, sep, problem = message.partition(": ")
        required = "the following arguments are required"
        if sep and field.startswith("argument "):
            field = field.removeprefix("argument ").split("/")[0]
        elif sep and field == required:
            field, problem = problem.split(", ")[0], "is required"
        else:  # argparse's other messages name no one argument
            field, problem = "arguments", message
        self.exit(2, f"error: {field.lstrip('-')}: {problem}\n")


def _given(what: str):  # type: ignore[no-untyped-def]
    """An option's type: an empty or blank value is refused, ``error: <option>: is
    empty: give <what>`` (an empty ``--db`` would make sqlite keep the table in a
    temporary file, lost at the end; an unset shell variable is not an address)."""

    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"is empty: give {what}")
        return text

    return parse


def _bootstrap(text: str) -> str:
    """``--bootstrap``'s type: HOST:PORT[,HOST:PORT…], each port a number (aiokafka
    would raise its ValueError at start, a traceback)."""
    for address in _given("HOST:PORT")(text).split(","):
        host, _, port = address.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65_536:
            raise argparse.ArgumentTypeError(f"{address!r} is not HOST:PORT")
    return text


class _Once(argparse.Action):
    """An option given once at most: a second ``--group`` is a mistake, not the
    one that counts."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
        if getattr(namespace, f"_{self.dest}_given", False):
            raise argparse.ArgumentError(self, "given more than once")
        setattr(namespace, f"_{self.dest}_given", True)
        setattr(namespace, self.dest, values)


def main() -> None:
    """Run until Ctrl-C (or, with ``--until-caught-up``, the end of the topic).
    Exit status 2 with ``error: <option>: <problem>`` for a bad command line or a
    ``--db`` that cannot be opened, 1 when no broker answers at ``--bootstrap``."""
    parser = OneLineParser(prog="licence_status_table.py")
    parser.add_argument("--bootstrap", required=True, type=_bootstrap, action=_Once)
    parser.add_argument(
        "--group", required=True, type=_given("a consumer group"), action=_Once
    )
    parser.add_argument(
        "--db", default="licence-status.sqlite", type=_given("a file"), action=_Once
    )
    parser.add_argument(
        "--until-caught-up",
        action="store_true",
        help="stop at the end of the topic instead of following it",
    )
    args = parser.parse_args()
    try:
        table = StatusTable(Path(args.db))
    except sqlite3.Error as exc:
        parser.exit(2, f"error: db: cannot open {args.db!r}: {exc}\n")
    changed = 0
    try:
        changed = asyncio.run(
            follow(
                args.bootstrap,
                args.group,
                table,
                until_caught_up=args.until_caught_up,
            )
        )
    except KeyboardInterrupt:
        pass
    except KafkaConnectionError:  # aiokafka has logged each address it tried
        table.close()
        parser.exit(
            1, f"error: bootstrap: no Kafka broker answered at {args.bootstrap}\n"
        )
    # what success looks like: e.g. "applied 3 events; 2 lineages in
    # statuses.sqlite: 1 at status 01, 1 at status 07"
    counts = table.counts()
    by_status = ", ".join(f"{n} at status {s:02d}" for s, n in counts.items())
    print(
        f"applied {changed} events; {sum(counts.values())} lineages in "
        f"{args.db}" + (f": {by_status}" if by_status else ""),
        flush=True,
    )
    table.close()


if __name__ == "__main__":
    main()
