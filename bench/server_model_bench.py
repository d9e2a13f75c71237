"""Which gRPC server model certseal's services use: measured, not assumed.

Issue 17 named "the sync-vs-aio server choice" among the candidates for issuance's
CPU. Every certseal service serves with grpc.aio on uvloop, as the echo reference of
``make bench`` does. This bench runs the echo server (``bench.echo``) in three models,
each as a process of its own over the same mTLS, driven by the same load generator
(``bench.loadgen``, VerifyCode requests, one identity, four channels):

- ``aio``: grpc.aio on uvloop, the reference;
- ``sync``: gRPC's synchronous server, the handler on a thread of its pool
  (``bench.echo.SYNC_THREADS``);
- ``sync-bridged``: the synchronous server whose handler runs a coroutine on an
  event loop in another thread and waits for it: what a certseal handler would do
  there, its PostgreSQL (asyncpg), Kafka (aiokafka) and index calls being asyncio's.

Each model serves 64 callers flat out for BENCH_SECONDS (default 10), then 32 callers
paced at 1,000 calls/s for the same time, in BENCH_ROUNDS (default 3) rounds with the
models interleaved, so that the machine's drift falls on each alike. Writes
``bench/results/server_model.json``: per model the median of its rounds' rates, its
ratio to the same run's ``aio`` (``vs_echo``) and the rounds' spread
(``per_s_range``), the CPU microseconds per call of the server process and of the
load generator (``cpu_us``, from /proc: the server's is the figure to compare, as
the load generator shares the cores and its cost differs by model), the p99 at 64
callers and paced (``paced_1000_per_s_p99_ms``), and every round as measured.

``python -m bench.server_model_bench`` (part of ``make bench``; needs no database or
broker).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.echo import MODELS, SYNC_THREADS
from bench.outputs import results_file
from bench.reference import run_loadgen, start_echo, stop, versus
from certseal.devpki import DevCA

SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CALLERS = 64
PACED_CALLERS = 32
PACED_RATE = 1000.0


class _CA:
    """What ``bench.reference.start_echo`` needs of a stack: its CA."""

    def __init__(self, ca: DevCA):
        self.ca = ca


def _load(ca: DevCA, port: int, pid: int, codes: Path, rate: float) -> dict[str, Any]:
    """One load generator run against the echo server on ``port``."""
    result = run_loadgen(
        ca,
        port,
        ["dept:914403001922038216"],
        *("--watch", f"service={pid}", "--echo", "--codes", str(codes)),
        *("--concurrency", str(PACED_CALLERS if rate else CALLERS)),
        *("--rate", str(rate), "--seconds", str(SECONDS)),
    )
    if result["errors"]:
        raise RuntimeError(f"the echo server answered errors: {result}")
    return result


def _round(ca: DevCA, model: str, codes: Path) -> dict[str, Any]:
    """One model, flat out then paced, in a fresh server process."""
    process, port = start_echo(_CA(ca), model)
    try:
        flat = _load(ca, port, process.pid, codes, 0)
        paced = _load(ca, port, process.pid, codes, PACED_RATE)
    finally:
        stop(process)
    return {
        "per_s": flat["requests_per_s"],
        "cpu_us": flat["cpu_us"],
        "p50_ms": flat["p50_ms"],
        "p99_ms": flat["p99_ms"],
        "paced_1000_per_s_achieved_per_s": paced["requests_per_s"],
        "paced_1000_per_s_p99_ms": paced["p99_ms"],
        "paced_1000_per_s_cpu_us": paced["cpu_us"],
    }


def _median_cpu(rounds: list[dict[str, Any]], key: str) -> dict[str, float]:
    return {
        name: round(statistics.median(r[key][name] for r in rounds), 1)
        for name in rounds[0][key]
    }


def summary(rounds: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per model the median of its rounds, with its rate's ratio to ``aio``'s."""
    models: dict[str, Any] = {}
    for model, measured in rounds.items():
        models[model] = {
            "per_s": round(statistics.median(r["per_s"] for r in measured), 1),
            "per_s_range": [
                min(r["per_s"] for r in measured),
                max(r["per_s"] for r in measured),
            ],
            "cpu_us": _median_cpu(measured, "cpu_us"),
            "p99_ms": round(statistics.median(r["p99_ms"] for r in measured), 2),
            "paced_1000_per_s_p99_ms": round(
                statistics.median(r["paced_1000_per_s_p99_ms"] for r in measured), 2
            ),
            "paced_1000_per_s_cpu_us": _median_cpu(measured, "paced_1000_per_s_cpu_us"),
            "rounds": measured,
        }
    for figures in models.values():
        figures["vs_echo"] = versus(figures["per_s"], models["aio"]["per_s"])
    return models


def main() -> None:
    rounds: dict[str, list[dict[str, Any]]] = {model: [] for model in MODELS}
    with tempfile.TemporaryDirectory(prefix="certseal-server-model-") as home:
        ca = DevCA(Path(home) / "tls")
        codes = Path(home) / "codes"
        codes.write_text("LC1:ECHO\n")
        for n in range(ROUNDS):
            for model in MODELS:
                print(f"round {n + 1}: {model} ...", flush=True)
                rounds[model].append(_round(ca, model, codes))
    results = {
        "models": summary(rounds),
        "setup": {
            "seconds_per_run": SECONDS,
            "rounds": ROUNDS,
            "concurrency": CALLERS,
            "paced_concurrency": PACED_CALLERS,
            "paced_rate_per_s": PACED_RATE,
            "sync_threads": SYNC_THREADS,
            "reference": "aio: bench.echo, grpc.aio on uvloop, as every certseal "
            "service; vs_echo is a model's rate over aio's in the same run",
            "cpu_us": "CPU microseconds per call of the server process and of the "
            "load generator (user+system from /proc), median of the rounds",
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load": f"loadavg {os.getloadavg()[0]:.1f} at the end",
            "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    }
    results_file("server_model").write_text(json.dumps(results, indent=2) + "\n")
    print(
        json.dumps(
            {
                m: {k: v for k, v in f.items() if k != "rounds"}
                for m, f in results["models"].items()
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
