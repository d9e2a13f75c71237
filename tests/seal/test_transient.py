"""The seal service's PostgreSQL sessions terminated during SealDocument and
RegisterSeal requests (issue 21): every failure is UNAVAILABLE or ABORTED saying a
retry with the same key is safe, and the retries complete each request exactly once
(one ``seal.used`` event per signing, one seal row per registration)."""

from __future__ import annotations

import secrets

from certseal.v1 import seal_pb2 as pb
from tests.conftest import seal_owner
from tests.transient import complete_through_terminated_sessions


async def test_terminated_sessions_fail_retryably_and_a_retry_completes_once(
    seal_stub, seal_app, operator
):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal = (
        await stub.RegisterSeal(pb.RegisterSealRequest(name="示例公司", suite="es256"))
    ).seal
    calls = [
        (
            f"s-doc-{i}-{secrets.token_hex(4)}",
            stub.SealDocument,
            pb.SealDocumentRequest(seal_id=seal.seal_id, document=b"doc %d" % i),
        )
        for i in range(30)
    ] + [
        (
            f"s-reg-{i}-{secrets.token_hex(4)}",
            stub.RegisterSeal,
            pb.RegisterSealRequest(name=f"示例公司{i}部", suite="ed25519"),
        )
        for i in range(10)
    ]
    await complete_through_terminated_sessions(
        seal_app.config.database.dsn(), calls, batch=8
    )

    sealed = await seal_app.pool.fetchval(
        "select count(*) from outbox where key = $1", seal.seal_id.encode()
    )
    assert sealed == 1 + 30  # registered, then each document sealed once
    seals = await seal_app.pool.fetchval(
        "select count(*) from seals where owner_code = $1", owner
    )
    assert seals == 1 + 10
