"""A command's calls have a deadline, ``[cli] call_timeout_s`` (trial48: a service
that took a call and was then stopped held ``licence suspend`` for ever, 124 s and
counting). At the deadline the command says what happened and, for a change, the key
that repeats it once."""

from __future__ import annotations

import copy
import math
import threading
import time
from concurrent import futures

import grpc
import pytest

from certseal import calls
from certseal.cli_keys import command, stop_words
from certseal.errors import CertsealError, ErrorKind
from certseal.tlsfiles import server_credentials
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import issuer_pb2_grpc


@pytest.fixture
def deaf_issuer(config):
    """A TLS server (the issuer's pair) that takes every call and never answers."""
    release = threading.Event()

    def handler(details):
        def hold(request, context):
            release.wait(60)
            return b""

        return grpc.unary_unary_rpc_method_handler(hold)

    class Generic(grpc.GenericRpcHandler):
        def service(self, details):
            return handler(details)

    server = grpc.server(futures.ThreadPoolExecutor(4))
    server.add_generic_rpc_handlers((Generic(),))
    port = server.add_secure_port(
        "127.0.0.1:0",
        server_credentials(
            config.tls.ca_file, config.tls.cert_file, config.tls.key_file
        ),
    )
    server.start()
    yield f"localhost:{port}"
    release.set()
    server.stop(None)


def _suspend(channel):
    request = pb.SuspendLicenceRequest(identifier="1.2.156.3005.2.X", reason="r")
    return issuer_pb2_grpc.IssuerStub(channel).SuspendLicence(request)


def test_a_change_nobody_answers_ends_at_the_deadline_saying_its_key(
    config, deaf_issuer
):
    cfg = copy.deepcopy(config)
    cfg.cli.call_timeout_s = 1.0
    started = time.monotonic()
    with command("counter-9") as keys, pytest.raises(CertsealError) as err:
        calls.call_service(cfg, deaf_issuer, _suspend, service="issuer")
    assert time.monotonic() - started < 10  # one attempt: the deadline is no retry
    assert err.value.kind is ErrorKind.UNAVAILABLE and err.value.field == "issuer"
    assert "gave no answer within 1 s (cli.call_timeout_s)" in err.value.message
    assert stop_words(keys, interrupted=False) == (
        "SuspendLicence: not known to be done; to be sure it is done once, run the "
        "same command again with --idempotency-key counter-9"
    )


@pytest.mark.parametrize("value", [0.0, 0.5, 3601.0, math.nan, math.inf])
def test_a_deadline_outside_its_range_is_the_settings_fault(config, value):
    cfg = copy.deepcopy(config)
    cfg.cli.call_timeout_s = value
    with pytest.raises(CertsealError) as err:
        calls.call_timeout(cfg)
    assert err.value.field == "cli.call_timeout_s"
    assert err.value.message.startswith("must be 1 to 3,600 s")


def test_the_default_deadline_is_two_minutes(config):
    from services.config import CliConfig

    assert CliConfig().call_timeout_s == 120.0
    assert calls.call_timeout(config) == 120.0
