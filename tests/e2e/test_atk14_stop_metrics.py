"""atk14: a real verifier worker stopped (SIGTERM) under steady VerifyCode load from
several callers, and its metrics endpoint, as a counter operator and an SRE rely on
them (services/verifier/gathering.py, metrics.py, server.py ``GrpcService.stopping``).

Held (``test_atk14_sigterm_under_load_*``): the gauge returns to 0 and nothing is
counted lost on a clean run; the worker exits well within its pod's 30 s grace; every
use answered OK is on the usage topic; a health check after each "stopping" refusal
(gRPC health on the Verifier port and the probe port) already says NOT_SERVING; no
answer is INTERNAL or UNKNOWN.

Found and mended: ``certseal_verifier_usage_unpublished_total`` had no series at all
on a clean run, so the alert's ``increase(...[1h]) > 0`` never saw the first loss of a
reason (a series born at 1 has no increase in Prometheus): every reason is now a series
at 0 from the start. Found and documented: calls that reach the gRPC server in the
instant it stops are answered CANCELLED by gRPC itself, before any handler ran
(docs/operations.md: nothing was verified or recorded; retry it)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from certseal.events import LICENCE_USAGE, uses_of
from certseal.rpc import secure_channel
from certseal.v1 import events_pb2, verifier_pb2, verifier_pb2_grpc
from services.devstack import free_port
from tests.conftest import EventWatcher, serving_group, verdict_everywhere
from tests.e2e.test_usage_gathered import _licence

VALID = verifier_pb2.VERDICT_VALID
GRACE_S = 30  # deploy/k8s/verifier-group/verifier.yaml terminationGracePeriodSeconds
CALLERS_BUSY = 32
REASONS = ("not_built", "not_sent", "not_delivered")


async def _group(stack, config, tmp_path_factory):
    home = tmp_path_factory.mktemp("atk14")
    metrics, probe = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    process = await serving_group(
        stack, config, home, "atk14", metrics_listen=metrics, probe_listen=probe
    )
    return process, metrics, probe


def _scrape(metrics: str) -> str:
    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=5) as reply:
        return reply.read().decode()


def _sample(body: str, series: str) -> float | None:
    for line in body.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


async def _health(stub: health_pb2_grpc.HealthStub) -> str:
    try:
        reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
    except grpc.aio.AioRpcError as gone:  # the worker's ports closed: not serving
        return gone.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


async def _settled(metrics: str) -> None:
    """Wait (10 s at most) until the worker's usage_waiting is 0; no loss counted."""
    async with asyncio.timeout(10):
        while True:
            body = await asyncio.to_thread(_scrape, metrics)
            assert _sample(body, "certseal_verifier_usage_refused_total") == 0
            lost = [
                float(line.split()[-1])
                for line in body.splitlines()
                if line.startswith("certseal_verifier_usage_unpublished_total{")
            ]
            assert not any(lost), body  # none, or each reason at 0 once fixed
            if _sample(body, "certseal_verifier_usage_waiting") == 0:
                return
            await asyncio.sleep(0.05)  # the linger's timer, in the worker's process


def _uses(records, purpose: str) -> int:
    events = [events_pb2.LicenceUsedEvent.FromString(r.value) for r in records]
    return sum(len(uses_of(e)) for e in events if e.purpose == purpose)


@dataclass
class Stopped:
    """What the callers saw of a worker stopped under their load."""

    codes: Counter[str]
    answered: int  # answered OK (VALID)
    published: int  # uses of the load's purpose on the usage topic
    took: float  # SIGTERM to the process's exit, s
    # after each "stopping" refusal, the health its caller then read on the same
    # channel and on the probe port (causal, not timed)
    health_after_refusal: list[str]


async def _stop_under_load(
    stack, process, probe: str, code: str, *, callers: int, pause: float
) -> Stopped:
    """``callers`` departments' counters verify ``code`` in a loop (after a refusal,
    again in ``pause`` s) while the worker gets SIGTERM; wait for its exit."""
    purpose = f"atk14-{secrets.token_hex(3)}"
    ca = stack.ca
    stubs = []
    for n in range(callers):
        ident = ca.identity(f"dept:114403{n:02d}ATK14CALL")
        channel = secure_channel(
            f"localhost:{process.port}",
            str(ca.ca_file),
            str(ident.cert_file),
            str(ident.key_file),
        )
        stubs.append((verifier_pb2_grpc.VerifierStub(channel), channel))
    answers: list[str] = []
    health_after_refusal: list[str] = []
    loaded, stopped = asyncio.Event(), asyncio.Event()
    probe_health = health_pb2_grpc.HealthStub(grpc.aio.insecure_channel(probe))

    async def caller(stub, channel) -> None:
        healths = (health_pb2_grpc.HealthStub(channel), probe_health)
        while not stopped.is_set():
            request = verifier_pb2.VerifyCodeRequest(code=code, purpose=purpose)
            try:
                reply = await stub.VerifyCode(request, timeout=GRACE_S)
                assert reply.result.verdict == VALID
                answers.append("OK")
                if len(answers) >= 200:
                    loaded.set()
            except grpc.aio.AioRpcError as exc:
                answers.append(exc.code().name)
                if "stopping" in (exc.details() or ""):
                    for health in healths:
                        health_after_refusal.append(await _health(health))
                await asyncio.sleep(pause)  # a counter's retry later

    async with EventWatcher(stack, LICENCE_USAGE) as usage:
        load = [asyncio.create_task(caller(*pair)) for pair in stubs]
        async with asyncio.timeout(60):
            await loaded.wait()
        started = time.monotonic()
        process.process.terminate()
        async with asyncio.timeout(GRACE_S):
            await process.process.wait()
        took = time.monotonic() - started
        stopped.set()
        await asyncio.gather(*load)
        answered = answers.count("OK")
        with contextlib.suppress(TimeoutError):
            await usage.wait_for(lambda rs: _uses(rs, purpose) >= answered, 30)
        published = _uses(usage.records, purpose)
    return Stopped(Counter(answers), answered, published, took, health_after_refusal)


async def test_atk14_sigterm_under_load_publishes_every_ok_use_and_says_not_serving(
    stack, config, dept, operator, connect, issuer, tmp_path_factory
):
    process, metrics, probe = await _group(stack, config, tmp_path_factory)
    try:
        code, _app, _listing = await _licence(dept, operator, connect)
        await verdict_everywhere({"g": process.stub}, code, VALID, within=60)
        # what those verifications gathered goes once the linger (200 ms) ends: the
        # gauge returns to 0, no use is counted lost
        await _settled(metrics)
        seen = await _stop_under_load(
            stack, process, probe, code, callers=4, pause=0.01
        )
        assert process.process.returncode == 0, process.log_tail()
        assert seen.took < GRACE_S / 2, seen.took
        # CANCELLED: test_atk14_a_busy_hall_at_the_stop_gets_ok_or_a_retryable_answer
        assert set(seen.codes) <= {"OK", "UNAVAILABLE", "CANCELLED"}, seen.codes
        assert seen.published == seen.answered, seen
        assert seen.health_after_refusal  # the worker refused while its server ran
        # never SERVING once a call was refused; a health call the stopping server
        # cancels (gRPC's own CANCELLED, as for the calls above) says so too
        not_serving = {"NOT_SERVING", "UNAVAILABLE", "CANCELLED"}
        assert set(seen.health_after_refusal) <= not_serving, seen
    finally:
        await process.stop()


async def test_atk14_a_busy_hall_at_the_stop_gets_ok_or_a_retryable_answer(
    stack, config, dept, operator, connect, issuer, tmp_path_factory
):
    """Many counters, each retrying a refusal at once: every answer is OK,
    UNAVAILABLE, or CANCELLED (gRPC's own answer to a call that reaches the server
    in the instant it stops, before any handler ran: docs/operations.md, a counter
    retries it), and every OK's use is on the usage topic."""
    process, _metrics, probe = await _group(stack, config, tmp_path_factory)
    try:
        code, _app, _listing = await _licence(dept, operator, connect)
        await verdict_everywhere({"g": process.stub}, code, VALID, within=60)
        seen = await _stop_under_load(
            stack, process, probe, code, callers=CALLERS_BUSY, pause=0
        )
        assert set(seen.codes) <= {"OK", "UNAVAILABLE", "CANCELLED"}, seen.codes
        assert seen.published == seen.answered, seen
    finally:
        await process.stop()


async def test_atk14_the_unpublished_counter_is_exported_at_zero_on_a_clean_run(
    stack, config, dept, operator, connect, issuer, tmp_path_factory
):
    process, metrics, _probe = await _group(stack, config, tmp_path_factory)
    try:
        code, _app, _listing = await _licence(dept, operator, connect)
        await verdict_everywhere({"g": process.stub}, code, VALID, within=60)
        body = _scrape(metrics)
        assert _sample(body, "certseal_verifier_usage_refused_total") == 0
        assert _sample(body, "certseal_verifier_usage_waiting") is not None
        # every reason the alert sums is a series from the start, at 0: Prometheus's
        # increase() of a series that first appears at 1 is 0, so without it the
        # first loss of a reason on a pod never fires CertsealUsageUnpublished
        exported = {
            reason: _sample(
                body, f'certseal_verifier_usage_unpublished_total{{reason="{reason}"}}'
            )
            for reason in REASONS
        }
        assert exported == dict.fromkeys(REASONS, 0.0), exported
    finally:
        await process.stop()
