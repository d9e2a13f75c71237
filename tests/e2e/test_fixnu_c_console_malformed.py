"""fixnu-c 5: a malformed HTTP request to the counter console (a raw non-ASCII
request line, an invalid header line) was logged as ``ERROR aiohttp.server`` with a
full traceback, for any unauthenticated client (a log flood), and answered with
aiohttp's plain 400 echoing the request line, ``Server: Python/3.11 aiohttp/…``.
Now: one short warning line at most a minute, no traceback, and an answer with the
console's headers, no server version and nothing of the request. Raw sockets over
TLS, against a console of its own; the server part (certseal.httpserve) and its
rate limit are tests/kernel/test_httpserve.py's."""

from __future__ import annotations

import asyncio
import logging
import re
import ssl

import pytest

from tests.conftest import console_alone


@pytest.fixture(scope="module")
async def console(stack, config):
    async with console_alone(stack, config) as (app, cfg):
        yield app, cfg.tls.ca_file


async def raw(port: int, ca_file: str, request: bytes) -> bytes:
    """``request``'s bytes as they are over TLS; everything the console answered."""
    context = ssl.create_default_context(cafile=ca_file)
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="localhost"
    )
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


MALFORMED = [
    # the request line in raw UTF-8, as a tool that does not percent-encode sends it
    "POST /api/verify?x=窗口 HTTP/1.1\r\nHost: localhost\r\n"
    "Content-Length: 0\r\n\r\n".encode(),
    b"GET /api/status HTTP/1.1\r\nHost: localhost\r\nno colon on this line\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Long: " + b"a" * 20000 + b"\r\n\r\n",
    b"\x16\x03\x01 not http at all\r\n\r\n",
]


@pytest.mark.parametrize(
    "request_bytes", MALFORMED, ids=["utf8", "header", "long", "junk"]
)
async def test_a_malformed_request_is_answered_as_the_consoles(
    console, request_bytes, caplog
):
    app, ca = console
    caplog.set_level(logging.DEBUG)
    answer = await raw(app.port, ca, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert re.match(r"HTTP/1\.[01] 4\d\d ", lines[0]), answer[:500]
    headers = {
        k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])
    }
    assert headers["server"] == "certseal-console", headers
    assert "x-frame-options" in headers and "content-security-policy" in headers
    assert b"aiohttp" not in answer and b"Python" not in answer, answer[:500]
    assert b'"field": "request"' in body, body
    for piece in (b"/api/", "窗口".encode(), b"colon", b"aaaa", b"not http"):
        assert piece not in answer, answer[:500]
    # no traceback, nothing at ERROR, nothing of the request in the log
    for record in caplog.records:
        assert record.exc_info is None, record.getMessage()
        assert record.levelno < logging.ERROR, record.getMessage()
        assert "窗口" not in record.getMessage() and "colon" not in record.getMessage()


async def test_a_flood_of_malformed_requests_is_one_warning(console, caplog):
    app, ca = console
    caplog.set_level(logging.DEBUG)
    before = app.malformed.count
    for _ in range(5):
        await raw(app.port, ca, MALFORMED[1])
    assert app.malformed.count == before + 5
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) <= 1, [r.getMessage() for r in warnings]


async def test_a_wellformed_request_is_still_answered(console):
    app, ca = console
    answer = await raw(
        app.port,
        ca,
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert b"Server: certseal-console" in answer, answer[:300]


@pytest.mark.parametrize("listen", ["[::1]:0", "[::]:0"])
async def test_the_console_listens_on_an_ipv6_address(stack, config, listen):
    """atk23 F4: the host was given to the server with its brackets ("[::1]"),
    so an IPv6 listen passed config check and failed the start."""
    async with console_alone(stack, config, listen) as (app, cfg):
        context = ssl.create_default_context(cafile=cfg.tls.ca_file)
        reader, writer = await asyncio.open_connection(
            "::1", app.port, ssl=context, server_hostname="localhost"
        )
        try:
            writer.write(b"GET /login HTTP/1.1\r\nHost: localhost\r\n\r\n")
            await writer.drain()
            assert (await asyncio.wait_for(reader.readline(), 10)).startswith(
                b"HTTP/1.1 "
            )
        finally:
            writer.close()
