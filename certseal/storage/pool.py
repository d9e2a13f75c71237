"""PostgreSQL access: the connection pool and ordered, locked schema migrations.

Owns the jsonb codec every connection gets, and the ``schema_migrations`` table with the
advisory lock that applies each component's ``NNNN_name.sql`` file exactly once. The
kernel's own migrations (outbox, audit log) live in ``migrations/`` beside this module.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import re
import socket
import ssl
from collections.abc import Iterator, Sequence
from pathlib import Path

import asyncpg
import msgspec

from certseal.errors import CertsealError, ErrorKind, invalid
from certseal.secretfiles import check_dsn_files, dsn_address, quotes_a_secret

log = logging.getLogger(__name__)

KERNEL_MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x6365727473656131  # "certsea1": serialises concurrent migrators

#: What each certseal session asks the server to watch its client with (PostgreSQL
#: 12+, "Connection Settings": TCP only, read as 0 over a Unix socket): a keepalive
#: probe after 10 s of silence, every 5 s, the session ended after 3 unanswered, and
#: sent data left unacknowledged for 20 s ends it too. A client gone without a reset
#: (a cut network, a failover, a host powered off) then ends its session, and the
#: advisory locks it held (the outbox relay's, the audit sealer's: leadership), within
#: about half a minute, not after the kernel's two hours of silence.
WATCH_THE_CLIENT = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "20000",
}


_JSON = msgspec.json.Encoder()


def _non_finite(value: object) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_non_finite(v) for v in value)
    return False


def _jsonb_text(value: object) -> str:
    """A jsonb argument's JSON text (RFC 8259): msgspec's encoder, about 10 times
    cheaper than ``json.dumps``; PostgreSQL parses either into the same jsonb.
    ValueError for NaN or an infinity, which msgspec would write as null (json.dumps
    wrote ``NaN``, which PostgreSQL refused): a value is never silently changed."""
    text = _JSON.encode(value)
    if b"null" in text and _non_finite(value):
        raise ValueError("jsonb: NaN and infinities are not JSON (RFC 8259 section 6)")
    return text.decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=_jsonb_text, decoder=json.loads, schema="pg_catalog"
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without asyncpg's RESET query.

    Pool connections never hold session state (LISTEN and advisory locks live on
    dedicated connections), and asyncpg still rolls back an open transaction first, so
    the reset query would only cost a round trip on every release.
    """


#: asyncpg's refusals of a DSN's settings (asyncpg.ClientConfigurationError) that
#: quote no part of the user name or password, shown as asyncpg words them (unless
#: a piece of a password is in them all the same)
_SETTING_REFUSALS = re.compile(
    r"`sslmode` parameter must be one of|`sslnegotiation` parameter must be one of"
    r"|root certificate file .* does not exist or cannot be accessed"
    r"|cannot determine location of user PostgreSQL configuration directory"
    r"|(Unsupported|No such) TLS version|direct TLS requires"
    r"|could not match \d+ port numbers to \d+ hosts"
    r"|could not determine (user|database) name"
)


@contextlib.contextmanager
def naming_the_dsn_file(dsn: str = "") -> Iterator[None]:
    """asyncpg's refusals of a connection string (``dsn``) as CertsealErrors naming
    ``database.dsn_file``, for a start or a command (:func:`create_pool`); a
    worker's reconnection keeps asyncpg's own errors. No message repeats a piece of
    the DSN's password (:func:`certseal.secretfiles.quotes_a_secret`).

    The files the DSN (or PG*) names are read first (:func:`check_dsn_files`, as
    :func:`certseal.secretfiles.read_dsn_file` does), whoever made the DSN: ``ssl``'s
    errors name no file, so what fails after that without a file name is the
    connection (a socket missing in a Unix socket folder is ENOENT too)."""
    if dsn:
        check_dsn_files(dsn)
    try:
        yield
    except ssl.SSLError as exc:  # a file it names holds no certificate or key, or
        # the server's certificate is not one its sslrootcert trusts
        raise invalid(
            "database.dsn_file",
            f"TLS toward PostgreSQL failed ({exc.reason or type(exc).__name__}): "
            "check the sslmode, sslrootcert, sslcert and sslkey it names",
        ) from None
    except asyncpg.ClientConfigurationError as exc:
        said = str(exc)
        if _SETTING_REFUSALS.search(said) and not quotes_a_secret(said, dsn):
            raise invalid("database.dsn_file", said) from None
        raise invalid("database.dsn_file", _NOT_A_DSN) from None
    except ValueError:  # asyncpg's parser quotes the part it could not read, which
        # may be a piece of the password: its words are never repeated
        raise invalid("database.dsn_file", _NOT_A_DSN) from None
    except OSError as exc:
        if exc.filename is not None:  # a file asyncpg opened itself (a service or
            # password file); those the DSN or PG* names were read before
            # (certseal.secretfiles.check_dsn_files)
            raise invalid(
                "database.dsn_file",
                f"names a file that cannot be read ({exc.strerror or exc}: "
                f"{os.fsdecode(exc.filename)!r})",
            ) from None
        # no file name: the connection's own failure (refused, timed out, no
        # socket in a Unix socket folder: ENOENT too), not a file's
        raise cannot_connect(dsn, exc) from None
    except asyncpg.PostgresError as exc:
        raise CertsealError(
            ErrorKind.FAILED_PRECONDITION,
            f"PostgreSQL refused the connection: {exc}",
            field="database.dsn_file",
        ) from None


def cannot_connect(dsn: str, exc: OSError) -> CertsealError:
    """UNAVAILABLE (field ``database``): PostgreSQL at the DSN's hosts or sockets
    (:func:`certseal.secretfiles.dsn_address`, never the password) does not answer,
    and why (``exc``, the socket's error)."""
    where = dsn_address(dsn) or "the configured host"
    return CertsealError(
        ErrorKind.UNAVAILABLE,
        f"cannot connect to PostgreSQL at {where}: {_why(exc, dsn)}; is it running? "
        "(the embedded stack: 'make run'; else check [database] dsn_file)",
        field="database",
    )


def _why(exc: OSError, dsn: str) -> str:
    """The reason of a failed connection in a few words."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"host name not resolved ({exc.strerror})"
    if exc.errno == errno.ENOENT:  # a Unix socket folder without the socket
        return "no server socket there (No such file or directory)"
    if exc.errno == errno.ECONNREFUSED:
        return "connection refused"
    said = exc.strerror or str(exc) or type(exc).__name__
    return type(exc).__name__ if quotes_a_secret(said, dsn) else said


_NOT_A_DSN = (
    "not a PostgreSQL connection string (characters such as / # ? @ : in the "
    "user name or password must be percent-encoded)"
)


async def create_pool(
    dsn: str, *, min_size: int = 2, max_size: int = 10, application_name: str = ""
) -> asyncpg.Pool:
    """A pool whose connections decode jsonb to Python objects.

    Raises CertsealError INVALID_ARGUMENT (field ``database.dsn_file``) for a text
    that is not a PostgreSQL connection string, and FAILED_PRECONDITION naming it when
    the server refuses the connection (no such role or database, a password refused):
    a service's start then says it in one line (certseal.startfail.leave).
    ``application_name`` names its sessions in ``pg_stat_activity`` (a service's
    process: certseal.storage.kek.session_name)."""
    settings = dict(WATCH_THE_CLIENT)
    if application_name:
        settings["application_name"] = application_name
    with naming_the_dsn_file(dsn):
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            init=_init_connection,
            reset=_keep_session,
            server_settings=settings,
        )
    assert pool is not None
    return pool


async def ping(pool: asyncpg.Pool) -> None:
    """Raise unless PostgreSQL answers a query on ``pool`` (readiness)."""
    await pool.fetchval("select 1")


async def connect(
    dsn: str, *, answer_within_s: float | None = None
) -> asyncpg.Connection:
    """One connection with the same codecs and session settings as the pool's.

    ``answer_within_s`` bounds, in seconds, the connection's start and each of its
    statements (asyncpg's ``timeout`` and ``command_timeout``): a server that stops
    answering (a half-open connection) then raises TimeoutError, not a wait for the
    kernel's retransmissions to give up (about 15 minutes, Linux ``tcp_retries2``).
    None: asyncpg's 60 s to connect, statements unbounded."""
    conn = await asyncpg.connect(
        dsn,
        timeout=answer_within_s or 60,
        command_timeout=answer_within_s,
        server_settings=WATCH_THE_CLIENT,
    )
    await _init_connection(conn)
    return conn


async def migrate(
    pool: asyncpg.Pool, components: Sequence[tuple[str, Path]]
) -> list[str]:
    """Apply each component's ``NNNN_name.sql`` files not applied yet, in order.

    Runs under an advisory lock, so several processes starting at once apply each file
    exactly once. Returns the names of the files applied now.
    """
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("select pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(
                """create table if not exists schema_migrations (
                       component text not null, name text not null,
                       applied_at timestamptz not null default now(),
                       primary key (component, name))"""
            )
            for component, folder in components:
                done = {
                    r["name"]
                    for r in await conn.fetch(
                        "select name from schema_migrations where component = $1",
                        component,
                    )
                }
                for path in sorted(folder.glob("*.sql")):
                    if path.name in done:
                        continue
                    async with conn.transaction():
                        await conn.execute(path.read_text())
                        await conn.execute(
                            "insert into schema_migrations (component, name) values ($1, $2)",
                            component,
                            path.name,
                        )
                    log.info("applied migration %s/%s", component, path.name)
                    applied_now.append(f"{component}/{path.name}")
        finally:
            await conn.execute("select pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied_now


async def migrate_service(pool: asyncpg.Pool, name: str, folder: Path) -> list[str]:
    """The kernel's migrations, then the service ``name``'s from ``folder``."""
    return await migrate(pool, [("kernel", KERNEL_MIGRATIONS), (name, folder)])
