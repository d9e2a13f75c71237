"""Verifier index at scale: ``make bench-scale`` → bench/results/scale-<N>.json.

Not part of ``make bench`` (10,000,000 entries take about half an hour here). One
verifier group of one worker, over mTLS, on an index of BENCH_SCALE_ENTRIES entries
(``--entries``, default 10,000,000):

1. **Fill** (``fill_per_s``): ``entries - backlog - 2,000`` synthetic licence events
   are applied straight into the worker's index folder by this process through the
   index's own write path, :meth:`services.verifier.diskindex.DiskIndex.apply` (the
   version gate and one RocksDB write batch per 2,000 events, as a worker's feed does),
   not through the broker: publishing 10 M events through the embedded broker would
   take hours here and measure the broker. Their stored offsets are -1 (nothing of the
   topic applied), so the worker then reads the whole topic.
2. **Apply** (``apply_per_s``, ``apply_cpu_us``): a backlog of BENCH_SCALE_BACKLOG real
   events (default 200,000) and 2,000 real licences from the issuer are on the topic;
   the worker starts on the filled index and applies them through the broker, onto an
   index of ``entries`` - those events (from its first answered status to every
   partition applied to its end).
3. **Memory** (``worker_rss_mb``, ``worker_rss_mb_per_million``): the worker's whole
   RSS after catching up, and over the entries it holds.
4. **Verification** (``paced_verify_*``): VerifyCode of the real licences' codes, paced
   at BENCH_SCALE_RATE/s (default 1,000) by the load generator for BENCH_SECONDS
   (default 20), 32 callers; the achieved rate is reported beside the aim.
5. **Recovery** (``recovery_s``): the worker stopped (SIGTERM) and started again on its
   data, process start to SERVING (the health check's answer), median of
   BENCH_SCALE_RESTARTS (default 3), each run listed; ``recovery_kill_s`` the same
   after a SIGKILL.
6. **Lookups** (``lookup_p50_ms``/``p99``): with the worker stopped, this process opens
   the index (cold cache) and gets 20,000 random present lineages, each parsed as a
   verdict does.

``--entries 1000000`` (about 3 minutes) is the recovery aim's measurement (≤ 5 s).
``BENCH_WORKER_LOG=FILE`` appends the worker's log (every start) to FILE, to see
where a start spends its time (at BENCH_WORKER_LOG_LEVEL, default info).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.index_bench import disk_mb, template_event, timed_lookups
from bench.issuer_bench import setup, start_stack_and_issuer, wait_serving
from bench.outputs import RESULTS
from bench.proccpu import per_op_us, sample
from bench.verifier_bench import (
    Verifier,
    produce_backlog,
    real_licences,
    verify_load,
)
from certseal.events import LICENCE_EVENTS
from certseal.identifiers import LicenceId, parse_licence_id
from certseal.v1 import verifier_pb2, verifier_pb2_grpc
from services.config import Config
from services.verifier.broker import broker_cluster_id
from services.verifier.diskindex import FOLDER, DiskIndex, Record
from services.verifier.partitions import partition_of
from services.verifier.storage import prepare_data_dir

PARTITIONS = 12
BATCH = 2000
LOOKUPS = 20000
DEPT = "11000000"  # the synthetic events' department (as group_bench's)
REAL = 2000  # real licences real_licences() issues


class LoggedVerifier(Verifier):
    """The verifier bench's worker process, its log appended to BENCH_WORKER_LOG."""

    def start(self) -> None:
        log = os.environ.get("BENCH_WORKER_LOG")
        if not log:
            super().start()
            return
        with open(log, "ab") as out:
            out.write(f"--- start {dt.datetime.now(dt.UTC).isoformat()}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    *("-m", "services.verifier", "--config", str(self.config_file)),
                    *("--group", self.group, "--listen", f"127.0.0.1:{self.port}"),
                    *self.extra,
                    *("--log-level", os.environ.get("BENCH_WORKER_LOG_LEVEL", "info")),
                ],
                stdout=out,
                stderr=out,
            )


def lineage_of(dept: str) -> Any:
    """i -> the lineage of synthetic licence i of ``dept`` (produce_backlog's
    spelling, built faster: the fill's own cost is what is measured)."""
    first = LicenceId(dept + "001", dept, f"SYN{0:013d}", 1).lineage
    prefix = first[: -len("0" * 13)]
    return lambda i: f"{prefix}{i:013d}"


def fill(path: Path, first: int, count: int) -> dict[str, float]:
    """Apply synthetic licences ``first`` .. ``first + count - 1`` into the index at
    ``path`` through DiskIndex.apply; stored offsets stay -1."""
    lineage = lineage_of(DEPT)
    now = dt.datetime.now(dt.UTC)
    template = template_event(now, DEPT + "001", DEPT)
    stamp = int(now.timestamp() * 1000)
    index = DiskIndex(path)
    apply_s = 0.0
    wall = time.perf_counter()
    batch: list[Record] = []
    for i in range(first, first + count):
        name = lineage(i)
        template.event_id = f"{i:016x}"
        template.lineage = name
        template.identifier = f"{name}.001"
        key = name.encode()
        batch.append(
            Record(
                partition_of(key, PARTITIONS),
                -1,
                key,
                template.SerializeToString(),
                stamp,
            )
        )
        if len(batch) == BATCH or i == first + count - 1:
            started = time.perf_counter()
            index.apply(batch)
            apply_s += time.perf_counter() - started
            batch = []
            if (i + 1 - first) % 1_000_000 < BATCH and i + 1 - first >= 1_000_000:
                print(f"  filled {i + 1 - first}: {apply_s:.0f} s applying", flush=True)
    index.close()
    return {
        "fill_per_s": round(count / apply_s, 1) if apply_s else 0.0,
        "fill_wall_s": round(time.perf_counter() - wall, 1),
    }


async def catch_up(worker: Verifier, per_partition: dict[int, int]) -> dict[str, Any]:
    """Time the worker applying the topic: from its first answered status to every
    partition applied to its end (``per_partition``: events per partition)."""
    first: tuple[float, int, dict[str, float]] | None = None
    async with worker.channel() as channel:
        stub = verifier_pb2_grpc.VerifierStub(channel)
        while True:
            try:
                status = await stub.GetIndexStatus(
                    verifier_pb2.GetIndexStatusRequest(), timeout=5
                )
            except Exception:  # not listening yet
                await asyncio.sleep(0.05)
                continue
            marks = {
                p.partition: p.applied_offset
                for p in status.partitions
                if p.topic == LICENCE_EVENTS
            }
            done = sum(max(-1, marks.get(p, -1)) + 1 for p in range(PARTITIONS))
            now = time.monotonic()
            if first is None:
                first = (now, done, sample({"worker": [worker.pid]}))
            if all(marks.get(p, -1) + 1 >= n for p, n in per_partition.items()):
                break
            await asyncio.sleep(0.1)
    cpu = sample({"worker": [worker.pid]})
    events, seconds = done - first[1], now - first[0]
    return {
        "apply_per_s": round(events / seconds, 1) if seconds else None,
        "apply_cpu_us": per_op_us(first[2], cpu, events).get("worker"),
        "apply_events_timed": events,
        "apply_seconds_timed": round(seconds, 2),
    }


async def to_serving(worker: Verifier) -> float:
    started = time.monotonic()
    worker.start()
    async with worker.channel() as channel:
        await wait_serving(channel)
    return time.monotonic() - started


def lookups(path: Path, present: list[int]) -> dict[str, float]:
    """Cold random lookups of present lineages, each parsed as a verdict does."""
    lineage = lineage_of(DEPT)
    index = DiskIndex(path)
    keys = [lineage(i).encode() for i in random.Random(11).choices(present, k=LOOKUPS)]
    latencies = timed_lookups(index, keys)
    index.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_bench")
    parser.add_argument(
        "--entries",
        type=int,
        default=int(os.environ.get("BENCH_SCALE_ENTRIES", "10000000")),
    )
    args = parser.parse_args()
    entries: int = args.entries
    backlog = min(int(os.environ.get("BENCH_SCALE_BACKLOG", "200000")), entries // 2)
    rate = float(os.environ.get("BENCH_SCALE_RATE", "1000"))
    restarts = int(os.environ.get("BENCH_SCALE_RESTARTS", "3"))
    synthetic = entries - backlog - REAL
    home = Path(tempfile.mkdtemp(prefix="certseal-sbench-"))

    def tweak(cfg: Config) -> None:
        cfg.verifier.data_dir = str(home / "verifier")

    stack, cfg, port, issuer = start_stack_and_issuer(home, workers=1, tweak=tweak)
    worker = LoggedVerifier(stack, home / "bench.toml", f"s-{secrets.token_hex(3)}")
    results: dict[str, Any] = {}
    try:
        code, type_code = asyncio.run(setup(stack, port))["es256"]
        identifiers, codes = asyncio.run(real_licences(stack, port, code, type_code))
        codes_file = home / "codes.txt"
        codes_file.write_text("\n".join(codes))
        issuer.terminate()
        issuer.wait(30)
        print(f"producing {backlog} licence events ...", flush=True)
        asyncio.run(produce_backlog(stack, DEPT, backlog, first=synthetic))
        lineage = lineage_of(DEPT)
        per_partition: dict[int, int] = {}
        for key in [lineage(i).encode() for i in range(synthetic, entries - REAL)] + [
            parse_licence_id(i).lineage.encode() for i in identifiers
        ]:
            p = partition_of(key, PARTITIONS)
            per_partition[p] = per_partition.get(p, 0) + 1
        data_dir = home / "verifier" / worker.group
        prepare_data_dir(data_dir, asyncio.run(broker_cluster_id(cfg)))
        print(f"filling {synthetic} entries ...", flush=True)
        results.update(fill(data_dir / FOLDER, 0, synthetic))
        print(f"  {results}", flush=True)
        worker.start()
        figures = asyncio.run(catch_up(worker, per_partition))
        results.update(figures)
        print(f"  {figures}", flush=True)
        rss = worker.rss_mb()
        results["worker_rss_mb"] = round(rss, 1)
        results["worker_rss_mb_per_million"] = round(rss / entries * 1_000_000, 1)
        print(f"VerifyCode paced at {rate:.0f}/s ...", flush=True)
        paced = verify_load(worker, codes_file, concurrency=32, rate=rate)
        print(f"  {paced}", flush=True)
        results["paced_verify_rate_aimed"] = rate
        results["paced_verify_achieved_per_s"] = paced["requests_per_s"]
        results["paced_verify_p50_ms"] = paced["p50_ms"]
        results["paced_verify_p99_ms"] = paced["p99_ms"]
        results["paced_verify_cpu_us"] = paced["cpu_us"]
        runs = []
        for _ in range(restarts):
            worker.stop()
            runs.append(round(asyncio.run(to_serving(worker)), 2))
            print(f"  recovery after SIGTERM: {runs[-1]} s", flush=True)
        results["recovery_s"] = statistics.median(runs)
        results["recovery_runs_s"] = runs
        assert worker.process is not None
        worker.process.kill()
        worker.process.wait(30)
        results["recovery_kill_s"] = round(asyncio.run(to_serving(worker)), 2)
        print(f"  recovery after SIGKILL: {results['recovery_kill_s']} s", flush=True)
        worker.stop()
        results.update(lookups(data_dir / FOLDER, list(range(synthetic))))
        results["index_disk_mb"] = round(disk_mb(data_dir / FOLDER), 1)
        results["setup"] = {
            "entries": entries,
            "filled_directly": synthetic,
            "applied_through_broker": backlog + REAL,
            "partitions": PARTITIONS,
            "paced_concurrency": 32,
            "seconds_per_run": float(os.environ.get("BENCH_SECONDS", "20")),
            "cache_mb": cfg.verifier.index_cache_mb,
            "write_buffer_mb": cfg.verifier.index_write_buffer_mb,
            "processes": "PostgreSQL + Tansu + one verifier worker + load generator "
            "(the issuer only to issue the real licences, stopped before)",
            "load": f"loadavg {os.getloadavg()[0]:.1f} at the end",
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    finally:
        worker.stop()
        if issuer.poll() is None:
            issuer.terminate()
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    name = os.environ.get("BENCH_SCALE_RESULT", f"scale-{entries // 1_000_000}m")
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "setup"}, indent=2))


if __name__ == "__main__":
    main()
