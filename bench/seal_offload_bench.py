"""Threads or processes for the seal service's CPU work: ``make bench`` →
bench/results/seal_offload.json.

For each kind of job the seal service runs off its event loop (pyHanko sealing and
verifying a PDF, an SM2 SES_Signature verified with its certificate path, an ECDSA one):

- ``serial_ms``: one job alone;
- ``parallel_speedup``: jobs done per second by two threads over one thread. About 1:
  the job holds the GIL (pure Python); about 2 (on two free CPUs): it releases it;
- ``loop_lag_max_ms`` / ``loop_lag_p99_ms``: how late a 1 ms timer on the event loop
  fires while two threads run such jobs back to back (what a health check waits);
- ``loop_lag_idle`` and ``loop_lag_beside_processes``: the same timer with nothing
  else running, and beside two processes busy with pure-Python work (what worker
  processes cost the loop).

Run alone: ``.venv/bin/python -m bench.seal_offload_bench``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.issuer_bench import write_results
from certseal.crypto import SoftwareSigner, Suite, generate_key
from certseal.devpki import DevCA
from services.seal.certificates import SealCa, issue_certificate
from services.seal.domain import verify_sealed_document
from services.seal.pdf import Placement, seal_pdf
from services.seal.pdf_verify import read_pdf_seals
from services.seal.picture import round_seal
from services.seal.ses import make_seal, seal_info, sign_document
from services.seal.trust import TrustStore
from tests.seal.field_pdfs import page_pdf

ROUNDS_S = 3.0


def _jobs(home: Path) -> dict[str, Callable[[], Any]]:
    ca = DevCA(home, name="probe seal CA")
    seal_ca = SealCa.from_files(str(ca.ca_file), str(ca.folder / "ca.key"))
    now = dt.datetime.now(dt.UTC)

    def key(suite: Suite, name: str) -> tuple[SoftwareSigner, bytes]:
        k = generate_key(suite)
        cert = issue_certificate(
            ca_key=seal_ca.key,
            ca_cert=seal_ca.cert,
            common_name=name,
            public_key_der=k.public_key_der,
            not_before=now - dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=1),
        )
        return SoftwareSigner(suite, k.private_bytes, k.public_key_der), cert

    signer, cert = key(Suite.ES256, "seal:probe")
    picture = round_seal("探针", "official")

    async def seal_one() -> bytes:
        return await seal_pdf(
            page_pdf(),
            signer=signer,
            cert=cert,
            ca=seal_ca.cert,
            picture_png=picture.data,
            placement=Placement(),
            new_field_name="Seal-probe",
        )

    sealed = asyncio.run(seal_one())

    def ses(suite: Suite) -> bytes:
        maker, maker_cert = key(suite, f"service:probe-maker-{suite.value}")
        seal_signer, seal_cert = key(suite, f"seal:probe-{suite.value}")
        info = seal_info(
            es_id="probe",
            seal_type="official",
            name="探针",
            signer_certs=[seal_cert],
            created=now,
            valid_start=now - dt.timedelta(days=1),
            valid_end=now + dt.timedelta(days=1),
            picture=picture,
            vendor_id="certseal",
        )

        async def make() -> bytes:
            seal = await make_seal(info, maker=maker, maker_cert=maker_cert)
            return await sign_document(
                seal,
                data_hash=bytes(32),
                signed_at=now,
                property_info="probe",
                signer=seal_signer,
                signer_cert=seal_cert,
            )

        return asyncio.run(make())

    trust = TrustStore().with_own(seal_ca.cert)
    sm2, es256 = ses(Suite.SM2), ses(Suite.ES256)
    return {
        "seal_pdf": lambda: asyncio.run(seal_one()),
        "verify_pdf": lambda: asyncio.run(read_pdf_seals(sealed, ca=seal_ca.cert)),
        "verify_ses_sm2": lambda: verify_sealed_document(
            sm2, document_hash=bytes(32), trust=trust, seal_status=None, now=now
        ),
        "verify_ses_es256": lambda: verify_sealed_document(
            es256,
            document_hash=bytes(32),
            trust=trust,
            seal_status=None,
            now=now,
        ),
    }


def _rate(job: Callable[[], Any], threads: int) -> float:
    done = [0] * threads
    stop = time.monotonic() + ROUNDS_S

    def work(i: int) -> None:
        while time.monotonic() < stop:
            job()
            done[i] += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done) / ROUNDS_S


async def _loop_lag(job: Callable[[], Any], threads: int = 2) -> list[float]:
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            job()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    lags = []
    end = time.monotonic() + ROUNDS_S
    while time.monotonic() < end:
        t0 = time.perf_counter()
        await asyncio.sleep(0.001)
        lags.append((time.perf_counter() - t0 - 0.001) * 1000)
    stop.set()
    for w in workers:
        w.join()
    return lags


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sum(range(10_000))


async def _lag_beside_processes() -> list[float]:
    """The loop's lag while two processes are busy (what worker processes cost it)."""
    workers = [
        multiprocessing.Process(target=_spin, args=(ROUNDS_S,)) for _ in range(2)
    ]
    for w in workers:
        w.start()
    lags = await _loop_lag(lambda: None, threads=0)
    for w in workers:
        w.join()
    return lags


def _figures(lags: list[float]) -> dict[str, float]:
    """The worst lag and the p99, ms; the p99 interpolated within the samples
    ("inclusive"): of a few samples, the default method extrapolated above the max."""
    return {
        "max_ms": round(max(lags), 2),
        "p99_ms": round(statistics.quantiles(lags, n=100, method="inclusive")[98], 2),
    }


def main() -> None:
    results: dict[str, Any] = {
        "loop_lag_idle": _figures(asyncio.run(_loop_lag(lambda: None, threads=0))),
        "loop_lag_beside_processes": _figures(asyncio.run(_lag_beside_processes())),
    }
    with tempfile.TemporaryDirectory(prefix="certseal-offload-") as home:
        for name, job in _jobs(Path(home)).items():
            job()  # warm up
            t0 = time.perf_counter()
            job()
            serial_ms = (time.perf_counter() - t0) * 1000
            one, two = _rate(job, 1), _rate(job, 2)
            lag = _figures(asyncio.run(_loop_lag(job)))
            results[name] = {
                "serial_ms": round(serial_ms, 2),
                "parallel_speedup": round(two / one, 2) if one else None,
                "loop_lag_max_ms": lag["max_ms"],
                "loop_lag_p99_ms": lag["p99_ms"],
            }
    write_results(
        "seal_offload",
        results,
        {"threads": 2, "seconds_per_figure": ROUNDS_S, "timer_ms": 1},
    )


if __name__ == "__main__":
    main()
