"""Why a worker's index is being rebuilt, kept in its data folder until the rebuild
is done, so that the start that rebuilds counts it
(``certseal_verifier_index_rebuilds_total{reason}``, docs/operations.md, "Alerts").

The start that drops an index is not always the one that rebuilds it: it may exit
before (a port taken by then, the broker gone, a kill), and the next start finds an
empty folder, which is no reason of its own. The reason is written before the index is
dropped, counted by every start that finds it, and removed once the licence index is
built and read through whole."""

from __future__ import annotations

import os
from pathlib import Path

REBUILD_FILE = "rebuild-reasons"
"""One reason a line (ASCII), in the worker's data folder; kept by a drop."""

REASONS = ("damaged", "inconsistent", "other_cluster", "format")
"""damaged: RocksDB found a damaged file; inconsistent: the tables were ahead of
their changelog; other_cluster: the index was built from another Kafka cluster;
format: an index kept by a version before the on-disk one."""

_MAX_BYTES = 256  # every reason once, with room: a longer file is not ours


def note_rebuild(data_dir: Path, reason: str) -> None:
    """Record ``reason`` (one of :data:`REASONS`; ValueError otherwise) for the index
    in ``data_dir``, durably, before the index is dropped. OSError when the folder
    cannot be written."""
    if reason not in REASONS:
        raise ValueError(f"not a rebuild reason: {reason!r}")
    reasons = pending_rebuilds(data_dir)
    if reason in reasons:
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / REBUILD_FILE
    scratch = path.with_name(f".{REBUILD_FILE}.tmp")
    with open(scratch, "w", encoding="ascii") as out:
        out.write("".join(f"{r}\n" for r in (*reasons, reason)))
        out.flush()
        os.fsync(out.fileno())
    os.replace(scratch, path)


def pending_rebuilds(data_dir: Path) -> tuple[str, ...]:
    """The reasons recorded for a rebuild not yet done, in the order noted; what is
    not one of :data:`REASONS` (a file not ours) is left out."""
    try:
        with open(data_dir / REBUILD_FILE, "rb") as kept:
            text = kept.read(_MAX_BYTES + 1)
    except FileNotFoundError:
        return ()
    if len(text) > _MAX_BYTES:
        return ()
    lines = text.decode("ascii", errors="replace").splitlines()
    return tuple(dict.fromkeys(line for line in lines if line in REASONS))


def rebuilt(data_dir: Path) -> None:
    """The index in ``data_dir`` is built and whole: no rebuild is pending."""
    (data_dir / REBUILD_FILE).unlink(missing_ok=True)
