"""Seal benchmark: ``make bench`` → bench/results/seal.json.

The embedded stack and the seal service as its own process, over mTLS, on this machine.
Per suite, each for BENCH_SEAL_SECONDS (default 10) with 16 concurrent callers:
SealDocument of 1 KB documents (``seal_per_s``) and of 1 MB documents
(``seal_1mb_per_s``), VerifySealedDocument of 1 KB documents (``verify_seal_per_s``) and,
for the suites PDFs support, SealPdf of a one-page PDF (``pdf_seal_per_s``). Then the
time VerifyPdf takes for a PDF carrying five seals (``pdf_verify_five_seals_ms``; the EU
DSS reference takes over 20 s).
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from PIL import Image

from bench.issuer_bench import (
    identity_channel,
    start_stack_and_service,
    wait_serving,
    write_results,
)
from certseal.identifiers import make_uscc
from certseal.v1 import seal_pb2 as pb
from certseal.v1 import seal_pb2_grpc
from services.devstack import DevStack

SECONDS = float(os.environ.get("BENCH_SEAL_SECONDS", "10"))
CONCURRENCY = 16
PDF_SUITES = ("es256", "ed25519")


def blank_pdf() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (595, 842), "white").save(out, "PDF")
    return out.getvalue()


async def rate(call: Callable[[], Awaitable[Any]], seconds: float = SECONDS) -> float:
    """Calls per second with CONCURRENCY callers for ``seconds``."""
    done = 0
    deadline = time.monotonic() + seconds

    async def caller() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await call()
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
    return round(done / (time.monotonic() - started), 1)


async def measure(stack: DevStack, port: int) -> dict[str, Any]:
    owner = make_uscc("91440300MA5FBENCH")
    results: dict[str, Any] = {}
    async with identity_channel(stack, port, f"dept:{owner}") as channel:
        await wait_serving(channel)
        stub = seal_pb2_grpc.SealStub(channel)
        small, large = os.urandom(1024), os.urandom(1024 * 1024)
        pdf = blank_pdf()
        for suite in ("sm2", "es256", "ed25519"):
            seal = (
                await stub.RegisterSeal(
                    pb.RegisterSealRequest(name="深圳市示例科技有限公司", suite=suite)
                )
            ).seal
            figures: dict[str, float] = {}

            def sealing(document: bytes, seal_id: str = seal.seal_id) -> Any:
                return lambda: stub.SealDocument(
                    pb.SealDocumentRequest(
                        seal_id=seal_id, document=document, property_info="bench"
                    )
                )

            figures["seal_per_s"] = await rate(sealing(small))
            figures["seal_1mb_per_s"] = await rate(sealing(large))
            signature = (await sealing(small)()).signature
            figures["verify_seal_per_s"] = await rate(
                lambda signature=signature: stub.VerifySealedDocument(
                    pb.VerifySealedDocumentRequest(signature=signature, document=small)
                )
            )
            if suite in PDF_SUITES:
                figures["pdf_seal_per_s"] = await rate(
                    lambda seal_id=seal.seal_id: stub.SealPdf(
                        pb.SealPdfRequest(seal_id=seal_id, pdf=pdf)
                    )
                )
            results[suite] = figures
            print(f"  {suite}: {figures}", flush=True)
        seal_id = (
            await stub.RegisterSeal(pb.RegisterSealRequest(name="示例", suite="es256"))
        ).seal.seal_id
        five = pdf
        for n in range(5):
            five = (
                await stub.SealPdf(
                    pb.SealPdfRequest(seal_id=seal_id, pdf=five, x_mm=10 + 36 * n)
                )
            ).pdf
        timings = []
        for _ in range(5):
            started = time.monotonic()
            reply = await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=five))
            timings.append(time.monotonic() - started)
            assert [r.verdict for r in reply.seals] == ["VALID"] * 5, reply
        results["pdf_verify_five_seals_ms"] = round(min(timings) * 1000, 1)
    return results


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="certseal-sbench-"))
    stack, _cfg, port, service = start_stack_and_service(home, "seal")
    try:
        print(f"seal service, {CONCURRENCY} callers, {SECONDS:.0f} s per figure ...")
        results = asyncio.run(measure(stack, port))
    finally:
        service.terminate()
        service.wait(30)
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
    write_results(
        "seal",
        results,
        {
            "concurrency": CONCURRENCY,
            "seconds_per_figure": SECONDS,
            "processes": "seal service + load generator + PostgreSQL + Tansu, one machine",
        },
    )


if __name__ == "__main__":
    main()
