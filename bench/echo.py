"""The reference server of ``make bench``: the limit a service is measured against.

A trivial unary gRPC handler over the same mTLS, in the same process model (uvloop,
grpc.aio), as a process of its own. It answers every unary method of every service
(``/certseal.v1.Issuer/IssueLicence``, ``/certseal.v1.Verifier/VerifyCode``, ...) with
an empty message, so the load generator drives it exactly as it drives the real
service: same request encoding, same callers, same channels. What the real service does
beyond this is its own cost; ``*_vs_echo`` is the real rate divided by this one.

``python -m bench.echo --listen HOST:PORT --ca CA --cert CERT --key KEY`` serves until
SIGTERM and prints nothing; the port is ready when a TCP connect succeeds.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import grpc
import uvloop

from certseal.tlsfiles import server_credentials

#: the empty message: an empty body decodes as any message's defaults
EMPTY = b""


async def _echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return EMPTY


class EchoHandler(grpc.GenericRpcHandler):
    """Every unary method: read the request's bytes, answer the empty message."""

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(_echo)


async def serve(listen: str, ca: str, cert: str, key: str) -> None:
    """Serve on ``listen`` until SIGTERM or SIGINT."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
        ],
    )
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


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.echo")
    for name in ("listen", "ca", "cert", "key"):
        parser.add_argument(f"--{name}", required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.listen, args.ca, args.cert, args.key))


if __name__ == "__main__":
    main()
