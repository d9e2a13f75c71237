"""The platform's seal (annotated copies) is a set-up step, and said as one: a new
user's redemption at the console on a stack set up from the README was a 400 blaming
the clerk's request (`seal: sealing through the seal service: <platform> has no
active official ... seal`). Without the seal a redemption is FAILED_PRECONDITION
field ``setup`` naming the command that fixes it, the console answers 503 ``setup``;
``make run``'s set-up (:func:`services.run_platform.ensure_platform_seal`) registers
the seal once and redemption works. On the session's stack: the platform's seals are
revoked here, and a usable one is there again when the test ends."""

from __future__ import annotations

import copy
import datetime as dt

import grpc
import pytest

from certseal.rpcerrors import error_from_rpc
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import seal_pb2 as seal_pb
from services.console.app import ConsoleApp
from services.run_platform import copies_seal, ensure_platform_seal
from tests.e2e.test_holder_documents import (  # noqa: F401 (fixtures)
    HolderFromClients,
    authorise_request,
    clerk_session,
    holder_stubs,
    world,
)


@pytest.fixture
async def console(stack, config, issuer, seal_app):
    """A console that redeems at the session's issuer (no verifier group asked)."""
    cfg = copy.deepcopy(config)
    cfg.console.verifier_targets = ["127.0.0.1:1"]
    cfg.console.seal_target = f"127.0.0.1:{seal_app.port}"
    cfg.console.issuer_target = f"127.0.0.1:{issuer.port}"
    cfg.console.metrics_listen = ""
    cfg.console.operator_page = False
    app = ConsoleApp(cfg, listen="127.0.0.1:0")
    await app.start()
    yield app
    await app.stop()


async def _platform_seals(seal_stub, code: str) -> list:
    reply = await seal_stub("operator:admin").ListSeals(
        seal_pb.ListSealsRequest(owner_code=code, page_size=500)
    )
    return list(reply.seals)


async def test_without_the_platform_seal_redeeming_says_setup_and_make_run_mends_it(
    world,  # noqa: F811 (the fixture)
    console,
    config,
    seal_stub,
    seal_app,
):
    code = config.platform.code
    operator = seal_stub("operator:admin")
    for seal in await _platform_seals(seal_stub, code):
        if seal.status == "active":
            await operator.RevokeSeal(
                seal_pb.RevokeSealRequest(seal_id=seal.seal_id, reason="test: none")
            )
    redeemer = HolderFromClients(world["other"].clients.channel)
    auth = (
        await world["app"].holder.AuthoriseUse(authorise_request(world))
    ).authorisation

    # over gRPC: the platform's set-up, with the command that mends it
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await redeemer.redemption.RedeemAuthorisation(
            pb.RedeemAuthorisationRequest(code=auth.code)
        )
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    said = error_from_rpc(err.value)
    assert said.field == "setup"
    assert "the platform cannot seal annotated copies" in said.message
    assert f"certseal seal register --owner {code} --type official" in said.message
    assert "--signer service:issuer" in said.message

    # at the console: 503, not a 400 blaming the clerk's request
    clerk = await clerk_session(console, config, world["other"].code)
    try:
        async with clerk.post("/api/redeem", json={"code": auth.code}) as reply:
            assert reply.status == 503, await reply.text()
            body = await reply.json()
        assert body["field"] == "setup"
        assert body["error"].startswith("the platform cannot seal annotated copies")
        # and in the clerk's words, Chinese first (a new user's trial, finding 2)
        assert body["refusal"] == "setup" and "平台尚未登记" in body["reason_zh"]

        # make run's set-up registers it, once
        cli = copy.deepcopy(config)
        cli.cli.seal_target = f"localhost:{seal_app.port}"
        now = dt.datetime.now(dt.UTC)
        seal_id, registered = await ensure_platform_seal(cli, now=now)
        assert registered
        again = await ensure_platform_seal(cli, now=now + dt.timedelta(seconds=1))
        assert again == (seal_id, False)
        seals = await _platform_seals(seal_stub, code)
        assert [s.seal_id for s in seals if s.status == "active"] == [seal_id]
        (made,) = [s for s in seals if s.seal_id == seal_id]
        assert (made.seal_type, made.suite, list(made.signers)) == (
            "official",
            "es256",
            ["service:issuer"],
        )

        async with clerk.post("/api/redeem", json={"code": auth.code}) as reply:
            assert reply.status == 200, await reply.text()
            view = await reply.json()
        assert view["seal_id"] == seal_id
    finally:
        await clerk.close()


def test_only_an_active_official_copy_seal_for_the_issuer_alone_counts():
    now = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)

    def seal(**changes) -> seal_pb.SealInfo:
        info = seal_pb.SealInfo(
            seal_id="s",
            seal_type="official",
            status="active",
            suite="es256",
            signers=["service:issuer"],
        )
        info.valid_start.FromDatetime(now - dt.timedelta(days=1))
        info.valid_end.FromDatetime(now + dt.timedelta(days=1))
        for name, value in changes.items():
            if name in ("valid_start", "valid_end"):
                getattr(info, name).FromDatetime(value)
            elif name == "signers":
                info.signers[:] = value
            else:
                setattr(info, name, value)
        return info

    assert copies_seal([seal()], now=now) == "s"
    assert copies_seal([seal(suite="ed25519")], now=now) == "s"
    assert copies_seal([seal(valid_start=now)], now=now) == "s"
    assert copies_seal([seal(valid_end=now)], now=now) == "s"
    for changes in (
        {"status": "revoked"},
        {"seal_type": "contract"},
        {"suite": "sm2"},
        {"signers": ["service:issuer", "dept:x"]},
        {"signers": ["dept:x"]},
        {"valid_start": now + dt.timedelta(microseconds=1)},
        {"valid_end": now - dt.timedelta(microseconds=1)},
    ):
        assert copies_seal([seal(**changes)], now=now) is None, changes
    assert copies_seal([seal(status="revoked"), seal(seal_id="t")], now=now) == "t"
