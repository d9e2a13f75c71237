"""Event-feed benchmark: ``make bench`` → bench/results/events.json.

The embedded stack, the issuer and the event feed as their own processes, on this
machine. A backlog of BENCH_EVENTS (default 20,000) issuances; then:
- ``feed_events_per_s``: one subscriber (an operator: no filter) reading from the start;
- ``issue_to_subscriber_p50/p99_ms``: from IssueLicence's answer to the subscriber's
  receipt, at BENCH_RATE issuances per second (default 50) for 10 s;
- ``webhook_events_per_s``: a webhook registered after the backlog delivering it to a
  local HTTPS receiver;
- ``issue_to_webhook_p50/p99_ms``: the same paced issuances, to the receiver;
- ``under_issuer_load_*``: a subscriber while the issuer runs its benchmark load.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web

from bench.issuer_bench import (
    identity_channel,
    load,
    setup,
    start_stack_and_service,
    wait_serving,
    write_results,
)
from bench.loadgen import request as issue_request
from certseal.v1 import feed_pb2, feed_pb2_grpc, issuer_pb2_grpc
from certseal.v1 import issuer_pb2 as pb
from services.config import Config
from services.devstack import DevStack, free_port
from services.feed.domain import short_type

EVENTS = int(os.environ.get("BENCH_EVENTS", "20000"))
RATE = float(os.environ.get("BENCH_RATE", "50"))
PACED_SECONDS = 10.0
BACKLOG_TIMEOUT_S = 600.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


class Receiver:
    """The webhook endpoint: arrival time per event subject (lineage)."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.count = 0
        self.arrived = asyncio.Event()

    async def wait_for(self, count: int) -> None:
        """Until ``count`` events arrived."""
        while self.count < count:
            self.arrived.clear()
            await self.arrived.wait()

    async def handle(self, request: web.Request) -> web.Response:
        event = json.loads(await request.read())
        self.arrivals.setdefault(event["subject"], time.monotonic())
        self.count += 1
        self.arrived.set()
        return web.Response(status=204)


async def paced_issuance(issuer: Any, type_code: str) -> dict[str, float]:
    """Issue at RATE per second; the monotonic time each lineage was answered."""
    answered: dict[str, float] = {}
    interval = 1 / RATE
    deadline = time.monotonic() + PACED_SECONDS
    while time.monotonic() < deadline:
        started = time.monotonic()
        licence = (await issuer.IssueLicence(issue_request(type_code))).licence
        answered[licence.lineage] = time.monotonic()
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
    return answered


def latencies(answered: dict[str, float], arrived: dict[str, float]) -> list[float]:
    return [arrived[n] - t for n, t in answered.items() if n in arrived]


async def under_load(
    stack: DevStack, issuer_port: int, feed: Any, code: str, type_code: str
) -> dict[str, Any]:
    """The feed while the issuer runs its benchmark load (64 callers, BENCH_SECONDS):
    how far behind the subscriber is when the load stops, and how soon it has all."""
    received = 0
    arrived = asyncio.Event()
    stream = feed.Subscribe(
        feed_pb2.SubscribeRequest(latest=True, licence_types=[type_code])
    )

    async def read() -> None:
        nonlocal received
        async for _event in stream:
            received += 1
            arrived.set()

    reader = asyncio.create_task(read())
    await asyncio.sleep(1.0)  # positioned at the end
    result = await asyncio.to_thread(
        load, stack, issuer_port, code, type_code, concurrency=64
    )
    stopped = time.monotonic()
    conn = await asyncpg.connect(stack.config.database.dsn())
    try:
        issued = await conn.fetchval(
            "select count(*) from licences where type_code = $1", type_code
        )
    finally:
        await conn.close()
    behind = issued - received
    async with asyncio.timeout(60):
        while received < issued:
            arrived.clear()
            await arrived.wait()
    caught_up = time.monotonic() - stopped
    stream.cancel()
    reader.cancel()
    return {
        "under_issuer_load_issued_per_s": result["licences_per_s"],
        "under_issuer_load_events_behind_at_end": behind,
        "under_issuer_load_catch_up_ms": round(caught_up * 1000, 1),
        "under_issuer_load_received": f"{received}/{issued}",
    }


async def measure(stack: DevStack, issuer_port: int, feed_port: int) -> dict:
    departments = await setup(stack, issuer_port)
    code, type_code = departments["es256"]
    results: dict[str, Any] = {}
    async with (
        identity_channel(stack, issuer_port, f"dept:{code}") as issuer_channel,
        identity_channel(stack, feed_port, "operator:admin") as feed_channel,
    ):
        await wait_serving(feed_channel)
        issuer = issuer_pb2_grpc.IssuerStub(issuer_channel)
        for _ in range(EVENTS // 500):
            await issuer.IssueLicences(
                pb.IssueLicencesRequest(
                    items=[issue_request(type_code) for _ in range(500)]
                )
            )
        feed = feed_pb2_grpc.EventFeedStub(feed_channel)

        # one subscriber reading the backlog
        started, count = time.monotonic(), 0
        stream = feed.Subscribe(feed_pb2.SubscribeRequest(earliest=True))
        # a feed that stops delivering fails the bench instead of hanging it
        async with asyncio.timeout(BACKLOG_TIMEOUT_S):
            async for event in stream:
                count += 1
                # FeedEvent.type is the full CloudEvents type, as on Kafka
                if short_type(event.type) == "licence.issued" and count >= EVENTS:
                    break
        stream.cancel()
        results["feed_events_per_s"] = round(count / (time.monotonic() - started), 1)
        print(f"  feed: {results['feed_events_per_s']} events/s", flush=True)

        # issue -> subscriber, paced
        arrived: dict[str, float] = {}
        stream = feed.Subscribe(
            feed_pb2.SubscribeRequest(latest=True, event_types=["licence.issued"])
        )

        async def read() -> None:
            async for event in stream:
                arrived[event.subject] = time.monotonic()

        reader = asyncio.create_task(read())
        await asyncio.sleep(1.0)  # the subscription is positioned at the end
        answered = await paced_issuance(issuer, type_code)
        await asyncio.sleep(1.0)
        stream.cancel()
        reader.cancel()
        samples = latencies(answered, arrived)
        results["issue_to_subscriber_p50_ms"] = round(
            percentile(samples, 0.5) * 1000, 1
        )
        results["issue_to_subscriber_p99_ms"] = round(
            percentile(samples, 0.99) * 1000, 1
        )
        results["issue_to_subscriber_received"] = f"{len(samples)}/{len(answered)}"

        # webhooks: a local HTTPS receiver
        receiver = Receiver()
        app = web.Application()
        app.router.add_post("/hook", receiver.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        identity = stack.ca.identity("service:bench-receiver", server=True)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(identity.cert_file, identity.key_file)
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
        admin = feed_pb2_grpc.EventFeedAdminStub(feed_channel)
        await admin.SetEntitlement(
            feed_pb2.SetEntitlementRequest(
                entitlement=feed_pb2.Entitlement(
                    integrator="integrator:bench",
                    departments=[code],
                    licence_types=["*"],
                    event_types=["licence.issued"],
                )
            )
        )
        started = time.monotonic()
        await admin.RegisterWebhook(
            feed_pb2.RegisterWebhookRequest(
                name="bench",
                integrator="integrator:bench",
                url=f"https://localhost:{port}/hook",
                secret=os.urandom(32),
            )
        )
        async with asyncio.timeout(BACKLOG_TIMEOUT_S):
            await receiver.wait_for(EVENTS + len(answered))
        results["webhook_events_per_s"] = round(
            receiver.count / (time.monotonic() - started), 1
        )
        print(f"  webhook: {results['webhook_events_per_s']} events/s", flush=True)
        answered = await paced_issuance(issuer, type_code)
        await asyncio.sleep(2.0)
        samples = latencies(answered, receiver.arrivals)
        results["issue_to_webhook_p50_ms"] = round(percentile(samples, 0.5) * 1000, 1)
        results["issue_to_webhook_p99_ms"] = round(percentile(samples, 0.99) * 1000, 1)
        results["issue_to_webhook_received"] = f"{len(samples)}/{len(answered)}"
        await runner.cleanup()
        results.update(
            await under_load(stack, issuer_port, feed, *departments["ed25519"])
        )
        print(f"  under issuer load: {results}", flush=True)
    return results


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="certseal-ebench-"))
    feed_port = free_port()

    def tweak(cfg: Config) -> None:
        cfg.feed.listen = f"127.0.0.1:{feed_port}"
        cfg.feed.metrics_listen = ""
        cfg.feed.webhook_ca_file = cfg.tls.ca_file
        cfg.feed.webhook_allowed_hosts = ["localhost"]  # the receiver is local

    stack, _cfg, issuer_port, issuer = start_stack_and_service(
        home, "issuer", tweak=tweak
    )
    feed = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.feed",
            "--config",
            str(home / "bench.toml"),
            "--log-level",
            "WARNING",
        ]
    )
    try:
        print(f"event feed: backlog of {EVENTS} issuances ...", flush=True)
        results = asyncio.run(measure(stack, issuer_port, feed_port))
    finally:
        for process in (feed, issuer):
            process.terminate()
            process.wait(30)
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
    write_results(
        "events",
        results,
        {
            "backlog_events": EVENTS,
            "paced_rate_per_s": RATE,
            "processes": "issuer + feed + PostgreSQL + Tansu + this client, one machine",
        },
    )


if __name__ == "__main__":
    main()
