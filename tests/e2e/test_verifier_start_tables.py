"""A verifier worker answers from its trust and directory tables only once they have
read their topics to the end offsets of its start (services/verifier/tables.py): a
worker restarted after a key was revoked answered VALID for a licence signed with that
key until its trust agent got to the revocation, behind the events published while
it was down; a fresh worker answered UNKNOWN_ISSUER for a department whose key came
after a backlog of trust events.

A fresh worker of a group of one answers from its licence index while that builds,
its lag in every answer (services/verifier/feed.py): its first answers may say
UNKNOWN_LICENCE, and then say the index is behind; they never fail the key."""

from __future__ import annotations

import asyncio
import datetime as dt

import grpc

from certseal.events import LICENCE_EVENTS, TRUST_EVENTS
from certseal.timestamps import ts
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import verifier_pb2
from tests.conftest import (
    EventWatcher,
    issue_request,
    make_department,
    verdict_everywhere,
    verifier_process,
)

VALID = verifier_pb2.VERDICT_VALID
UNKNOWN_LICENCE = verifier_pb2.VERDICT_UNKNOWN_LICENCE
#: copies of a trust event published while the worker is down: each is applied as a
#: duplicate (not newer), so the worker has that many to read before what follows
BACKLOG = 3_000


async def _code(dept, stack=None) -> str:
    """A new licence's code; with ``stack``, once its event is on the licence topic."""
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    if stack is not None:
        async with EventWatcher(stack, LICENCE_EVENTS) as watcher:
            await watcher.wait_for(
                lambda rs: any(r.key == licence.lineage.encode() for r in rs)
            )
    reply = await dept.clients.issuer.GetLicenceCode(
        pb.GetLicenceCodeRequest(identifier=licence.identifier)
    )
    return reply.text


async def _first_answers(
    group, code: str, count: int = 20
) -> list[verifier_pb2.VerificationResult]:
    """The results of ``count`` VerifyCode calls made right after SERVING; an
    UNAVAILABLE answer (retry later) is no verdict and is left out."""
    await group.wait_serving()
    verdicts = []
    for _ in range(count):
        try:
            reply = await group.stub.VerifyCode(
                verifier_pb2.VerifyCodeRequest(code=code, purpose="窗口办事"),
                timeout=10,
            )
        except grpc.aio.AioRpcError as exc:
            assert exc.code() is grpc.StatusCode.UNAVAILABLE, exc.details()
            await asyncio.sleep(0.05)
            continue
        verdicts.append(reply.result)
    return verdicts


def _key_passed(result: verifier_pb2.VerificationResult) -> bool:
    return any(c.name == "key" and c.passed for c in result.checks)


async def _backlog(stack, dept) -> None:
    """Publish ``BACKLOG`` copies of ``dept``'s key.activated trust event."""
    async with EventWatcher(stack, TRUST_EVENTS) as watcher:
        records = await watcher.wait_for(
            lambda rs: any(r.key == dept.kid.encode() for r in rs)
        )
    activated = next(r for r in records if r.key == dept.kid.encode())
    producer = stack.config.kafka.settings("certseal-tests").producer()
    await producer.start()
    try:
        for _ in range(BACKLOG):  # delivered again, as at-least-once delivery may
            await producer.send(
                TRUST_EVENTS,
                key=activated.key,
                value=activated.value,
                partition=activated.partition,
            )
        await producer.flush()
    finally:
        await producer.stop()


async def test_a_fresh_worker_knows_every_issuer_from_its_first_answer(
    stack, config, issuer, operator, connect, dept, tmp_path
):
    await _backlog(stack, dept)
    newcomer = await make_department(operator, connect)  # its key after the backlog
    code = await _code(newcomer, stack)
    group = verifier_process(stack, config, tmp_path, "fresh-trust")
    await group.start()
    try:
        results = await _first_answers(group, code)
        # and VALID once the index is built (raises when not within a minute)
        await verdict_everywhere({"fresh": group.stub}, code, VALID, within=60)
    finally:
        await group.stop()
    assert results and all(_key_passed(r) for r in results), results
    for result in results:  # the index still building says so
        assert result.verdict == VALID or (
            result.verdict == UNKNOWN_LICENCE
            and (result.freshness.lag_events > 0 or result.freshness.lag_unknown)
        ), result


async def test_a_restarted_worker_knows_a_key_revoked_while_it_was_down(
    stack, config, issuer, operator, dept, tmp_path
):
    compromised_at = dt.datetime.now(dt.UTC)  # before the licence was signed
    code = await _code(dept)
    group = verifier_process(stack, config, tmp_path, "restart-trust")
    await group.start()
    try:
        assert [r.verdict for r in await _first_answers(group, code, 1)] == [VALID]
    finally:
        await group.stop()
    await _backlog(stack, dept)
    await operator.admin.RevokeSigningKey(
        pb.RevokeSigningKeyRequest(
            kid=dept.kid,
            reason="HSM stolen",
            revoked_at=ts(compromised_at),
        )
    )
    await group.start()
    try:
        verdicts = [r.verdict for r in await _first_answers(group, code)]
    finally:
        await group.stop()
    assert verdicts and VALID not in verdicts, verdicts
