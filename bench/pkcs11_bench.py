"""Issuance with department keys in a PKCS#11 token: ``make bench`` →
bench/results/pkcs11.json.

The embedded stack and one issuer process whose ``[pkcs11]`` section names a fresh
SoftHSM2 token (Debian's softhsm2, in a temporary SOFTHSM2_CONF directory). Departments
with es256 and ed25519 keys in the token, and departments with software keys of the
same suites (created by a short-lived issuer without ``[pkcs11]`` on the same database,
so the SAME issuer process signs both), each loaded with single IssueLicence calls from
64 concurrent callers for BENCH_SECONDS (default 20). ``issue_per_s_pkcs11`` stands
next to ``issue_per_s_software`` from the same run.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.issuer_bench import (
    RESULTS,
    SECONDS,
    identity_channel,
    load,
    setup_department,
    start_stack_and_issuer,
    wait_serving,
)
from certseal.config import dump_config
from certseal.v1 import issuer_pb2_grpc
from services.config import Config
from services.devstack import DevStack, free_port
from tests.softhsm import make_softhsm

SUITES = ("es256", "ed25519")


async def departments(
    stack: DevStack, port: int, suites: tuple[str, ...]
) -> dict[str, tuple[str, str]]:
    async with identity_channel(stack, port, "operator:admin") as channel:
        await wait_serving(channel)
        admin = issuer_pb2_grpc.IssuerAdminStub(channel)
        return {s: await setup_department(admin, s) for s in suites}


def software_departments(
    stack: DevStack, cfg: Config, home: Path
) -> dict[str, tuple[str, str]]:
    """Departments with software keys, made by an issuer without [pkcs11]."""
    plain = copy.deepcopy(cfg)
    plain.pkcs11.module = ""
    port = free_port()
    plain.issuer.listen = f"127.0.0.1:{port}"
    plain.issuer.workers = 0
    config_file = home / "software.toml"
    config_file.write_text(dump_config(plain))
    process = subprocess.Popen(
        [sys.executable, "-m", "services.issuer", "--config", str(config_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return asyncio.run(departments(stack, port, SUITES))
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="certseal-bench-pkcs11-"))
    hsm = make_softhsm(home / "softhsm")  # sets SOFTHSM2_CONF for the issuer process

    def token(cfg: Config) -> None:
        cfg.pkcs11 = hsm.config(sessions=4)

    stack, cfg, port, issuer = start_stack_and_issuer(home, workers=0, tweak=token)
    try:
        in_token = asyncio.run(departments(stack, port, SUITES))
        in_software = software_departments(stack, cfg, home)
        runs: dict[str, dict[str, dict[str, float]]] = {"pkcs11": {}, "software": {}}
        for suite in SUITES:
            for where, depts in (("pkcs11", in_token), ("software", in_software)):
                print(
                    f"single IssueLicence, {suite} key in {where}, 64 callers, "
                    f"{SECONDS:.0f} s ...",
                    flush=True,
                )
                runs[where][suite] = load(stack, port, *depts[suite], concurrency=64)
                print(f"  {runs[where][suite]}", flush=True)
    finally:
        issuer.terminate()
        issuer.wait(30)
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
    results = {
        "issue_per_s_pkcs11": {
            s: r["requests_per_s"] for s, r in runs["pkcs11"].items()
        },
        "issue_per_s_software": {
            s: r["requests_per_s"] for s, r in runs["software"].items()
        },
        "issue_p99_ms_pkcs11": {s: r["p99_ms"] for s, r in runs["pkcs11"].items()},
        "issue_p99_ms_software": {s: r["p99_ms"] for s, r in runs["software"].items()},
        "details": runs,
        "setup": {
            "seconds_per_run": SECONDS,
            "concurrency": 64,
            "token": "SoftHSM2 (Debian softhsm2), file object store, 4 sessions, "
            "calls serialised ([pkcs11] parallel = false)",
            "issuer_workers": 0,
            "transport": "gRPC over mTLS (ECDSA P-256 certs)",
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pkcs11.json").write_text(json.dumps(results, indent=2) + "\n")
    print(
        json.dumps(
            {k: v for k, v in results.items() if k not in ("details", "setup")},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
