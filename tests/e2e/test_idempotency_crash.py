"""kill -9 of the issuer between commit and answer, then a retry with the same key
(issue 21), for every mutating RPC of the issuer (the table of
tests/issuer/test_idempotency.py).

The issuer runs as its own process (``python -m services.issuer``) with the test-only
fault hook ``CERTSEAL_TEST_FAULT=after-commit``, allowed by ``[idempotency]
allow_fault_hooks = true``: it kills itself (SIGKILL) right after the transaction that
holds the change and its answer commits, before the answer is sent. The client sees
UNAVAILABLE; its retry with the same key, served by another replica (the session's
in-process issuer over the same database), returns the committed answer and changes
nothing more. Without the configuration setting the process refuses to start.
"""

from __future__ import annotations

import asyncio
import copy
import os
import secrets
import signal
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from certseal.config import dump_config
from certseal.rpc import secure_channel
from services.devstack import free_port
from tests.conftest import kept_answer
from tests.issuer.test_idempotency import CASES, KEY, World

pytestmark = pytest.mark.fault


async def _start_issuer(config, tmp_path, *, allow: bool) -> tuple[object, int]:
    port = free_port()
    cfg = copy.deepcopy(config)
    cfg.issuer.listen = f"127.0.0.1:{port}"
    cfg.idempotency.allow_fault_hooks = allow
    config_file = tmp_path / f"issuer-{secrets.token_hex(3)}.toml"
    config_file.write_text(dump_config(cfg))
    log = tmp_path / f"issuer-{port}.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.issuer",
            "--config",
            str(config_file),
            "--log-level",
            "WARNING",
            env={**os.environ, "CERTSEAL_TEST_FAULT": "after-commit"},
            stdout=out,
            stderr=out,
        )
    return process, port


async def _wait_serving(channel: grpc.aio.Channel, process) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    async with asyncio.timeout(60):
        while True:
            assert process.returncode is None, "the issuer exited while starting"
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.1)  # the process is starting: nothing to await yet


@pytest.fixture
def world(operator, connect, issuer) -> World:
    return World(operator, connect, issuer.pool)


@pytest.mark.parametrize("rpc", sorted(CASES))
async def test_killed_between_commit_and_answer_a_retry_gets_the_committed_answer(
    stack, config, world, issuer, tmp_path, rpc
):
    case = await CASES[rpc](world)
    before = await case.count()
    process, port = await _start_issuer(config, tmp_path, allow=True)
    ident = stack.ca.identity(case.identity)
    channel = secure_channel(
        f"localhost:{port}",
        str(stack.ca.ca_file),
        str(ident.cert_file),
        str(ident.key_file),
    )
    key = f"crash-{rpc}-{secrets.token_hex(6)}"
    try:
        await _wait_serving(channel, process)
        call = channel.unary_unary(
            case.call._method.decode(),
            request_serializer=case.call._request_serializer,
            response_deserializer=case.call._response_deserializer,
        )
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(case.request, metadata=((KEY, key),), timeout=30)
        assert err.value.code() is grpc.StatusCode.UNAVAILABLE
        assert await asyncio.wait_for(process.wait(), 30) == -signal.SIGKILL
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await channel.close()

    committed = await case.count()
    assert committed > before, "the change was not committed before the kill"
    stored = await issuer.pool.fetchrow(
        "select * from idempotent_requests where caller = $1 and key = $2",
        case.identity,
        key,
    )
    assert stored is not None, "the answer was not committed with the change"

    reply = await case.call(case.request, metadata=((KEY, key),))
    # maps: compare as messages
    assert reply == type(reply).FromString(kept_answer(issuer.config, stored))
    assert await case.count() == committed


async def test_the_fault_hook_is_refused_unless_the_configuration_allows_it(
    config, tmp_path
):
    process, _ = await _start_issuer(config, tmp_path, allow=False)
    assert await asyncio.wait_for(process.wait(), 60) != 0
    logs = "".join(p.read_text() for p in tmp_path.glob("issuer-*.log"))
    assert "allow_fault_hooks" in logs
