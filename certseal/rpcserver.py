"""A service's gRPC server: mTLS with the interceptor, health and reflection, and the
plaintext probe port Kubernetes' gRPC probes ask (the kubelet presents no client
certificate). Assembled by :mod:`certseal.process` and the verifier's worker."""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from certseal.listen import add_secure_port
from certseal.rpc import ServiceInterceptor

LIVENESS = "liveness"  # the health service name Kubernetes' liveness probe asks


class Health:
    """The standard health service; every service starts NOT_SERVING."""

    def __init__(self, services: Iterable[str]):
        self.servicer = health.aio.HealthServicer()
        self._services = ["", *services]
        self.serving = False  # as last set

    async def set_serving(self, serving: bool) -> None:
        """Set every registered service (and the server as a whole)."""
        self.serving = serving
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in self._services:
            await self.servicer.set(name, status)


def build_server(
    *,
    listen: str,
    credentials: grpc.ServerCredentials,
    interceptor: ServiceInterceptor,
    health_: Health,
    service_names: Iterable[str],
    reuse_port: bool = False,
    setting: str = "listen",
) -> tuple[grpc.aio.Server, int]:
    """A server with the interceptor, health and reflection; returns it and its port.

    ``reuse_port`` lets several worker processes listen on one port (SO_REUSEPORT):
    the kernel spreads connections across them. Errors: :func:`add_secure_port`.
    """
    server = grpc.aio.server(
        interceptors=[interceptor],
        options=[
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            ("grpc.so_reuseport", int(reuse_port)),
        ],
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_.servicer, server)
    reflection.enable_server_reflection(
        [
            *service_names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    port = add_secure_port(server, listen, credentials, setting, alone=not reuse_port)
    return server, port


async def start_probe_server(
    listen: str, health_: Health, setting: str = "probe_listen", *, alone: bool = True
) -> grpc.aio.Server:
    """A plaintext server with only the health service, for Kubernetes' gRPC probes.

    The kubelet's probes cannot present a client certificate, so the mTLS port cannot
    answer them; this port says SERVING or not and nothing else: the readiness probe
    asks for the server as a whole, the liveness probe for :data:`LIVENESS`;
    ``alone``: False for SO_REUSEPORT siblings (the issuer's serving workers)."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", int(not alone))])
    health_pb2_grpc.add_HealthServicer_to_server(health_.servicer, server)
    # liveness: SERVING while the process runs, whatever its dependencies say, so
    # that a database outage makes pods unready, not restarted
    await health_.servicer.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
    add_secure_port(server, listen, None, setting, alone=alone)  # None: plaintext
    await server.start()
    return server
