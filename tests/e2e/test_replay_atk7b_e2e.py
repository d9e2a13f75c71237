"""Outside review (atk7b), end to end: a presentation code answered VALID whose usage
record was still in the producer's buffer (linger 50 ms, or the broker away) when
the worker was killed is VALID again after the restart."""

import asyncio
import secrets
import time

import grpc
import pytest

from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import verifier_pb2
from tests.conftest import (
    VerifierProcess,
    issue_request,
    running,
    verdict_everywhere,
    verifier_process,
)

VALID = verifier_pb2.VERDICT_VALID


@pytest.fixture(scope="module")
async def victim(stack, config, issuer, tmp_path_factory):
    verifier = verifier_process(stack, config, tmp_path_factory.mktemp("atk7b"), "k")
    async with running(verifier):
        yield verifier


async def answer(stub, request, within: float = 90.0):
    """The verdict, once the guard answers (UNAVAILABLE while it catches up)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return (await stub.VerifyCode(request, timeout=5)).result.verdict
        except grpc.aio.AioRpcError as exc:
            if exc.code() is not grpc.StatusCode.UNAVAILABLE:
                raise
            assert time.monotonic() < deadline, exc.details()
            await asyncio.sleep(0.5)


async def shown_code(dept, stubs) -> str:
    """A fresh presentation code of a newly issued licence that every verifier in
    ``stubs`` knows (its plain code VALID at each: the licence topic's partitions are
    applied independently, so another licence being known says nothing of this one)."""
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    plain = (
        await dept.clients.issuer.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=licence.identifier)
        )
    ).text
    await verdict_everywhere(stubs, plain, VALID, within=60)
    return (
        await dept.clients.issuer.CreatePresentationCode(
            pb.CreatePresentationCodeRequest(identifier=licence.identifier)
        )
    ).text


async def test_a_kill_right_after_valid_does_not_reopen_the_code(victim, dept, stack):
    """The producer's linger window: the worker answers VALID and is killed (kill -9)
    at once. Correct: the answer came only after the broker acknowledged the claim
    (services/verifier/claims.py), so after the restart the code is REPLAYED."""
    shown = await shown_code(dept, {"v": victim.stub})
    request = verifier_pb2.VerifyCodeRequest(code=shown, purpose="窗口办事")
    assert await answer(victim.stub, request) == VALID
    await victim.kill()
    await victim.start()
    await victim.wait_serving()
    assert await answer(victim.stub, request) == verifier_pb2.VERDICT_REPLAYED


async def test_a_kill_while_the_broker_is_away_does_not_reopen_the_code(
    victim, dept, stack
):
    """The broker is away (as it may be for any reason): the review's worker
    answered VALID with its usage record only in its producer's buffer and its
    nonce only in memory; kill -9, broker back, restart on the same data: VALID
    again. Correct (adapted, g8g: the review expected the first answer VALID): with
    the broker away no claim is acknowledged, so the answer is UNAVAILABLE, never
    VALID; after the restart the code is accepted at most once."""
    shown = await shown_code(dept, {"v": victim.stub})
    request = verifier_pb2.VerifyCodeRequest(code=shown, purpose="窗口办事")
    stack.pause_broker()
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await victim.stub.VerifyCode(request, timeout=10)
        assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
        await victim.kill()
    finally:
        stack.resume_broker()
    await victim.start()
    await victim.wait_serving()
    # the killed worker's claim may have reached the log or not: at most one VALID,
    # and the code is spent after it
    verdicts = [await answer(victim.stub, request) for _ in range(2)]
    assert verdicts.count(VALID) <= 1, verdicts
    assert verdicts[-1] == verifier_pb2.VERDICT_REPLAYED, verdicts


@pytest.fixture(scope="module")
async def other(stack, config, victim):
    verifier = VerifierProcess(
        stack, victim.config_file, victim.home, f"o-{secrets.token_hex(3)}"
    )
    async with running(verifier):
        yield verifier


async def test_two_groups_do_not_both_accept_a_code_while_the_broker_is_away(
    victim, other, dept, stack
):
    """After its first catch-up the guard kept answering while its feed could not
    reach the broker: with the broker away, one presentation code shown at two
    groups was VALID at both. Correct: at most one VALID (adapted, g8g: the review
    asked for exactly one; with the broker away no claim is acknowledged, so both
    answer UNAVAILABLE, retryable), and never VALID at both."""
    stubs = {"v": victim.stub, "o": other.stub}
    request = verifier_pb2.VerifyCodeRequest(
        code=await shown_code(dept, stubs), purpose="窗口办事"
    )
    stack.pause_broker()
    try:
        await asyncio.sleep(3)  # well past the time a usage record takes to come back
        verdicts = []
        for stub in stubs.values():
            try:
                verdicts.append(
                    (await stub.VerifyCode(request, timeout=5)).result.verdict
                )
            except grpc.aio.AioRpcError as exc:
                verdicts.append(exc.code())
    finally:
        stack.resume_broker()
    assert verdicts.count(VALID) <= 1, verdicts
    assert verdicts == [grpc.StatusCode.UNAVAILABLE] * 2, verdicts


async def test_two_groups_racing_on_one_code_accept_it_exactly_once(
    victim, other, dept
):
    """The same presentation code shown at two groups at the same moment, broker up,
    several codes over: exactly one VALID each time, the other REPLAYED (first claim
    in the log wins), and a third showing is REPLAYED at both."""
    stubs = [victim.stub, other.stub]
    for _ in range(5):
        request = verifier_pb2.VerifyCodeRequest(
            code=await shown_code(dept, {"v": victim.stub, "o": other.stub}),
            purpose="窗口办事",
        )
        verdicts = await asyncio.gather(*(answer(stub, request) for stub in stubs))
        assert sorted(verdicts) == sorted([VALID, verifier_pb2.VERDICT_REPLAYED]), (
            verdicts
        )
        for stub in stubs:
            assert await answer(stub, request) == verifier_pb2.VERDICT_REPLAYED
