"""Licence index benchmark: ``make bench`` → bench/results/index.json.

Measures the verifier's on-disk licence index (services.verifier.diskindex.DiskIndex)
without the broker, in its own process, so the figures are the index's own:

- ``index_apply_per_s``: synthetic licence events (as the issuer's relay publishes
  them), applied in batches of 2,000 exactly as a worker's feed applies them (version
  gate, one write batch with the offsets reached), BENCH_INDEX_ENTRIES of them
  (default 1,000,000);
- ``index_reapply_per_s``: the same events delivered again (every one is a duplicate
  the version gate drops);
- ``index_rss_mb_per_million``: growth of this process's RSS over the build, per
  million entries (block cache and write buffers bounded by the config);
- ``index_disk_mb_per_million``: the database's size on disk;
- ``recovery_s``: close, reopen, read the stored offsets and answer one lookup (what a
  worker does on restart before it serves);
- ``lookup_p99_ms``: random lookups of present lineages (with the stored event parsed,
  as a verdict does) after the reopen, with a cold cache.

The feed and the gRPC path on top are measured by bench/verifier_bench.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from certseal.identifiers import LicenceId
from certseal.timestamps import ts
from certseal.v1 import events_pb2
from services.verifier.diskindex import DiskIndex, Record
from services.verifier.index import index_entry

ENTRIES = int(os.environ.get("BENCH_INDEX_ENTRIES", "1000000"))
BATCH = 2000
PARTITIONS = 12
LOOKUPS = 20000
RESULTS = Path(__file__).resolve().parent / "results"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


_FIRST = LicenceId("1100000001", "11000000", f"SYN{0:013d}", 1)
_PREFIX = _FIRST.lineage[: -len("0" * 13)]  # ...SYN, then 13 digits


def lineage(i: int) -> str:
    """The lineage of synthetic licence ``i`` (as LicenceId spells it, built faster:
    the build's own cost is what is measured, not the generator's)."""
    return f"{_PREFIX}{i:013d}"


def template_event(
    now: dt.datetime, type_code: str = "1100000001", issuer_code: str = "11000000"
) -> events_pb2.LicenceEvent:
    """A licence.issued event of a year's validity from ``now``, for synthetic
    licences (callers set event_id, lineage and identifier per licence)."""
    return events_pb2.LicenceEvent(
        type="licence.issued",
        version=1,
        lineage_version=1,
        status=1,
        operation=1,
        occurred_at=ts(now),
        type_code=type_code,
        issuer_code=issuer_code,
        valid_from=ts(now),
        valid_until=ts(now + dt.timedelta(days=365)),
    )


def batches(count: int) -> Any:
    """Batches of records as a feed delivers them (the template event, its fields
    changed per licence: the serialised size is a real event's)."""
    now = dt.datetime.now(dt.UTC)
    template = template_event(now)
    offsets = [0] * PARTITIONS
    batch: list[Record] = []
    for i in range(count):
        name = lineage(i)
        template.event_id = f"{i:016x}"
        template.lineage = name
        template.identifier = f"{name}.001"
        partition = i % PARTITIONS
        batch.append(
            Record(
                partition,
                offsets[partition],
                name.encode(),
                template.SerializeToString(),
                int(now.timestamp() * 1000),
            )
        )
        offsets[partition] += 1
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def disk_mb(path: Path) -> float:
    """The size of the files below ``path``, in MiB."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def timed_lookups(index: DiskIndex, keys: list[bytes]) -> dict[str, float]:
    """``lookup_p50_ms`` and ``lookup_p99_ms`` of looking each of ``keys`` (all
    present) up in ``index`` and parsing its entry as a verdict does."""
    latencies = []
    for key in keys:
        started = time.perf_counter()
        stored = index.get(key)
        assert stored is not None
        index_entry(stored)
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    return {
        "lookup_p50_ms": round(latencies[len(latencies) // 2] * 1000, 3),
        "lookup_p99_ms": round(latencies[int(0.99 * len(latencies))] * 1000, 3),
    }


def reopen(path: Path) -> None:
    """Recovery and lookups on an index another run built (``BENCH_INDEX_REOPEN``:
    its folder; a run cut short leaves a consistent one), printed, not written."""
    started = time.perf_counter()
    index = DiskIndex(path)
    offsets = index.offsets()
    entries = index.estimated_entries() - len(offsets)
    assert index.get(lineage(0).encode()) is not None
    recovery_s = time.perf_counter() - started
    present = sum(offsets.values()) + len(offsets)  # events 0..present-1 applied
    picks = random.Random(11).choices(range(present), k=LOOKUPS)
    latencies = []
    for i in picks:
        started = time.perf_counter()
        stored = index.get(lineage(i).encode())
        assert stored is not None
        index_entry(stored)
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    print(
        json.dumps(
            {
                "entries_estimated": entries,
                "entries_applied": present,
                "recovery_s": round(recovery_s, 3),
                "lookup_p50_ms": round(latencies[len(latencies) // 2] * 1000, 3),
                "lookup_p99_ms": round(latencies[int(0.99 * len(latencies))] * 1000, 3),
                "rss_mb": round(rss_mb(), 1),
                "disk_mb": round(disk_mb(path), 1),
                "load": os.getloadavg()[0],
            }
        )
    )
    index.close()


def main() -> None:
    if os.environ.get("BENCH_INDEX_REOPEN"):
        reopen(Path(os.environ["BENCH_INDEX_REOPEN"]))
        return
    home = Path(tempfile.mkdtemp(prefix="certseal-ibench-"))
    path = home / "licence-index.rocksdb"
    try:
        index = DiskIndex(path)
        baseline = rss_mb()
        build_s = 0.0
        wall = time.perf_counter()
        for n, batch in enumerate(batches(ENTRIES), 1):
            started = time.perf_counter()
            index.apply(batch)
            build_s += time.perf_counter() - started
            if n * BATCH % 1_000_000 == 0:  # progress, for a run cut short
                print(
                    f"{n * BATCH} applied: {build_s:.1f} s applying, "
                    f"{time.perf_counter() - wall:.0f} s wall, RSS {rss_mb():.0f} MB, "
                    f"disk {disk_mb(path):.0f} MB",
                    flush=True,
                )
        rss = rss_mb()
        print(f"applied {ENTRIES} in {build_s:.1f} s, RSS {rss:.0f} MB", flush=True)
        sample = random.Random(7).sample(range(ENTRIES), min(ENTRIES, 20 * BATCH))
        again = [
            Record(
                0,
                10**9 + n,
                lineage(i).encode(),
                index.get(lineage(i).encode()) or b"",
                0,
            )
            for n, i in enumerate(sample)
        ]
        started = time.perf_counter()
        for n in range(0, len(again), BATCH):
            index.apply(again[n : n + BATCH])
        reapply_s = time.perf_counter() - started
        index.close()
        started = time.perf_counter()
        index = DiskIndex(path)
        offsets = index.offsets()
        assert index.get(lineage(ENTRIES - 1).encode()) is not None
        recovery_s = time.perf_counter() - started
        assert len(offsets) == PARTITIONS
        picks = random.Random(11).choices(range(ENTRIES), k=LOOKUPS)
        lookups = timed_lookups(index, [lineage(i).encode() for i in picks])
        on_disk = disk_mb(path)
        index.close()
        results = {
            "index_apply_per_s": round(ENTRIES / build_s, 1),
            "index_reapply_per_s": round(len(again) / reapply_s, 1),
            "index_rss_mb_per_million": round(
                max(0.0, rss - baseline) / ENTRIES * 1_000_000, 1
            ),
            "index_disk_mb_per_million": round(on_disk / ENTRIES * 1_000_000, 1),
            "recovery_s": round(recovery_s, 3),
            **lookups,
            "setup": {
                "entries": ENTRIES,
                "batch": BATCH,
                "partitions": PARTITIONS,
                "lookups": LOOKUPS,
                "index_rss_mb": round(rss, 1),
                "baseline_rss_mb": round(baseline, 1),
                "disk_mb": round(on_disk, 1),
                "cache_mb": 32,
                "write_buffer_mb": 16,
                "processes": "this process only (no broker, no gRPC)",
                "load": f"loadavg {os.getloadavg()[0]:.1f} at the end",
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            },
        }
    finally:
        shutil.rmtree(home, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    name = os.environ.get("BENCH_INDEX_RESULT", "index")
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "setup"}, indent=2))


if __name__ == "__main__":
    main()
