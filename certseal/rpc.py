"""gRPC plumbing shared by every service: mTLS channels, caller identity and the error
interceptor (the server itself, with health and reflection: :mod:`certseal.rpcserver`).

The identity of a caller is the common name of its client certificate, one of the
:data:`CALLER_KINDS`: ``dept:<code>`` (a department; its roles decide what it may do),
``operator:<name>`` (the platform's operators), ``app:<name>`` (a holder app: reads
licences for the holder it names, per licence type the operator granted),
``integrator:<name>`` (receives events from the event feed, nothing else),
``service:<name>`` (a platform process) or ``auditor:<name>`` (reads the transparency
log, nothing else). Any other common name is UNAUTHENTICATED. Each
service declares which kinds of caller may call it; finer rules (which department may
change which licence, which types a holder app was granted) belong to the service.
docs/operations.md ("Security model") has the matrix per RPC.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from certseal.audit import HELD_REFUSALS, HeldRefusals
from certseal.errors import (
    CertsealError,
    ErrorKind,
    invalid,
    status_details,
)
from certseal.idempotency import (
    METADATA_KEY,
    claim_for,
    is_idempotent,
    watch_earlier,
)
from certseal.logs import REQUEST_ID
from certseal.metrics import Metrics
from certseal.requests import check_request
from certseal.retries import transient_error
from certseal.rpcerrors import attempt_metadata, error_metadata
from certseal.rpcwire import Stored, Undecodable, decoding, kept_answer, stored_or
from certseal.storage.idempotency import IdempotencyStore, kept
from certseal.tlsfiles import (
    TLS_FIELDS,
    TlsIdentity,
    read_tls_identity,
)

log = logging.getLogger(__name__)

REQUEST_ID_KEY = "x-request-id"
#: a caller's own request id, taken for the logs, the audit log and the answer's
#: trailers when it is this short and plain; any other is replaced by a fresh one
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}", re.ASCII)

_STATUS = {kind: getattr(grpc.StatusCode, kind.value) for kind in ErrorKind}

#: every kind of caller a certificate common name may name
CALLER_KINDS = frozenset(
    {"dept", "operator", "app", "integrator", "service", "auditor"}
)


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller."""

    kind: str  # one of CALLER_KINDS
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"

    @classmethod
    def parse(cls, common_name: str) -> Caller:
        """The caller named by a certificate common name."""
        kind, sep, name = common_name.partition(":")
        if not sep or not name or kind not in CALLER_KINDS:
            raise CertsealError(
                ErrorKind.UNAUTHENTICATED,
                f"client certificate common name {common_name!r} is not an identity "
                "(dept:<code>, operator:<name>, app:<name>, integrator:<name>, "
                "service:<name> or auditor:<name>)",
            )
        return cls(kind, name)


def check_identity(text: str, field: str) -> Caller:
    """The caller ``text`` names if a certificate could name it: one of the
    :data:`CALLER_KINDS`, a name without spaces or control characters, and for
    ``dept:`` a well-formed USCC with its check character (onboarded or not: that is
    the service's to say); else INVALID_ARGUMENT naming ``field``."""
    from certseal.identifiers import is_identity_name, validate_uscc

    kind, sep, name = text.partition(":")
    if not sep or not name or kind not in CALLER_KINDS:
        kinds = ", ".join(
            f"{k}:<{'code' if k == 'dept' else 'name'}>" for k in sorted(CALLER_KINDS)
        )
        raise invalid(field, f"{text!r} is not an identity: use one of {kinds}")
    if not is_identity_name(name):
        raise invalid(field, f"{text!r}: the name has spaces or control characters")
    if kind == "dept":
        try:
            validate_uscc(name, field)
        except CertsealError as exc:
            raise invalid(field, f"{text!r}: {exc.message}") from None
    return Caller(kind, name)


CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar(
    "caller", default=None
)


def current_caller() -> Caller:
    """The caller of the RPC being handled."""
    caller = CALLER.get()
    if caller is None:
        raise CertsealError(ErrorKind.UNAUTHENTICATED, "no authenticated caller")
    return caller


def _caller_from_context(context: grpc.aio.ServicerContext) -> Caller:
    names = context.auth_context().get("x509_common_name") or []
    if not names:
        raise CertsealError(
            ErrorKind.UNAUTHENTICATED, "a client certificate is required"
        )
    return Caller.parse(names[0].decode())


def secure_channel(
    target: str,
    ca_file: str,
    cert_file: str,
    key_file: str,
    *,
    fields: tuple[str, str, str] = TLS_FIELDS,
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
    **options: Any,
) -> grpc.aio.Channel:
    """An mTLS channel presenting the given client identity, its files read and
    checked as :func:`~certseal.tlsfiles.read_tls_identity` reads them (``fields``
    naming the three settings in its error): gRPC is handed those bytes, never a
    second, raw read (a byte order mark the check drops would fail every
    handshake)."""
    identity = read_tls_identity(ca_file, cert_file, key_file, fields)
    return identity_channel(target, identity, interceptors=interceptors, **options)


def identity_channel(
    target: str,
    identity: TlsIdentity,
    *,
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
    call_credentials: grpc.CallCredentials | None = None,
    **options: Any,
) -> grpc.aio.Channel:
    """An mTLS channel presenting ``identity`` (the bytes the start-up check,
    :func:`~certseal.tlsfiles.read_tls_identity`, returned) and ``call_credentials``."""
    credentials = grpc.ssl_channel_credentials(
        root_certificates=identity.ca,
        private_key=identity.key,
        certificate_chain=identity.cert,
    )
    if call_credentials is not None:
        credentials = grpc.composite_channel_credentials(credentials, call_credentials)
    opts = [
        ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        ("grpc.max_send_message_length", 64 * 1024 * 1024),
        *options.items(),
    ]
    return grpc.aio.secure_channel(
        target, credentials, options=opts, interceptors=list(interceptors) or None
    )


#: what a service does with a call refused on the way in, before its servicer's method
#: ran, its caller known (the caller, the full method name, the request: not a message
#: when it could not be decoded; the refusal: :class:`KindRefused` or any other)
RefusedCall = Callable[[Caller, str, Any, CertsealError], Awaitable[None]]


class KindRefused(CertsealError):
    """PERMISSION_DENIED for a caller of a kind the service does not accept."""

    def __init__(self, caller: Caller, message: str):
        super().__init__(ErrorKind.PERMISSION_DENIED, message)
        self.caller = caller


#: whether the call being handled reached its servicer's method (:func:`_serviced`):
#: a refusal raised before it is one on the way in, handed to ``refused``
_SERVICED = contextvars.ContextVar("serviced", default=False)


def _serviced(inner: Callable[..., Any]) -> Callable[..., Any]:
    """``inner`` (a servicer's method) marking the call :data:`_SERVICED`."""

    @functools.wraps(inner)
    def reached(request: Any, context: grpc.aio.ServicerContext) -> Any:
        _SERVICED.set(True)
        return inner(request, context)

    return reached


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    """Authenticates, authorises by caller kind, sizes, times and maps errors.

    The one place where :class:`CertsealError` becomes a gRPC status; its kind and field
    travel in trailing metadata. A transient failure (a lost or refused PostgreSQL
    session, a serialisation conflict, an unreachable broker or downstream service)
    becomes UNAVAILABLE or ABORTED with a message saying it is safe to retry with the
    same idempotency key (:func:`transient_error`). Any other exception becomes
    INTERNAL with a generic message (the details go to the log with the request id).

    A servicer method marked :func:`certseal.idempotency.idempotent` honours
    idempotency keys through ``idempotency`` (see :mod:`certseal.storage.idempotency`).
    A call refused on the way in (:data:`RefusedCall`: before its servicer's method
    runs, its caller known: for the caller's kind, a request that cannot be decoded or
    breaks :func:`check_request`, an idempotency key) is handed to ``refused`` before
    it is answered (the service audits its changes' and attempts' refusals there).
    """

    def __init__(
        self,
        *,
        metrics: Metrics,
        allowed_kinds: Mapping[str, set[str]],
        max_request_bytes: int,
        idempotency: IdempotencyStore | None = None,
        refused: RefusedCall | None = None,
    ):
        self._metrics = metrics
        self._refused = refused
        self._allowed = allowed_kinds  # full service name -> caller kinds
        self._max_request_bytes = max_request_bytes
        self._idempotency = idempotency
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]
        ],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = details.method
        cached = self._handlers.get(method)
        if cached is not None:  # handlers are fixed per method: wrap each once
            return cached
        handler = await continuation(details)
        service = method.rsplit("/", 2)[1] if method.count("/") == 2 else ""
        if handler is None or service not in self._allowed:
            return handler
        # only a service recording refusals on the way in marks the servicer reached
        mark = _serviced if self._refused is not None else lambda inner: inner
        if handler.unary_unary:
            inner = mark(handler.unary_unary)
            if is_idempotent(inner) and self._idempotency is not None:
                inner = self._idempotent(method, inner, self._idempotency)
            wrapped = grpc.unary_unary_rpc_method_handler(
                self._wrap(method, service, inner),
                request_deserializer=decoding(handler.request_deserializer),
                response_serializer=stored_or(handler.response_serializer),
            )
        elif handler.unary_stream:
            wrapped = grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, service, mark(handler.unary_stream)),
                request_deserializer=decoding(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        else:  # no client-streaming RPCs exist; refuse rather than pass unchecked
            raise RuntimeError(f"{method}: client-streaming RPCs are not supported")
        self._handlers[method] = wrapped
        return wrapped

    def _admit(
        self, service: str, request: Any, context: grpc.aio.ServicerContext
    ) -> str:
        """Check the caller and the request size; set the context; the request id."""
        metadata = dict(context.invocation_metadata() or ())
        # 16 hex digits, as before from uuid4, for a fifth of its CPU on the hot path
        given = metadata.get(REQUEST_ID_KEY)
        request_id = (
            given
            if isinstance(given, str) and _REQUEST_ID.fullmatch(given)
            else secrets.token_hex(8)
        )
        REQUEST_ID.set(request_id)
        _SERVICED.set(False)
        CALLER.set(None)
        caller = _caller_from_context(context)
        CALLER.set(caller)  # a refusal below is the caller's (``refused``)
        if caller.kind not in self._allowed[service]:
            raise KindRefused(caller, f"{caller} may not call {service}")
        if isinstance(request, Undecodable):
            raise invalid("request", f"cannot be decoded: {request.error}")
        size = request.ByteSize()
        if size > self._max_request_bytes:
            raise CertsealError(
                ErrorKind.INVALID_ARGUMENT,
                f"request is {size} bytes; the limit is {self._max_request_bytes}",
                field="request",
            )
        check_request(request)  # the rules every field of every RPC keeps
        return request_id

    @staticmethod
    def _idempotent(
        method: str, inner: Callable[..., Awaitable[Any]], store: IdempotencyStore
    ) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
        """``inner`` answering a known key from ``store`` and storing a new key's
        answer with its change (the answer is then the bytes sent)."""

        async def run(request: Any, context: grpc.aio.ServicerContext) -> Any:
            metadata = dict(context.invocation_metadata() or ())
            claim = claim_for(
                str(current_caller()), method, request, metadata.get(METADATA_KEY)
            )
            if claim is None:
                return await inner(request, context)
            stored = await store.lookup(claim)
            if stored is not None:
                return kept_answer(stored, context)
            held = HeldRefusals()
            token = HELD_REFUSALS.set(held)  # recorded only if answered (below)
            earlier, watched = watch_earlier()  # a handler's own store may say so
            try:
                async with store.scope(claim) as scope:
                    response = await inner(request, context)
                    answer = response.SerializeToString()
                    stored = await store.answer(scope, answer)
                    if earlier.said or stored is not answer:  # or a concurrent call's
                        return kept_answer(stored, context)
                    return Stored(stored)
            except CertsealError:
                # A concurrent request with the same key may have changed what this
                # one saw (a renewal supersedes the version it resolved): its answer
                # is this request's answer too, and its refusal is no refusal.
                stored = await asyncio.shield(kept(store.settle(claim, held)))
                if stored is not None:
                    return kept_answer(stored, context)
                raise
            except Exception:
                await asyncio.shield(kept(held.record()))
                raise
            except BaseException:  # cancelled (the caller gone): settled after it
                if held.records:
                    kept(store.settle(claim, held))
                raise
            finally:
                held.open = False
                HELD_REFUSALS.reset(token)
                watched.var.reset(watched)

        return run

    @staticmethod
    async def _fail(
        exc: Exception, method: str, context: grpc.aio.ServicerContext
    ) -> str:
        """Abort the call for ``exc``; returns the status name for the metrics."""
        request_id = REQUEST_ID.get() or ""
        transient = transient_error(exc)
        if transient is not None:
            log.warning("transient failure in %s: %r", method, exc)
            exc = transient
        if isinstance(exc, CertsealError):
            context.set_trailing_metadata(
                (
                    *error_metadata(exc),
                    *attempt_metadata(context),
                    (REQUEST_ID_KEY, request_id),
                )
            )
            await context.abort(_STATUS[exc.kind], status_details(exc))
        log.exception("unhandled error in %s", method)
        context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
        await context.abort(
            grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})"
        )
        return "INTERNAL"  # not reached: abort raises

    async def _recorded(self, exc: Exception, method: str, request: Any) -> Exception:
        """``exc``, handed to ``refused`` first when it is a refusal on the way in
        (raised before the servicer's method ran, the caller known, not audited
        yet). A refusal that cannot be recorded is logged and answered as it is (the
        caller is refused either way, and is not told to retry)."""
        caller = CALLER.get()
        if self._refused is None or caller is None or _SERVICED.get():
            return exc
        if not isinstance(exc, CertsealError) or exc.audited:
            return exc
        try:
            await self._refused(caller, method, request, exc)
            exc.audited = True
        except Exception:
            log.exception("recording the refusal of a call to %s failed", method)
        return exc

    def _wrap(
        self, method: str, service: str, inner: Callable[..., Awaitable[Any]]
    ) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
        short = method.rsplit("/", 1)[-1]
        requests = self._metrics.rpc_requests
        answered = requests.labels(short, "OK")  # the usual case, looked up once
        latency = self._metrics.rpc_latency.labels(short)

        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            code = "OK"
            try:
                self._admit(service, request, context)
                return await inner(request, context)
            except grpc.aio.AbortError:
                code = "ABORTED"
                raise
            except Exception as exc:
                exc = await self._recorded(exc, method, request)
                code = _status_name(exc)
                await self._fail(exc, method, context)
            finally:
                (answered if code == "OK" else requests.labels(short, code)).inc()
                latency.observe(time.perf_counter() - started)

        return wrapped

    def _wrap_stream(
        self, method: str, service: str, inner: Callable[..., AsyncIterator[Any]]
    ) -> Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]:
        short = method.rsplit("/", 1)[-1]
        requests = self._metrics.rpc_requests

        async def wrapped(
            request: Any, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            code = "OK"
            try:
                self._admit(service, request, context)
                async for response in inner(request, context):
                    yield response
            except grpc.aio.AbortError:
                code = "ABORTED"
                raise
            except Exception as exc:
                exc = await self._recorded(exc, method, request)
                code = _status_name(exc)
                await self._fail(exc, method, context)
            finally:
                requests.labels(short, code).inc()

        return wrapped


def _status_name(exc: Exception) -> str:
    """The status name an exception is answered with (for the metrics)."""
    if isinstance(exc, CertsealError):
        return exc.kind.value
    transient = transient_error(exc)
    return transient.kind.value if transient is not None else "INTERNAL"
