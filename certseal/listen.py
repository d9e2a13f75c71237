"""Why a service cannot listen on its configured address, in words an operator can
act on (the setting and the address, not ``[Errno 98]``, an OverflowError or grpcio's
"Failed to add port")."""

from __future__ import annotations

import errno
import ipaddress
import re
import socket
from collections.abc import Callable
from functools import partial
from typing import Any

from certseal.errors import invalid


def split_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (an IPv6 host in brackets: ``[::1]:9464``) as ``(host, port)``,
    the host without brackets. ValueError unless the port is an integer from 0 to
    65,535 (grpcio took 70000 as 4464 without a word) and the host an IP address or
    an RFC 1123 host name (``http://…``, ``999.1.1.1`` and an empty host passed
    ``config check`` and failed the start)."""
    host, sep, text = listen.rpartition(":")
    # ASCII digits: str.isdigit() also takes "²", which int() refuses (atk16 F3)
    if (
        not sep
        or not (text.isascii() and text.isdigit())
        or not 0 <= int(text) <= 65_535
    ):
        raise ValueError(f"{listen!r} is not host:port with a port from 0 to 65,535")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    # an IPv6 address in brackets and only there: gRPC reads "::1:50091" as a name
    if not is_host(host) or bracketed != (":" in host):
        raise ValueError(
            f"{listen!r}: {host!r} is not an IP address or a host name (give one; "
            "0.0.0.0 or [::] for every interface)"
        )
    return host, int(text)


#: a host name's label: letters, digits, '-' and '_' (RFC 2181 DNS names: Docker and
#: Compose name containers so), '-' not at either end
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def is_host(host: str) -> bool:
    """An IPv4 or IPv6 address, or a DNS name of at most 253 characters (without its
    root dot) whose labels are not all digits (``999.1.1.1`` is neither)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    name = host.removesuffix(".")
    labels = name.split(".")
    return (
        0 < len(name) <= 253
        and all(_LABEL.fullmatch(label) for label in labels)
        and not all(label.isdigit() for label in labels)
    )


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


def bind_error(listen: str) -> OSError | ValueError | None:
    """Why ``listen`` (:func:`split_listen`) cannot be listened on now, asked of the
    OS with a plain TCP socket of the address's own family (IPv4 or IPv6), opened
    and closed at once (grpcio does not say why); None if it can. An IPv6 wildcard
    (``[::]:P``, or no host) is tried dual-stack, as gRPC listens on it: an IPv4
    holder of the port is found too; on a machine without IPv6, as ``0.0.0.0``. A
    name is tried at every address it resolves to, as gRPC listens on each
    (``localhost``: ``::1`` and ``127.0.0.1``): a holder of any one is found."""
    try:
        host, port = split_listen(listen)
        if host in ("", "::"):  # every interface: as gRPC listens there
            dualstack = socket.has_dualstack_ipv6()
            family = socket.AF_INET6 if dualstack else socket.AF_INET
            host = host if dualstack else "0.0.0.0"  # no IPv6: gRPC takes IPv4's
            with socket.create_server(
                (host, port), family=family, dualstack_ipv6=dualstack
            ):
                return None
        found = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        for family, address in dict.fromkeys((f, a[0]) for f, _, _, _, a in found):
            with socket.create_server((address, port), family=family):
                pass
        return None
    except (OSError, ValueError) as exc:
        return exc


def check_listen_address(setting: str, listen: str) -> None:
    """CertsealError (INVALID_ARGUMENT, field ``setting``) when ``listen`` is not
    ``host:port`` (:func:`split_listen`), without binding it: for a check made away
    from the machine that will listen (``certseal config check``), where a port
    held by the running process is no fault."""
    try:
        split_listen(listen)
    except ValueError as exc:
        raise invalid(setting, str(exc)) from None


def check_listen(setting: str, listen: str) -> None:
    """CertsealError (INVALID_ARGUMENT, field ``setting``) when ``listen`` cannot be
    listened on now: a malformed address or port, a port taken, a host not this
    machine's. For a server that binds alone (not with SO_REUSEPORT beside its
    siblings), before it starts: grpcio logs a line of its own on a failed bind."""
    problem = bind_error(listen)
    if isinstance(problem, ValueError):
        raise invalid(setting, str(problem))
    if problem is not None:
        raise invalid(setting, bind_problem(listen, problem))


def add_secure_port(
    server: Any, listen: str, credentials: Any, setting: str, *, alone: bool = True
) -> int:
    """``server.add_secure_port(listen, credentials)`` of a ``grpc.aio.Server``; its
    port. Raises CertsealError (INVALID_ARGUMENT, field ``setting``, e.g.
    ``issuer.listen``) when ``listen`` cannot be bound, saying why (grpcio's own
    RuntimeError, "Failed to bind to address", says neither). ``alone``: checked
    first with :func:`check_listen` (False for SO_REUSEPORT siblings, which share
    the port). ``credentials`` None: a plaintext port (the probes')."""
    if alone:
        check_listen(setting, listen)
    else:
        try:
            split_listen(listen)
        except ValueError as exc:
            raise invalid(setting, str(exc)) from exc
    try:
        port = int(
            server.add_insecure_port(listen)
            if credentials is None
            else server.add_secure_port(listen, credentials)
        )
    except RuntimeError as exc:
        raise invalid(setting, bind_problem(listen, bind_error(listen))) from exc
    if port == 0:
        raise invalid(setting, bind_problem(listen, bind_error(listen)))
    return port


#: the target schemes of gRPC's name resolution (``dns:///host:port``, ...)
GRPC_SCHEMES = frozenset({"dns", "ipv4", "ipv6", "unix", "unix-abstract", "vsock"})


def check_target(setting: str, target: str, *, schemes: bool = True) -> None:
    """CertsealError (INVALID_ARGUMENT, field ``setting``) unless ``target`` is a
    service's address as a client dials it: ``host:port`` (a DNS name or an IP
    address, IPv6 in brackets; a port from 1 to 65,535) or, with ``schemes``, a gRPC
    target of one of :data:`GRPC_SCHEMES` (``dns:///seal:50053``, ``unix:/path``).
    ``http://x:1`` made every call UNAVAILABLE, and the operator page showed a group
    that was never asked."""
    scheme, colon, rest = target.partition(":")
    if schemes and colon and scheme.lower() in GRPC_SCHEMES:
        if scheme.lower() in ("ipv4", "ipv6"):  # ipv4:1.2.3.4:50051,5.6.7.8:50051
            if all(_ip_dialled(scheme.lower(), one) for one in rest.split(",")):
                return
        elif scheme.lower() != "dns":
            if rest.strip():  # a path or a vsock address, as gRPC reads them
                return
        elif _dialled(rest.removeprefix("//").rpartition("/")[2]):
            return  # dns:[//authority/]host:port
    elif _dialled(target) and scheme.lower() not in GRPC_SCHEMES:
        return
    raise invalid(
        setting,
        f"{target!r} is not host:port (a DNS name, an IPv4 address or a bracketed IPv6 "
        "address, and a port from 1 to 65,535)"
        + (" or a gRPC target such as dns:///host:port" if schemes else ""),
    )


def _ip_dialled(scheme: str, address: str) -> bool:
    """``address`` is an IP address of ``scheme``'s version (``ipv4``, ``ipv6``)
    and a port a client can dial, as gRPC's ``ipv4:`` and ``ipv6:`` targets list
    them (``ipv4:garbage`` made no channel at all, naming the command)."""
    try:
        host, port = split_listen(address)
        return port >= 1 and ipaddress.ip_address(host).version == int(scheme[-1])
    except ValueError:
        return False


def _dialled(address: str) -> bool:
    """``address`` is ``host:port`` with a port a client can dial (not 0)."""
    try:
        return split_listen(address)[1] >= 1
    except ValueError:
        return False


#: the form an address setting must have, by its name's last word
_FORMS: dict[str, Callable[[str, str], None]] = {
    "listen": check_listen_address,
    "target": check_target,
}


def _may_share_a_port(one: str, other: str) -> bool:
    """Whether two listen hosts can both bind one port (Linux): two different IP
    addresses, neither a wildcard (``0.0.0.0`` and ``::`` take the port on every
    address: gRPC binds ``0.0.0.0`` as a dual-stack ``[::]``, so ``[::1]`` clashes
    with it too). An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) is its IPv4
    address; a name may resolve to any address."""
    try:
        a, b = (_as_bound(ipaddress.ip_address(host)) for host in (one, other))
    except ValueError:
        return False
    return a != b and not (a.is_unspecified or b.is_unspecified)


def _as_bound(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IPv4-mapped IPv6 address as the IPv4 address a socket binds."""
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


def check_distinct_listens(section: Any, name: str) -> None:
    """INVALID_ARGUMENT naming the later of two ``…listen`` settings of ``section``
    (``[name]``; one process binds them all) that give one port (not 0) on
    addresses that cannot share it (:func:`_may_share_a_port`): the start would
    fail on the second bind and blame "another process". A setting not in the
    form of :func:`split_listen` is left to :func:`check_listen_address`."""
    bound: list[str] = []
    for field in section.__struct_fields__:
        address = getattr(section, field)
        if field.rpartition("_")[2] != "listen" or not address:
            continue
        for other in bound:
            if ports_clash(address, getattr(section, other)):
                raise invalid(
                    f"{name}.{field}",
                    f"{address} takes the port of {name}.{other} "
                    f"({getattr(section, other)}); give each its own port",
                )
        bound.append(field)


def ports_clash(one: str, other: str) -> bool:
    """Whether two ``host:port`` listen addresses of one machine cannot both be
    bound: one port (not 0: any free one) on hosts that cannot share it
    (:func:`_may_share_a_port`). False for an address not in the form of
    :func:`split_listen` (:func:`check_listen_address` tells it)."""
    try:
        (host, port), (other_host, other_port) = map(split_listen, (one, other))
    except ValueError:
        return False
    return bool(port) and port == other_port and not _may_share_a_port(host, other_host)


def address_checks(
    section: Any, name: str, kinds: tuple[str, ...] = ("listen", "target")
) -> list[Callable[[], None]]:
    """One check per address setting of ``section`` (a msgspec Struct, ``[name]``)
    whose name ends in one of ``kinds``: ``…listen`` (an address it binds: its form,
    :func:`check_listen_address`) and ``…_target`` (one it dials:
    :func:`check_target`), each of those set."""
    return [
        partial(_FORMS[kind], f"{name}.{field}", address)
        for field in section.__struct_fields__
        if (kind := field.rpartition("_")[2]) in kinds
        and (address := getattr(section, field))
    ]
