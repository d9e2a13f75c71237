"""A verifier worker cut off from its broker (services/verifier/ends.py): it fetched
nothing, kept the last high waters it saw, and answered "0 events behind", VALID for a
licence whose signing key had been revoked on the topic meanwhile, while its readiness
stayed SERVING. Now, once the broker has not answered for ``lag_unknown_after_s``, its
answers and its GetIndexStatus say the lag is unknown and it is not ready; when the
broker answers again it is ready again, and its lag known."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import verifier_pb2
from services.devstack import free_port
from tests.conftest import issue_request, run_certseal, running, verifier_process
from tests.e2e.test_verifier_hostile import scrape

VALID = verifier_pb2.VERDICT_VALID
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _health_becomes(group, wanted: int, within: float) -> float:
    """Seconds until the worker's health service says ``wanted`` (AssertionError
    with its log if it does not within ``within`` s)."""
    health = health_pb2_grpc.HealthStub(group.channel)
    started = time.monotonic()
    status = None
    while time.monotonic() - started < within:
        reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        status = reply.status
        if status == wanted:
            return time.monotonic() - started
        await asyncio.sleep(0.1)  # a probe's poll: nothing to await
    raise AssertionError(f"health {status}, not {wanted}:\n{group.log_tail()}")


async def _metric_becomes(port: int, line: str, within: float = 10.0) -> None:
    """Until the worker's metrics say ``line`` (exported every second)."""
    started = time.monotonic()
    while line not in (await scrape(port)).splitlines():
        assert time.monotonic() - started < within, await scrape(port)
        await asyncio.sleep(0.2)  # the next export: nothing to await


async def _verify(group, code: str) -> verifier_pb2.VerificationResult:
    reply = await group.stub.VerifyCode(
        verifier_pb2.VerifyCodeRequest(code=code, purpose="窗口办事"), timeout=10
    )
    return reply.result


@pytest.mark.fault
async def test_a_worker_cut_off_from_its_broker_says_its_lag_is_unknown(
    stack, config, dept, tmp_path
):
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    code = (
        await dept.clients.issuer.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=licence.identifier)
        )
    ).text
    metrics = free_port()
    group = verifier_process(
        stack,
        config,
        tmp_path,
        "cut-off",
        lag_unknown_after_s=2,
        metrics_listen=f"127.0.0.1:{metrics}",
    )
    async with running(group):
        before = await _verify(group, code)
        assert before.verdict == VALID, before
        assert not before.freshness.lag_unknown
        assert before.freshness.lag_measured_at.seconds > 0
        stack.pause_broker()
        paused = time.time()
        try:
            # 2 s without an answer, asked every second, judged every 0.5 s
            await _health_becomes(group, NOT_SERVING, within=30)
            out_at = time.time()
            cut_off = await _verify(group, code)  # a request that still reaches it
            assert cut_off.verdict == VALID  # from what it has, saying so:
            assert cut_off.freshness.lag_unknown, cut_off.freshness
            # the last answer came before the pause (one in flight may land after)
            measured = cut_off.freshness.lag_measured_at.ToDatetime(tzinfo=dt.UTC)
            assert measured.timestamp() <= paused + 0.5, (measured, paused)
            # out of rotation only once the bound had passed since the broker's last
            # answer, not at the first missed ask
            assert out_at - measured.timestamp() >= 2.0 - 0.05, (out_at, measured)
            status = await group.stub.GetIndexStatus(
                verifier_pb2.GetIndexStatusRequest(), timeout=5
            )  # answered, no round trip to the broker
            assert status.lag_unknown and status.lag_measured_at.seconds > 0
            await group.wait_for_log("not ready until it answers", within=10)
            # no offline bundle either: it carries no lag, and counters rely on one
            # for a day (atk21 F1: a cut-off worker signed one valid for 24 h)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await group.stub.ExportTrustBundle(
                    verifier_pb2.ExportTrustBundleRequest(), timeout=10
                )
            assert err.value.code() is grpc.StatusCode.UNAVAILABLE
            assert "has not reached its broker" in err.value.details()
            # the operator's view of it (atk21 F2: a traceback, AttributeError)
            status_exit, out = await run_certseal(
                config,
                tmp_path,
                *("verifier", "status", "--verifier", f"127.0.0.1:{group.port}"),
            )
            assert status_exit == 0 and "Traceback" not in out, out
            assert "lag unknown: the worker has not heard from its broker for" in out
            # a VALID it cannot vouch for is not exit 0 for a script (nu21)
            verify_exit, out = await run_certseal(
                config,
                tmp_path,
                *("verify", "--verifier", f"127.0.0.1:{group.port}"),
                *("--purpose", "窗口办事", code),
            )
            assert verify_exit == 1 and "verdict     VALID" in out, out
            assert "warning: VALID from a verifier whose lag is unknown" in out
            await _metric_becomes(metrics, "certseal_verifier_index_lag_unknown 1.0")
        finally:
            stack.resume_broker()
        await _health_becomes(group, SERVING, within=60)
        after = await _verify(group, code)
        assert after.verdict == VALID and not after.freshness.lag_unknown
        assert after.freshness.lag_measured_at.ToDatetime(tzinfo=dt.UTC) > measured
        status = await group.stub.GetIndexStatus(
            verifier_pb2.GetIndexStatusRequest(), timeout=5
        )
        assert not status.lag_unknown
        await _metric_becomes(metrics, "certseal_verifier_index_lag_unknown 0.0")
