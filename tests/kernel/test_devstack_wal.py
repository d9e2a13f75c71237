"""The embedded PostgreSQL makes new WAL segments without zero-filling them.

A fresh cluster has no used segments to recycle, so the commit that fills one makes the
next; with ``wal_init_zero = on`` (PostgreSQL's default) it first wrote 16 MiB of zeros
holding the WAL write lock, and every commit of the stack waited 30 to 70 ms once every
16 MiB of WAL: the p99 of IssueLicence paced at 500/s in ``make bench``
(docs/architecture.md §2b, "The WAL's new segments").
"""

from __future__ import annotations

import asyncpg


async def test_the_embedded_postgresql_makes_wal_segments_without_zeros(config):
    connection = await asyncpg.connect(config.database.dsn())
    try:
        assert await connection.fetchval("show wal_init_zero") == "off"
        # every commit is still flushed before it is answered
        assert await connection.fetchval("show synchronous_commit") == "on"
        assert await connection.fetchval("show fsync") == "on"
    finally:
        await connection.close()
