"""Seal benchmark: ``make bench`` → bench/results/seal.json.

The embedded stack and the seal service as its own process, over mTLS, on this machine.
Per suite, each for BENCH_SEAL_SECONDS (default 10) with 16 concurrent callers:
SealDocument of 1 KB documents (``seal_per_s``) and of 1 MB documents
(``seal_1mb_per_s``), VerifySealedDocument of 1 KB documents, each signature the
SealDocument phase made verified once (``verify_seal_per_s``: a first verification) and
64 distinct documents and their signatures in turn, again and again
(``verify_seal_repeat_per_s``: what the service kept, ``[seal] kept_verifications``) and,
for the suites PDFs support, SealPdf of a one-page PDF (``pdf_seal_per_s``). Then the
time VerifyPdf takes for a PDF carrying five seals (``pdf_verify_five_seals_ms``; the EU
DSS reference takes over 20 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import io
import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from bench import proccpu
from bench.issuer_bench import (
    _profile,
    _stop_profile,
    identity_channel,
    start_stack_and_service,
    wait_serving,
    write_results,
)
from bench.reference import start_echo, stop, versus
from certseal.errors import CertsealError
from certseal.identifiers import make_uscc
from certseal.rpc import Caller
from certseal.v1 import seal_pb2 as pb
from certseal.v1 import seal_pb2_grpc
from services.config import Config
from services.devstack import DevStack
from services.issuer.app import IssuerApp

SECONDS = float(os.environ.get("BENCH_SEAL_SECONDS", "10"))
#: BENCH_SEAL_QUICK=1: only the 1 KB figures (SealDocument, VerifySealedDocument) and
#: the echo reference, for profiling rounds; ``make bench`` measures everything
QUICK = os.environ.get("BENCH_SEAL_QUICK") == "1"
#: BENCH_SEAL_SUITES=sm2,es256: only these suites (default all three)
SUITES = tuple(
    s for s in os.environ.get("BENCH_SEAL_SUITES", "sm2,es256,ed25519").split(",") if s
)
CONCURRENCY = 16
#: distinct sealed 1 KB documents the repeat figure verifies in turn (the service keeps
#: what their bytes showed, [seal] kept_verifications: after the first round each call
#: is a kept one). ``verify_seal_per_s`` verifies each signature the SealDocument
#: phase made once: a first verification, never a kept one.
VERIFY_DOCUMENTS = 64
#: first verifications a second the signatures made for ``verify_seal_per_s`` allow
#: for (1.5 times the aim): the phase verifies each once, and may run faster than
#: the SealDocument phase that made most of them
FRESH_PER_S = 1_500
PDF_SUITES = ("es256", "ed25519")
OWNER = make_uscc("91440300MA5FBENCH")


def blank_pdf() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (595, 842), "white").save(out, "PDF")
    return out.getvalue()


#: process trees whose CPU per call :func:`rate` records (set by :func:`main`)
WATCH: dict[str, list[int]] = {}
#: CPU microseconds per call of each process, by figure name (filled by :func:`rate`)
CPU_US: dict[str, dict[str, float]] = {}


async def rate(
    call: Callable[[], Awaitable[Any]], seconds: float = SECONDS, name: str = ""
) -> float:
    """Calls per second with CONCURRENCY callers for ``seconds``; with ``name``, the
    CPU per call of the watched processes and of this one (the load generator) goes
    to ``CPU_US[name]``."""
    done = 0
    deadline = time.monotonic() + seconds

    async def caller() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await call()
            done += 1

    before, own = proccpu.sample(WATCH), time.process_time()
    started = time.monotonic()
    await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
    elapsed = time.monotonic() - started
    if name:
        after = proccpu.sample(WATCH)
        CPU_US[name] = {
            **proccpu.per_op_us(before, after, done),
            "loadgen": round((time.process_time() - own) * 1e6 / max(1, done), 1),
        }
    return round(done / elapsed, 1)


async def _top_up(
    make: Callable[[], Awaitable[None]], made: list[bytes], wanted: int
) -> None:
    """Call ``make`` (which adds one signature to ``made``) with CONCURRENCY callers
    until ``made`` holds ``wanted``; not measured."""

    async def caller() -> None:
        while len(made) < wanted:
            await make()

    await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))


async def measure(stack: DevStack, port: int) -> dict[str, Any]:
    owner = OWNER
    results: dict[str, Any] = {}
    async with identity_channel(stack, port, f"dept:{owner}") as channel:
        await wait_serving(channel)
        stub = seal_pb2_grpc.SealStub(channel)
        small, large = os.urandom(1024), os.urandom(1024 * 1024)
        pdf = blank_pdf()
        for suite in SUITES:
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

            # every signature SealDocument returns, each verified once below
            sealed: list[bytes] = []

            async def seal_small(
                seal_id: str = seal.seal_id, into: list[bytes] = sealed
            ) -> None:
                into.append((await sealing(small, seal_id)()).signature)

            profiler = _profile(WATCH["service"][0], f"seal-{suite}", SECONDS)
            figures["seal_per_s"] = await rate(seal_small, name=f"seal_{suite}")
            _stop_profile(profiler)
            if not QUICK:
                figures["seal_1mb_per_s"] = await rate(sealing(large))

            # a first verification: each signature the seal phase made, once (the
            # service keeps what a signature's bytes showed, [seal]
            # kept_verifications, so a signature verified again is a repeat), and
            # more made now if the phase may verify faster than it sealed
            await _top_up(seal_small, sealed, int(SECONDS * FRESH_PER_S))
            fresh = iter(sealed)

            def verify_fresh(
                fresh: Iterator[bytes] = fresh, made: int = len(sealed)
            ) -> Awaitable[Any]:
                signature = next(fresh, None)
                if signature is None:  # the figure would include repeats: say so
                    raise RuntimeError(
                        f"more verifications than the {made} signatures sealed; "
                        "each is verified once"
                    )
                return stub.VerifySealedDocument(
                    pb.VerifySealedDocumentRequest(signature=signature, document=small)
                )

            profiler = _profile(WATCH["service"][0], f"verify-seal-{suite}", SECONDS)
            figures["verify_seal_per_s"] = await rate(
                verify_fresh, name=f"verify_seal_{suite}"
            )
            _stop_profile(profiler)
            # a repeat: distinct documents and signatures taken in turn, each
            # verified again and again (what the service kept)
            documents = [os.urandom(1024) for _ in range(VERIFY_DOCUMENTS)]
            requests = [
                pb.VerifySealedDocumentRequest(
                    signature=(await sealing(document)()).signature, document=document
                )
                for document in documents
            ]
            turn = itertools.count()
            figures["verify_seal_repeat_per_s"] = await rate(
                lambda requests=requests, turn=turn: stub.VerifySealedDocument(
                    requests[next(turn) % VERIFY_DOCUMENTS]
                ),
                name=f"verify_seal_repeat_{suite}",
            )
            if suite in PDF_SUITES and not QUICK:
                figures["pdf_seal_per_s"] = await rate(
                    lambda seal_id=seal.seal_id: stub.SealPdf(
                        pb.SealPdfRequest(seal_id=seal_id, pdf=pdf)
                    )
                )
            results[suite] = figures
            print(f"  {suite}: {figures}", flush=True)
        if QUICK:
            return results
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


async def measure_echo(stack: DevStack, port: int) -> dict[str, float]:
    """The echo reference answering the same 1 KB SealDocument and
    VerifySealedDocument requests from the same callers (calls per second)."""
    owner = OWNER
    async with identity_channel(stack, port, f"dept:{owner}") as channel:
        stub = seal_pb2_grpc.SealStub(channel)
        small = os.urandom(1024)
        seal = pb.SealDocumentRequest(
            seal_id="0" * 32, document=small, property_info="bench"
        )
        verify = pb.VerifySealedDocumentRequest(
            signature=os.urandom(700), document=small
        )
        return {
            "seal_per_s": await rate(lambda: stub.SealDocument(seal), name="echo_seal"),
            "verify_seal_per_s": await rate(
                lambda: stub.VerifySealedDocument(verify), name="echo_verify_seal"
            ),
        }


def with_ratios(results: dict[str, Any], echo: dict[str, float]) -> None:
    """Add ``*_vs_echo`` and ``*_cpu_us`` for the 1 KB figures of every suite."""
    results["echo_per_s"] = echo
    results["echo_cpu_us"] = {
        "seal": CPU_US["echo_seal"],
        "verify_seal": CPU_US["echo_verify_seal"],
    }
    for suite in SUITES:
        figures = results[suite]
        for figure in ("seal", "verify_seal", "verify_seal_repeat"):
            reference = "seal" if figure == "seal" else "verify_seal"
            figures[f"{figure}_vs_echo"] = versus(
                figures[f"{figure}_per_s"], echo[f"{reference}_per_s"]
            )
            figures[f"{figure}_cpu_us"] = CPU_US[f"{figure}_{suite}"]


async def onboard_owner(cfg: Config) -> None:
    """Onboard the bench's department with the seal_owner role (the issuer's
    directory, which the seal service reads), through an issuer that does not serve."""
    cfg = copy.deepcopy(cfg)
    cfg.issuer.metrics_listen = ""  # its default port is make run's
    issuer = IssuerApp(cfg, serve=False, background=False)
    await issuer.start()
    try:
        with contextlib.suppress(CertsealError):  # ALREADY_EXISTS on a second run
            await issuer.service.onboard_department(
                Caller("operator", "bench"),
                OWNER,
                "深圳市示例科技有限公司",
                ["seal_owner"],
            )
    finally:
        await issuer.stop()


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="certseal-sbench-"))

    def tweak(cfg: Config) -> None:
        if "BENCH_SEAL_KEPT_VERIFICATIONS" in os.environ:  # 0: every call verified
            kept = int(os.environ["BENCH_SEAL_KEPT_VERIFICATIONS"])
            cfg.seal.kept_verifications = kept

    stack, cfg, port, service = start_stack_and_service(home, "seal", tweak=tweak)
    echo, echo_port = start_echo(stack)
    try:
        asyncio.run(onboard_owner(cfg))
        pg, broker = proccpu.postgres_pid(stack.home / "pg"), stack.broker_pid
        WATCH.update(service=[echo.pid], postgres=[pg], broker=[broker])
        print(f"echo reference, {CONCURRENCY} callers, {SECONDS:.0f} s per figure ...")
        echo_rates = asyncio.run(measure_echo(stack, echo_port))
        print(f"  {echo_rates}", flush=True)
        WATCH.update(service=[service.pid])
        print(f"seal service, {CONCURRENCY} callers, {SECONDS:.0f} s per figure ...")
        results = asyncio.run(measure(stack, port))
        with_ratios(results, echo_rates)
    finally:
        stop(echo)
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
            "reference": "bench.echo: a trivial unary handler, same mTLS, uvloop + "
            "grpc.aio, same callers (this process, one channel), same run",
            "cpu_us": "CPU microseconds per call of each process (user+system from "
            "/proc): service, postgres, broker, loadgen (this process)",
            "processes": "seal service + load generator + PostgreSQL + Tansu, one machine",
        },
    )


if __name__ == "__main__":
    main()
