"""Why a service cannot listen on its configured address, in words an operator can
act on (the setting and the address, not ``[Errno 98]`` or grpcio's "Failed to bind").
"""

from __future__ import annotations

import errno
import socket
from typing import Any

from certseal.errors import invalid


def bind_problem(address: str, exc: BaseException | None = None) -> str:
    """Why a service cannot listen on ``address`` (``host:port``), for an error
    naming the setting: the port is taken (EADDRINUSE), the host is not this
    machine's (EADDRNOTAVAIL), or the OS's own reason."""
    code = getattr(exc, "errno", None)
    if code == errno.EADDRINUSE:
        reason = "is already in use (another process listens there)"
    elif code == errno.EADDRNOTAVAIL:
        reason = "is not an address of this machine"
    elif exc is None:
        reason = "cannot be listened on"
    else:
        reason = f"cannot be listened on ({getattr(exc, 'strerror', None) or exc})"
    return f"{address} {reason}; choose another address in the configuration"


def bind_error(listen: str) -> OSError | None:
    """Why ``listen`` (``host:port``, IPv6 hosts in brackets) cannot be listened on
    now, asked of the OS with a plain TCP socket opened and closed at once (grpcio
    does not say why); None if it can, or if ``listen`` is no ``host:port``."""
    host, _, port = listen.rpartition(":")
    try:
        with socket.create_server((host.strip("[]"), int(port))):
            return None
    except (OSError, ValueError) as exc:
        return exc if isinstance(exc, OSError) else None


def add_secure_port(server: Any, listen: str, credentials: Any, setting: str) -> int:
    """``server.add_secure_port(listen, credentials)`` of a ``grpc.aio.Server``; its
    port. Raises CertsealError (INVALID_ARGUMENT, field ``setting``, e.g.
    ``issuer.listen``) when ``listen`` cannot be bound, saying why (grpcio's own
    RuntimeError, "Failed to bind to address", says neither)."""
    try:
        port = int(server.add_secure_port(listen, credentials))
    except RuntimeError as exc:
        raise invalid(setting, bind_problem(listen, bind_error(listen))) from exc
    if port == 0:
        raise invalid(setting, bind_problem(listen, bind_error(listen)))
    return port
