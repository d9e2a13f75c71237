"""Rotating the key-encryption key: re-wrap every wrapped key in one transaction.

Owns :data:`WRAPPED` (which table columns hold wrapped keys) and :func:`rewrap_all`.

Every private key and shared secret at rest is AES-256-GCM under the KEK, bound to its
name (a kid, or ``webhook:<name>``). Re-wrapping decrypts each under the current KEK and
encrypts it under the new one; the tables are locked meanwhile, so no process writes a
key under the old KEK that would be missed, and nothing changes unless all succeed.

A process that reads the KEK (the issuer, the seal service, the feed:
``ServiceProcess.holds_kek``) names its sessions with :func:`session_name`; a re-wrap
refuses while any such session is connected to the database, since that process keeps
the old KEK: it could no longer unwrap what was re-wrapped, and a key it made
afterwards would be wrapped under the old KEK, which neither KEK then opens in full.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg

from certseal.crypto import KeyWrapper, is_token_reference
from certseal.errors import CertsealError, ErrorKind

#: the ``application_name`` of a KEK holder's sessions starts with this
KEK_HOLDER_PREFIX = "certseal-kek:"
#: how long a re-wrap waits for the sessions of services just stopped to end
SESSIONS_END_WAIT_S = 3.0


def session_name(service: str, *, holds_kek: bool) -> str:
    """The ``application_name`` of a service process's database sessions."""
    return f"{KEK_HOLDER_PREFIX}{service}" if holds_kek else f"certseal-{service}"


async def kek_holders(conn: asyncpg.Connection) -> dict[str, int]:
    """Sessions of KEK-holding processes connected to this database, per service
    (``conn``'s own excluded)."""
    rows = await conn.fetch(
        "select substr(application_name, $1) as service, count(*) as sessions"
        " from pg_stat_activity where datname = current_database()"
        " and pid <> pg_backend_pid() and starts_with(application_name, $2)"
        " group by 1 order by 1",
        len(KEK_HOLDER_PREFIX) + 1,
        KEK_HOLDER_PREFIX,
    )
    return {row["service"]: row["sessions"] for row in rows}


async def refuse_while_held(
    conn: asyncpg.Connection, wait_s: float = SESSIONS_END_WAIT_S
) -> None:
    """FAILED_PRECONDITION (field ``kek``) while a KEK-holding service is connected,
    after waiting up to ``wait_s`` for the sessions of one just stopped to end."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while holders := await kek_holders(conn):
        if asyncio.get_running_loop().time() >= deadline:
            running = ", ".join(f"{s} ({n} sessions)" for s, n in holders.items())
            raise CertsealError(
                ErrorKind.FAILED_PRECONDITION,
                f"{running} still connected to this database with the current KEK: "
                "stop the issuer, seal and feed services first (they would keep "
                "wrapping and unwrapping keys under the old KEK)",
                field="kek",
            )
        await asyncio.sleep(0.1)


@dataclass(frozen=True, slots=True)
class WrappedColumn:
    """Where wrapped keys live: a table, the SQL giving each key's name, the column."""

    table: str
    name_sql: str
    column: str


# the tables of the issuer, the seal service and the event feed
WRAPPED = (
    WrappedColumn("signing_keys", "kid", "wrapped_private_key"),
    WrappedColumn("seal_makers", "kid", "wrapped_key"),
    WrappedColumn("seals", "kid", "wrapped_key"),
    WrappedColumn("feed_webhooks", "'webhook:' || name", "wrapped_secret"),
)


async def rewrap_all(
    conn: asyncpg.Connection, current: KeyWrapper, new: KeyWrapper
) -> dict[str, int]:
    """Re-wrap every key under ``new``; the number re-wrapped per table.

    Raises (and changes nothing) when any key does not decrypt under ``current``, or
    while a service that holds the KEK is connected (:func:`refuse_while_held`).
    """
    await refuse_while_held(conn)
    counts: dict[str, int] = {}
    async with conn.transaction():
        for place in WRAPPED:
            if await conn.fetchval("select to_regclass($1)", place.table) is None:
                continue  # that service never ran against this database
            await conn.execute(f"lock table {place.table} in exclusive mode")
            rows = await conn.fetch(
                f"select ctid, {place.name_sql} as name, {place.column} as blob "
                f"from {place.table}"
            )
            # a key in a PKCS#11 token is a reference, not wrapped bytes: left as is
            rows = [r for r in rows if not is_token_reference(r["blob"])]
            for row in rows:
                await conn.execute(
                    f"update {place.table} set {place.column} = $1 where ctid = $2",
                    current.rewrap(row["name"], row["blob"], new),
                    row["ctid"],
                )
            counts[place.table] = len(rows)
    return counts
