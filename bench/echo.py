"""The reference server of ``make bench``: the limit a service is measured against.

A trivial unary gRPC handler over the same mTLS, in the same process model (uvloop,
grpc.aio), as a process of its own. It answers every unary method of every service
(``/certseal.v1.Issuer/IssueLicence``, ``/certseal.v1.Verifier/VerifyCode``, ...) with
an empty message, so the load generator drives it exactly as it drives the real
service: same request encoding, same callers, same channels. What the real service does
beyond this is its own cost; ``*_vs_echo`` is the real rate divided by this one.

``python -m bench.echo --listen HOST:PORT --ca CA --cert CERT --key KEY`` serves until
SIGTERM and prints nothing; the port is ready when a TCP connect succeeds.

``--model`` chooses the server's process model, for ``bench.server_model_bench`` (the
choice issue 17 asked to measure): ``aio`` (the default and the reference: grpc.aio on
uvloop, as every certseal service), ``sync`` (gRPC's synchronous server, the handler
on a thread of its pool) and ``sync-bridged`` (the synchronous server whose handler
runs a coroutine on an event loop in another thread and waits for it, as a certseal
handler would have to: its PostgreSQL, Kafka and index calls are asyncio's).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import threading
from concurrent import futures

import grpc
import uvloop

from certseal.tlsfiles import server_credentials

#: the empty message: an empty body decodes as any message's defaults
EMPTY = b""
MODELS = ("aio", "sync", "sync-bridged")
#: the synchronous server's handler threads (gRPC's examples use 10; 64 callers)
SYNC_THREADS = 16
OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]


async def _echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return EMPTY


class EchoHandler(grpc.GenericRpcHandler):
    """Every unary method: read the request's bytes, answer with ``handler``."""

    def __init__(self, handler: object = _echo):
        self._handler = grpc.unary_unary_rpc_method_handler(handler)

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        return self._handler


async def serve(listen: str, ca: str, cert: str, key: str) -> None:
    """Serve on ``listen`` (grpc.aio) until SIGTERM or SIGINT."""
    server = grpc.aio.server(options=OPTIONS)
    server.add_generic_rpc_handlers((EchoHandler(),))
    if server.add_secure_port(listen, server_credentials(ca, cert, key)) == 0:
        raise SystemExit(f"bench.echo: error: cannot listen on {listen}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1.0)


def serve_sync(listen: str, ca: str, cert: str, key: str, *, bridged: bool) -> None:
    """Serve on ``listen`` with gRPC's synchronous server until SIGTERM or SIGINT;
    ``bridged``: each call's answer comes from a coroutine on a uvloop event loop
    in a thread of its own (``asyncio.run_coroutine_threadsafe``)."""
    handler: object
    if bridged:
        loop = uvloop.new_event_loop()
        threading.Thread(target=loop.run_forever, daemon=True).start()

        async def answer() -> bytes:
            return EMPTY

        def handler(request: bytes, context: grpc.ServicerContext) -> bytes:
            return asyncio.run_coroutine_threadsafe(answer(), loop).result()

    else:

        def handler(request: bytes, context: grpc.ServicerContext) -> bytes:
            return EMPTY

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=SYNC_THREADS), options=OPTIONS
    )
    server.add_generic_rpc_handlers((EchoHandler(handler),))
    if server.add_secure_port(listen, server_credentials(ca, cert, key)) == 0:
        raise SystemExit(f"bench.echo: error: cannot listen on {listen}")
    server.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop(1.0).wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.echo")
    for name in ("listen", "ca", "cert", "key"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--model", choices=MODELS, default="aio")
    args = parser.parse_args()
    if args.model == "aio":
        uvloop.run(serve(args.listen, args.ca, args.cert, args.key))
    else:
        serve_sync(
            args.listen,
            args.ca,
            args.cert,
            args.key,
            bridged=args.model == "sync-bridged",
        )


if __name__ == "__main__":
    main()
