"""Verifier benchmark: ``make bench`` → bench/results/verifier.json.

On this machine, over mTLS: a synthetic backlog of BENCH_BACKLOG licence events
(default 200,000) plus real licences from the issuer; verifier group A catches up on the
backlog (index_apply_per_s), serves VerifyCode to 64 callers for BENCH_SECONDS
(default 20) and VerifyCodes of 500; group B joins; BENCH_REVOCATIONS (default 1,000)
revocations are timed from the issuer's answer until both groups answer REVOKED, with
the parts of that path (propagation_parts: commit -> topic, topic -> applied,
applied -> verdict; BENCH_PROPAGATION_ONLY=1 times only these and prints them); B
stops, the backlog grows to BENCH_RECOVERY_ENTRIES (default 1,000,000) index entries,
A catches up, its memory is read (index_rss_mb_per_million) and it is restarted on its
data (recovery_s: process start to SERVING). Before B joins, one counter's valid scans
are timed alone and then while another counter keeps 20 hostile requests in flight
(bench/flood.py, BENCH_FLOOD_SECONDS, default 15): verify_under_flood_p50_ms and its
ratio to the scans alone, verify_under_flood_vs_alone. After VerifyCodes, the claim
(services/verifier/claims.py): BENCH_PRESENTATION_SECONDS (default 8) of VerifyCode
of presentation codes, each sent once (minted beforehand with CreatePresentationCode
as the department), paced at BENCH_PRESENTATION_RATE/s (default 200) by 32 callers:
presentation_* (achieved rate, p50, p99, CPU per code); any answer not VALID fails
the bench.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.issuer_bench import (
    _profile,
    _stop_profile,
    identity_channel,
    setup,
    start_stack_and_issuer,
    wait_serving,
)
from bench.loadgen import request as issue_request
from bench.outputs import results_file
from bench.reference import run_loadgen, start_echo, stop, versus, watch
from certseal.events import LICENCE_EVENTS
from certseal.identifiers import LicenceId, make_uscc
from certseal.rpc import secure_channel
from certseal.storage.pool import connect
from certseal.timestamps import ts
from certseal.v1 import events_pb2, issuer_pb2_grpc, verifier_pb2, verifier_pb2_grpc
from certseal.v1 import issuer_pb2 as pb
from services.config import Config
from services.devstack import DevStack, free_port

SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
BACKLOG = int(os.environ.get("BENCH_BACKLOG", "200000"))
REVOCATIONS = int(os.environ.get("BENCH_REVOCATIONS", "1000"))
RECOVERY_ENTRIES = int(os.environ.get("BENCH_RECOVERY_ENTRIES", "1000000"))
#: BENCH_VERIFY_ONLY=1: stop after the verification figures (echo, VerifyCode at 64
#: callers, paced, VerifyCodes) and print them: no flood, propagation or recovery, and
#: no results file (for measuring a verification change before and after)
VERIFY_ONLY = os.environ.get("BENCH_VERIFY_ONLY") == "1"
#: BENCH_PROPAGATION_ONLY=1: groups A and B catch up, then only the propagation of
#: revocations is timed and printed with its parts (no verification load, flood or
#: recovery, and no results file; use a small BENCH_BACKLOG)
PROPAGATION_ONLY = os.environ.get("BENCH_PROPAGATION_ONLY") == "1"
#: BENCH_LICENCE_FETCH_WAIT_MS=N: the verifiers' ``[verifier] licence_fetch_max_wait_ms``
#: (``make bench`` sets none: the configured default)
LICENCE_FETCH_WAIT_MS = os.environ.get("BENCH_LICENCE_FETCH_WAIT_MS", "")
#: the presentation-code phase: its paced rate and length (the claim, per code)
PRESENTATION_RATE = float(os.environ.get("BENCH_PRESENTATION_RATE", "200"))
PRESENTATION_SECONDS = float(os.environ.get("BENCH_PRESENTATION_SECONDS", "8"))
PRESENTATION_CALLERS = 32
PRESENTATION_WARMUP_S = 1  # the load generator's warm-up in that phase
VALID = verifier_pb2.VERDICT_VALID
COUNTERS = 16  # identities the load generator spreads its callers over


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def produce_backlog(
    stack: DevStack, dept: str, count: int, *, first: int = 0
) -> None:
    """Synthetic licence events, as the issuer's relay would publish them."""
    producer = stack.config.kafka.settings("bench").producer(
        linger_ms=5, max_batch_size=512 * 1024
    )
    await producer.start()
    now = dt.datetime.now(dt.UTC)
    try:
        pending = []
        for i in range(first, first + count):
            lid = LicenceId(dept + "001", dept, f"SYN{i:013d}", 1)
            event = events_pb2.LicenceEvent(
                event_id=secrets.token_hex(8),
                type="licence.issued",
                lineage=lid.lineage,
                identifier=str(lid),
                version=1,
                lineage_version=1,
                status=1,
                operation=1,
                occurred_at=ts(now),
                type_code=dept + "001",
                issuer_code=dept,
                valid_from=ts(now),
                valid_until=ts(now + dt.timedelta(days=365)),
            )
            pending.append(
                await producer.send(
                    LICENCE_EVENTS, event.SerializeToString(), key=lid.lineage.encode()
                )
            )
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def department_channel(stack: DevStack, port: int, code: str) -> Any:
    """An mTLS channel to the issuer as department ``code``."""
    return identity_channel(stack, port, f"dept:{code}")


class Verifier:
    """One verifier group as its own process."""

    def __init__(
        self, stack: DevStack, config_file: Path, group: str, *extra: str
    ) -> None:
        """``extra``: more command-line arguments (e.g. ``--worker NAME``)."""
        self.stack, self.config_file, self.group = stack, config_file, group
        self.extra = extra
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.verifier",
                "--config",
                str(self.config_file),
                "--group",
                self.group,
                "--listen",
                f"127.0.0.1:{self.port}",
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)

    def channel(self, identity: str = "operator:admin") -> Any:
        ident = self.stack.ca.identity(identity)
        return secure_channel(
            f"localhost:{self.port}",
            str(self.stack.ca.ca_file),
            str(ident.cert_file),
            str(ident.key_file),
        )

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmRSS"))
        return int(line.split()[1]) / 1024


async def serving_then_caught_up(
    verifier: Verifier, entries: int, *, check_lag: bool = True
) -> tuple[float, float]:
    """(seconds to SERVING, further seconds until the index holds ``entries``)."""
    started = time.monotonic()
    async with verifier.channel() as channel:
        await wait_serving(channel)
        serving = time.monotonic()
        stub = verifier_pb2_grpc.VerifierStub(channel)
        while True:
            status = await stub.GetIndexStatus(verifier_pb2.GetIndexStatusRequest())
            lags = [p.lag for p in status.partitions if p.topic == LICENCE_EVENTS]
            caught_up = not check_lag or (lags and max(lags) == 0)
            if status.licence_entries >= entries and caught_up:
                return serving - started, time.monotonic() - serving
            await asyncio.sleep(0.25)


def verify_load(
    verifier: Verifier,
    codes_file: Path,
    *,
    concurrency: int,
    batch: int = 0,
    rate: float = 0,
    port: int = 0,
    echo: bool = False,
    once: bool = False,
    seconds: float = SECONDS,
    warmup: float = 2,
) -> dict[str, Any]:
    """One load generator run against the group (or, with ``port`` and ``echo``, the
    echo reference), with the CPU per code of the group, PostgreSQL and the broker;
    ``once``: each code of ``codes_file`` sent once (presentation codes)."""
    # 16 counters, 4 callers each: the verifier hands out turns per counter (one at
    # a time), and a counter has at most [verifier] counter_waiting requests waiting
    return run_loadgen(
        verifier.stack.ca,
        port or verifier.port,
        [f"dept:{make_uscc(f'11440300BENCH{n:04d}')}" for n in range(COUNTERS)],
        *watch(verifier.stack, verifier.pid if not echo else port_owner(port)),
        *(["--echo"] if echo else []),
        *("--rate", str(rate), "--codes", str(codes_file)),
        *("--concurrency", str(concurrency), "--seconds", str(seconds)),
        *("--warmup", str(warmup), "--batch", str(batch)),
        *(["--once"] if once else []),
    )


_ECHO_PIDS: dict[int, int] = {}


def port_owner(port: int) -> int:
    """The pid of the echo reference listening on ``port``."""
    return _ECHO_PIDS[port]


FLOOD_SECONDS = float(os.environ.get("BENCH_FLOOD_SECONDS", "15"))
FLOOD_IN_FLIGHT = 20
FLOOD_SCANS = 200


async def scan_latencies(
    stub: Any, health: Any, code: str, n: int
) -> tuple[list[float], list[float]]:
    """``n`` valid scans one after another, each followed by a health check: their
    latencies (s)."""
    scans, checks = [], []
    request = verifier_pb2.VerifyCodeRequest(code=code, purpose="压测")
    for _ in range(n):
        started = time.perf_counter()
        reply = await stub.VerifyCode(request, timeout=30)
        scans.append(time.perf_counter() - started)
        assert reply.result.verdict == VALID, reply.result
        started = time.perf_counter()
        await health.Check(health_pb2.HealthCheckRequest(), timeout=10)
        checks.append(time.perf_counter() - started)
    return scans, checks


def under_flood(verifier: Verifier, code: str) -> dict[str, Any]:
    """A counter's valid scans alone, then while another counter keeps
    FLOOD_IN_FLIGHT hostile requests in flight (bench/flood.py, its own process)."""
    ident = verifier.stack.ca.identity("dept:11440300BENCHCTR2")
    flooder = verifier.stack.ca.identity("dept:11440300BENCHFLD1")

    async def measure(flood: subprocess.Popen[str] | None) -> dict[str, list[float]]:
        async with secure_channel(
            f"localhost:{verifier.port}",
            str(verifier.stack.ca.ca_file),
            str(ident.cert_file),
            str(ident.key_file),
        ) as channel:
            stub = verifier_pb2_grpc.VerifierStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            await scan_latencies(stub, health, code, 20)  # warm up
            if flood is not None:
                await asyncio.sleep(2)  # the flood is in flight
            scans, checks = await scan_latencies(stub, health, code, FLOOD_SCANS)
            return {"scans": scans, "checks": checks}

    alone = asyncio.run(measure(None))
    flood = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.flood",
            "--target",
            f"localhost:{verifier.port}",
            "--ca",
            str(verifier.stack.ca.ca_file),
            "--cert",
            str(flooder.cert_file),
            "--key",
            str(flooder.key_file),
            "--code",
            code,
            "--in-flight",
            str(FLOOD_IN_FLIGHT),
            "--seconds",
            str(FLOOD_SECONDS),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        loaded = asyncio.run(measure(flood))
    finally:
        out, _ = flood.communicate(timeout=FLOOD_SECONDS + 120)
    p50_alone = percentile(alone["scans"], 0.5)
    p50_loaded = percentile(loaded["scans"], 0.5)
    return {
        "verify_alone_p50_ms": round(p50_alone * 1000, 2),
        "verify_under_flood_p50_ms": round(p50_loaded * 1000, 2),
        "verify_under_flood_p99_ms": round(percentile(loaded["scans"], 0.99) * 1000, 2),
        "verify_under_flood_vs_alone": round(p50_loaded / p50_alone, 2),
        "health_under_flood_max_ms": round(max(loaded["checks"]) * 1000, 1),
        "flood": json.loads(out) if out.strip() else None,
    }


async def real_licences(
    stack: DevStack, port: int, code: str, type_code: str
) -> tuple[list[str], list[str]]:
    """(identifiers of 2,000 real licences, codes of 500 of them not to be revoked)."""
    async with department_channel(stack, port, code) as channel:
        stub = issuer_pb2_grpc.IssuerStub(channel)
        identifiers = []
        for _ in range(4):
            reply = await stub.IssueLicences(
                pb.IssueLicencesRequest(
                    items=[issue_request(type_code) for _ in range(500)]
                )
            )
            identifiers += [r.licence.identifier for r in reply.results]
        codes = [
            (await stub.GetLicenceCode(pb.GetLicenceCodeRequest(identifier=i))).text
            for i in identifiers[REVOCATIONS : REVOCATIONS + 500]
        ]
    return identifiers, codes


async def presentation_codes(
    stack: DevStack, port: int, code: str, identifiers: list[str], count: int
) -> list[str]:
    """``count`` fresh presentation codes (each valid 600 s) of the licences
    ``identifiers``, round robin, minted through the issuer as department ``code``."""
    request = [
        pb.CreatePresentationCodeRequest(identifier=i, ttl_seconds=600)
        for i in identifiers
    ]
    minted: list[str] = []
    async with department_channel(stack, port, code) as channel:
        stub = issuer_pb2_grpc.IssuerStub(channel)

        async def mint(worker: int) -> None:
            for n in range(worker, count, 16):
                reply = await stub.CreatePresentationCode(request[n % len(request)])
                minted.append(reply.text)

        await asyncio.gather(*(mint(w) for w in range(16)))
    return minted


def presented_load(verifier: Verifier, home: Path, codes: list[str]) -> dict[str, Any]:
    """VerifyCode of each presentation code of ``codes`` once, paced at
    PRESENTATION_RATE; raises RuntimeError (the bench fails) unless every answer was
    VALID and the codes lasted the whole run."""
    codes_file = home / "presentation-codes.txt"
    codes_file.write_text("\n".join(codes))
    result = verify_load(
        verifier,
        codes_file,
        concurrency=PRESENTATION_CALLERS,
        rate=PRESENTATION_RATE,
        once=True,
        seconds=PRESENTATION_SECONDS,
        warmup=PRESENTATION_WARMUP_S,
    )
    not_valid = result["requests"] - result["verdicts"].get("VERDICT_VALID", 0)
    result["not_valid"] = not_valid + result["errors"]
    if result["not_valid"] or result["exhausted"] or not result["requests"]:
        raise RuntimeError(
            "presentation codes: every answer must be VALID and the codes must last "
            f"the run; got {result}"
        )
    return result


async def backlog_and_presentation_codes(
    stack: DevStack, port: int, code: str, identifiers: list[str]
) -> list[str]:
    """The backlog (:func:`produce_backlog`) and, at the same time, the presentation
    codes of the presentation phase (:func:`presentation_codes`; none with
    BENCH_PROPAGATION_ONLY=1): the issuer draws a QR symbol for each (about 0.1 s of
    its CPU), so they are minted while nothing is measured. They are used a few
    minutes later, well within their 600 s."""
    if PROPAGATION_ONLY:
        await produce_backlog(stack, code, BACKLOG)
        return []
    count = presentation_count()
    print(f"minting {count} presentation codes beside it ...", flush=True)
    started = time.monotonic()

    async def minting() -> list[str]:
        minted = await presentation_codes(stack, port, code, identifiers, count)
        print(f"  minted in {time.monotonic() - started:.1f} s", flush=True)
        return minted

    async def backlog() -> None:
        await produce_backlog(stack, code, BACKLOG)
        print(f"  backlog in {time.monotonic() - started:.1f} s", flush=True)

    _, minted = await asyncio.gather(backlog(), minting())
    print(f"  backlog and codes in {time.monotonic() - started:.1f} s", flush=True)
    return minted


def presentation_count() -> int:
    """How many presentation codes the phase sends at most (warm-up included), with
    a tenth spare: the load generator paces, but a caller may run ahead a little."""
    return (
        int(PRESENTATION_RATE * (PRESENTATION_SECONDS + PRESENTATION_WARMUP_S) * 1.1)
        + 1
    )


async def propagation(
    stack: DevStack,
    port: int,
    code: str,
    identifiers: list[str],
    verifiers: list[Verifier],
) -> dict[str, list[float]]:
    """Seconds per revocation, from the issuer's answer until every group answers
    REVOKED (``total``), and its parts: ``commit_to_publish`` (the outbox row's insert
    to the relay logging it published after the broker's acknowledgement),
    ``answer_to_publish`` (the issuer's answer to that mark), ``publish_to_revoked``
    (that mark to the start of the first VerifyCode that answered REVOKED, per group:
    the topic to the worker's apply, within one poll; the mark follows the ack, so it
    can be negative) and ``poll_rtt`` (that VerifyCode's
    own round trip, the applied to verdict part)."""
    parts: dict[str, list[float]] = {
        k: []
        for k in (
            "total",
            "commit_to_publish",
            "answer_to_publish",
            "publish_to_revoked",
            "poll_rtt",
        )
    }
    db = await connect(stack.config.database.dsn())
    async with department_channel(stack, port, code) as channel:
        issuer = issuer_pb2_grpc.IssuerStub(channel)
        texts = [
            (await issuer.GetLicenceCode(pb.GetLicenceCodeRequest(identifier=i))).text
            for i in identifiers[:REVOCATIONS]
        ]
        channels = [v.channel() for v in verifiers]
        stubs = [verifier_pb2_grpc.VerifierStub(c) for c in channels]
        for identifier, text in zip(identifiers[:REVOCATIONS], texts, strict=True):
            await issuer.RevokeLicence(
                pb.RevokeLicenceRequest(
                    identifier=identifier,
                    reason="bench",
                    kind=pb.REVOCATION_KIND_REVOKE,
                )
            )
            committed, answered = time.monotonic(), time.time()
            request = verifier_pb2.VerifyCodeRequest(code=text, purpose="压测")
            pending = set(range(len(stubs)))
            seen: list[float] = []
            while pending:
                # every group still pending is asked at once (not one after the
                # other): a sweep is one round trip, which bounds how late a REVOKED
                # is seen
                asked = sorted(pending)
                sent = time.time()
                replies = await asyncio.gather(
                    *(stubs[n].VerifyCode(request) for n in asked)
                )
                back = time.time()
                for n, reply in zip(asked, replies, strict=True):
                    if reply.result.verdict == verifier_pb2.VERDICT_REVOKED:
                        pending.discard(n)
                        seen.append(sent)
                        parts["poll_rtt"].append(back - sent)
                if pending:
                    await asyncio.sleep(0.001)
            parts["total"].append(time.monotonic() - committed)
            while True:  # the relay logs the row after the broker's ack
                row = await db.fetchrow(
                    """select extract(epoch from o.created_at) as created,
                              (select extract(epoch from min(u.at))
                               from outbox_published p,
                                    unnest(p.ids, p.published_at) u(id, at)
                               where p.ids @> array[o.id] and u.id = o.id
                              ) as published
                       from outbox o where topic = $1 order by id desc limit 1""",
                    LICENCE_EVENTS,
                )
                if row["published"] is not None:
                    break
                await asyncio.sleep(0.001)
            published = float(row["published"])
            parts["commit_to_publish"].append(published - float(row["created"]))
            parts["answer_to_publish"].append(published - answered)
            parts["publish_to_revoked"] += [s - published for s in seen]
        for c in channels:
            await c.close()
    await db.close()
    return parts


def propagation_figures(parts: dict[str, list[float]]) -> dict[str, Any]:
    """p50/p99 in ms of :func:`propagation`'s parts."""
    return {
        f"{name}_{label}_ms": round(percentile(values, q) * 1000, 1)
        for name, values in parts.items()
        for label, q in (("p50", 0.5), ("p99", 0.99))
    }


def verification_figures(
    echo_single: dict[str, Any],
    echo_batch: dict[str, Any],
    echo_paced: dict[str, Any],
    single: dict[str, Any],
    paced: dict[str, Any],
    batch: dict[str, Any],
    presented: dict[str, Any],
) -> dict[str, Any]:
    """The verification figures of one run, with the same-run echo reference."""
    return {
        "echo_per_s": echo_single["requests_per_s"],
        "echo_cpu_us": echo_single["cpu_us"],
        "verify_per_s": single["requests_per_s"],
        "verify_vs_echo": versus(
            single["requests_per_s"], echo_single["requests_per_s"]
        ),
        "verify_cpu_us": single["cpu_us"],
        "verify_p50_ms": single["p50_ms"],
        "verify_p99_ms": single["p99_ms"],
        "paced_1000_per_s_verify_p99_ms": paced["p99_ms"],
        "paced_1000_per_s_achieved_per_s": paced["requests_per_s"],
        "paced_1000_per_s_verify_cpu_us": paced["cpu_us"],
        "paced_1000_per_s_echo_p99_ms": echo_paced["p99_ms"],
        "batch_verify_per_s": batch["licences_per_s"],
        "batch_verify_vs_echo": versus(
            batch["licences_per_s"], echo_batch["licences_per_s"]
        ),
        "batch_verify_cpu_us": batch["cpu_us"],
        "batch_echo_per_s": echo_batch["licences_per_s"],
        "batch_echo_cpu_us": echo_batch["cpu_us"],
        "presentation_rate_per_s": PRESENTATION_RATE,
        "presentation_achieved_per_s": presented["requests_per_s"],
        "presentation_verify_p50_ms": presented["p50_ms"],
        "presentation_verify_p99_ms": presented["p99_ms"],
        "presentation_verify_cpu_us": presented["cpu_us"],
        "presentation_not_valid": presented["not_valid"],
    }


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="certseal-vbench-"))

    def tweak(cfg: Config) -> None:
        cfg.verifier.data_dir = str(home / "verifier")
        if LICENCE_FETCH_WAIT_MS:  # the licence index's fetch wait, for comparisons
            cfg.verifier.licence_fetch_max_wait_ms = int(LICENCE_FETCH_WAIT_MS)

    stack, cfg, port, issuer = start_stack_and_issuer(home, workers=1, tweak=tweak)
    config_file = home / "bench.toml"
    a = Verifier(stack, config_file, f"a-{secrets.token_hex(3)}")
    b = Verifier(stack, config_file, f"b-{secrets.token_hex(3)}")
    try:
        code, type_code = asyncio.run(setup(stack, port))["es256"]
        codes_file = home / "codes.txt"
        identifiers, codes = asyncio.run(real_licences(stack, port, code, type_code))
        codes_file.write_text("\n".join(codes))
        print(f"producing a backlog of {BACKLOG} licence events ...", flush=True)
        minted = asyncio.run(
            backlog_and_presentation_codes(
                stack, port, code, identifiers[REVOCATIONS : REVOCATIONS + 500]
            )
        )
        entries = BACKLOG + len(identifiers)
        a.start()
        baseline_rss = 0.0

        async def first_start() -> tuple[float, float]:
            nonlocal baseline_rss
            async with a.channel() as channel:
                await wait_serving(channel)
            baseline_rss = a.rss_mb()  # before the backlog is in memory
            return await serving_then_caught_up(a, entries)

        to_serving, catch_up = asyncio.run(first_start())
        print(
            f"  group A serving after {to_serving:.1f} s, caught up {catch_up:.1f} s later",
            flush=True,
        )
        if PROPAGATION_ONLY:
            b.start()
            asyncio.run(serving_then_caught_up(b, entries))
            print(f"propagation of {REVOCATIONS} revocations to two groups ...")
            parts = asyncio.run(propagation(stack, port, code, identifiers, [a, b]))
            print(json.dumps(propagation_figures(parts), indent=2), flush=True)
            return
        echo, echo_port = start_echo(stack)
        _ECHO_PIDS[echo_port] = echo.pid
        try:
            print("echo reference, VerifyCode requests, 64 callers ...", flush=True)
            echo_single = verify_load(
                a, codes_file, concurrency=64, port=echo_port, echo=True
            )
            print(f"  {echo_single}", flush=True)
            echo_batch = verify_load(
                a, codes_file, concurrency=4, batch=500, port=echo_port, echo=True
            )
            print(f"  batch: {echo_batch}", flush=True)
            echo_paced = verify_load(
                a, codes_file, concurrency=32, rate=1000, port=echo_port, echo=True
            )
            print(f"  paced at 1,000/s: {echo_paced}", flush=True)
        finally:
            stop(echo)
        print(f"VerifyCode, 64 callers, {SECONDS:.0f} s ...", flush=True)
        profiler = _profile(a.pid, "verify")
        single = verify_load(a, codes_file, concurrency=64)
        _stop_profile(profiler)
        print(f"  {single}", flush=True)
        print("VerifyCode paced at 1,000/s ...", flush=True)
        paced = verify_load(a, codes_file, concurrency=32, rate=1000)
        print(f"  {paced}", flush=True)
        profiler = _profile(a.pid, "verify-batch")
        batch = verify_load(a, codes_file, concurrency=4, batch=500)
        _stop_profile(profiler)
        print(f"  batch: {batch}", flush=True)
        print(
            f"VerifyCode of presentation codes (each once, claimed) paced at "
            f"{PRESENTATION_RATE:,.0f}/s ...",
            flush=True,
        )
        presented = presented_load(a, home, minted)
        print(f"  presentation codes: {presented}", flush=True)
        figures = verification_figures(
            echo_single, echo_batch, echo_paced, single, paced, batch, presented
        )
        if VERIFY_ONLY:
            print(json.dumps(figures, indent=2))
            return
        print(
            f"valid scans alone, then beside {FLOOD_IN_FLIGHT} hostile requests "
            "in flight from another counter ...",
            flush=True,
        )
        flooded = under_flood(a, codes[-1])
        print(f"  {flooded}", flush=True)
        b.start()
        asyncio.run(serving_then_caught_up(b, entries))
        print(f"propagation of {REVOCATIONS} revocations to two groups ...", flush=True)
        parts = asyncio.run(propagation(stack, port, code, identifiers, [a, b]))
        samples = parts["total"]
        print(f"  {propagation_figures(parts)}", flush=True)
        b.stop()
        grown = max(entries, RECOVERY_ENTRIES)
        print(f"growing the index to {grown} entries ...", flush=True)
        asyncio.run(produce_backlog(stack, code, grown - entries, first=BACKLOG))
        asyncio.run(serving_then_caught_up(a, grown))
        rss = a.rss_mb()
        a.stop()
        a.start()
        recovery, _ = asyncio.run(serving_then_caught_up(a, grown, check_lag=False))
        results = {
            **figures,
            **{k: v for k, v in flooded.items() if k != "flood"},
            "propagation_p50_ms": round(percentile(samples, 0.5) * 1000, 1),
            "propagation_p99_ms": round(percentile(samples, 0.99) * 1000, 1),
            "propagation_parts": propagation_figures(parts),
            "index_apply_per_s": round(entries / catch_up, 1) if catch_up else None,
            "recovery_s": round(recovery, 2),
            "index_rss_mb_per_million": round(
                max(0.0, rss - baseline_rss) / grown * 1_000_000, 1
            ),
            "index_rss_mb": round(rss, 1),
            "setup": {
                "index_entries": entries,
                "seconds_per_run": SECONDS,
                "concurrency": 64,
                "paced_concurrency": 32,
                "reference": "bench.echo: a trivial unary handler, same mTLS, uvloop "
                "+ grpc.aio, same load generator and callers, same run",
                "cpu_us": "CPU microseconds per code of each process tree "
                "(user+system from /proc): service (the group's worker), postgres, "
                "broker, loadgen",
                "details": {
                    "echo_single": echo_single,
                    "echo_batch": echo_batch,
                    "echo_paced": echo_paced,
                    "single": single,
                    "paced": paced,
                    "batch": batch,
                    "presented": presented,
                },
                "presentation": {
                    "rate_per_s": PRESENTATION_RATE,
                    "seconds": PRESENTATION_SECONDS,
                    "warmup_s": PRESENTATION_WARMUP_S,
                    "callers": PRESENTATION_CALLERS,
                    "codes": "fresh presentation codes of 500 licences, each sent "
                    "once (CreatePresentationCode as the department, 600 s)",
                },
                "revocations": REVOCATIONS,
                "flood": {
                    "in_flight": FLOOD_IN_FLIGHT,
                    "seconds": FLOOD_SECONDS,
                    "valid_scans": FLOOD_SCANS,
                    "outcomes": flooded["flood"],
                    "mix": "CBOR bomb codes, batches of 100, junk after the zlib "
                    "stream, a 13,000 x 13,000 pixel bomb, a white 4096 x 4096 PNG",
                },
                "fetch_max_wait_ms": cfg.verifier.fetch_max_wait_ms,
                "recovery_measured_at_entries": grown,
                "processes": "issuer + 2 verifier groups (Faust, RocksDB) + load generator "
                "+ PostgreSQL + Tansu, all on this machine",
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            },
        }
    finally:
        for verifier in (a, b):
            verifier.stop()
        issuer.terminate()
        issuer.wait(30)
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
    results_file("verifier").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "setup"}, indent=2))


if __name__ == "__main__":
    main()
