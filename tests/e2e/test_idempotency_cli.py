"""The CLI's channels retry with one idempotency key per call (issue 21).

A stand-in server (the issuer's TLS pair, one generic handler) answers UNAVAILABLE
twice, then OK: the CLI's channel (``certseal.calls.channel``) retries by the published
service config, and every attempt carries the same generated key; the next change of
the same channel gets the next key (``<key>-2``: certseal/cli_keys.py). Against the real issuer, a mutation made through the
CLI's channel is stored under the generated key.
"""

from __future__ import annotations

import json

import grpc

from certseal import calls, dev_identities
from certseal.idempotency import METADATA_KEY
from certseal.retries import RETRY_SERVICE_CONFIG
from certseal.tlsfiles import server_credentials
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import issuer_pb2_grpc
from tests.conftest import issue_request, kept_answer

METHOD = "/certseal.v1.Issuer/SuspendLicence"


class Flaky(grpc.GenericRpcHandler):
    """Answers ``METHOD``: UNAVAILABLE for the first ``failures`` attempts of each key."""

    def __init__(self, failures: int):
        self.failures = failures
        self.keys: list[str] = []

    def service(self, details):
        if details.method != METHOD:
            return None

        async def handle(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            key = dict(context.invocation_metadata())[METADATA_KEY]
            self.keys.append(key)
            if self.keys.count(key) <= self.failures:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "try again")
            return pb.SuspendLicenceResponse().SerializeToString()

        return grpc.unary_unary_rpc_method_handler(handle)


async def test_the_cli_channel_retries_unavailable_with_one_key_per_call(config):
    flaky = Flaky(failures=2)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([flaky])
    port = server.add_secure_port(
        "127.0.0.1:0",
        server_credentials(
            config.tls.ca_file, config.tls.cert_file, config.tls.key_file
        ),
    )
    await server.start()
    try:
        async with calls.channel(config, f"localhost:{port}") as channel:
            stub = issuer_pb2_grpc.IssuerStub(channel)
            request = pb.SuspendLicenceRequest(identifier="x", reason="y")
            await stub.SuspendLicence(request, timeout=30)
            await stub.SuspendLicence(request, timeout=30)
    finally:
        await server.stop(0)
    first, second = flaky.keys[0], flaky.keys[3]
    assert flaky.keys == [first] * 3 + [second] * 3  # two failures, then the answer
    assert first.startswith("cli-") and second == f"{first}-2"


async def test_the_cli_channel_gives_up_after_the_policy_s_attempts(config):
    flaky = Flaky(failures=100)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([flaky])
    port = server.add_secure_port(
        "127.0.0.1:0",
        server_credentials(
            config.tls.ca_file, config.tls.cert_file, config.tls.key_file
        ),
    )
    await server.start()
    try:
        async with calls.channel(config, f"localhost:{port}") as channel:
            stub = issuer_pb2_grpc.IssuerStub(channel)
            try:
                await stub.SuspendLicence(pb.SuspendLicenceRequest(), timeout=30)
                raise AssertionError("answered")
            except grpc.aio.AioRpcError as exc:
                assert exc.code() is grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(0)
    policy = RETRY_SERVICE_CONFIG["methodConfig"][0]["retryPolicy"]
    assert len(flaky.keys) == policy["maxAttempts"] == 5
    assert len(set(flaky.keys)) == 1


def test_the_published_service_config_is_the_channels_one():
    """docs/operations.md shows the service config the channels use, verbatim."""
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    start = text.index("```json\n", text.index("Retries and idempotency keys")) + 8
    published = json.loads(text[start : text.index("```", start)])
    assert published == RETRY_SERVICE_CONFIG


async def test_a_mutation_through_the_cli_channel_is_stored_under_its_key(
    config, issuer, dept
):
    identity = dev_identities.dev_identity(config, f"dept:{dept.code}")
    async with calls.channel(config, f"localhost:{issuer.port}", identity) as channel:
        stub = issuer_pb2_grpc.IssuerStub(channel)
        reply = await stub.IssueLicence(issue_request(dept))
    rows = await issuer.pool.fetch(
        "select * from idempotent_requests where caller = $1", f"dept:{dept.code}"
    )
    assert [r["key"] for r in rows if r["key"].startswith("cli-")]
    assert any(
        pb.IssueLicenceResponse.FromString(kept_answer(config, r)) == reply
        for r in rows
    )
