"""The transparency log for the session, over the session's one database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from certseal.rpc import secure_channel
from certseal.v1 import tlog_pb2_grpc
from services.tlog.app import TlogApp


@pytest.fixture(scope="session")
async def tlog_app(config, issuer) -> AsyncIterator[TlogApp]:
    """One log process (sequencer and gRPC) for the session."""
    config.tlog.metrics_listen = ""
    config.tlog.poll_interval_s = 0.2
    app = TlogApp(config, listen="127.0.0.1:0")
    await app.start()
    yield app
    await app.stop(grace=1)


@pytest.fixture(scope="session")
def log_stub(stack, tlog_app):
    """``log_stub(identity)``: a TransparencyLog stub calling as that identity."""

    def stub(identity: str) -> tlog_pb2_grpc.TransparencyLogStub:
        ident = stack.ca.identity(identity)
        channel = secure_channel(
            f"localhost:{tlog_app.port}",
            str(stack.ca.ca_file),
            str(ident.cert_file),
            str(ident.key_file),
        )
        return tlog_pb2_grpc.TransparencyLogStub(channel)

    return stub
