"""Time-stamping benchmark: ``make bench`` → bench/results/tsa.json.

The embedded stack and the seal process (``python -m services.seal``) whose TSA room
serves RFC 3161 over HTTP on ``[seal] tsa_listen`` with the dev TSA's key (EC P-256;
RSA-2048 before 2026-12-01).
BENCH_TSA_CALLERS (default 16) concurrent clients — pyHanko's HTTP client, as the seal
service uses it — ask for tokens over random 64-byte signature values for
BENCH_TSA_SECONDS (default 10) after a warm-up: ``timestamp_per_s`` is tokens received
per second, ``timestamp_p99_ms`` a token's latency. Every token is checked afterwards
(imprint, signature, chain to the dev TSA root); ``token_check_ms`` is the median
time of :func:`services.seal.timestamp.check_token`, what verification adds per token.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.issuer_bench import start_stack_and_service, write_results
from services.seal.timestamp import check_token
from services.seal.trust import TrustStore, load_trust_files
from services.seal.tsa import Timestamper

CALLERS = int(os.environ.get("BENCH_TSA_CALLERS", "16"))
SECONDS = float(os.environ.get("BENCH_TSA_SECONDS", "10"))


async def _ready(url: str) -> None:
    async with asyncio.timeout(120), aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.post(url, data=b"") as reply:
                    if reply.status:
                        return
            except aiohttp.ClientError:
                await asyncio.sleep(0.5)  # the seal process is starting


async def measure(url: str, trust: TrustStore) -> dict[str, float]:
    await _ready(url)
    stamper = Timestamper(url, timeout_s=10)
    for _ in range(20):  # warm-up
        await stamper.stamp(os.urandom(64))
    tokens: list[tuple[bytes, bytes]] = []
    latencies: list[float] = []
    deadline = time.perf_counter() + SECONDS

    async def caller() -> None:
        while time.perf_counter() < deadline:
            value = os.urandom(64)
            t = time.perf_counter()
            token = await stamper.stamp(value)
            latencies.append((time.perf_counter() - t) * 1000)
            tokens.append((value, token))

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    elapsed = time.perf_counter() - started
    await stamper.close()
    checks: list[float] = []
    for value, token in tokens[:500]:
        t = time.perf_counter()
        check_token(token, stamped=value, trust=trust)
        checks.append((time.perf_counter() - t) * 1000)
    latencies.sort()
    return {
        "timestamp_per_s": round(len(tokens) / elapsed, 1),
        "timestamp_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 2),
        "token_check_ms": round(statistics.median(checks), 3),
        "token_bytes": len(tokens[0][1]),
    }


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="certseal-bench-"))
    stack, cfg, _port, process = start_stack_and_service(home, "seal")
    try:
        trust = TrustStore.of(load_trust_files(cfg.seal.tsa_trusted_ca_files))
        results = asyncio.run(measure(cfg.seal.tsa_url, trust))
    finally:
        process.terminate()
        process.wait()
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
    write_results(
        "tsa",
        dict(results),
        {"callers": CALLERS, "seconds": SECONDS, "tsa_key": "RSA-2048, SHA-256"},
    )


if __name__ == "__main__":
    main()
