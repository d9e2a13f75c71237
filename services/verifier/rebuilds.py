"""Why a worker's index is being rebuilt, kept in its data folder until the rebuild
is done, so that the start that rebuilds counts it
(``certseal_verifier_index_rebuilds_total{reason}``, docs/operations.md, "Alerts").

The start that drops an index is not always the one that rebuilds it: it may exit
before it is done (a port taken by then, the broker gone, a kill), and the next start
finds an empty or half-built index, which is no reason of its own. The reason is
written before the index is dropped, counted by every start that finds it (a start that
exits before the rebuild is done and starts again counts it again), and removed once
the licence index has read its topic to the end offsets of its start and been read
through whole (``services.verifier.app``).

Nothing here stops a start or a drop: what is at the file's name and is not a file
of ours (a directory, a FIFO, a link, other bytes) is no reason, and is replaced when
a reason is written; a reason that cannot be written is logged, and the rebuild goes
on uncounted."""

from __future__ import annotations

import logging
import os
import shutil
import stat
from pathlib import Path

from certseal.errors import CertsealError
from certseal.files import read_regular_file, write_atomically

log = logging.getLogger(__name__)

REBUILD_FILE = "rebuild-reasons"
"""One reason a line (ASCII), in the worker's data folder; kept by a drop."""

REASONS = ("damaged", "inconsistent", "other_cluster", "format")
"""damaged: RocksDB found a damaged file; inconsistent: the tables were ahead of
their changelog; other_cluster: the index was built from another Kafka cluster;
format: an index kept by a version before the on-disk one."""

_MAX_BYTES = 256  # every reason once, with room: a longer file is not ours


def note_rebuild(data_dir: Path, reason: str) -> None:
    """Record ``reason`` (one of :data:`REASONS`; ValueError otherwise) for the index
    in ``data_dir``, durably, before the index is dropped. Never raises otherwise: a
    folder that cannot be written is logged (the rebuild is then not counted)."""
    if reason not in REASONS:
        raise ValueError(f"not a rebuild reason: {reason!r}")
    reasons = pending_rebuilds(data_dir)
    if reason in reasons:
        return
    path = data_dir / REBUILD_FILE
    text = "".join(f"{r}\n" for r in (*reasons, reason))
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        _remove_unless_a_file(path)
        write_atomically(path, text.encode("ascii"))
    except OSError as exc:
        log.warning(
            "cannot note why the index in %s is rebuilt (%s): %s; the rebuild "
            "goes on and is not counted",
            *(data_dir, reason, exc),
        )


def pending_rebuilds(data_dir: Path) -> tuple[str, ...]:
    """The reasons recorded for a rebuild not yet done, in the order noted; what is
    not one of :data:`REASONS` or not a regular file of at most 256 bytes (not ours)
    is left out. Never raises, never waits (a FIFO is refused unopened)."""
    path = data_dir / REBUILD_FILE
    if not os.path.lexists(path):
        return ()
    try:
        text = read_regular_file(path, REBUILD_FILE, _MAX_BYTES)
    except CertsealError as exc:
        log.warning("ignoring %s: %s", path, exc)
        return ()
    lines = text.decode("ascii", errors="replace").splitlines()
    return tuple(dict.fromkeys(line for line in lines if line in REASONS))


def rebuilt(data_dir: Path) -> None:
    """The index in ``data_dir`` is built and whole: no rebuild is pending. OSError
    when what is there cannot be removed."""
    path = data_dir / REBUILD_FILE
    _remove_unless_a_file(path)
    path.unlink(missing_ok=True)


def _remove_unless_a_file(path: Path) -> None:
    """Remove what is at ``path`` unless it is a regular file (a link is removed,
    never followed)."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)
    elif not stat.S_ISREG(mode):
        path.unlink()
