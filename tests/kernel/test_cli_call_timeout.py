"""A command's calls have a deadline, ``[cli] call_timeout_s`` (trial48: a service
that took a call and was then stopped held ``licence suspend`` for ever, 124 s and
counting). At the deadline the command says what happened and, for a change, the key
that repeats it once."""

from __future__ import annotations

import contextlib
import copy
import math
import socket
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


def _tls_server(config, handler: grpc.GenericRpcHandler) -> tuple[grpc.Server, str]:
    """A started TLS server (the issuer's pair) of ``handler``, and its target."""
    server = grpc.server(futures.ThreadPoolExecutor(4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_secure_port(
        "127.0.0.1:0",
        server_credentials(
            config.tls.ca_file, config.tls.cert_file, config.tls.key_file
        ),
    )
    server.start()
    return server, f"localhost:{port}"


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

    server, target = _tls_server(config, Generic())
    yield target
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
    assert "or the call needs longer (a large document" in err.value.message
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


@pytest.fixture
def prompt_server(config):
    """A TLS server (the issuer's pair) answering every call at once: unary with an
    empty message, a server stream with the call's deadline as the server sees it
    (gRPC's infinite one when none), then, released, another message."""
    release = threading.Event()

    def unary(request, context):
        return b""

    def stream(request, context):
        yield repr(context.time_remaining()).encode()
        release.wait(60)
        yield b"later"

    class Generic(grpc.GenericRpcHandler):
        def service(self, details):
            if details.method.endswith("/Subscribe"):
                return grpc.unary_stream_rpc_method_handler(stream)
            return grpc.unary_unary_rpc_method_handler(unary)

    server, target = _tls_server(config, Generic())
    yield target, release
    release.set()
    server.stop(None)


def _get(channel):
    request = pb.GetLicenceRequest(identifier="1.2.156.3005.2.X")
    return issuer_pb2_grpc.IssuerStub(channel).GetLicence(request)


def test_the_shortest_deadline_allowed_answers_a_prompt_service(config, prompt_server):
    """atk48c: the deadline given as gRPC's service config ``timeout`` ran from a
    time about a second before the call (gRPC's start time of the call), so at
    ``call_timeout_s = 1``, a setting the range allows, every call failed at once,
    "gave no answer within 1 s", and 2 s left well under a second."""
    target, _ = prompt_server
    cfg = copy.deepcopy(config)
    cfg.cli.call_timeout_s = 1.0
    for _ in range(3):
        assert calls.call_service(cfg, target, _get, service="issuer") == (
            pb.GetLicenceResponse()
        )


def test_a_followed_stream_has_no_deadline(config, prompt_server):
    """atk48c: the deadline went to every call, ``events tail``'s stream
    (EventFeed/Subscribe, followed until Ctrl-C) too: it ended at
    ``call_timeout_s`` saying the feed "took the call and gave no answer", its
    events flowing or not. The server sees no deadline on it."""
    target, release = prompt_server
    cfg = copy.deepcopy(config)
    cfg.cli.call_timeout_s = 1.0

    async def subscribe(channel):
        call = channel.unary_stream("/certseal.v1.EventFeed/Subscribe")(b"")
        said = [await call.read()]
        assert float(said[0]) > 3600, said  # no deadline: gRPC's infinite one
        release.set()
        said.append(await call.read())
        return said

    said = calls.call_service(cfg, target, subscribe, service="feed")
    assert said[1] == b"later"


@pytest.fixture
def silent_port():
    """A port that takes TCP connections and never says a word (atk52: PostgreSQL's
    or a broker's port given for a service's, which wait for more of what they take
    for their own protocol; a port-forward with nothing behind it)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"localhost:{listener.getsockname()[1]}"
    done.set()
    thread.join(5)
    for conn in held:
        conn.close()
    listener.close()


@pytest.mark.parametrize("call", [_suspend, _get], ids=["change", "read"])
def test_a_call_whose_connection_never_finished_tls_is_said_not_sent(
    config, silent_port, call
):
    """Its deadline came before any connection was made: "took the call and gave no
    answer" was false, and a change's "not known to be done" too (atk52)."""
    cfg = copy.deepcopy(config)
    cfg.cli.call_timeout_s = 1.0
    with command("counter-10") as keys, pytest.raises(CertsealError) as err:
        calls.call_service(cfg, silent_port, call, service="issuer")
    assert err.value.kind is ErrorKind.UNAVAILABLE and err.value.field == "issuer"
    assert err.value.message.startswith(
        f"no connection to {silent_port} was made within 1 s (cli.call_timeout_s), "
        "so the call was not sent: it takes a connection but never finishes a TLS "
        "handshake"
    ), err.value.message
    assert stop_words(keys, interrupted=False) is None  # nothing may be done


@pytest.fixture
def closing_port():
    """A port that takes each TCP connection and closes it at once, before any TLS
    (a port-forward with nothing behind it)."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                listener.accept()[0].close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    done.set()
    thread.join(5)
    listener.close()


def test_a_connection_closed_before_tls_is_said_not_sent(config, closing_port):
    """gRPC gave up on the connection before the command's deadline (its own
    handshake timeout does the same for a silent port, about 20 s in): the words
    said the port took the connection, not that the call was never sent (trial52)."""
    cfg = copy.deepcopy(config)
    cfg.cli.call_timeout_s = 30.0
    with command("counter-11") as keys, pytest.raises(CertsealError) as err:
        calls.call_service(cfg, closing_port, _suspend, service="issuer")
    assert err.value.message.startswith(
        f"{closing_port} takes a connection but closes it before any TLS, so the "
        "call was not sent: "
    ), err.value.message
    assert stop_words(keys, interrupted=False) is None
