"""A verifier worker asked to stop while its broker is away stops at once.

trial53 P1: with the broker gone, a SIGTERM'd worker held its stop until the worker's
watchdog ended it (25 s, exit status 1; ``make run`` killed it at its 15 s grace
first). aiokafka's consumer stop raised the CancelledError of a fetch waiting in its
retry back-off (``certseal.kafka.fetches_end_on_stop``), so Faust's consumer thread
never told the worker it had stopped. With the broker hanging (stopped, cut off), the
replay guard's feed waited in a read that has no timeout, and the stop waited 10 s
for its thread (``services.verifier.replay.UsageFeed.stop``). atk56: a usage record
held in the producer (a licence code verified meanwhile) held Faust's flush at the stop
until the watchdog (``services.verifier.transport.Producer``)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import re
import signal
import time
from collections.abc import Iterator

import grpc
import pytest

from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import verifier_pb2
from services.devstack import DevStack
from services.verifier.worker import SLOW_STOP_S
from tests.conftest import (
    holder_app_licence,
    issue_request,
    running,
    verdict_everywhere,
    verifier_process,
)
from tests.e2e.test_atk8_claims_e2e import presentation_codes_accepted

#: well under the worker's own slow-stop report and ``make run``'s 15 s grace
WITHIN_S = SLOW_STOP_S - 2


async def _stopped(group) -> tuple[int, float]:
    """SIGTERM ``group``'s worker: its exit status and how long it took (s)."""
    started = time.monotonic()
    group.process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(60):  # the worker's watchdog ends it at 25 s
        status = await group.process.wait()
    return status, time.monotonic() - started


@contextlib.contextmanager
def _broker_paused(stack) -> Iterator[None]:
    """The session's broker stopped (connections open, nothing answered) inside."""
    stack.pause_broker()
    try:
        yield
    finally:
        stack.resume_broker()


def _stopped_well(group, status: int, took: float, within: float) -> str:
    """The worker's log, once it exited 0 within ``within`` s of SIGTERM (``took``)
    and said nothing of a slow stop."""
    assert status == 0, group.log_tail()
    assert took < within, (took, group.log_tail())
    said = group.log_since_start()
    assert "the stop has taken" not in said, said[-4000:]
    assert "did not end within" not in said, said[-4000:]
    # atk56: a commit given up at the stop failed as the consumer closed, its
    # failure left to asyncio's ERROR line with a traceback
    assert "exception was never retrieved" not in said, said[-4000:]
    return said


async def test_a_worker_whose_broker_is_gone_stops_at_once(stack, config, tmp_path):
    cluster = DevStack(tmp_path / "cluster", topic_partitions=4)
    bootstrap = await cluster.start_broker()
    try:
        cfg = copy.deepcopy(config)
        cfg.kafka.bootstrap_servers = bootstrap
        cfg.kafka.topic_partitions = 4
        group = verifier_process(stack, cfg, tmp_path, "gone", lag_unknown_after_s=2)
        await group.start()
        try:
            await group.wait_serving()
            cluster.stop()  # connections refused from now on
            # its fetches fail and wait in their back-off before the stop
            await group.wait_for_log("not ready until it answers", within=30)
            status, took = await _stopped(group)
        finally:
            await group.stop()
    finally:
        cluster.stop()
    _stopped_well(group, status, took, WITHIN_S)


async def test_a_worker_whose_broker_hangs_stops_at_once(stack, config, tmp_path, dept):
    group = verifier_process(stack, config, tmp_path, "hangs", lag_unknown_after_s=2)
    async with running(group):
        # a licence event applied just before the pause leaves an offset to commit
        # at the stop (the events of the start may have been committed by Faust's
        # periodic commit, every 2.8 s, before a busy machine reached the pause)
        code = await _licence_code(dept)
        await verdict_everywhere({"g": group.stub}, code, verifier_pb2.VERDICT_VALID)
        with _broker_paused(stack):
            status, took = await _stopped(group)
    said = _stopped_well(group, status, took, WITHIN_S)
    # its last commit given up, and said (after the 3 s bound, or at once when the
    # verification's usage record was given up first): the next start reads those
    # events again
    assert "the next start reads the events since the last commit again" in said


async def _licence_code(dept) -> str:
    """The licence code of a licence issued now by ``dept``."""
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    return (
        await dept.clients.issuer.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=licence.identifier)
        )
    ).text


async def test_a_worker_whose_broker_hangs_stops_with_usage_unacknowledged(
    stack, config, tmp_path, dept
):
    # atk56: licence codes verified while the broker hangs leave their usage
    # records in the worker's producer; Faust's flush at the stop, then the
    # producer's own stop, waited for the broker's acknowledgement until the
    # worker's watchdog (25 s, status 1)
    group = verifier_process(stack, config, tmp_path, "unacked", lag_unknown_after_s=2)
    async with running(group):
        code = await _licence_code(dept)
        valid = verifier_pb2.VERDICT_VALID
        await verdict_everywhere({"g": group.stub}, code, valid, within=60)
        with _broker_paused(stack):
            for _ in range(3):  # answered from the index; their uses are gathered
                answer = await group.stub.VerifyCode(
                    verifier_pb2.VerifyCodeRequest(code=code, purpose="outage"),
                    timeout=20,
                )
                assert answer.result.verdict == valid
            status, took = await _stopped(group)
    # the flush's 3 s, the LeaveGroup's 1 s, the producer's stop's 1 s, Faust's own
    # 2 s at the loop's end (7 s here)
    said = _stopped_well(group, status, took, SLOW_STOP_S)
    # the uses given up are said, as lost, not left unsaid in a producer
    assert "records were not acknowledged within 3 s of the stop" in said
    assert re.search(r"a usage record of \d+ uses was not delivered", said), said


async def test_a_worker_whose_broker_hangs_stops_with_claims_unacknowledged(
    stack, config, tmp_path, dept, operator, connect
):
    # atk56: presentation codes shown while the broker hangs leave their claims'
    # requests in flight; the claims producer's stop waited for them up to the
    # server's 5 s bound (11 s in all, the worker's slow-stop report with stacks)
    group = verifier_process(stack, config, tmp_path, "claims", lag_unknown_after_s=2)
    async with running(group):
        stubs = {"g": group.stub}
        seen = await holder_app_licence(
            dept, operator, connect, stubs, name="王五", app="app:atk56"
        )
        await presentation_codes_accepted(dept, seen.licence.identifier, stubs)
        ask = pb.CreatePresentationCodeRequest(identifier=seen.licence.identifier)
        codes = [
            (await dept.clients.issuer.CreatePresentationCode(ask)).text
            for _ in range(2)
        ]
        with _broker_paused(stack):
            for code in codes:  # each claim undecided within its bound
                with pytest.raises(grpc.aio.AioRpcError) as raised:
                    await group.stub.VerifyCode(
                        verifier_pb2.VerifyCodeRequest(code=code, purpose="outage"),
                        timeout=20,
                    )
                assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
            status, took = await _stopped(group)
    # the commit's 3 s, the LeaveGroup's 1 s, the claims producer's 1 s, Faust's
    # own 2 s at the loop's end (7 s here)
    _stopped_well(group, status, took, SLOW_STOP_S)
