"""Claims benchmark (the replay guard's "first in the log wins", services/verifier/
claims.py): the latency a presentation code's VerifyCode adds, the claim.

Not part of ``make bench`` (it prints its figures, JSON on the last line): the
embedded stack (12 partitions); two guards (two groups: a feed and its claims each,
in this process); a background of other verifications' usage records at
BENCH_CLAIMS_BACKGROUND records/s (default 1,000; 0 for none; one-use licence-code records, as
every VerifyCode publishes) from a producer of its own; BENCH_CLAIMS (default 500)
claims paced at BENCH_CLAIMS_RATE/s (default 50), alternating between the guards,
each of a fresh nonce, plus BENCH_CLAIMS_RACES (default 100) races: both guards
claim one nonce at once (exactly one must win). Figures: claim_p50_ms / claim_p99_ms
(acknowledgement at acks=all plus reading back the records before the claim) and
the process's CPU per claim (claim_cpu_us, /proc, the background producer's share
included: an upper bound).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from certseal.events import LICENCE_USAGE, new_event_id
from certseal.identifiers import LicenceId
from certseal.timestamps import ts
from certseal.v1 import events_pb2
from services.devstack import DevStack
from services.verifier.claims import UsageClaims
from services.verifier.events import kafka_headers, usage_record
from services.verifier.replay import AcceptedNonces, UsageFeed

CLAIMS = int(os.environ.get("BENCH_CLAIMS", "500"))
RATE = float(os.environ.get("BENCH_CLAIMS_RATE", "50"))
RACES = int(os.environ.get("BENCH_CLAIMS_RACES", "100"))
BACKGROUND = float(os.environ.get("BENCH_CLAIMS_BACKGROUND", "1000"))
if not BACKGROUND >= 0:  # also NaN
    raise SystemExit("error: BENCH_CLAIMS_BACKGROUND: must be records/s, 0 or more")


def a_use(n: int, nonce: str = "") -> events_pb2.LicenceUse:
    licence = LicenceId(f"{n:021d}", f"{n:018d}", f"{n:016d}", 1)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=600)
    return events_pb2.LicenceUse(
        lineage=licence.lineage,
        identifier=str(licence),
        verdict="VALID",
        code_kind="presentation" if nonce else "licence",
        nonce_hash=nonce,
        code_expires_at=ts(expires) if nonce else None,
    )


def a_record(n: int, nonce: str = "", event_id: str | None = None):
    return usage_record(
        [a_use(n, nonce)],
        counter="dept:bench",
        purpose="bench",
        group="bench",
        now=dt.datetime.now(dt.UTC),
        event_id=event_id,
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_s() -> float:
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(stack: DevStack, home: Path) -> dict[str, float | int]:
    settings = stack.config.kafka.settings("certseal-bench-claims")
    guards = []
    for name in ("a", "b"):
        feed = UsageFeed(
            AcceptedNonces(home / name),
            kafka=settings,
            noted=lambda applied: None,
            topic=LICENCE_USAGE,
        )
        feed.start()
        guards.append((feed, UsageClaims(feed)))
    for feed, _ in guards:
        assert await asyncio.to_thread(feed.caught_up.wait, 120), "guard not caught up"
    background = settings.producer(linger_ms=5)
    await background.start()
    stop = asyncio.Event()

    async def other_verifications() -> None:
        n = 0
        started = time.monotonic()
        while BACKGROUND > 0 and not stop.is_set():
            n += 1
            record = a_record(10_000_000 + n)
            await background.send(
                LICENCE_USAGE,
                record.value,
                key=record.key,
                headers=kafka_headers(record),
            )
            await asyncio.sleep(max(0.0, started + n / BACKGROUND - time.monotonic()))

    load = asyncio.create_task(other_verifications())
    await asyncio.sleep(1.0)
    latencies: list[float] = []
    wins = 0
    cpu0, started = cpu_s(), time.monotonic()
    for n in range(CLAIMS):
        _, claims = guards[n % 2]
        nonce = f"{n:08x}{os.urandom(12).hex()}"
        event_id = new_event_id()
        t0 = time.perf_counter()
        lost = await claims.claim(a_record(n, nonce, event_id), [nonce], event_id)
        latencies.append((time.perf_counter() - t0) * 1000)
        wins += not lost
        await asyncio.sleep(max(0.0, started + (n + 1) / RATE - time.monotonic()))
    cpu_per_claim = (cpu_s() - cpu0) / CLAIMS
    assert wins == CLAIMS, f"{CLAIMS - wins} fresh claims lost"
    exactly_one = 0
    for n in range(RACES):
        nonce = f"race{n:04x}{os.urandom(12).hex()}"
        ids = [new_event_id(), new_event_id()]
        lost = await asyncio.gather(
            *(
                claims.claim(a_record(n, nonce, i), [nonce], i)
                for (_, claims), i in zip(guards, ids, strict=True)
            )
        )
        exactly_one += sorted(bool(x) for x in lost) == [False, True]
    stop.set()
    await load
    await background.stop()
    for feed, claims in guards:
        await claims.stop()
        await asyncio.to_thread(feed.stop)
    return {
        "claims": CLAIMS,
        "claims_per_s": RATE,
        "background_records_per_s": BACKGROUND,
        "claim_p50_ms": round(percentile(latencies, 0.50), 2),
        "claim_p99_ms": round(percentile(latencies, 0.99), 2),
        "claim_max_ms": round(max(latencies), 2),
        "claim_cpu_us": round(cpu_per_claim * 1e6),
        "races": RACES,
        "races_with_exactly_one_valid": exactly_one,
    }


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="certseal-claims-bench-"))
    stack = DevStack(home / "stack", topic_partitions=12)
    asyncio.run(stack.start())
    try:
        figures = asyncio.run(run(stack, home))
    finally:
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
