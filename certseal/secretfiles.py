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
