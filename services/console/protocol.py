"""The console's HTTP connections: aiohttp's request handler, with the answer to a
request that is not HTTP made and logged by the console.

aiohttp answers a request it cannot parse (a raw non-ASCII request line, an invalid
header line, a line too long) before any application code runs: with a 400 whose
body echoes the request line, ``Server: Python/3.11 aiohttp/…``, and an ``ERROR
aiohttp.server`` log record with a full traceback, for any client, signed in or not.
No application hook sees it (middlewares and ``on_response_prepare`` run only for a
request that was parsed), and ``web.AppRunner`` takes no request-handler class, so
the console serves its connections with :class:`ConsoleRequestHandler` (aiohttp's
``web.RequestHandler`` with ``handle_error`` overridden) over aiohttp's server
object (``runner.server``) on a socket of its own (:func:`serve_https`).

What is outside aiohttp's documented API: ``web.RequestHandler`` is exported by
``aiohttp.web``, but its constructor (``manager``, ``loop``, the keyword arguments
``web.AppRunner`` passes on) and ``handle_error`` are not in aiohttp's reference
documentation; ``tests/e2e/test_fixnu_c_console_malformed.py`` is what tells whether
a new aiohttp still calls them so (docs/operations.md, "Upgrading").
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from services.console.handlers import add_secure_headers

log = logging.getLogger(__name__)


class MalformedRequests:
    """Logs the malformed requests the console refused: one WARNING line at most
    every ``every_s`` seconds, saying how many there were since the last one (and the
    last's peer and kind); the others at DEBUG. Never a traceback, never a piece of
    the request (a client chooses its bytes: a log line of them is a log injection)."""

    def __init__(
        self, *, every_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ):
        self._every_s = every_s
        self._clock = clock
        self._last: float | None = None
        self._since = 0
        #: how many the console refused since it started
        self.count = 0

    def seen(self, peer: str | None, status: int, exc: BaseException | None) -> None:
        """Count one refused with ``status``; log it as the rate allows."""
        self.count += 1
        self._since += 1
        kind = type(exc).__name__ if exc is not None else "malformed request"
        now = self._clock()
        if self._last is not None and now - self._last < self._every_s:
            log.debug(
                "malformed HTTP request from %s refused (%d %s)", peer, status, kind
            )
            return
        log.warning(
            "%d malformed HTTP request(s) refused with %d (the last from %s: %s); "
            "at most one such line every %.0f s",
            self._since,
            status,
            peer,
            kind,
            self._every_s,
        )
        self._last, self._since = now, 0


class ConsoleRequestHandler(web.RequestHandler):
    """aiohttp's request handler, answering a request it could not parse as the
    console answers: a JSON error naming ``request``, the console's headers (no
    server version), nothing of the request repeated; and logged by
    :class:`MalformedRequests`. A failure of the console's own (5xx) is logged with
    its traceback as aiohttp does, and answered with the console's headers too."""

    __slots__ = ("_malformed",)

    def __init__(
        self, manager: web.Server, *, malformed: MalformedRequests, **kwargs: Any
    ):
        super().__init__(manager, **kwargs)
        self._malformed = malformed

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The answer to a request that failed before or outside the application."""
        if status >= 500:  # ours, not the client's: aiohttp logs the traceback
            response = super().handle_error(request, status, exc, message)
        else:
            self._malformed.seen(request.remote, status, exc)
            if request.writer.output_size > 0:  # as aiohttp: too late to answer
                raise ConnectionError("a response was already sent on this request")
            response = web.json_response(
                {"error": "malformed HTTP request", "field": "request"}, status=status
            )
            response.force_close()
        add_secure_headers(response, "")
        return response


async def serve_https(
    runner: web.AppRunner,
    host: str,
    port: int,
    context: ssl.SSLContext,
    malformed: MalformedRequests,
) -> asyncio.Server:
    """Serve ``runner``'s application (set up) on ``host``:``port`` over TLS with
    :class:`ConsoleRequestHandler` connections; the caller closes the server it
    returns before ``runner.cleanup()``. OSError when the address cannot be bound."""
    manager = runner.server
    assert manager is not None, "runner.setup() first"
    loop = asyncio.get_running_loop()

    def connection() -> ConsoleRequestHandler:
        return ConsoleRequestHandler(
            manager, loop=loop, malformed=malformed, access_log=None
        )

    return await loop.create_server(connection, host, port, ssl=context)
