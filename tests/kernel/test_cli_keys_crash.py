"""A change whose service died after taking it is said with its key (atk48 F1).

The service commits the change and is killed before its answer (the crash the
idempotency store is built for: ``CERTSEAL_TEST_FAULT=after-commit``). The CLI's
channel retries, each retry finds nobody listening, and gRPC's last word is "failed
to connect to all addresses": read as "nothing was sent", the command said no key,
and the clerk's second try made the change again. Here the service is a real mTLS
gRPC server in its own process that SIGKILLs itself on the call, and the channel is
the CLI's own (:func:`certseal.calls.channel`)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest

from certseal import calls
from certseal.cli_keys import (
    CommandKeys,
    _Tries,
    command,
    connection_lost,
    left_unknown,
    never_sent,
    stop_words,
)
from certseal.devpki import DevCA
from certseal.errors import CertsealError, ErrorKind
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import issuer_pb2_grpc
from services.devstack import free_port

#: a server that takes RevokeLicence and dies with it, as a process killed after its
#: commit does (or, given "stop", stops as on SIGTERM, ending the calls it has); it
#: prints its port once it serves
DYING = """
import asyncio, os, signal, sys
import grpc
from certseal.tlsfiles import server_credentials

async def main():
    server, stopping = grpc.aio.server(), []

    async def revoke(request, context):
        if sys.argv[4:] != ["stop"]:
            os.kill(os.getpid(), signal.SIGKILL)
        stopping.append(asyncio.ensure_future(server.stop(0)))
        await asyncio.Event().wait()  # ended by the stop

    handlers = {"RevokeLicence": grpc.unary_unary_rpc_method_handler(revoke)}
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("certseal.v1.Issuer", handlers),)
    )
    port = server.add_secure_port("127.0.0.1:0", server_credentials(*sys.argv[1:4]))
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()

asyncio.run(main())
"""


def _cli_config(folder: Path) -> SimpleNamespace:
    ca = DevCA(folder)
    cli = ca.identity("operator:cli")
    return SimpleNamespace(
        tls=SimpleNamespace(ca_file=str(ca.ca_file)),
        cli=SimpleNamespace(
            cert_file=str(cli.cert_file), key_file=str(cli.key_file), call_timeout_s=120
        ),
        ca=ca,
    )


async def _revoke(cfg: SimpleNamespace, target: str) -> grpc.aio.AioRpcError:
    async with calls.channel(cfg, target) as channel:
        stub = issuer_pb2_grpc.IssuerStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await stub.RevokeLicence(
                pb.RevokeLicenceRequest(identifier="x", reason="y"), timeout=60
            )
    return failed.value


async def test_a_change_the_service_died_on_is_said_with_its_key(tmp_path):
    cfg = _cli_config(tmp_path)
    server = cfg.ca.identity("service:issuer", server=True)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        DYING,
        str(cfg.ca.ca_file),
        str(server.cert_file),
        str(server.key_file),
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parents[2],
    )
    try:
        async with asyncio.timeout(60):
            port = int(await process.stdout.readline())
        with command("counter-9") as keys:
            failed = await _revoke(cfg, f"localhost:{port}")
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    assert process.returncode == -9  # it took the call and died with it
    assert failed.code() is grpc.StatusCode.UNAVAILABLE
    assert keys.unsettled == {"counter-9": "RevokeLicence"}


async def test_a_change_never_sent_through_the_cli_channel_is_settled(tmp_path):
    """Nobody listening at all: nothing was sent, so nothing is said."""
    cfg = _cli_config(tmp_path)
    with command("counter-10") as keys:
        failed = await _revoke(cfg, f"localhost:{free_port()}")
    assert failed.code() is grpc.StatusCode.UNAVAILABLE
    assert not keys.unsettled


@contextlib.contextmanager
def _dying(
    cfg: SimpleNamespace, ending: str
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The :data:`DYING` server, ending as ``ending`` says (``kill``, ``stop``), in
    its own process, and its target."""
    server = cfg.ca.identity("service:issuer", server=True)
    files = (cfg.ca.ca_file, server.cert_file, server.key_file)
    process = subprocess.Popen(
        [sys.executable, "-c", DYING, *map(str, files), ending],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    try:
        yield process, f"localhost:{int(process.stdout.readline())}"
    finally:
        if process.returncode is None:
            process.kill()
        process.wait()


def _revoke_call(channel: grpc.aio.Channel) -> object:
    stub = issuer_pb2_grpc.IssuerStub(channel)
    return stub.RevokeLicence(pb.RevokeLicenceRequest(identifier="x", reason="y"))


@pytest.mark.parametrize(("ending", "status"), [("kill", -9), ("stop", 0)])
def test_a_connection_lost_during_a_change_is_not_said_as_never_started(
    tmp_path, ending, status
):
    """trial49 L4: the service killed (or stopped) with a change in flight; the
    command's first line was "is unreachable: is certseal running?", as if it had
    never been started, its retries having found nobody listening. It says the
    connection was lost after the call was sent; the next line says the key."""
    cfg = _cli_config(tmp_path)
    with _dying(cfg, ending) as (process, target), command("counter-11") as keys:
        with pytest.raises(CertsealError) as err:
            calls.call_service(cfg, target, _revoke_call, service="issuer")
        assert process.wait() == status  # it took the call and ended with it
    assert (err.value.field, err.value.kind) == ("issuer", ErrorKind.UNAVAILABLE)
    assert err.value.message == (
        f"the connection to {target} was lost after the call was sent: the issuer "
        "there stopped or was restarted (see its log), or the network dropped the "
        "connection"
    )
    assert stop_words(keys, interrupted=False) == (
        "RevokeLicence: not known to be done; to be sure it is done once, run the "
        "same command again with --idempotency-key counter-11"
    )


def test_a_service_never_reached_is_still_said_unreachable(tmp_path):
    """The other side of L4: nobody listening at all is "is certseal running?",
    with no key (nothing was sent)."""
    cfg = _cli_config(tmp_path)
    target = f"localhost:{free_port()}"
    with command("counter-12") as keys, pytest.raises(CertsealError) as err:
        calls.call_service(cfg, target, _revoke_call, service="issuer")
    assert err.value.message.startswith(
        f"{target} is unreachable: is certseal running?"
    )
    assert stop_words(keys, interrupted=False) is None


#: gRPC's details (1.85) of a call to a name that does not resolve
NOT_RESOLVED = (
    "errors resolving issuer.certseal.svc:50051: [field:hostname lookup error:address "
    "lookup failed for issuer.certseal.svc:50051: Domain name not found]"
)


def _failure(details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(),
        details=details,
    )


class _Failed:
    """An attempt's call, ended with ``exc``."""

    def __init__(self, exc: grpc.aio.AioRpcError):
        self.exc = exc

    def __await__(self):  # type: ignore[no-untyped-def]
        raise self.exc
        yield  # a generator: what await takes


@pytest.mark.parametrize(
    "details",
    [
        NOT_RESOLVED,
        "DNS resolution failed for issuer:50051: C-ares status is not ARES_SUCCESS",
        "empty address list: ",
        "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:9: "
        "Failed to connect to remote host: Connection refused",
    ],
)
def test_a_name_not_resolved_is_a_call_never_sent(details):
    """atk52: a name that did not resolve was read as a call that may have reached
    the service."""
    failed = _failure(details)
    assert never_sent(failed) and not left_unknown(failed)
    assert not connection_lost(failed)


async def test_a_change_whose_service_went_with_its_name_is_told_the_lost_connection(
    monkeypatch,
):
    """The service killed with the change and its name gone with it (a pod's, in
    Kubernetes): the retries' "host not found" was the change's error (exit 2, "a
    name mistyped"), not the connection lost with the change in it."""
    monkeypatch.setattr(random, "uniform", lambda low, high: 0.0)  # no backoff
    attempts = [_Failed(_failure("Socket closed"))]
    attempts += [_Failed(_failure(NOT_RESOLVED)) for _ in range(4)]
    given = iter(attempts)

    async def continuation(details, request):  # type: ignore[no-untyped-def]
        return next(given)

    tries = _Tries()
    details = grpc.aio.ClientCallDetails(
        "/certseal.v1.Issuer/RevokeLicence", None, None, None, None
    )
    told = await CommandKeys()._attempts(continuation, details, object(), tries)
    assert told is attempts[0] and tries.reached
    assert next(given, None) is None  # every attempt made


def test_a_change_to_a_host_not_found_is_not_said_to_be_maybe_done(tmp_path):
    """Its error says the host is not found; its key was said as not known to be
    done (run again with it), for a change nothing was sent of."""
    cfg = _cli_config(tmp_path)
    with command("counter-13") as keys, pytest.raises(CertsealError) as err:
        calls.call_service(
            cfg, "no-such-host.invalid:50051", _revoke_call, service="issuer"
        )
    assert err.value.field == "cli.issuer_target", err.value.message
    assert stop_words(keys, interrupted=False) is None
