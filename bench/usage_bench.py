"""Usage-record benchmark: ``make bench`` → bench/results/usage.json.

On this machine, over mTLS: the issuer and one verifier group, each its own process,
on the embedded stack. A holder's licence is verified BENCH_USAGE_SAMPLES times
(default 200), one at a time, each with a purpose of its own; after each verdict the
holder's app polls ListLicenceUsage (verifications, newest first, page of 5) until that verification
is there. ``usage_record_p99_ms`` (and p50, max) is the time from the verdict's arrival
to the first listing that shows it: verifier → usage topic → the issuer's consumer →
PostgreSQL → the holder app's read.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.issuer_bench import (
    identity_channel,
    setup_department,
    start_stack_and_issuer,
    wait_serving,
    write_results,
)
from certseal import identifiers
from certseal.config import dump_config
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import issuer_pb2_grpc, licence_pb2, verifier_pb2, verifier_pb2_grpc
from services.config import Config
from services.devstack import DevStack, free_port

SAMPLES = int(os.environ.get("BENCH_USAGE_SAMPLES", "200"))
POLL_S = 0.002  # between two listings while waiting for one verification
VALID = verifier_pb2.VERDICT_VALID
COUNTER = "dept:11440300BENCHUSE1"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(stack: DevStack, cfg: Config, port: int, verifier_port: int) -> dict:
    async with identity_channel(stack, port, "operator:admin") as channel:
        await wait_serving(channel)
        admin = issuer_pb2_grpc.IssuerAdminStub(channel)
        code, type_code = await setup_department(admin, "es256")
        app_name = f"app:bench-{secrets.token_hex(3)}"
        await admin.GrantHolderApp(
            pb.GrantHolderAppRequest(app=app_name, type_code=type_code)
        )
    holder = licence_pb2.Holder(
        name="测试", id_type="111", id_number=identifiers.random_resident_id()
    )
    async with (
        identity_channel(stack, port, f"dept:{code}") as dept_channel,
        identity_channel(stack, port, app_name) as app_channel,
        identity_channel(stack, verifier_port, COUNTER) as counter_channel,
    ):
        issuer = issuer_pb2_grpc.IssuerStub(dept_channel)
        request = pb.IssueLicenceRequest(type_code=type_code, holder=holder)
        request.fields["class"].string_value = "C1"
        licence = (await issuer.IssueLicence(request)).licence
        text = (
            await issuer.GetLicenceCode(
                pb.GetLicenceCodeRequest(identifier=licence.identifier)
            )
        ).text
        app = issuer_pb2_grpc.IssuerStub(app_channel)
        verifier = verifier_pb2_grpc.VerifierStub(counter_channel)
        await wait_serving(counter_channel)
        while True:  # the group's index has the licence
            reply = await verifier.VerifyCode(
                verifier_pb2.VerifyCodeRequest(code=text, purpose="warm-up")
            )
            if reply.result.verdict == VALID:
                break
            await asyncio.sleep(0.05)
        listing = pb.ListLicenceUsageRequest(
            identifier=licence.identifier,
            holder=licence_pb2.Holder(id_type="111", id_number=holder.id_number),
            page_size=5,
            newest_first=True,
            kinds=[pb.LICENCE_USAGE_KIND_VERIFIED],  # each poll is itself a view
        )
        latencies: list[float] = []
        for n in range(SAMPLES):
            purpose = f"bench-{n}"
            await verifier.VerifyCode(
                verifier_pb2.VerifyCodeRequest(code=text, purpose=purpose)
            )
            started = time.monotonic()
            while True:
                uses = (await app.ListLicenceUsage(listing)).uses
                if any(u.purpose == purpose for u in uses):
                    break
                await asyncio.sleep(POLL_S)
            latencies.append((time.monotonic() - started) * 1000)
    return {
        "usage_record_p50_ms": round(percentile(latencies, 0.50), 1),
        "usage_record_p99_ms": round(percentile(latencies, 0.99), 1),
        "usage_record_max_ms": round(max(latencies), 1),
    }


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="certseal-bench-usage-"))
    stack, cfg, port, issuer = start_stack_and_issuer(home, workers=0)
    verifier_port = free_port()
    config_file = home / "verifier.toml"
    cfg.verifier.data_dir = str(home / "verifier")
    config_file.write_text(dump_config(cfg))
    verifier = subprocess.Popen(
        [
            sys.executable,
            *("-m", "services.verifier", "--config", str(config_file)),
            *("--group", f"usage-{secrets.token_hex(3)}"),
            *("--listen", f"127.0.0.1:{verifier_port}"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        results = asyncio.run(measure(stack, cfg, port, verifier_port))
        write_results(
            "usage",
            results,
            {"samples": SAMPLES, "poll_ms": POLL_S * 1000, "verifier_groups": 1},
        )
    finally:
        for process in (verifier, issuer):
            process.terminate()
            process.wait(30)
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
