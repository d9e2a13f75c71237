"""OFD benchmark: ``make bench`` → bench/results/ofd.json.

The embedded stack and the seal service as its own process, over mTLS, on this machine.
Per suite (sm2, es256): SealOfd of a five-page OFD for BENCH_SEAL_SECONDS (default 10)
with 16 concurrent callers (``ofd_seal_per_s``), and the time one VerifyOfd of that
document sealed once takes, the best of 20 sequential calls (``ofd_verify_ms``: reading
the package within its bounds, the reference digests, the SES_Signature checks).
"""

from __future__ import annotations

import asyncio
import io
import shutil
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from bench.issuer_bench import (
    identity_channel,
    start_stack_and_issuer,
    wait_serving,
    write_results,
)
from bench.memory_bench import start_seal
from bench.seal_bench import CONCURRENCY, SECONDS, rate
from certseal.identifiers import make_uscc
from certseal.v1 import issuer_pb2 as ipb
from certseal.v1 import issuer_pb2_grpc, licence_pb2, seal_pb2_grpc
from certseal.v1 import seal_pb2 as pb
from services.devstack import DevStack

SUITES = ("sm2", "es256")
PAGES = 5
_NS = 'xmlns:ofd="http://www.ofdspec.org/2016"'


def five_page_ofd() -> bytes:
    """An unsigned OFD of :data:`PAGES` pages of text (GB/T 33190's minimal package)."""
    line = (
        '<ofd:TextObject ID="{id}" Boundary="20 {y} 170 8" Font="1" Size="4">'
        '<ofd:TextCode X="0" Y="4">第{n}条 行政许可事项说明文字</ofd:TextCode>'
        "</ofd:TextObject>"
    )
    files = {
        "OFD.xml": f'<ofd:OFD {_NS} Version="1.0" DocType="OFD"><ofd:DocBody>'
        "<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>",
        "Doc_0/Document.xml": f"<ofd:Document {_NS}><ofd:CommonData><ofd:PageArea>"
        "<ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox></ofd:PageArea>"
        "</ofd:CommonData><ofd:Pages>"
        + "".join(
            f'<ofd:Page ID="{p + 1}" BaseLoc="Pages/Page_{p}/Content.xml"/>'
            for p in range(PAGES)
        )
        + "</ofd:Pages></ofd:Document>",
    }
    for p in range(PAGES):
        body = "".join(
            line.format(id=100 + n, y=20 + 9 * n, n=n + 1) for n in range(30)
        )
        files[f"Doc_0/Pages/Page_{p}/Content.xml"] = (
            f'<ofd:Page {_NS}><ofd:Content><ofd:Layer ID="99">{body}</ofd:Layer>'
            "</ofd:Content></ofd:Page>"
        )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text.encode())
    return out.getvalue()


async def seal_owner(stack: DevStack, issuer_port: int) -> str:
    """A department onboarded with the seal_owner role (through the issuer)."""
    async with identity_channel(stack, issuer_port, "operator:admin") as channel:
        await wait_serving(channel)
        code = make_uscc("91440300MA5FDBNCH")
        await issuer_pb2_grpc.IssuerAdminStub(channel).OnboardDepartment(
            ipb.OnboardDepartmentRequest(
                code=code,
                name="OFD 测量",
                roles=[licence_pb2.DEPARTMENT_ROLE_SEAL_OWNER],
            )
        )
        return code


async def measure(stack: DevStack, port: int, owner: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    ofd = five_page_ofd()
    async with identity_channel(stack, port, f"dept:{owner}") as channel:
        await wait_serving(channel)
        stub = seal_pb2_grpc.SealStub(channel)
        for suite in SUITES:
            seal_id = (
                await stub.RegisterSeal(
                    pb.RegisterSealRequest(name="深圳市示例科技有限公司", suite=suite)
                )
            ).seal.seal_id
            figures: dict[str, float] = {}
            figures["ofd_seal_per_s"] = await rate(
                lambda seal_id=seal_id: stub.SealOfd(
                    pb.SealOfdRequest(seal_id=seal_id, ofd=ofd, page=2)
                )
            )
            sealed = (
                await stub.SealOfd(pb.SealOfdRequest(seal_id=seal_id, ofd=ofd))
            ).ofd
            timings = []
            for _ in range(20):
                started = time.monotonic()
                reply = await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=sealed))
                timings.append(time.monotonic() - started)
                assert [s.verdict for s in reply.signatures] == ["VALID"], reply
            figures["ofd_verify_ms"] = round(min(timings) * 1000, 2)
            results[suite] = figures
            print(f"  {suite}: {figures}", flush=True)
    results["ofd_bytes"] = len(ofd)
    return results


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="certseal-obench-"))
    stack, cfg, issuer_port, issuer = start_stack_and_issuer(home, workers=0)
    service = None
    try:
        owner = asyncio.run(seal_owner(stack, issuer_port))
        port, service = start_seal(home, cfg)
        print(f"OFD sealing, {CONCURRENCY} callers, {SECONDS:.0f} s per figure ...")
        results = asyncio.run(measure(stack, port, owner))
    finally:
        for process in (service, issuer):
            if process is not None:
                process.terminate()
                process.wait(30)
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
    write_results(
        "ofd",
        results,
        {
            "concurrency": CONCURRENCY,
            "seconds_per_figure": SECONDS,
            "pages": PAGES,
            "processes": "seal service + issuer (idle) + load generator + PostgreSQL + Tansu,"
            " one machine",
        },
    )


if __name__ == "__main__":
    main()
