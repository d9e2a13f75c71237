"""The ``certseal`` commands' calls to the services: the mTLS channel every call
goes through (with the published retry policy and an idempotency key per call),
errors as the service sent them, and a call nobody answered said as what is wrong
(a target that is no address, a client identity the services refuse) before "is
certseal running?". The dev identities a command acts as (``--as``) are
:mod:`certseal.dev_identities`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

import grpc

from certseal.cli_keys import ConnectionWatch, command_keys, connection_lost, never_sent
from certseal.errors import CertsealError, ErrorKind, invalid

T = TypeVar("T")


def channel(
    cfg: Any,
    target: str,
    identity: tuple[str, str] | None = None,
    watch: ConnectionWatch | None = None,
) -> Any:
    """An mTLS channel to ``target`` as ``identity`` (cert, key files), by default the
    CLI's configured one (``[cli] cert_file``, ``key_file``).

    Every command's calls go through here, so here they get the published retry
    policy (:data:`certseal.retries.RETRY_SERVICE_CONFIG`: UNAVAILABLE and ABORTED
    retried with exponential backoff) and the command's idempotency keys
    (:class:`certseal.cli_keys.CommandKeys`, one per change, repeated by the call's
    retries and by the command run again with its ``--idempotency-key``): a change
    retried after a lost answer is made once. A change's retries are its keys'
    (gRPC's are off for it), which see whether any attempt reached the service.
    ``watch`` learns whether any of its calls may have been sent.
    """
    from certseal.idempotency import KEYED_METHODS
    from certseal.retries import retrying_options
    from certseal.rpc import secure_channel

    cert, key = identity or (cfg.cli.cert_file, cfg.cli.key_file)
    # a wrong file is the setting's fault, said so (gRPC: "is certseal running?")
    own = ("cli.cert_file", "cli.key_file") if identity is None else ("as", "as")
    watch = watch or ConnectionWatch()
    return secure_channel(
        target,
        cfg.tls.ca_file,
        cert,
        key,
        fields=("tls.ca_file", *own),
        # asked once a call has a connection: whether any call may have been sent
        call_credentials=watch.credentials(),
        # the deadline inside the keys: each attempt of a change has its own
        interceptors=[
            command_keys().watching(watch),
            CallDeadline(call_timeout(cfg)),
        ],
        **retrying_options(KEYED_METHODS),
    )


class CallDeadline(grpc.aio.UnaryUnaryClientInterceptor):
    """Each unary call's deadline, ``timeout_s`` seconds from when it is made (a
    call that gives a shorter one keeps its own). Not a service config's
    ``timeout``, which gRPC counted from about a second before the call (at
    ``call_timeout_s = 1`` every call failed at once) and gave a stream too
    (``events tail`` ended at the deadline, its events flowing; atk48c)."""

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        given = client_call_details.timeout
        timeout = self.timeout_s if given is None else min(given, self.timeout_s)
        return await continuation(
            client_call_details._replace(timeout=timeout), request
        )


#: ``[cli] call_timeout_s``'s range, in seconds
CALL_TIMEOUT_RANGE_S = (1.0, 3600.0)


def call_timeout(cfg: Any) -> float:
    """``[cli] call_timeout_s``: seconds a command waits for each call's answer.
    INVALID_ARGUMENT outside :data:`CALL_TIMEOUT_RANGE_S` (trial48: a service that
    took a call and stopped held the command for ever)."""
    timeout = cfg.cli.call_timeout_s
    low, high = CALL_TIMEOUT_RANGE_S
    if not low <= timeout <= high:  # NaN too
        raise invalid(
            "cli.call_timeout_s", f"must be {low:g} to {high:,g} s (got {timeout})"
        )
    return float(timeout)


def call_service(
    cfg: Any,
    target: str,
    call: Callable[[grpc.aio.Channel], Awaitable[T]],
    *,
    service: str,
    identity: tuple[str, str] | None = None,
    setting: str = "",
    options: Mapping[str, str] | None = None,
) -> T:
    """Run ``call(channel)`` against ``target``, where ``service`` (issuer, verifier,
    seal, feed) is expected to answer, as ``identity`` (default the ``[cli]`` one);
    ``setting`` is what gave ``target`` (default ``cli.<service>_target``). A gRPC
    error comes back as :func:`rpc_failure` tells it, naming the command's option
    for a request field ``options`` maps (:func:`as_options`)."""

    from certseal.listen import check_target

    # a target that is no address is the setting's fault, before any dialing
    # (an empty one failed to make a channel at all, naming the command)
    setting = setting or f"cli.{service}_target"
    check_target(setting, target)

    async def run() -> T:
        watch = ConnectionWatch()
        async with channel(cfg, target, identity, watch) as chan:
            try:
                return await call(chan)
            except grpc.aio.AioRpcError as exc:
                error = rpc_failure(exc, cfg, target, service, identity, setting, watch)
                raise as_options(error, options or {}) from None

    return run_unformatted(run())


def run_unformatted(work: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(work)``'s result, kept out of the run's own result: Python 3.11's
    ``asyncio.run`` (before CPython gh-112559's fix; 3.11.7 here) formats its main
    task, the result's whole repr included, twice as it puts back the Ctrl-C handler
    (its ``signal`` module tries the handler, which names the task, as an enum value).
    A sealed 60 MiB PDF's repr took 10 s of CPU after the answer had come (large49:
    ``seal pdf`` 13 s, 3 s of it the call); an audit listing's rows the same. For the
    commands, in the main thread."""
    kept: list[T] = []

    async def main() -> None:
        kept.append(await work)

    asyncio.run(main())
    return kept[0]


def as_options(exc: CertsealError, names: Mapping[str, str]) -> CertsealError:
    """``exc`` naming the command's option for the request field it names
    (``names``: request field path -> option, ``department_code`` -> ``department``,
    ``holder.name`` -> ``holder-name``), the longest path ``names`` knows replaced
    and the rest kept (``issuer_codes[1]`` -> ``issuers[1]``): the user typed the
    option, never saw the field. Unchanged for any other field."""
    field = exc.field or ""
    parts = re.split(r"(?=[.\[])", field)  # holder.name[0] -> holder, .name, [0]
    for end in range(len(parts), 0, -1):
        head = "".join(parts[:end])
        if head in names:
            option = names[head] + field[len(head) :]
            return CertsealError(exc.kind, exc.message, field=option)
    return exc


def rpc_failure(
    exc: grpc.aio.AioRpcError,
    cfg: Any,
    target: str,
    service: str,
    identity: tuple[str, str] | None,
    setting: str,
    watch: ConnectionWatch | None = None,
) -> CertsealError:
    """The CertsealError of a failed call to ``service`` at ``target`` (arguments as
    :func:`call_service`'s; ``watch``: the channel's
    :class:`~certseal.cli_keys.ConnectionWatch`): the typed error the service sent
    (its error kind in the trailers); else a connection lost after the call was
    sent; else a deadline that came before any connection was made; else what is
    wrong as the commands say it (:func:`_transport_problem`), else
    :func:`unreachable`: nobody answers at ``target``."""
    from certseal.rpcerrors import ERROR_KIND_KEY, error_from_rpc

    if dict(exc.trailing_metadata() or ()).get(ERROR_KIND_KEY):
        return _as_identity(error_from_rpc(exc), cfg, identity)
    if connection_lost(exc):  # trial49 L4: it had started, not "is it running?"
        return CertsealError(
            ErrorKind.UNAVAILABLE,
            f"the connection to {target} was lost after the call was sent: the "
            f"{_named(service)} there stopped or was restarted (see its log), or the "
            "network dropped the connection",
            field=service,
        )
    deadline = exc.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    if deadline and never_sent(exc, watch):  # atk52: before any connection
        return CertsealError(
            ErrorKind.UNAVAILABLE,
            f"no connection to {target} was made within {cfg.cli.call_timeout_s:g} s "
            "(cli.call_timeout_s), so the call was not sent: it takes a connection "
            "but never finishes a TLS handshake (a port that is not a gRPC one, a "
            f"port-forward or proxy with nothing behind it, or the {_named(service)} "
            "there hung as it starts: see its log)",
            field=service,
        )
    try:
        found = _transport_problem(exc, cfg, target, service, identity, setting)
    except CertsealError as problem:
        return problem
    except Exception:  # a diagnosis that fails itself: say what was seen
        found = None
    if found is not None:
        return found
    if deadline:
        return CertsealError(
            ErrorKind.UNAVAILABLE,
            f"{target} took the call and gave no answer within "
            f"{cfg.cli.call_timeout_s:g} s (cli.call_timeout_s): the "
            f"{_named(service)} there is hung, stopped or overloaded (see its log), "
            "or the call needs longer (a large document: raise cli.call_timeout_s)",
            field=service,
        )
    if exc.code() is not grpc.StatusCode.UNAVAILABLE:
        return error_from_rpc(exc)
    return unreachable(target, service, setting)


def _as_identity(
    error: CertsealError, cfg: Any, identity: tuple[str, str] | None
) -> CertsealError:
    """A refusal of the caller the service sent naming no field, named as the
    identity the command presented (``as``, else ``cli.cert_file``): who it is
    decides (nu25: 'error: key: dept:… may not call …' read as the key's fault).
    A certificate naming no certseal caller (UNAUTHENTICATED, quoting the common
    name of the one presented) is a setting that cannot work: INVALID_ARGUMENT;
    one quoting another (a proxy's) is left as it is."""
    if error.field or error.kind not in (
        ErrorKind.UNAUTHENTICATED,
        ErrorKind.PERMISSION_DENIED,
    ):
        return error
    field = "as" if identity else "cli.cert_file"
    if error.kind is ErrorKind.PERMISSION_DENIED:
        return CertsealError(error.kind, error.message, field=field)
    # the certificate the service saw is the one presented (not a proxy's): a
    # setting that cannot work
    from certseal.files import certificate_common_name

    cert = identity[0] if identity else cfg.cli.cert_file
    with contextlib.suppress(CertsealError):
        if repr(certificate_common_name(cert, field)) in error.message:
            return CertsealError(ErrorKind.INVALID_ARGUMENT, error.message, field=field)
    return error


def _transport_problem(
    exc: grpc.aio.AioRpcError,
    cfg: Any,
    target: str,
    service: str,
    identity: tuple[str, str] | None,
    setting: str,
) -> CertsealError | None:
    """What is wrong when a call failed without an answer of a certseal service:
    a call the target does not serve (UNIMPLEMENTED without the error kind: not
    a ``service``, or an older one); else, for UNAVAILABLE, what the server at
    ``target`` presents to a TLS client (:func:`certseal.tlsprobe.probe`, every
    address looked at: gRPC's details name only the last one tried) and then the
    client identity (:func:`check_cli_identity`, raised). None when nobody answers
    at ``target``."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from certseal.tlsfiles import read_certificates
    from certseal.tlsprobe import Seen, probe

    if exc.code() is grpc.StatusCode.UNIMPLEMENTED:
        return invalid(
            setting,
            f"{target} answers, but does not serve this call: use the address of "
            f"a certseal {_named(service)} of this version",
        )
    if exc.code() is not grpc.StatusCode.UNAVAILABLE:
        return None
    details = exc.details() or ""
    address = _address(target)
    if "Domain name not found" in details:  # gRPC asked DNS already: not again
        seen = Seen("not_found")
    elif "DNS resolution failed" in details or "hostname lookup" in details:
        return None  # DNS could not be asked: nobody answers, as far as is known
    elif address is None:  # a unix: or vsock: target: its identity at least
        check_cli_identity(cfg, identity)
        return None
    else:
        _, cas = read_certificates(cfg.tls.ca_file, "tls.ca_file")
        ca_der = b"".join(ca.public_bytes(Encoding.DER) for ca in cas)
        seen = probe(*address, ca_der)
    if seen.kind in ("refused", "unresolved"):
        return None
    if seen.kind in ("closed", "silent"):  # a tunnel, a proxy, a process starting
        what = "closes it" if seen.kind == "closed" else "does not answer"
        unsent = ", so the call was not sent" if never_sent(exc) else ""  # trial52
        return CertsealError(
            ErrorKind.UNAVAILABLE,
            f"{target} takes a connection but {what} before any TLS{unsent}: the "
            f"{_named(service)} there is starting, hung or overloaded (see its log), a "
            "port-forward or proxy with nothing behind it, or no gRPC port",
            field=service,
        )
    if seen.kind == "unanswered":
        return CertsealError(
            ErrorKind.UNAVAILABLE,
            f"nothing at {target} took the connection in time: a firewall dropping "
            f"it, a wrong address, or the {_named(service)} there too busy to accept "
            "connections (see its log)",
            field=service,
        )
    if seen.kind == "not_found":  # DNS answered: no such name (exit 2, README)
        return invalid(
            setting,
            f"the host of {target} is not found (DNS): a name mistyped, or one not "
            "up yet (a pod not ready)",
        )
    if seen.kind in ("not_tls", "not_grpc"):
        return invalid(
            setting,
            f"{target} answers, but not with TLS gRPC (a metrics, probe or web "
            f"port?): use the address the {_named(service)} serves gRPC on",
        )
    if seen.kind == "unverified":
        return _unverified(seen, cfg, target, service, setting)
    check_cli_identity(cfg, identity)
    return CertsealError(
        ErrorKind.UNAVAILABLE,
        f"{target} answers TLS gRPC, but the call could not go through "
        f"({exc.details()}): try again, or see the {_named(service)}'s log",
        field=service,
    )


def _address(target: str) -> tuple[str, int] | None:
    """The first ``(host, port)`` a gRPC client dials for ``target``: itself
    (``host:port``), a ``dns:`` target's, an ``ipv4:``/``ipv6:`` target's first;
    None for other schemes (``unix:``)."""
    from certseal.listen import split_listen

    scheme, _, rest = target.partition(":")
    if scheme.lower() == "dns":
        target = rest.removeprefix("//").rpartition("/")[2]
    elif scheme.lower() in ("ipv4", "ipv6"):
        target = rest.split(",", 1)[0]
    try:
        return split_listen(target)
    except ValueError:
        return None


def _unverified(
    seen: Any, cfg: Any, target: str, service: str, setting: str
) -> CertsealError:
    """A service certificate this client does not accept, said by OpenSSL's
    reason (:mod:`certseal.tlsprobe`)."""
    from certseal.tlsprobe import NOT_ISSUED, NOT_NOW, OTHER_HOST

    presents = f"the service at {target} presents a certificate"
    if seen.code in OTHER_HOST:
        return invalid(
            setting,
            f"{presents} that does not name that host: use a name or address its "
            "certificate gives",
        )
    if seen.code in NOT_ISSUED:
        return invalid(
            "tls.ca_file",
            f"{presents} not issued by a CA of tls.ca_file ({cfg.tls.ca_file}): "
            f"either is wrong ({seen.detail})",
        )
    why = "renew it, or check this machine's clock" if seen.code in NOT_NOW else ""
    return CertsealError(
        ErrorKind.UNAVAILABLE,
        f"{presents} this command does not accept ({seen.detail})"
        + (f": {why}" if why else ""),
        field=service,
    )


def check_cli_identity(cfg: Any, identity: tuple[str, str] | None = None) -> None:
    """INVALID_ARGUMENT naming the setting at fault unless the commands' client
    identity, ``identity`` (certificate and key files, named ``as``) or else
    ``[cli] cert_file`` and ``key_file``, is one the services accept in the TLS
    handshake with ``[tls] ca_file``
    (:func:`certseal.tlsfiles.check_client_certificate`)."""
    from certseal.tlsfiles import (
        check_client_certificate,
        read_tls_identity,
        section_fields,
    )

    cert, key = identity or (cfg.cli.cert_file, cfg.cli.key_file)
    files = (cfg.tls.ca_file, cert, key)
    fields = ("tls.ca_file", "as", "as") if identity else section_fields("cli")
    check_client_certificate(read_tls_identity(*files, fields), files, fields)


def unreachable(target: str, service: str, setting: str) -> CertsealError:
    """UNAVAILABLE (field ``service``) naming the service nobody answers for at
    ``target``, how to start it, and the setting (or option) that gave ``target``
    (a transport failure, not an answer the service gave)."""
    where = (
        f"point {setting} at" if "." in setting else f"give --{setting} the address of"
    )
    return CertsealError(
        ErrorKind.UNAVAILABLE,
        f"{target} is unreachable: is certseal running? Start the stack with "
        f"'make run' (or 'python -m services.{service} --config FILE'), or {where} "
        f"a running {_named(service)}",
        field=service,
    )


def operator_call(cfg: Any, call: Callable[[Any], Awaitable[T]]) -> T:
    """``call(stub)`` of IssuerAdmin at ``[cli] issuer_target`` as the CLI's own
    identity (the operator's), as :func:`call_service` makes it."""
    from certseal.v1 import issuer_pb2_grpc

    return call_service(
        cfg,
        cfg.cli.issuer_target,
        lambda chan: call(issuer_pb2_grpc.IssuerAdminStub(chan)),
        service="issuer",
    )


#: a service as the commands' messages name it, where its short name is not a noun
#: ("a running seal" is an animal)
_NOUNS = {"seal": "seal service", "feed": "event feed", "tlog": "transparency log"}


def _named(service: str) -> str:
    return _NOUNS.get(service, service)
