"""Issuance benchmark: ``make bench`` → bench/results/issuer.json.

Runs the embedded stack, the issuer as its own process (the production entry point,
uvloop) and a load generator as another process, all on this machine, over mTLS:
single IssueLicence with 64 concurrent callers for BENCH_SECONDS (default 20) per suite,
the same for es256 with an idempotency key on every request, then IssueLicences of
500. Commit-to-publish is read from the outbox itself: the time
from the row's insert (inside the committing transaction) to the relay marking it
published after the broker's acknowledgement; each paced run starts once the relay
has published the backlog of the saturated runs before it. Knobs: BENCH_LINGER_MS
(the relay's ``[outbox] linger_ms``), BENCH_PUBLISH_ONLY=1 (only commit -> topic,
printed, no results file).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench import proccpu
from bench.outputs import RESULTS, results_file
from bench.reference import run_loadgen, start_echo, stop, versus, watch
from certseal.config import dump_config
from certseal.rpc import secure_channel
from certseal.storage.outbox import unpublished_rows
from certseal.storage.pool import connect
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import issuer_pb2_grpc, licence_pb2
from services.config import Config
from services.devstack import DevStack, free_port
from tests.conftest import fresh_uscc

SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
SUITES = ("ed25519", "es256", "sm2")
#: BENCH_PUBLISH_ONLY=1: time only commit -> topic (es256 paced at 300/s, then 64
#: callers) and print it with the issuer's CPU: no results file (for measuring a relay
#: change before and after)
PUBLISH_ONLY = os.environ.get("BENCH_PUBLISH_ONLY") == "1"


#: knobs for a shorter comparison run (``make bench`` sets none of them):
#: BENCH_SUITES=sm2,ed25519 runs the single IssueLicence load for those suites only;
#: BENCH_PARTS=single,batch runs only those parts (of echo, single, keyed, paced,
#: batch); BENCH_OUT=name writes bench/results/name.json (a run with any knob set
#: writes issuer-trial.json: :func:`results_file`)
RUN_SUITES = tuple(
    s for s in os.environ.get("BENCH_SUITES", ",".join(SUITES)).split(",") if s
)
PARTS = frozenset(
    os.environ.get("BENCH_PARTS", "echo,single,keyed,paced,batch").split(",")
)
OUT = os.environ.get("BENCH_OUT", "issuer")
#: seconds a comparison waits after its set-up (:func:`compare`)
SETUP_SETTLE_S = 5.5


async def wait_serving(
    channel: grpc.aio.Channel, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Until the service behind ``channel`` says SERVING (RuntimeError after about a
    minute); RuntimeError at once, with its exit status, when ``process`` has ended."""
    stub = health_pb2_grpc.HealthStub(channel)
    for _ in range(600):
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"the service (pid {process.pid}) exited with status {process.returncode}"
                " before it was SERVING; its log is above"
            )
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.aio.AioRpcError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("issuer did not become SERVING")


async def setup_department(
    admin: issuer_pb2_grpc.IssuerAdminStub, suite: str
) -> tuple[str, str]:
    code = fresh_uscc()
    await admin.OnboardDepartment(
        pb.OnboardDepartmentRequest(
            code=code, name=f"bench {suite}", roles=[licence_pb2.DEPARTMENT_ROLE_ISSUER]
        )
    )
    await admin.CreateSigningKey(
        pb.CreateSigningKeyRequest(department_code=code, suite=suite)
    )
    type_code = code + "001"
    await admin.RegisterLicenceType(
        pb.RegisterLicenceTypeRequest(
            type_code=type_code,
            name="机动车驾驶证",
            default_validity_days=2190,
            issuer_codes=[code],
            fields=[
                licence_pb2.FieldSpec(
                    name="class",
                    type=licence_pb2.FIELD_TYPE_STRING,
                    required=True,
                    public=True,
                ),
                licence_pb2.FieldSpec(
                    name="address", type=licence_pb2.FIELD_TYPE_STRING, personal=True
                ),
            ],
        )
    )
    return code, type_code


def load(
    stack: DevStack,
    port: int,
    code: str,
    type_code: str,
    *,
    concurrency: int,
    batch: int = 0,
    rate: float = 0,
    keys: bool = False,
    watch: list[str] = (),  # type: ignore[assignment]
    echo: bool = False,
) -> dict[str, Any]:
    """One load generator run against ``port`` as the department ``code``."""
    return run_loadgen(
        stack.ca,
        port,
        [f"dept:{code}"],
        *("--type-code", type_code, "--concurrency", str(concurrency)),
        *("--seconds", str(SECONDS), "--batch", str(batch), "--rate", str(rate)),
        *(["--idempotency-keys"] if keys else []),
        *(["--echo"] if echo else []),
        *watch,
    )


async def commit_to_publish(dsn: str, since: dt.datetime) -> dict[str, float]:
    conn = await connect(dsn)
    try:
        row = await conn.fetchrow(
            """with sent as (
                   select u.id, min(u.at) as published_at
                   from outbox_published p, unnest(p.ids, p.published_at) u(id, at)
                   where p.logged_at >= $1 group by 1)
               select count(*) as n, count(s.published_at) as published,
                 percentile_cont(0.5) within group (order by extract(epoch from
                   s.published_at - o.created_at)) as p50,
                 percentile_cont(0.99) within group (order by extract(epoch from
                   s.published_at - o.created_at)) as p99
               from outbox o left join sent s using (id)
               where o.created_at >= $1""",
            since,
        )
    finally:
        await conn.close()
    return {
        "events": row["n"],
        "published": row["published"],
        "p50_ms": round((row["p50"] or 0) * 1000, 2),
        "p99_ms": round((row["p99"] or 0) * 1000, 2),
    }


async def drain_outbox(dsn: str, within_s: float = 120.0) -> None:
    """Wait until the relay has published every row, so that a run's commit -> topic
    figure is not the backlog a saturated run before it left behind."""
    conn = await connect(dsn)
    try:
        deadline = asyncio.get_running_loop().time() + within_s
        while await unpublished_rows(conn):
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"outbox not drained within {within_s} s")
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


def _profile(
    pid: int, name: str, seconds: float = SECONDS
) -> subprocess.Popen[bytes] | None:
    """With BENCH_PROFILE=1, sample the issuer with py-spy into bench/results/NAME.txt
    (BENCH_PROFILE_NATIVE=1: C frames too, ``py-spy record --native``)."""
    if os.environ.get("BENCH_PROFILE") != "1":
        return None
    RESULTS.mkdir(exist_ok=True)
    native = ["--native"] if os.environ.get("BENCH_PROFILE_NATIVE") == "1" else []
    return subprocess.Popen(
        [
            shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
            "record",
            *native,
            "--pid",
            str(pid),
            "--subprocesses",
            "--format",
            "raw",
            "--rate",
            "200",
            "--duration",
            str(int(seconds) + 2),
            "--output",
            str(RESULTS / f"{name}.txt"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop_profile(profiler: subprocess.Popen[bytes] | None) -> None:
    if profiler is not None:
        profiler.wait()


def write_results(name: str, results: dict[str, Any], setup: dict[str, Any]) -> None:
    """Write :func:`results_file` with the setup and the machine, and print it."""
    results["setup"] = {
        **setup,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    results_file(name).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "setup"}, indent=2))


def identity_channel(stack: DevStack, port: int, identity: str) -> grpc.aio.Channel:
    """An mTLS channel to a local service as ``identity`` (from the dev CA)."""
    ident = stack.ca.identity(identity)
    return secure_channel(
        f"localhost:{port}",
        str(stack.ca.ca_file),
        str(ident.cert_file),
        str(ident.key_file),
    )


async def setup(stack: DevStack, port: int) -> dict[str, tuple[str, str]]:
    async with identity_channel(stack, port, "operator:admin") as channel:
        await wait_serving(channel)
        admin = issuer_pb2_grpc.IssuerAdminStub(channel)
        return {s: await setup_department(admin, s) for s in SUITES}


def start_stack_and_service(
    home: Path, service: str, *, tweak: Callable[[Config], None] | None = None
) -> tuple[DevStack, Config, int, subprocess.Popen[bytes]]:
    """The embedded stack in ``home`` and ``services.<service>`` as its own process."""
    stack = DevStack(home, topic_partitions=12)
    cfg = asyncio.run(stack.start())
    port = free_port()
    section = getattr(cfg, service)
    section.listen = f"127.0.0.1:{port}"
    section.metrics_listen = ""
    if tweak is not None:
        tweak(cfg)
    config_file = home / "bench.toml"
    config_file.write_text(dump_config(cfg))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            f"services.{service}",
            "--config",
            str(config_file),
            "--log-level",
            "WARNING",
        ]
    )
    return stack, cfg, port, process


def start_stack_and_issuer(
    home: Path, *, workers: int, tweak: Callable[[Config], None] | None = None
) -> tuple[DevStack, Config, int, subprocess.Popen[bytes]]:
    """The embedded stack in ``home`` and the issuer as its own processes."""

    def issuer(cfg: Config) -> None:
        cfg.database.pool_max = 20
        if "BENCH_LINGER_MS" in os.environ:  # the relay's [outbox] linger_ms
            cfg.outbox.linger_ms = float(os.environ["BENCH_LINGER_MS"])
        cfg.issuer.workers = workers
        if tweak is not None:
            tweak(cfg)

    return start_stack_and_service(home, "issuer", tweak=issuer)


def serving_watch(issuer_pid: int) -> list[str]:
    """``--watch serving=PIDS``: the serving worker processes alone (with
    ``[issuer] workers`` > 0), so that ``cpu_us`` splits the issuer's CPU into the
    processes answering RPCs (``serving``), the outbox relay's own process (``relay``)
    and the rest of ``service`` (the supervising process: audit sealer, expiry sweep,
    usage consumer; ``service`` counts the whole tree)."""
    children = proccpu.tree_pids([issuer_pid], proccpu.children())[1:]
    roles: dict[str, list[int]] = {"serving": [], "relay": []}
    for pid in children:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        roles["relay" if b"relay" in argv else "serving"].append(pid)
    return [
        arg
        for role, pids in roles.items()
        if pids
        for arg in ("--watch", f"{role}=" + ",".join(map(str, pids)))
    ]


def _cpu(run: dict[str, Any]) -> dict[str, float]:
    cpu: dict[str, float] = run["cpu_us"]
    return cpu


def publish_figures(
    stack: DevStack,
    cfg: Config,
    port: int,
    departments: dict[str, tuple[str, str]],
    procs: list[str],
) -> dict[str, Any]:
    """Commit -> topic at 300/s paced and at saturation (64 callers), es256."""
    figures: dict[str, Any] = {}
    for label, kw in (
        ("paced_300", {"concurrency": 32, "rate": 300}),
        ("saturation", {"concurrency": 64}),
    ):
        asyncio.run(drain_outbox(cfg.database.dsn()))
        since = dt.datetime.now(dt.UTC)
        run = load(stack, port, *departments["es256"], watch=procs, **kw)  # type: ignore[arg-type]
        figures[label] = {
            "issue_per_s": run["requests_per_s"],
            "cpu_us": run["cpu_us"],
            "outbox": asyncio.run(commit_to_publish(cfg.database.dsn(), since)),
        }
    return figures


def compare() -> None:
    """A shorter run for before/after comparisons (the knobs above): the single
    IssueLicence load of RUN_SUITES, es256 paced at 500/s and/or IssueLicences of 500
    (es256), each with its
    CPU per licence per process, into bench/results/OUT.json."""
    home = Path(tempfile.mkdtemp(prefix="certseal-bench-"))
    stack, _, port, issuer = start_stack_and_issuer(
        home, workers=int(os.environ.get("BENCH_WORKERS", "1"))
    )
    results: dict[str, Any] = {}
    try:
        departments = asyncio.run(setup(stack, port))
        procs = watch(stack, issuer.pid) + serving_watch(issuer.pid)
        # the issuer reads a department it changed less than its directory cache's
        # time (5 s) ago afresh for every request; the full run's echo phases cover
        # that time, so a comparison waits it out too
        time.sleep(SETUP_SETTLE_S)
        if "single" in PARTS:
            for suite in RUN_SUITES:
                print(f"single IssueLicence, {suite}, 64 callers ...", flush=True)
                profiler = _profile(issuer.pid, f"{OUT}-issue-{suite}")
                run = load(
                    stack, port, *departments[suite], concurrency=64, watch=procs
                )
                _stop_profile(profiler)
                results[f"issue_{suite}"] = run
                print(f"  {run}", flush=True)
        if "paced" in PARTS:
            print("paced IssueLicence, es256, 500/s ...", flush=True)
            run = load(
                stack,
                port,
                *departments["es256"],
                concurrency=32,
                rate=500,
                watch=procs,
            )
            results["paced_500_es256"] = run
            print(f"  {run}", flush=True)
        if "batch" in PARTS:
            print("IssueLicences of 500, es256, 4 callers ...", flush=True)
            profiler = _profile(issuer.pid, f"{OUT}-batch-es256")
            run = load(
                stack,
                port,
                *departments["es256"],
                concurrency=4,
                batch=500,
                watch=procs,
            )
            _stop_profile(profiler)
            results["batch_es256"] = run
            print(f"  {run}", flush=True)
    finally:
        issuer.terminate()
        issuer.wait(30)
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
    write_results(
        "issuer", results, {"seconds_per_run": SECONDS, "knobs": sorted(PARTS)}
    )


def main() -> None:
    if OUT != "issuer" or "BENCH_SUITES" in os.environ or "BENCH_PARTS" in os.environ:
        compare()
        return
    home = Path(tempfile.mkdtemp(prefix="certseal-bench-"))
    stack, cfg, port, issuer = start_stack_and_issuer(
        home, workers=int(os.environ.get("BENCH_WORKERS", "1"))
    )
    echo, echo_port = start_echo(stack)
    results: dict[str, object] = {}
    try:
        departments = asyncio.run(setup(stack, port))
        procs = watch(stack, issuer.pid) + serving_watch(issuer.pid)
        echo_procs = watch(stack, echo.pid)
        if PUBLISH_ONLY:
            print(json.dumps(publish_figures(stack, cfg, port, departments, procs)))
            return
        print("echo reference, IssueLicence requests, 64 callers ...", flush=True)
        echo_single = load(
            stack,
            echo_port,
            *departments["es256"],
            concurrency=64,
            watch=echo_procs,
            echo=True,
        )
        print(f"  {echo_single}", flush=True)
        print("echo reference, IssueLicence requests paced at 500/s ...", flush=True)
        echo_paced = load(
            stack,
            echo_port,
            *departments["es256"],
            concurrency=32,
            rate=500,
            watch=echo_procs,
            echo=True,
        )
        print(f"  {echo_paced}", flush=True)
        single: dict[str, Any] = {}
        since = dt.datetime.now(dt.UTC)
        for suite in SUITES:
            print(
                f"single IssueLicence, {suite}, 64 callers, {SECONDS:.0f} s ...",
                flush=True,
            )
            profiler = _profile(issuer.pid, f"issue-{suite}")
            single[suite] = load(
                stack, port, *departments[suite], concurrency=64, watch=procs
            )
            _stop_profile(profiler)
            print(f"  {single[suite]}", flush=True)
        publish_single = asyncio.run(commit_to_publish(cfg.database.dsn(), since))
        print("single IssueLicence with a key each, es256, 64 callers ...", flush=True)
        keyed = load(
            stack, port, *departments["es256"], concurrency=64, keys=True, watch=procs
        )
        print(f"  {keyed}", flush=True)
        paced: dict[int, dict[str, Any]] = {}
        publish_paced: dict[int, dict[str, float]] = {}
        for rate in (300, 500):
            print(f"paced IssueLicence, es256, {rate}/s (below saturation) ...")
            asyncio.run(drain_outbox(cfg.database.dsn()))
            since_paced = dt.datetime.now(dt.UTC)
            paced[rate] = load(
                stack,
                port,
                *departments["es256"],
                concurrency=32,
                rate=rate,
                watch=procs,
            )
            print(f"  {paced[rate]}", flush=True)
            publish_paced[rate] = asyncio.run(
                commit_to_publish(cfg.database.dsn(), since_paced)
            )
        print("echo reference, IssueLicences of 500 requests, 4 callers ...")
        echo_batch = load(
            stack,
            echo_port,
            *departments["es256"],
            concurrency=4,
            batch=500,
            watch=echo_procs,
            echo=True,
        )
        print(f"  {echo_batch}", flush=True)
        print("IssueLicences of 500, es256, 4 callers ...", flush=True)
        since_batch = dt.datetime.now(dt.UTC)
        profiler = _profile(issuer.pid, "batch-es256")
        batch = load(
            stack, port, *departments["es256"], concurrency=4, batch=500, watch=procs
        )
        _stop_profile(profiler)
        print(f"  {batch}", flush=True)
        publish_batch = asyncio.run(commit_to_publish(cfg.database.dsn(), since_batch))
        echo_rate = echo_single["requests_per_s"]
        results = {
            "echo_per_s": echo_rate,
            "echo_cpu_us": _cpu(echo_single),
            "issue_per_s": {s: r["requests_per_s"] for s, r in single.items()},
            "issue_vs_echo": {
                s: versus(r["requests_per_s"], echo_rate) for s, r in single.items()
            },
            "issue_cpu_us": {s: _cpu(r) for s, r in single.items()},
            "issue_p50_ms": {s: r["p50_ms"] for s, r in single.items()},
            "issue_p99_ms": {s: r["p99_ms"] for s, r in single.items()},
            # the same load with an idempotency key on every request (the answer is
            # stored with the change: one more row in the same transaction)
            "issue_with_key_es256_per_s": keyed["requests_per_s"],
            "issue_with_key_es256_vs_echo": versus(keyed["requests_per_s"], echo_rate),
            "issue_with_key_es256_cpu_us": _cpu(keyed),
            "issue_with_key_es256_p99_ms": keyed["p99_ms"],
            "batch_issue_per_s": batch["licences_per_s"],
            "batch_issue_vs_echo": versus(
                batch["licences_per_s"], echo_batch["licences_per_s"]
            ),
            "batch_issue_cpu_us": _cpu(batch),
            "batch_echo_per_s": echo_batch["licences_per_s"],
            "batch_p99_ms": batch["p99_ms"],
            "commit_to_publish_p50_ms": publish_paced[300]["p50_ms"],
            "commit_to_publish_p99_ms": publish_paced[300]["p99_ms"],
            "paced_300_per_s_issue_p99_ms": paced[300]["p99_ms"],
            "paced_500_per_s_issue_p99_ms": paced[500]["p99_ms"],
            "paced_500_per_s_echo_p99_ms": echo_paced["p99_ms"],
            "paced_500_per_s_achieved_per_s": paced[500]["requests_per_s"],
            "paced_500_per_s_issue_cpu_us": _cpu(paced[500]),
            "commit_to_publish_at_500_per_s_p99_ms": publish_paced[500]["p99_ms"],
            "commit_to_publish_at_saturation_p99_ms": publish_single["p99_ms"],
            "commit_to_publish_under_batch_load_p99_ms": publish_batch["p99_ms"],
            "details": {
                "echo_single": echo_single,
                "echo_batch": echo_batch,
                "echo_paced": echo_paced,
                "single": single,
                "single_with_keys_es256": keyed,
                "paced": paced,
                "outbox_paced": publish_paced,
                "batch": batch,
                "outbox_single": publish_single,
                "outbox_batch": publish_batch,
            },
            "setup": {
                "seconds_per_run": SECONDS,
                "concurrency": 64,
                "paced_concurrency": 32,
                "batch_size": 500,
                "batch_concurrency": 4,
                "issuer_workers": cfg.issuer.workers,
                "reference": "bench.echo: a trivial unary handler, same mTLS, uvloop "
                "+ grpc.aio, same load generator and callers, same run",
                "cpu_us": "CPU microseconds per licence of each process tree "
                "(user+system from /proc): service, postgres (postmaster and "
                "backends), broker, loadgen; serving: the issuer's serving worker "
                "processes alone (part of service)",
                "transport": "gRPC over mTLS (ECDSA P-256 certs)",
                "processes": "issuer (uvloop) + load generator (uvloop) + PostgreSQL "
                "(pgserver) + Tansu broker, all on this machine",
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "machine": platform.machine(),
                "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            },
        }
    finally:
        stop(echo)
        issuer.terminate()
        issuer.wait(30)
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
    results_file("issuer").write_text(json.dumps(results, indent=2) + "\n")
    print(
        json.dumps(
            {k: v for k, v in results.items() if k not in ("details", "setup")},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
