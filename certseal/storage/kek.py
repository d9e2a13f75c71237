"""Rotating the key-encryption key: re-wrap every wrapped key in one transaction.

Owns :data:`WRAPPED` (which table columns hold wrapped keys) and :func:`rewrap_all`.

Every private key and shared secret at rest is AES-256-GCM under the KEK, bound to its
name (a kid, or ``webhook:<name>``). Re-wrapping decrypts each under the current KEK and
encrypts it under the new one; the tables are locked meanwhile, so no process writes a
key under the old KEK that would be missed, and nothing changes unless all succeed.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from certseal.crypto import KeyWrapper, is_token_reference


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

    Raises (and changes nothing) when any key does not decrypt under ``current``.
    """
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
