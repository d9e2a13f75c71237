"""Secret files: the 32-byte keys (KEK, personal-data key) that the configuration names.

Secrets are never values in the configuration; a deployment mounts them as files, and
the embedded stack creates them (mode 0600) on first run.
"""

from __future__ import annotations

import os
from pathlib import Path

from certseal.bounds import MAX_SMALL_FILE_BYTES
from certseal.errors import invalid
from certseal.files import read_regular_file

KEK = "secrets.kek_file"
"""The setting naming the key-encryption key's file (``[secrets] kek_file``)."""
DATA_KEY = "secrets.data_key_file"
"""The setting naming the personal-data key's file (``[secrets] data_key_file``)."""


def read_secret_file(
    path: Path, field: str, *, length: int = 32, create: bool = False
) -> bytes:
    """Read a binary secret of ``length`` bytes from the file that ``field`` (the
    setting, e.g. ``secrets.kek_file``, or the command's option) names; with
    ``create``, make a fresh one (random, mode 0600) if missing.

    Raises CertsealError(INVALID_ARGUMENT, ``field``) when the file cannot be read, is
    not a regular file, holds another length or one byte repeated (a placeholder such
    as ``truncate -s 32`` makes): the setting is wrong, whichever.
    """
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(os.urandom(length))
    # a regular file, read within a bound: a device or a FIFO is refused, not read
    data = read_regular_file(path, field, MAX_SMALL_FILE_BYTES)
    if len(data) != length:
        raise invalid(
            field, f"{path} must hold exactly {length} bytes, has {len(data)}"
        )
    if len(set(data)) == 1:  # `truncate -s 32`: a placeholder, not a key
        raise invalid(
            field,
            f"{path} holds one byte {length} times, a placeholder rather than a key; "
            f"write one with head -c {length} /dev/urandom",
        )
    return data


DSN = "database.dsn_file"
"""The setting naming the PostgreSQL connection string's file (``[database]
dsn_file``)."""

_DSN_SCHEMES = ("postgresql://", "postgres://")
_BOM = "\ufeff"


def read_dsn_file(path: str | Path, field: str = DSN) -> str:
    """The PostgreSQL connection string in the file at ``path``: one line of UTF-8
    text (a leading byte order mark and surrounding white space dropped), a
    ``postgresql://`` (or ``postgres://``) URI, the form asyncpg takes.

    Raises CertsealError(INVALID_ARGUMENT, ``field``) when the file cannot be read,
    is not a regular file, is not UTF-8, is empty or blank (libpq's defaults would be
    used silently: a local socket, the user's own name), holds more than one line or
    control characters, or is not such a URI. The message never quotes the file's
    text: it holds a password."""
    data = read_regular_file(path, field, MAX_SMALL_FILE_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid(
            field, f"{path} is not UTF-8 text (byte {exc.start}): write it as UTF-8"
        ) from None
    dsn = text.removeprefix(_BOM).strip()
    if not dsn:
        raise invalid(
            field,
            f"{path} is empty or blank; it must hold the connection string, "
            "postgresql://user:password@host:port/database",
        )
    if any(ch in dsn for ch in "\r\n"):
        raise invalid(field, f"{path} holds more than one line; give one DSN")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in dsn):
        raise invalid(field, f"{path} holds control characters")
    if not dsn.lower().startswith(_DSN_SCHEMES):
        raise invalid(
            field,
            f"{path} holds no postgresql:// URI (asyncpg takes only that form, "
            "postgresql://user:password@host:port/database; not libpq's key=value "
            "form)",
        )
    return dsn
