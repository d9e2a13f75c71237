"""Verifier group benchmark: ``make bench`` → bench/results/group.json.

A verifier group run as N worker processes (docs/architecture.md §6), through the
embedded broker (12 licence partitions) over mTLS: a backlog of BENCH_GROUP_EVENTS
synthetic licence events (default 400,000) is published, then for each N in
BENCH_GROUP_SIZES (default "1,2") a fresh group of N workers builds its index from it.

Per N:

- ``group_apply_per_s``: events applied per second by the whole group while it
  catches up (from the first GetIndexStatus every worker answers, its feed starting,
  to the one that shows every partition applied to its last event);
- ``group_apply_cpu_us``: CPU microseconds per event, summed over the workers (from
  /proc, bench/proccpu.py);
- ``worker_rss_mb``, ``worker_rss_mb_per_million``: each worker's RSS, and over the
  entries it holds (the whole process's: meaningful from about a million entries);
- ``recovery_s``: worker 0 stopped (SIGTERM) and started again on its data: process
  start to SERVING; ``recovery_kill_s`` the same after a SIGKILL (the killed worker
  cannot leave its group: its successor rejoins as the same member);
- ``peer_lookup_p50_ms``/``p99``: one-lineage ``VerifierPeer/LookupEntries`` to a
  worker (N > 1), BENCH_GROUP_LOOKUPS calls (default 2,000) one after another.

``BENCH_GROUP_EVENTS=20000`` makes a quick run (a few minutes); ``BENCH_GROUP_SIZES``
picks the group sizes, ``BENCH_WORKER_LOG=FILE`` appends the workers' logs to FILE,
``BENCH_GROUP_RESULT`` the result's name (default ``group``:
bench/results/group.json, which a quick run overwrites). The per-million RSS figures
mean little below about a million events.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import secrets
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import grpc

from bench.issuer_bench import wait_serving
from bench.outputs import results_file
from bench.proccpu import per_op_us, sample
from bench.scale_bench import LoggedVerifier
from bench.verifier_bench import produce_backlog
from certseal.config import dump_config
from certseal.events import LICENCE_EVENTS
from certseal.identifiers import LicenceId
from certseal.v1 import verifier_pb2, verifier_pb2_grpc
from services.devstack import DevStack
from services.verifier.partitions import partition_of

EVENTS = int(os.environ.get("BENCH_GROUP_EVENTS", "400000"))
SIZES = [int(n) for n in os.environ.get("BENCH_GROUP_SIZES", "1,2").split(",")]
LOOKUPS = int(os.environ.get("BENCH_GROUP_LOOKUPS", "2000"))
PARTITIONS = 12
DEPT = "11000000"


class Worker(LoggedVerifier):
    """Worker ``i`` of the group as its own process (``--worker <group>-<i>``)."""

    def __init__(self, stack: DevStack, config_file: Path, group: str, i: int):
        super().__init__(stack, config_file, group, "--worker", f"{group}-{i}")
        self.i = i


def lineages(count: int) -> list[bytes]:
    """The lineages produce_backlog publishes (same spelling)."""
    return [
        LicenceId(DEPT + "001", DEPT, f"SYN{i:013d}", 1).lineage.encode()
        for i in range(count)
    ]


async def applied(workers: list[Worker]) -> dict[int, int]:
    """Per licence partition, the last offset its owner applied."""
    found: dict[int, int] = {}
    for worker in workers:
        async with worker.channel() as channel:
            stub = verifier_pb2_grpc.VerifierStub(channel)
            status = await stub.GetIndexStatus(verifier_pb2.GetIndexStatusRequest())
        for p in status.partitions:
            if p.topic == LICENCE_EVENTS:
                found[p.partition] = p.applied_offset
    return found


async def build(workers: list[Worker], per_partition: Counter[int]) -> dict[str, Any]:
    """Start the workers and time the group's catching up on the backlog: from the
    first status every worker answers (its feed is starting; SERVING may come later)
    to the one that shows every partition applied to its last event."""
    for worker in workers:
        worker.start()
    groups = {f"w{w.i}": [w.pid] for w in workers}
    first: tuple[float, int, dict[str, float]] | None = None
    while True:
        try:
            marks = await applied(workers)
        except grpc.aio.AioRpcError:  # a worker is not listening yet
            await asyncio.sleep(0.05)
            continue
        done = sum(marks.get(p, -1) + 1 for p in range(PARTITIONS))
        now = time.monotonic()
        if first is None:
            first = (now, done, sample(groups))
        if all(marks.get(p, -1) + 1 >= n for p, n in per_partition.items()):
            break
        await asyncio.sleep(0.1)
    cpu = sample(groups)
    events = done - first[1]
    seconds = now - first[0]
    per_worker = per_op_us(first[2], cpu, events)
    for worker in workers:
        async with worker.channel() as channel:
            await wait_serving(channel)
    return {
        "group_apply_per_s": round(events / seconds, 1) if seconds else None,
        "group_apply_cpu_us": round(sum(per_worker.values()), 1),
        "apply_cpu_us_per_worker": per_worker,
        "events_timed": events,
        "seconds_timed": round(seconds, 2),
    }


async def peer_latency(worker: Worker, group: str, size: int, keys: list[bytes]) -> Any:
    async with worker.channel("service:verifier") as channel:
        stub = verifier_pb2_grpc.VerifierPeerStub(channel)
        latencies = []
        for key in keys[:LOOKUPS]:
            started = time.perf_counter()
            await stub.LookupEntries(
                verifier_pb2.LookupEntriesRequest(
                    lineages=[key], group=group, group_size=size
                )
            )
            latencies.append(time.perf_counter() - started)
    latencies.sort()
    return (
        round(latencies[len(latencies) // 2] * 1000, 3),
        round(latencies[int(0.99 * len(latencies))] * 1000, 3),
    )


async def time_to_serving(worker: Worker) -> float:
    started = time.monotonic()
    worker.start()
    async with worker.channel() as channel:
        await wait_serving(channel)
    return time.monotonic() - started


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="certseal-gbench-"))
    stack = DevStack(home, topic_partitions=PARTITIONS)
    cfg = asyncio.run(stack.start())
    cfg.verifier.data_dir = str(home / "verifier")
    cfg.verifier.metrics_listen = ""
    results: dict[str, Any] = {}
    try:
        print(f"producing {EVENTS} licence events ...", flush=True)
        asyncio.run(produce_backlog(stack, DEPT, EVENTS))
        keys = lineages(EVENTS)
        per_partition = Counter(partition_of(k, PARTITIONS) for k in keys)
        for size in SIZES:
            group = f"g{size}-{secrets.token_hex(3)}"
            config_file = home / f"{group}.toml"
            workers = [Worker(stack, config_file, group, i) for i in range(size)]
            cfg.verifier.group_size = size
            cfg.verifier.peers = [f"localhost:{w.port}" for w in workers]
            config_file.write_text(dump_config(cfg))
            print(f"group of {size}: building ...", flush=True)
            try:
                figures = asyncio.run(build(workers, per_partition))
                held = [
                    sum(n for p, n in per_partition.items() if p % size == w.i)
                    for w in workers
                ]
                rss = [w.rss_mb() for w in workers]
                figures["worker_rss_mb"] = [round(r, 1) for r in rss]
                # the whole process's RSS over its entries (meaningful from ~1 M)
                figures["worker_rss_mb_per_million"] = [
                    round(r / n * 1_000_000, 1) for r, n in zip(rss, held, strict=True)
                ]
                figures["worker_entries"] = held
                if size > 1:
                    mine = [k for k in keys if partition_of(k, PARTITIONS) % size == 0]
                    p50, p99 = asyncio.run(peer_latency(workers[0], group, size, mine))
                    figures["peer_lookup_p50_ms"] = p50
                    figures["peer_lookup_p99_ms"] = p99
                workers[0].stop()
                figures["recovery_s"] = round(
                    asyncio.run(time_to_serving(workers[0])), 2
                )
                victim = workers[0].process
                assert victim is not None
                victim.kill()
                victim.wait(30)
                figures["recovery_kill_s"] = round(
                    asyncio.run(time_to_serving(workers[0])), 2
                )
                print(f"  {figures}", flush=True)
                results[f"n{size}"] = figures
            finally:
                for worker in workers:
                    worker.stop()
        if "n1" in results and "n2" in results:
            one, two = results["n1"], results["n2"]
            results["group_apply_n2_vs_n1"] = round(
                two["group_apply_per_s"] / one["group_apply_per_s"], 2
            )
        results["setup"] = {
            "events": EVENTS,
            "sizes": SIZES,
            "partitions": PARTITIONS,
            "processes": "embedded broker and N verifier workers on this machine",
            "load": f"loadavg {os.getloadavg()[0]:.1f} at the end",
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    finally:
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
    name = os.environ.get("BENCH_GROUP_RESULT", "group")
    results_file(name).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "setup"}, indent=2))


if __name__ == "__main__":
    main()
