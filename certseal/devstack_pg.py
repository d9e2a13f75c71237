"""The embedded PostgreSQL's holders: pgserver's ``<pgdata>/.handle_pids.json``.

pgserver keeps in that file (a JSON list of pids) every process holding the server it
started: ``get_server`` adds its own pid, the holder's cleanup removes it, and stops the
server only when its pid was the last. A holder killed with SIGKILL never removes its
pid: every later ``certseal run`` then found "another holder" at its clean stop, left
PostgreSQL running and said it had stopped it. :func:`prune_holders` drops the pids of
processes that are gone, under pgserver's own lock, before a start and before a stop.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Collection
from pathlib import Path
from types import ModuleType

HOLDERS = ".handle_pids.json"


def _pgserver() -> ModuleType:
    """pgserver's ``postgres_server`` module, imported quietly (platformdirs warns when
    XDG_RUNTIME_DIR is unset, as in containers and CI)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from pgserver import postgres_server  # dev only: production never needs it
    return postgres_server


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)  # no /proc here: ask the kernel
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def prune_holders(pgdata: Path, drop: Collection[int] = ()) -> list[int]:
    """Rewrite ``<pgdata>/.handle_pids.json`` without the pids of processes that are
    gone (:func:`process_alive`) nor those in ``drop`` (a run known dead); return the
    pids kept, in their order. [] when the file does not exist; a file that is not a
    JSON list of pids is taken as listing none (and rewritten so)."""
    path = pgdata / HOLDERS
    if not path.exists():
        return []
    with _pgserver().PostgresServer._lock:  # pgserver's own, around every change
        try:
            found = json.loads(path.read_text())
        except (OSError, ValueError):
            found = None
        listed = found if isinstance(found, list) else []
        kept = [
            pid
            for pid in listed
            if isinstance(pid, int) and pid not in drop and process_alive(pid)
        ]
        if kept != found:
            path.write_text(json.dumps(kept))
    return kept


def server_pid(pgdata: Path) -> int | None:
    """The pid of the PostgreSQL server running on ``pgdata`` (its postmaster.pid's,
    when that process lives), else None."""
    try:
        first = (pgdata / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.isdigit() and process_alive(int(first)) else None


def stop_server(pgdata: Path) -> None:
    """``pg_ctl stop -m fast`` on ``pgdata``, as pgserver runs it (as its ``pgserver``
    system user under root); waits until the server has exited. A server already
    stopped is left so; CalledProcessError when pg_ctl fails otherwise."""
    import subprocess

    _pgserver()
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    if server_pid(pgdata) is None:
        return
    user = "pgserver" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
    except subprocess.CalledProcessError:
        if server_pid(pgdata) is not None:
            raise
