"""Memory benchmark: ``make bench`` → bench/results/memory.json.

The worst case of a single request, per service, beside the service's Kubernetes memory
limit (deploy/k8s): the embedded stack, the issuer, a verifier, the seal service and the
console each as their own processes on this machine. Before each request the peak RSS
of every process of the service (its worker processes too) is reset (``clear_refs``
5); after it, the service's figure is the sum of their peaks (VmHWM): an upper bound of
what the pod held at once. Requests, one at a time:

- verifier: VerifyImage of the largest images allowed (4096 × 4096 RGBA PNG, and
  JPEG; a 6144 × 4096 HEIC as a phone writes it, and one of the costliest format,
  10-bit 4:4:4 with alpha, at its limit), a pixel bomb, and VerifyCodes of 500 codes;
- seal: RegisterSeal with the largest picture allowed and SealPdf with that seal;
  SealPdf, VerifyPdf and SealDocument of documents of the largest size allowed (60 MiB);
  SealPdf of a 60 MiB PDF from the field (encrypted, its page rotated and cropped);
  SealOfd and VerifyOfd of a 60 MiB OFD (es256 and sm2 seals); a PDF whose page content
  inflates to the largest stream allowed (64 MiB); three 60 MiB SealPdf at once (the
  admission bound, ``[seal] max_bytes_in_flight``, 96 MiB, admits one and refuses the
  others);
- console: a sign-in (Argon2), and the largest upload allowed (its body limit, the
  seal service's document limit: 60 MiB) as an image and as a PDF.

``worst_request_peak_rss_mib`` per service, with ``limit_mib`` beside it and the name
of the request that reached it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pillow_heif
import yaml
from PIL import Image, ImageDraw

from bench.console_bench import CLERK, PASSWORD, PURPOSE, start_console
from bench.flood import pixel_bomb
from bench.issuer_bench import (
    identity_channel,
    setup,
    start_stack_and_issuer,
    wait_serving,
    write_results,
)
from bench.verifier_bench import Verifier, real_licences
from certseal.bounds import MAX_HEIC_PIXELS, MAX_IMAGE_PIXELS
from certseal.config import dump_config
from certseal.heic import heic_pixel_limit
from certseal.identifiers import make_uscc
from certseal.v1 import issuer_pb2 as ipb
from certseal.v1 import (
    issuer_pb2_grpc,
    licence_pb2,
    seal_pb2_grpc,
    verifier_pb2,
    verifier_pb2_grpc,
)
from certseal.v1 import seal_pb2 as pb
from services.config import Config
from services.console.access import COOKIE
from services.console.config import body_limit
from services.devstack import DevStack, free_port
from services.seal.pdf import MAX_PDF_STREAM_BYTES
from services.seal.picture import MAX_PICTURE_BYTES, MAX_PICTURE_PIXELS
from tests.seal.field_pdfs import USER_PASSWORD, Page, Tree, encrypt, page_pdf
from tests.seal.ofd_samples import make_ofd, unzip, zip_files

ROOT = Path(__file__).resolve().parents[1]
K8S = {
    "verifier": ROOT / "deploy/k8s/verifier-group/verifier.yaml",
    "seal": ROOT / "deploy/k8s/base/seal.yaml",
    "console": ROOT / "deploy/k8s/base/console.yaml",
}
MIB = 1024 * 1024


def memory_limit_mib(manifest: Path) -> float:
    """The first container's memory limit in a Deployment manifest, in MiB."""
    for document in yaml.safe_load_all(manifest.read_text()):
        if document and document.get("kind") in ("Deployment", "StatefulSet"):
            container = document["spec"]["template"]["spec"]["containers"][0]
            limit = str(container["resources"]["limits"]["memory"])
            units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
            for unit, factor in units.items():
                if limit.endswith(unit):
                    return float(limit[: -len(unit)]) * factor
            return float(limit) / MIB
    raise ValueError(f"no Deployment with a memory limit in {manifest}")


def reset_peaks(pids: list[int]) -> None:
    """Set each process's peak RSS to its RSS now."""
    for p in pids:
        with contextlib.suppress(OSError):
            Path(f"/proc/{p}/clear_refs").write_text("5")


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                queue += [int(c) for c in (task / "children").read_text().split()]
    return found


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mib(pid: int) -> float:
    """The resident memory of ``pid``'s process tree now."""
    return sum(_status_kib(p, "VmRSS") for p in process_tree(pid)) / 1024


async def peak_mib(pid: int, request: Callable[[], Awaitable[Any]]) -> float:
    """The sum of the peak RSS of ``pid``'s processes over ``request``."""
    before = process_tree(pid)
    reset_peaks(before)
    await request()
    after = set(before) | set(process_tree(pid))
    return round(sum(_status_kib(p, "VmHWM") for p in after) / 1024, 1)


# -- inputs -------------------------------------------------------------------------


def largest_rgba_png() -> bytes:
    side = int(MAX_IMAGE_PIXELS**0.5)
    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for n in range(0, side, 64):
        draw.line((0, n, side, side - n), fill=(0, 0, 0, 255), width=3)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def largest_jpeg() -> bytes:
    side = int(MAX_IMAGE_PIXELS**0.5)
    image = Image.linear_gradient("L").resize((side, side)).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=40, progressive=True)
    return out.getvalue()


def largest_heics() -> list[tuple[str, bytes]]:
    """The largest HEICs allowed: a phone's (8-bit 4:2:0, 512 × 512 tiles) at
    MAX_HEIC_PIXELS, and the costliest format to decode (10-bit 4:4:4 with alpha) at
    its own limit, 4096 pixels wide. About 10 s to encode."""
    kept = pillow_heif.options.GRID_TILE_SIZE
    pillow_heif.options.GRID_TILE_SIZE = 512
    try:
        phone = Image.linear_gradient("L").resize((6144, MAX_HEIC_PIXELS // 6144))
        out = io.BytesIO()
        phone.convert("RGB").save(out, format="HEIF", quality=40)
        limit, words = heic_pixel_limit({"bit_depth": 10, "chroma": 444}, "RGBA")
        size = (4096, limit // 4096)
        deep = Image.linear_gradient("L").resize(size).convert("RGBA").tobytes()
        wide = bytearray(len(deep) * 2)
        wide[1::2] = deep  # 16-bit little-endian samples, written as 10 bits
        costly = io.BytesIO()
        pillow_heif.from_bytes("RGBA;16", size, bytes(wide)).save(
            costly, quality=40, chroma=444
        )
    finally:
        pillow_heif.options.GRID_TILE_SIZE = kept
    return [
        (f"VerifyImage 6144x{MAX_HEIC_PIXELS // 6144} HEIC", out.getvalue()),
        (f"VerifyImage {size[0]}x{size[1]} {words} HEIC", costly.getvalue()),
    ]


def largest_picture() -> bytes:
    """A seal picture of the most pixels allowed, within the byte bound."""
    side = int(MAX_PICTURE_PIXELS**0.5)
    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse(
        (8, 8, side - 8, side - 8), outline=(218, 37, 29, 255), width=60
    )
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    data = out.getvalue()
    assert len(data) <= MAX_PICTURE_BYTES, len(data)
    return data


def pdf_with(objects: list[bytes]) -> bytes:
    """A PDF of one page; ``objects`` from number 4 on (the page's contents is 4)."""
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        *objects,
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(bodies, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(bodies) + 1,
        xref,
    )
    return bytes(out)


def stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def largest_pdf(total: int) -> bytes:
    """A PDF of about ``total`` bytes: a page and a large incompressible stream."""
    content = stream(b"0 0 m 100 100 l S")
    return pdf_with([content, stream(os.urandom(total - 4096))])


def inflating_pdf() -> bytes:
    """A PDF whose page contents inflate to :data:`MAX_PDF_STREAM_BYTES`."""
    body = zlib.compress(b" " * MAX_PDF_STREAM_BYTES, 9)
    return pdf_with([stream(body, b"/Filter /FlateDecode ")])


# -- the services -------------------------------------------------------------------


def field_pdf(total: int) -> bytes:
    """A PDF from the field of about ``total`` bytes: its page rotated 90 degrees and
    its CropBox off the origin, about ``total`` bytes of page content, encrypted
    (AES-256, opened with :data:`USER_PASSWORD`)."""
    line = b"0.5 g 10 10 20 20 re f\n"
    content = line * ((total - 8192) // len(line))
    page = Page(crop_box=(50, 50, 545, 792), rotate=90)
    return encrypt(page_pdf(Tree(pages=[page], content=content)), "aes-256")


def largest_ofd(total: int) -> bytes:
    """An OFD package of about ``total`` bytes: a two-page document and an
    incompressible resource file, stored."""
    files = unzip(make_ofd())
    files["Doc_0/Res/scan.bin"] = os.urandom(total - 64 * 1024)
    return zip_files(files, zipfile.ZIP_STORED)


def start_seal(home: Path, cfg: Config) -> tuple[int, subprocess.Popen[bytes]]:
    cfg.seal.listen = f"127.0.0.1:{free_port()}"
    cfg.seal.metrics_listen = ""  # its default port is make run's
    config_file = home / "seal.toml"
    config_file.write_text(dump_config(cfg))
    process = subprocess.Popen(
        [sys.executable, "-m", "services.seal", "--config", str(config_file)]
    )
    return int(cfg.seal.listen.rpartition(":")[2]), process


async def seal_owner(stack: DevStack, issuer_port: int) -> str:
    async with identity_channel(stack, issuer_port, "operator:admin") as channel:
        admin = issuer_pb2_grpc.IssuerAdminStub(channel)
        code = make_uscc("91440300MA5FMEMB1")
        await admin.OnboardDepartment(
            ipb.OnboardDepartmentRequest(
                code=code,
                name="内存测量",
                roles=[licence_pb2.DEPARTMENT_ROLE_SEAL_OWNER],
            )
        )
        return code


async def measure_verifier(verifier: Verifier, codes: list[str]) -> dict[str, float]:
    pid = verifier.process.pid  # type: ignore[union-attr]
    async with verifier.channel() as channel:
        await wait_serving(channel, verifier.process)
        stub = verifier_pb2_grpc.VerifierStub(channel)

        def image(data: bytes) -> Callable[[], Awaitable[Any]]:
            async def call() -> None:
                # no QR code in it: what is measured is the reading
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await stub.VerifyImage(
                        verifier_pb2.VerifyImageRequest(image=data, purpose="x")
                    )

            return call

        figures = {"idle": round(rss_mib(pid), 1)}
        await image(largest_rgba_png())()  # start the image workers' imports
        for name, data in (
            ("VerifyImage 4096x4096 RGBA PNG", largest_rgba_png()),
            ("VerifyImage 4096x4096 progressive JPEG", largest_jpeg()),
            ("VerifyImage 13000x13000 pixel bomb", pixel_bomb()),
            *largest_heics(),
        ):
            figures[name] = await peak_mib(pid, image(data))
        batch = verifier_pb2.VerifyCodesRequest(codes=codes[:500], purpose="x")
        figures["VerifyCodes 500 codes"] = await peak_mib(
            pid, lambda: stub.VerifyCodes(batch)
        )
    return figures


async def measure_ofd(
    stub: seal_pb2_grpc.SealStub, pid: int, suite: str, ofd: bytes
) -> tuple[float, float]:
    """The peaks of SealOfd of ``ofd`` with a new ``suite`` seal and of VerifyOfd of
    the sealed package."""
    reply = await stub.RegisterSeal(pb.RegisterSealRequest(name="示例", suite=suite))
    sealed: dict[str, bytes] = {}

    async def seal() -> None:
        request = pb.SealOfdRequest(seal_id=reply.seal.seal_id, ofd=ofd, page=0)
        sealed["ofd"] = (await stub.SealOfd(request)).ofd

    sealing = await peak_mib(pid, seal)
    verifying = await peak_mib(
        pid, lambda: stub.VerifyOfd(pb.VerifyOfdRequest(ofd=sealed["ofd"]))
    )
    return sealing, verifying


async def measure_seal(
    stack: DevStack, port: int, owner: str, process: subprocess.Popen[bytes]
) -> dict[str, float]:
    figures: dict[str, float] = {}
    pid = process.pid
    async with identity_channel(stack, port, f"dept:{owner}") as channel:
        await wait_serving(channel, process)
        stub = seal_pb2_grpc.SealStub(channel)
        figures["idle"] = round(rss_mib(pid), 1)
        picture = largest_picture()
        registered: dict[str, str] = {}

        async def register() -> None:
            reply = await stub.RegisterSeal(
                pb.RegisterSealRequest(name="示例", suite="es256", picture=picture)
            )
            registered["id"] = reply.seal.seal_id

        figures["RegisterSeal 2048x2048 picture"] = await peak_mib(pid, register)
        small = pdf_with([stream(b"0 0 m 100 100 l S")])
        figures["SealPdf with the 2048x2048 picture"] = await peak_mib(
            pid,
            lambda: stub.SealPdf(
                pb.SealPdfRequest(seal_id=registered["id"], pdf=small)
            ),
        )
        limit = 60 * MIB
        big = largest_pdf(limit - 64 * 1024)
        sealed: dict[str, bytes] = {}

        async def seal_big() -> None:
            reply = await stub.SealPdf(
                pb.SealPdfRequest(seal_id=registered["id"], pdf=big)
            )
            sealed["pdf"] = reply.pdf

        figures["SealPdf 60 MiB"] = await peak_mib(pid, seal_big)
        figures["VerifyPdf 60 MiB sealed"] = await peak_mib(
            pid, lambda: stub.VerifyPdf(pb.VerifyPdfRequest(pdf=sealed["pdf"]))
        )
        inflating = inflating_pdf()

        async def seal_inflating() -> None:
            reply = await stub.SealPdf(
                pb.SealPdfRequest(seal_id=registered["id"], pdf=inflating)
            )
            await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=reply.pdf))

        figures["SealPdf+VerifyPdf 64 MiB inflating contents"] = await peak_mib(
            pid, seal_inflating
        )
        field = field_pdf(limit - 256 * 1024)

        async def seal_field() -> None:
            await stub.SealPdf(
                pb.SealPdfRequest(
                    seal_id=registered["id"], pdf=field, password=USER_PASSWORD
                )
            )

        figures["SealPdf 60 MiB field PDF (encrypted, /Rotate 90)"] = await peak_mib(
            pid, seal_field
        )
        ofd = largest_ofd(limit - 64 * 1024)
        for suite in ("es256", "sm2"):
            sealing, verifying = await measure_ofd(stub, pid, suite, ofd)
            figures[f"SealOfd 60 MiB {suite}"] = sealing
            figures[f"VerifyOfd 60 MiB {suite}"] = verifying
        refused: list[str] = []

        async def three_at_once() -> None:
            calls = [
                stub.SealPdf(pb.SealPdfRequest(seal_id=registered["id"], pdf=big))
                for _ in range(3)
            ]
            for outcome in await asyncio.gather(*calls, return_exceptions=True):
                if isinstance(outcome, grpc.aio.AioRpcError):
                    refused.append(outcome.code().name)

        figures["3 concurrent SealPdf 60 MiB (admission)"] = await peak_mib(
            pid, three_at_once
        )
        print(f"  3 concurrent SealPdf 60 MiB: refused {refused}", flush=True)
        document = os.urandom(limit)
        figures["SealDocument 60 MiB"] = await peak_mib(
            pid,
            lambda: stub.SealDocument(
                pb.SealDocumentRequest(
                    seal_id=registered["id"], document=document, property_info="x"
                )
            ),
        )
    return figures


async def measure_console(
    url: str, ca_file: str, pid: int, upload: int
) -> dict[str, float]:
    figures = {"idle": round(rss_mib(pid), 1)}
    context = ssl.create_default_context(cafile=ca_file)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=context),
        cookie_jar=aiohttp.DummyCookieJar(),
    ) as session:
        for _ in range(600):  # the console is up when it answers
            try:
                async with session.get(url + "/healthz") as reply:
                    if reply.status == 200:
                        break
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
        figures["idle"] = round(rss_mib(pid), 1)
        cookie: dict[str, str] = {}

        async def login() -> None:
            async with session.post(
                url + "/api/login", json={"name": CLERK, "password": PASSWORD}
            ) as reply:
                assert reply.status == 200, await reply.text()
                cookie["Cookie"] = f"{COOKIE}={reply.cookies[COOKIE].value}"

        figures["login (Argon2)"] = await peak_mib(pid, login)
        mib = round(upload / MIB)
        upload -= 4096

        def post(path: str, kind: str, body: bytes) -> Callable[[], Awaitable[Any]]:
            async def call() -> None:
                async with session.post(
                    url + path, data=body, headers={**cookie, "Content-Type": kind}
                ) as reply:
                    await reply.read()  # a verdict or a clear refusal

            return call

        image = b"\x89PNG\r\n\x1a\n" + os.urandom(upload - 8)
        figures[f"verify-image {mib} MiB"] = await peak_mib(
            pid, post(f"/api/verify-image?purpose={PURPOSE}", "image/png", image)
        )
        figures[f"verify-pdf {mib} MiB"] = await peak_mib(
            pid, post("/api/verify-pdf", "application/pdf", largest_pdf(upload))
        )
    return figures


def summary(figures: dict[str, float], manifest: Path) -> dict[str, Any]:
    requests = {k: v for k, v in figures.items() if k != "idle"}
    worst = max(requests, key=requests.__getitem__)
    limit = memory_limit_mib(manifest)
    return {
        "worst_request_peak_rss_mib": requests[worst],
        "limit_mib": limit,
        "within_limit": requests[worst] < limit,
        "worst_request": worst,
        "idle_rss_mib": figures["idle"],
        "requests_peak_rss_mib": requests,
    }


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="certseal-mbench-"))

    def tweak(cfg: Config) -> None:
        cfg.verifier.data_dir = str(home / "verifier")

    stack, cfg, issuer_port, issuer = start_stack_and_issuer(
        home, workers=0, tweak=tweak
    )
    verifier = Verifier(stack, home / "bench.toml", "memory-bench")
    seal = console = None
    results: dict[str, Any] = {}
    try:
        dept, type_code = asyncio.run(setup(stack, issuer_port))["es256"]
        _identifiers, codes = asyncio.run(
            real_licences(stack, issuer_port, dept, type_code)
        )
        owner = asyncio.run(seal_owner(stack, issuer_port))
        verifier.start()
        print("verifier: the largest images and batch ...", flush=True)
        results["verifier"] = summary(
            asyncio.run(measure_verifier(verifier, codes)), K8S["verifier"]
        )
        print(f"  {results['verifier']}", flush=True)
        seal_port, seal = start_seal(home, cfg)
        print("seal: the largest picture, PDFs and documents ...", flush=True)
        results["seal"] = summary(
            asyncio.run(measure_seal(stack, seal_port, owner, seal)), K8S["seal"]
        )
        print(f"  {results['seal']}", flush=True)
        cfg.console.seal_target = cfg.seal.listen
        url, console = start_console(home, cfg, verifier.port)
        print("console: a sign-in and the largest uploads ...", flush=True)
        results["console"] = summary(
            asyncio.run(
                measure_console(url, cfg.tls.ca_file, console.pid, body_limit(cfg))
            ),
            K8S["console"],
        )
    finally:
        for process in (console, seal, issuer):
            if process is not None:
                process.terminate()
                process.wait(30)
        verifier.stop()
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
    write_results(
        "memory",
        results,
        {
            "measure": "sum of VmHWM over the service's process tree, reset before "
            "each request (clear_refs 5)",
            "limits": {name: str(path.relative_to(ROOT)) for name, path in K8S.items()},
            "processes": "issuer + verifier + seal + console + PostgreSQL + Tansu, "
            "one machine",
        },
    )


if __name__ == "__main__":
    main()
