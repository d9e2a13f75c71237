"""CPU time per process from /proc, for ``*_cpu_us`` in ``make bench``.

A process here is a named group of process trees (the service and its worker
processes; PostgreSQL's postmaster and every backend it forked; the broker; the load
generator). :func:`sample` reads user + system time of every process in each tree from
``/proc/<pid>/stat`` (fields 14 and 15, in clock ticks; proc(5)), and the time of its
children that ended and were waited for (fields 16 and 17): a worker process replaced
between two samples (the seal service's light verification processes after
``LIGHT_MAX_TASKS`` jobs, a backend that exited) keeps its time in its parent's. The
difference of two samples divided by the operations done between them is the CPU per
operation.

A process whose parent is outside the tree, or that ended unwaited, still takes its
time with it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system seconds of it and of its children waited for) of
    ``pid``; None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces: split after it
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15, cutime 16,
    # cstime 17
    return int(fields[1]), sum(map(int, fields[11:15])) / TICKS_PER_S


def children() -> dict[int, list[int]]:
    """Every process's children, by parent pid (from /proc)."""
    return _children()


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                tree.setdefault(stat[0], []).append(int(entry.name))
    return tree


def tree_pids(roots: Sequence[int], tree: Mapping[int, list[int]]) -> list[int]:
    """``roots`` and all their descendants."""
    seen: list[int] = []
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.append(pid)
            todo.extend(tree.get(pid, ()))
    return seen


def sample(groups: Mapping[str, Sequence[int]]) -> dict[str, float]:
    """CPU seconds (user + system) so far of each named group of process trees."""
    tree = _children()
    out: dict[str, float] = {}
    for name, roots in groups.items():
        total = 0.0
        for pid in tree_pids(roots, tree):
            stat = _stat(pid)
            if stat is not None:
                total += stat[1]
        out[name] = total
    return out


def per_op_us(
    before: Mapping[str, float], after: Mapping[str, float], ops: float
) -> dict[str, float]:
    """CPU microseconds per operation of each group between two samples."""
    # a process that exited between the samples took its time with it: never below 0
    return {
        name: round(max(0.0, after[name] - before[name]) * 1e6 / ops, 1) if ops else 0.0
        for name in after
    }


def utilisation(
    before: Mapping[str, float], after: Mapping[str, float], seconds: float
) -> dict[str, float]:
    """Cores busy on average (CPU seconds per wall second) of each group between two
    samples ``seconds`` apart; never below 0, as :func:`per_op_us`."""
    return {
        name: round(max(0.0, after[name] - before[name]) / seconds, 3)
        if seconds
        else 0.0
        for name in after
    }


def postgres_pid(data_dir: Path) -> int:
    """The postmaster's pid: the first line of ``postmaster.pid`` in its data folder."""
    return int((data_dir / "postmaster.pid").read_text().split()[0])


def parse_groups(specs: Sequence[str]) -> dict[str, list[int]]:
    """``name=pid[,pid...]`` strings as a mapping."""
    groups: dict[str, list[int]] = {}
    for spec in specs:
        name, _, pids = spec.partition("=")
        groups[name] = [int(p) for p in pids.split(",") if p]
    return groups
