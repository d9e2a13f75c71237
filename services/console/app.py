"""Wiring of the counter console: an HTTPS page for counter clerks and operators.

The console opens its PostgreSQL pool (accounts, sessions, failed sign-ins: applying
its migrations), one gRPC channel per verifier group and one to the seal service, all
with its own mTLS identity (``service:console``); it serves the handlers of
:mod:`services.console.handlers` behind :mod:`services.console.access` over HTTPS and,
when the operator page is on, collects the operator status
(:mod:`services.console.status`) every ``refresh_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import ssl
import time
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import grpc
from aiohttp import web
from prometheus_client import Counter, Histogram

from certseal.config import SettingCheck
from certseal.errors import invalid
from certseal.events import default_topics
from certseal.files import certificate_common_name, is_missing
from certseal.fontfiles import check_font_file
from certseal.httpserve import MalformedRequests, serve
from certseal.listen import (
    address_checks,
    bind_problem,
    check_distinct_listens,
    check_target,
    is_host,
    split_listen,
)
from certseal.metrics import Metrics
from certseal.process import read_answers_key
from certseal.rpc import Caller, identity_channel
from certseal.storage.idempotency import IdempotencyPurger, IdempotencyStore
from certseal.timestamps import Clock, utcnow
from certseal.tlsfiles import (
    TlsIdentity,
    check_client_certificate,
    load_checked_cert_chain,
    load_checked_verify_locations,
    read_certificates,
    read_key_pair,
    read_tls_identity,
    section_fields,
)
from certseal.v1 import issuer_pb2_grpc, seal_pb2_grpc, verifier_pb2_grpc
from services.console.access import Access
from services.console.config import ConsoleConfig, ConsoleSettings, body_limit
from services.console.handlers import (
    SERVER,
    ConsoleHandlers,
    add_secure_headers,
    application,
    malformed_answer,
)
from services.console.service import ConsoleAccounts
from services.console.status import StatusCollector, TopicOffsets
from services.console.storage import ConsoleStore

log = logging.getLogger(__name__)


class ConsoleApp:
    """The console's web server, its gRPC channels and the operator status collector."""

    def __init__(
        self,
        config: ConsoleSettings,
        *,
        listen: str | None = None,
        clock: Clock = utcnow,
    ):
        self.config = config
        self.settings = config.console
        self.listen = listen or self.settings.listen
        self.clock = clock
        self.port = 0
        self._tls, self.identity = client_identity(config)
        check_rare_font(self.settings)
        self._channels: list[grpc.aio.Channel] = []
        self._stop = asyncio.Event()
        self._collector_task: asyncio.Task[None] | None = None
        self._purge_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._https: asyncio.Server | None = None
        #: the malformed HTTP requests refused (logged at most once a minute)
        self.malformed = MalformedRequests("counter console")
        self.store: ConsoleStore | None = None
        # the console serves no gRPC and runs no outbox: only its HTTP figures
        self.metrics = Metrics(families=frozenset())

    def _count_requests(self) -> Any:
        """Middleware: ``certseal_console_http_requests_total{route,status}`` and
        ``certseal_console_http_latency_seconds{route}`` (the route pattern, never the
        path a client typed)."""
        requests = Counter(
            "certseal_console_http_requests",
            "HTTP requests the console answered",
            ["route", "status"],
            registry=self.metrics.registry,
        )
        latency = Histogram(
            "certseal_console_http_latency_seconds",
            "Time to answer an HTTP request",
            ["route"],
            registry=self.metrics.registry,
        )

        @web.middleware
        async def count(request: web.Request, handler: Any) -> web.StreamResponse:
            info = request.match_info.route.resource
            route = info.canonical if info is not None else "unmatched"
            started = time.monotonic()
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                requests.labels(route, str(status)).inc()
                latency.labels(route).observe(time.monotonic() - started)

        return count

    def _channel(self, target: str) -> grpc.aio.Channel:
        channel = identity_channel(target, self._tls)
        self._channels.append(channel)
        return channel

    async def start(self) -> None:
        """Open the channels, start collecting, serve HTTPS.

        Raises ``CertsealError`` INVALID_ARGUMENT naming the setting
        (``console.verifier_targets``, ``console.metrics_sources``) when ``[console]``
        names no verifier group or a metrics source is not ``NAME=URL`` (a start
        refused with exit 2), and when the client certificate's common name is not a
        certseal identity.
        """
        cs = self.settings
        check_verifier_targets(cs)
        check_distinct_listens(cs, "console")
        if Caller.parse(self.identity).kind != "service":  # or this fails now
            log.warning(
                "[console] cert_file is %s, not service:console: the verifier "
                "attributes verifications to it, not to the signed-in clerks",
                self.identity,
            )
        # every setting that needs no database is checked before connecting: an
        # operator can check a configuration with PostgreSQL away
        sources = metrics_sources(cs)
        context = https_context(cs)
        protector = read_answers_key(self.config)
        db = self.config.database
        self.store = await ConsoleStore.open(db.dsn(), max_size=db.pool_max)
        self.accounts = ConsoleAccounts.configured(cs, self.store, self.clock)
        groups = [(t, self._channel(t)) for t in cs.verifier_targets]
        verifier = verifier_pb2_grpc.VerifierStub(groups[0][1])
        seal = seal_pb2_grpc.SealStub(self._channel(cs.seal_target))
        redemption = issuer_pb2_grpc.RedemptionStub(self._channel(cs.issuer_target))
        self.collector = StatusCollector(
            groups=groups,
            metrics_sources=sources,
            offsets=TopicOffsets(
                self.config.kafka.settings("certseal-console"),
                [spec.name for spec in default_topics()],
            ),
            refresh_s=cs.refresh_s,
            history=cs.history,
            clock=self.clock,
        )
        handlers = ConsoleHandlers(
            verifier=verifier,
            seal=seal,
            redemption=redemption,
            collector=self.collector,
            verifier_target=cs.verifier_targets[0],
            purposes=cs.purposes,
            operator_page=cs.operator_page,
            clock=self.clock,
        )
        idem = self.config.idempotency
        answers = IdempotencyStore(
            self.store.pool,
            protector=protector,
            retention=dt.timedelta(hours=idem.retention_hours),
        )
        purger = IdempotencyPurger(
            dsn=db.dsn(), store=answers, interval_s=idem.purge_interval_s
        )
        access = Access(
            accounts=self.accounts,
            session_absolute_s=cs.session_absolute_s,
            idempotency=answers,
        )
        app = application(
            handlers,
            access,
            client_max_size=body_limit(self.config),
            rare_font_file=cs.rare_font_file,
        )
        app.middlewares.append(self._count_requests())
        if cs.metrics_listen:
            self.metrics.serve(cs.metrics_listen, setting="console.metrics_listen")
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        try:
            host, port = split_listen(self.listen)  # [::1]: without its brackets
        except ValueError as exc:
            raise invalid("console.listen", str(exc)) from None
        try:  # a request that is not HTTP is answered and logged as the
            # console's, not aiohttp's (certseal.httpserve)
            self._https = await serve(
                self._runner,
                host,
                int(port),
                malformed=self.malformed,
                server_name=SERVER,
                answer=malformed_answer,
                decorate=lambda response: add_secure_headers(response, ""),
                ssl_context=context,
            )
        except OSError as exc:
            raise invalid("console.listen", bind_problem(self.listen, exc)) from exc
        self.port = self._https.sockets[0].getsockname()[1]
        # background work only once every address is bound: a busy port is one line
        if cs.operator_page:
            self._collector_task = asyncio.create_task(self.collector.run(self._stop))
        self._purge_task = asyncio.create_task(purger.run(self._stop))
        log.info("counter console on https://%s:%d/", host, self.port)

    async def stop(self) -> None:
        """Stop serving and collecting."""
        self._stop.set()
        if self._https is not None:
            self._https.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._https is not None:
            await self._https.wait_closed()
        for task in (self._collector_task, self._purge_task):
            if task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 10)
        for channel in self._channels:
            await channel.close()
        if self.store is not None:
            await self.store.close()


def client_identity(config: ConsoleSettings) -> tuple[TlsIdentity, str]:
    """The console's client identity toward the services, read and parsed (gRPC
    would only fail every call; its channels are made from these bytes, not a second
    read of the files), and its certificate's common name."""
    cs = config.console
    files = (config.tls.ca_file, cs.cert_file, cs.key_file)
    tls = read_tls_identity(*files, section_fields("console"))
    check_client_certificate(tls, files, section_fields("console"))
    return tls, certificate_common_name(cs.cert_file, "console.cert_file")


def check_rare_font(cs: ConsoleConfig) -> None:
    """A missing ``rare_font_file`` is a warning (boxes on the page); one that is no
    font is INVALID_ARGUMENT naming it."""
    rare = cs.rare_font_file
    if rare and not is_missing(rare, "console.rare_font_file"):
        check_font_file(rare, "console.rare_font_file")


def check_verifier_targets(cs: ConsoleConfig) -> None:
    """INVALID_ARGUMENT ``console.verifier_targets`` when it names no group, and
    naming the setting for any address it dials that is not one
    (:func:`certseal.listen.check_target`: the groups, ``seal_target``,
    ``issuer_target``)."""
    if not cs.verifier_targets:
        raise invalid("console.verifier_targets", "names no verifier group")
    for target in cs.verifier_targets:
        check_target("console.verifier_targets", target)
    for check in address_checks(cs, "console", ("target",)):
        check()


def metrics_sources(cs: ConsoleConfig) -> list[tuple[str, str]]:
    """``metrics_sources`` as (name, URL); INVALID_ARGUMENT naming the setting for
    one that is not ``NAME=URL``."""
    sources = []
    for source in cs.metrics_sources:
        name, _, url = source.partition("=")
        try:
            parsed = urlsplit(url)
            # .port raises for a port out of range
            host = parsed.hostname or ""
            usable = parsed.scheme in ("http", "https") and is_host(host)
            usable = usable and parsed.port != 0
        except ValueError:  # "http://[x" (an IPv6 host not closed), port 99999
            usable = False
        if not name or not usable:
            raise invalid(
                "console.metrics_sources",
                f"{source!r} is not NAME=URL with an http:// or https:// URL "
                "(e.g. issuer=http://127.0.0.1:9464/metrics)",
            )
        sources.append((name, url))
    return sources


def https_context(cs: ConsoleConfig) -> ssl.SSLContext:
    """The HTTPS server's TLS context: its pair and, when clerks may sign in with a
    browser client certificate, their CA. Each file is read and parsed first (ssl
    says only "[SSL] PEM lib" of a wrong file) and ssl is handed the bytes checked,
    never a second read of the files; INVALID_ARGUMENT naming the setting."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    pair = read_key_pair(
        cs.https_cert_file,
        cs.https_key_file,
        ("console.https_cert_file", "console.https_key_file"),
    )
    load_checked_cert_chain(context, *pair, "console.https_cert_file")
    if cs.client_ca_file:
        _, roots = read_certificates(cs.client_ca_file, "console.client_ca_file")
        context.verify_mode = ssl.CERT_OPTIONAL
        load_checked_verify_locations(context, roots)
    return context


def config_checks(config: ConsoleSettings) -> list[SettingCheck]:
    """Every check a console's start makes that needs neither the database nor a
    service, each apart (``certseal config check`` reports every failure): its
    client identity and font, the verifier groups, the metrics sources, the HTTPS
    files, ``[secrets] answers_key_file``, ``[database] dsn_file``, ``[kafka]``'s TLS files and the listen
    addresses' form (not bound: the running console may hold them)."""
    cs = config.console
    checks: list[SettingCheck] = [
        partial(client_identity, config),
        partial(check_rare_font, cs),
        partial(check_verifier_targets, cs),
        partial(metrics_sources, cs),
        partial(https_context, cs),
        partial(read_answers_key, config),
        config.database.dsn,
        config.kafka.ssl_context,
    ]
    checks.append(partial(check_distinct_listens, cs, "console"))
    return checks + address_checks(cs, "console", ("listen",))
