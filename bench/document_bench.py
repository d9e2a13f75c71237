"""Licence file benchmark: ``make bench`` → bench/results/document.json.

The embedded stack, the issuer and the seal service as their own processes, over mTLS,
on this machine. For BENCH_DOCUMENT_SECONDS (default 20) with 4 concurrent callers, the
issuing department fetches its licence's file: GetLicenceDocument renders the PDF
(fonts embedded as subsets, GB/T 36903 metadata, QR code) and the issuer has it sealed
with the department's official es256 seal through SealPdf (``licence_document_per_s``);
then the latency of one call alone (``licence_document_ms``, the best of five).
CPU per file during the timed run, from /proc through psutil, summed over the issuer
and its rendering workers (``licence_document_issuer_cpu_ms``) and over the seal
service (``licence_document_seal_cpu_ms``). ``BENCH_DOCUMENT_FORMAT=ofd`` measures the
OFD form instead (results in document_ofd.json).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.issuer_bench import identity_channel, wait_serving, write_results
from certseal.config import dump_config
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import issuer_pb2_grpc, licence_pb2, seal_pb2, seal_pb2_grpc
from services.devstack import DevStack, free_port
from tests.conftest import fresh_uscc

SECONDS = float(os.environ.get("BENCH_DOCUMENT_SECONDS", "20"))
CONCURRENCY = 4  # rendering is CPU-bound: more callers only queue
FORMAT = os.environ.get("BENCH_DOCUMENT_FORMAT", "pdf")


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def start(home: Path) -> tuple[DevStack, int, int, list[subprocess.Popen[bytes]]]:
    """The stack, then the issuer and the seal service as processes."""
    stack = DevStack(home, topic_partitions=4)
    cfg = asyncio.run(stack.start())
    issuer_port, seal_port = free_port(), free_port()
    cfg.issuer.listen = f"127.0.0.1:{issuer_port}"
    cfg.seal.listen = f"127.0.0.1:{seal_port}"
    cfg.issuer.seal_target = f"localhost:{seal_port}"
    cfg.issuer.metrics_listen = cfg.seal.metrics_listen = ""
    config_file = home / "bench.toml"
    config_file.write_text(dump_config(cfg))
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                f"services.{name}",
                "--config",
                str(config_file),
                "--log-level",
                "WARNING",
            ]
        )
        for name in ("issuer", "seal")
    ]
    return stack, issuer_port, seal_port, processes


async def measure(
    stack: DevStack, issuer_port: int, seal_port: int, pids: tuple[int, int]
) -> dict[str, Any]:
    code = fresh_uscc()
    async with (
        identity_channel(stack, issuer_port, "operator:admin") as admin_channel,
        identity_channel(stack, issuer_port, f"dept:{code}") as dept_channel,
        identity_channel(stack, seal_port, f"dept:{code}") as seal_channel,
    ):
        await wait_serving(admin_channel)
        await wait_serving(seal_channel)
        admin = issuer_pb2_grpc.IssuerAdminStub(admin_channel)
        await admin.OnboardDepartment(
            pb.OnboardDepartmentRequest(
                code=code,
                name="深圳市市场监督管理局",
                roles=[
                    licence_pb2.DEPARTMENT_ROLE_ISSUER,
                    licence_pb2.DEPARTMENT_ROLE_SEAL_OWNER,
                ],
            )
        )
        await admin.CreateSigningKey(
            pb.CreateSigningKeyRequest(department_code=code, suite="es256")
        )
        type_code = fresh_uscc() + "001"
        await admin.RegisterLicenceType(
            pb.RegisterLicenceTypeRequest(
                type_code=type_code,
                name="食品经营许可证",
                default_validity_days=1825,
                issuer_codes=[code],
                fields=[
                    licence_pb2.FieldSpec(
                        name="place",
                        title="经营场所",
                        type=licence_pb2.FIELD_TYPE_STRING,
                        public=True,
                    )
                ],
            )
        )
        await seal_pb2_grpc.SealStub(seal_channel).RegisterSeal(
            seal_pb2.RegisterSealRequest(
                seal_type="official",
                name="深圳市市场监督管理局",
                suite="es256",
                signers=[f"dept:{code}", "service:issuer"],
            )
        )
        issuer = issuer_pb2_grpc.IssuerStub(dept_channel)
        request = pb.IssueLicenceRequest(
            type_code=type_code,
            holder=licence_pb2.Holder(
                name="王𠈌", id_type="111", id_number="11010519491231002X"
            ),
        )
        request.fields["place"].string_value = "深圳市福田区福华路1号"
        licence = (await issuer.IssueLicence(request)).licence
        holder = issuer_pb2_grpc.LicenceHolderStub(dept_channel)
        fetch = pb.GetLicenceDocumentRequest(
            identifier=licence.identifier,
            format=pb.DOCUMENT_FORMAT_OFD
            if FORMAT == "ofd"
            else pb.DOCUMENT_FORMAT_PDF,
        )
        await holder.GetLicenceDocument(fetch, timeout=60)  # warm: fonts, channels
        alone = []
        for _ in range(5):
            started = time.monotonic()
            await holder.GetLicenceDocument(fetch, timeout=60)
            alone.append(time.monotonic() - started)
        done = 0
        deadline = time.monotonic() + SECONDS

        async def caller() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                await holder.GetLicenceDocument(fetch, timeout=120)
                done += 1

        cpu_before = [tree_cpu_seconds(pid) for pid in pids]
        started = time.monotonic()
        await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
        elapsed = time.monotonic() - started
        cpu = [
            tree_cpu_seconds(pid) - b for pid, b in zip(pids, cpu_before, strict=True)
        ]
        return {
            "licence_document_per_s": round(done / elapsed, 2),
            "licence_document_issuer_cpu_ms": round(cpu[0] / max(done, 1) * 1000, 1),
            "licence_document_seal_cpu_ms": round(cpu[1] / max(done, 1) * 1000, 1),
            "licence_document_ms": round(min(alone) * 1000, 1),
            "licence_document_median_ms": round(statistics.median(alone) * 1000, 1),
        }


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="certseal-dbench-"))
    stack, issuer_port, seal_port, processes = start(home)
    try:
        print(f"licence files, {CONCURRENCY} callers, {SECONDS:.0f} s ...", flush=True)
        pids = (processes[0].pid, processes[1].pid)
        results = asyncio.run(measure(stack, issuer_port, seal_port, pids))
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
    if FORMAT == "ofd":
        results = {k.replace("document", "document_ofd"): v for k, v in results.items()}
    write_results(
        "document" if FORMAT == "pdf" else "document_ofd",
        results,
        {
            "concurrency": CONCURRENCY,
            "seconds": SECONDS,
            "document": "one A4 page, Noto Sans SC + HanaMinB subsets, QR, es256 seal",
            "processes": "issuer + seal service + load generator + PostgreSQL + Tansu",
        },
    )


if __name__ == "__main__":
    main()
