"""Counter console benchmark: ``make bench`` → bench/results/console.json.

The embedded stack, the issuer, one verifier group and the console, each its own
process, on this machine. 500 real licences; a clerk account (made with ``certseal
console account add``, as an operator does) at the platform's own department, signed
in over HTTPS (its session cookie) and in the browser; then:

- ``verifier_one_client_p50/p99_ms`` and ``console_verify_one_client_p50/p99_ms``: one
  caller's VerifyCode straight to the verifier, and POST /api/verify through the console;
- ``console_verify_per_s`` and ``console_verify_p50/p99_ms``: POST /api/verify over
  HTTPS from 16 concurrent clients for BENCH_CONSOLE_SECONDS (default 10): the console's
  own cost on top of the verifier's VerifyCode;
- ``scan_to_verdict_p50/p99_ms``: in Debian's headless Chromium, from the scanner's
  Enter to the verdict in the page (the DOM updated), 300 scans one after another, as a
  clerk's counter does them.
- ``photo_12mp_to_verdict_ms`` (median) and ``photo_12mp_to_verdict_max_ms``: in the
  same page, from choosing a phone photo in the upload field to the verdict in the page,
  PHOTOS uploads of 12-megapixel JPEGs (4032 × 3024, 3-5 MB, the QR code in a noisy
  photo-like scene, as tests/kernel/test_photos.py makes them): the upload, the
  verifier's decoding (scaled down to 2048 pixels first) and the verification.
- ``photo_heic_12mp_to_verdict_ms`` (median of HEIC_PHOTOS): the same for an iPhone's
  HEIC photo of 12 megapixels (decoded by libheif at full size, then scaled down).
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import async_playwright

from bench.issuer_bench import (
    identity_channel,
    setup,
    start_stack_and_issuer,
    wait_serving,
    write_results,
)
from bench.loadgen import request as issue_request
from bench.verifier_bench import Verifier, percentile
from certseal.config import dump_config
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import issuer_pb2_grpc, verifier_pb2, verifier_pb2_grpc
from services.config import Config
from services.console.access import COOKIE
from services.devstack import DevStack, free_port
from tests.kernel.test_photos import phone_photo

SECONDS = float(os.environ.get("BENCH_CONSOLE_SECONDS", "10"))
CONCURRENCY = 16
SCANS = 300
PHOTOS = 10
HEIC_PHOTOS = 3
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PURPOSE = "窗口办事"
VALID = verifier_pb2.VERDICT_VALID
CLERK = "bench-clerk"
PASSWORD = "console-bench-password"


async def licence_codes(stack: DevStack, port: int, count: int) -> list[str]:
    """Codes of ``count`` freshly issued es256 licences."""
    departments = await setup(stack, port)
    code, type_code = departments["es256"]
    async with identity_channel(stack, port, f"dept:{code}") as channel:
        stub = issuer_pb2_grpc.IssuerStub(channel)
        reply = await stub.IssueLicences(
            pb.IssueLicencesRequest(
                items=[issue_request(type_code) for _ in range(count)]
            )
        )
        return [
            (
                await stub.GetLicenceCode(
                    pb.GetLicenceCodeRequest(identifier=r.licence.identifier)
                )
            ).text
            for r in reply.results
        ]


async def direct_latency(verifier: Verifier, codes: list[str]) -> dict[str, float]:
    """Sequential VerifyCode straight to the verifier, once its index has them all."""
    async with verifier.channel() as channel:
        await wait_serving(channel)
        stub = verifier_pb2_grpc.VerifierStub(channel)
        request = verifier_pb2.VerifyCodeRequest(code=codes[-1], purpose=PURPOSE)
        while True:  # the index is still catching up: nothing to await
            if (await stub.VerifyCode(request)).result.verdict == VALID:
                break
            await asyncio.sleep(0.1)
        times = []
        for code in codes[:SCANS]:
            started = time.perf_counter()
            reply = await stub.VerifyCode(
                verifier_pb2.VerifyCodeRequest(code=code, purpose=PURPOSE)
            )
            assert reply.result.verdict == VALID
            times.append(time.perf_counter() - started)
    return {
        "verifier_one_client_p50_ms": round(percentile(times, 0.5) * 1e3, 1),
        "verifier_one_client_p99_ms": round(percentile(times, 0.99) * 1e3, 1),
    }


def add_clerk(config_file: Path, department: str) -> None:
    """The bench's clerk account, added as an operator adds one: the CLI, the password
    on standard input."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "services.cli",
            "--config",
            str(config_file),
            "console",
            "account",
            "add",
            CLERK,
            "--department",
            department,
            "--role",
            "clerk",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        text=True,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def start_console(home: Path, cfg: Config, verifier_port: int) -> tuple[str, Any]:
    """The console as its own process, with the bench's clerk account."""
    cfg.console.listen = f"127.0.0.1:{free_port()}"
    cfg.console.verifier_targets = [f"127.0.0.1:{verifier_port}"]
    cfg.console.metrics_sources = []
    cfg.console.metrics_listen = ""  # its default port is make run's
    config_file = home / "console.toml"
    config_file.write_text(dump_config(cfg))
    # the clerk works at the platform's own service hall (the counter before accounts)
    add_clerk(config_file, cfg.platform.code)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.console",
            "--config",
            str(config_file),
            "--log-level",
            "WARNING",
        ]
    )
    return f"https://localhost:{cfg.console.listen.rpartition(':')[2]}", process


async def http_load(url: str, ca_file: str, codes: list[str]) -> dict[str, float]:
    context = ssl.create_default_context(cafile=ca_file)
    latencies: list[float] = []
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=context, limit=CONCURRENCY),
        cookie_jar=aiohttp.DummyCookieJar(),  # the session cookie is set by hand
    ) as session:
        for _ in range(100):  # the console is up when it answers
            try:
                async with session.get(url + "/healthz") as reply:
                    if reply.status == 200:
                        break
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
        async with session.post(
            url + "/api/login", json={"name": CLERK, "password": PASSWORD}
        ) as reply:
            assert reply.status == 200, await reply.text()
            session.headers["Cookie"] = f"{COOKIE}={reply.cookies[COOKIE].value}"
        async with session.get(url + "/api/session") as reply:
            assert reply.status == 200, await reply.text()
        one_client = []
        for code in codes[:SCANS]:
            started = time.perf_counter()
            async with session.post(
                url + "/api/verify", json={"code": code, "purpose": PURPOSE}
            ) as reply:
                assert (await reply.json())["verdict"] == "VALID"
            one_client.append(time.perf_counter() - started)
        deadline = time.monotonic() + SECONDS

        async def client(n: int) -> None:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                async with session.post(
                    url + "/api/verify",
                    json={"code": codes[n % len(codes)], "purpose": PURPOSE},
                ) as reply:
                    body = await reply.json()
                assert body["verdict"] == "VALID", body
                latencies.append(time.perf_counter() - started)
                n += CONCURRENCY

        started = time.monotonic()
        await asyncio.gather(*(client(n) for n in range(CONCURRENCY)))
        elapsed = time.monotonic() - started
    return {
        "console_verify_one_client_p50_ms": round(percentile(one_client, 0.5) * 1e3, 1),
        "console_verify_one_client_p99_ms": round(
            percentile(one_client, 0.99) * 1e3, 1
        ),
        "console_verify_per_s": round(len(latencies) / elapsed, 1),
        "console_verify_p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "console_verify_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
    }


# an attempt whose verdict never shows fails the bench instead of hanging it: at once
# when the page shows an error message instead (naming it), else after the timeout
VERDICT_TIMEOUT_MS = 60_000
_SHOWN_JS = """() => {
  window.shownWithin = (details, what) => new Promise((resolve, reject) => {
    const message = document.getElementById("message");
    const done = (error) => {
      observer.disconnect();
      clearTimeout(timer);
      error ? reject(new Error(`${what}: ${error}`)) : resolve();
    };
    const timer = setTimeout(
      () => done("no verdict within VERDICT_TIMEOUT_MS ms"), VERDICT_TIMEOUT_MS);
    const observer = new MutationObserver(() => {
      if (details.children.length) done(null);
      else if (!message.hidden && message.textContent) done(message.textContent);
    });
    observer.observe(details, {childList: true});
    observer.observe(message, {childList: true, attributes: true});
  });
}""".replace("VERDICT_TIMEOUT_MS", str(VERDICT_TIMEOUT_MS))


_SCANS_JS = """async (codes) => {
  const form = document.getElementById("scan-form");
  const scan = document.getElementById("scan");
  const details = document.getElementById("verdict-details");
  const times = [];
  for (const code of codes) {
    // a new attempt first empties the verdict: wait for the new one
    const shown = window.shownWithin(details, `scan ${times.length + 1}`);
    const started = performance.now();
    scan.value = code;
    form.requestSubmit();
    await shown;
    times.push(performance.now() - started);
  }
  return times;
}"""


_PHOTOS_JS = """async (photos) => {
  const input = document.getElementById("upload");
  const details = document.getElementById("verdict-details");
  const banner = document.getElementById("verdict-banner");
  const files = photos.map((b64, i) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return new File([bytes], `IMG_${i}.${TYPE === "image/heic" ? "HEIC" : "JPG"}`, {type: TYPE});
  });
  const times = [];
  for (let i = 0; i < PHOTOS; i += 1) {
    const shown = window.shownWithin(details, `photo ${i + 1}`);
    const chosen = new DataTransfer();
    chosen.items.add(files[i % files.length]);
    const started = performance.now();
    input.files = chosen.files;
    input.dispatchEvent(new Event("change"));
    await shown;
    times.push(performance.now() - started);
    if (banner.dataset.verdict !== "VALID") throw new Error(banner.dataset.verdict);
  }
  return times;
}"""


async def browser_scans(url: str, codes: list[str]) -> dict[str, float]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = await (await browser.new_context(ignore_https_errors=True)).new_page()
        await page.goto(url + "/")  # the console sends the browser to sign in first
        await page.wait_for_url(url + "/login?next=/")
        await page.wait_for_selector("body[data-ready=true]")
        await page.fill("#name", CLERK)
        await page.fill("#password", PASSWORD)
        await page.press("#password", "Enter")
        await page.wait_for_url(url + "/")
        await page.wait_for_selector("body[data-ready=true]")
        await page.select_option("#purpose", PURPOSE)
        await page.evaluate(_SHOWN_JS)
        times = await page.evaluate(_SCANS_JS, codes[:SCANS])
        photos = [phone_photo(code, "JPEG") for code in codes[-3:]]
        photo_times = await page.evaluate(
            _PHOTOS_JS.replace("PHOTOS", str(PHOTOS)).replace("TYPE", '"image/jpeg"'),
            [base64.b64encode(p).decode() for p in photos],
        )
        heic = phone_photo(codes[-4], "HEIF")
        heic_times = await page.evaluate(
            _PHOTOS_JS.replace("PHOTOS", str(HEIC_PHOTOS)).replace(
                "TYPE", '"image/heic"'
            ),
            [base64.b64encode(heic).decode()],
        )
        await browser.close()
    return {
        "scan_to_verdict_p50_ms": round(percentile(times, 0.5), 1),
        "scan_to_verdict_p99_ms": round(percentile(times, 0.99), 1),
        "photo_12mp_to_verdict_ms": round(percentile(photo_times, 0.5), 1),
        "photo_12mp_to_verdict_max_ms": round(max(photo_times), 1),
        "photo_12mp_bytes_mean": round(sum(map(len, photos)) / len(photos)),
        "photo_heic_12mp_to_verdict_ms": round(percentile(heic_times, 0.5), 1),
        "photo_heic_12mp_bytes": len(heic),
    }


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="certseal-cbench-"))

    def tweak(cfg: Config) -> None:
        cfg.verifier.data_dir = str(home / "verifier")

    stack, cfg, port, issuer = start_stack_and_issuer(home, workers=0, tweak=tweak)
    verifier = Verifier(stack, home / "bench.toml", "console-bench")
    console = None
    try:
        codes = asyncio.run(licence_codes(stack, port, 500))
        verifier.start()
        results = asyncio.run(direct_latency(verifier, codes))
        url, console = start_console(home, cfg, verifier.port)
        print(f"console: {CONCURRENCY} clients for {SECONDS:.0f} s, {SCANS} scans ...")
        results |= asyncio.run(http_load(url, cfg.tls.ca_file, codes))
        results |= asyncio.run(browser_scans(url, codes))
    finally:
        for process in (console, issuer):
            if process is not None:
                process.terminate()
                process.wait(30)
        verifier.stop()
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
    write_results(
        "console",
        results,
        {
            "concurrency": CONCURRENCY,
            "seconds": SECONDS,
            "scans": SCANS,
            "photos": PHOTOS,
            "heic_photos": HEIC_PHOTOS,
            "processes": "console + verifier + issuer + PostgreSQL + Tansu + Chromium "
            "or the load generator, one machine",
        },
    )


if __name__ == "__main__":
    main()
