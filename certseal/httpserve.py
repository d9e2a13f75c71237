"""Serving an aiohttp application whose answer to a request that is not HTTP is the
service's own: the counter console (HTTPS, to clerks' browsers) and the seal
service's TSA room.

aiohttp answers a request it cannot parse (a raw non-ASCII request line, an invalid
header line, a line too long) before any application code runs: with a 400 whose
body echoes the request line, ``Server: Python/3.11 aiohttp/…``, and an ``ERROR
aiohttp.server`` log record with a full traceback, for any client (a log flood from
whoever can reach the port). No application hook sees such a request (middlewares
and ``on_response_prepare`` run only for one that was parsed), and ``web.AppRunner``
takes no request-handler class, so :func:`serve` opens the socket itself with
:class:`ServiceRequestHandler` (aiohttp's ``web.RequestHandler`` with
``handle_error`` overridden) over aiohttp's server object (``runner.server``).

What is outside aiohttp's documented API: ``web.RequestHandler`` is exported by
``aiohttp.web``, but its constructor (``manager``, ``loop``, the keyword arguments
``web.AppRunner`` passes on) and ``handle_error`` are not in aiohttp's reference
documentation; ``tests/kernel/test_httpserve.py`` and
``tests/e2e/test_fixnu_c_console_malformed.py`` tell whether a new aiohttp still
calls them so (docs/operations.md, "Upgrading").
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from certseal.errors import invalid
from certseal.listen import bind_problem, split_listen

log = logging.getLogger(__name__)


class MalformedRequests:
    """Logs the malformed requests a service refused: one WARNING line at most every
    ``every_s`` seconds, saying how many there were since the last one (and the
    last's peer and kind); the others at DEBUG. Never a traceback, never a piece of
    the request (a client chooses its bytes: a log line of them is a log injection).
    ``what`` names the server in the line (``counter console``, ``TSA``)."""

    def __init__(
        self,
        what: str,
        *,
        every_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._what = what
        self._every_s = every_s
        self._clock = clock
        self._last: float | None = None
        self._since = 0
        #: how many were refused since the server started
        self.count = 0

    def seen(self, peer: str | None, status: int, exc: BaseException | None) -> None:
        """Count one refused with ``status``; log it as the rate allows."""
        self.count += 1
        self._since += 1
        kind = type(exc).__name__ if exc is not None else "malformed request"
        now = self._clock()
        if self._last is not None and now - self._last < self._every_s:
            log.debug(
                "%s: malformed HTTP request from %s refused (%d %s)",
                self._what,
                peer,
                status,
                kind,
            )
            return
        log.warning(
            "%s: %d malformed HTTP request(s) refused with %d (the last from %s: %s); "
            "at most one such line every %.0f s",
            self._what,
            self._since,
            status,
            peer,
            kind,
            self._every_s,
        )
        self._last, self._since = now, 0


Answer = Callable[[int], web.Response]
"""The answer to a malformed request refused with the status given."""
Decorate = Callable[[web.StreamResponse], None]
"""What every answer made outside the application gets (its headers)."""


def plain_answer(status: int) -> web.Response:
    """``malformed HTTP request`` as text: nothing of the request repeated."""
    return web.Response(status=status, text="malformed HTTP request\n")


def name_server(app: web.Application, name: str) -> None:
    """Every answer of ``app`` says ``Server: <name>``, not Python's and aiohttp's
    versions (:func:`serve` names the answers made outside the application)."""

    async def named(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Server"] = name

    app.on_response_prepare.append(named)


class ServiceRequestHandler(web.RequestHandler):
    """aiohttp's request handler, answering a request it could not parse with
    ``answer(status)`` (nothing of the request repeated), logged by
    :class:`MalformedRequests`. A failure of the service's own (5xx) is logged with
    its traceback as aiohttp does. Every such answer goes through ``decorate``."""

    __slots__ = ("_answer", "_decorate", "_malformed")

    def __init__(
        self,
        manager: web.Server,
        *,
        malformed: MalformedRequests,
        answer: Answer,
        decorate: Decorate,
        **kwargs: Any,
    ):
        super().__init__(manager, **kwargs)
        self._malformed = malformed
        self._answer = answer
        self._decorate = decorate

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The answer to a request that failed before or outside the application."""
        response: web.StreamResponse
        if status >= 500:  # ours, not the client's: aiohttp logs the traceback
            response = super().handle_error(request, status, exc, message)
        else:
            self._malformed.seen(request.remote, status, exc)
            if request.writer.output_size > 0:  # as aiohttp: too late to answer
                raise ConnectionError("a response was already sent on this request")
            response = self._answer(status)
            response.force_close()
        self._decorate(response)
        return response


async def serve(
    runner: web.AppRunner,
    host: str | None,
    port: int,
    *,
    malformed: MalformedRequests,
    server_name: str,
    answer: Answer = plain_answer,
    decorate: Decorate | None = None,
    ssl_context: ssl.SSLContext | None = None,
    reuse_port: bool | None = None,
) -> asyncio.Server:
    """Serve ``runner``'s application (set up) on ``host``:``port`` (TLS with
    ``ssl_context``) with :class:`ServiceRequestHandler` connections: a malformed
    request gets ``answer(status)``, and every answer made outside the application
    ``Server: <server_name>`` and ``decorate``. The caller closes the server it
    returns before ``runner.cleanup()``. OSError when the address cannot be bound."""
    manager = runner.server
    assert manager is not None, "runner.setup() first"
    loop = asyncio.get_running_loop()

    def named(response: web.StreamResponse) -> None:
        response.headers["Server"] = server_name
        if decorate is not None:
            decorate(response)

    def connection() -> ServiceRequestHandler:
        return ServiceRequestHandler(
            manager,
            loop=loop,
            malformed=malformed,
            answer=answer,
            decorate=named,
            access_log=None,
        )

    return await loop.create_server(
        connection, host, port, ssl=ssl_context, reuse_port=reuse_port
    )


async def serve_setting(
    runner: web.AppRunner, listen: str, setting: str, **kwargs: Any
) -> asyncio.Server:
    """:func:`serve` on ``listen`` (``host:port``, the value of ``setting``):
    INVALID_ARGUMENT naming ``setting`` when it is no address or cannot be bound."""
    try:
        host, port = split_listen(listen)
    except ValueError as exc:
        raise invalid(setting, str(exc)) from exc
    try:
        return await serve(runner, host or None, port, **kwargs)
    except OSError as exc:
        raise invalid(setting, bind_problem(listen, exc)) from exc
