"""atk17c: what the console reads of a request other than the purpose (f007d3f): a
header such as the session cookie or Idempotency-Key, a path, carrying bytes that are
not UTF-8 or control characters, is answered as a bad request (4xx naming what), never
a 500 or a traceback."""

from __future__ import annotations

import asyncio
import ssl
import urllib.parse

import pytest
from yarl import URL

from services.console.access import COOKIE
from tests.e2e import test_console
from tests.e2e.test_console import PURPOSE
from tests.e2e.test_console_api_examples import signed_in

platform = test_console.platform


async def raw(platform, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """One HTTP/1.1 request written byte for byte; the status and the body."""
    context = ssl.create_default_context(cafile=platform["config"].tls.ca_file)
    port = urllib.parse.urlsplit(platform["url"]).port
    reader, writer = await asyncio.open_connection("localhost", port, ssl=context)
    try:
        writer.write(
            head
            + b"\r\nHost: localhost\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize("value", [b"\xff", b"a\xe7\xaa", b"\xe7\xaa\x97\xff"])
@pytest.mark.parametrize(
    "request_line",
    [b"GET /api/accounts", b"GET /", b"GET /api/status", b"POST /api/logout"],
)
async def test_a_session_cookie_that_is_no_text_is_unauthenticated(
    platform, request_line, value
):
    """A guarded API is 401, a page 303 to the login, sign-out a 200 that signed
    nothing out: the cookie is an unknown session (it was a 500)."""
    cookie = b"Cookie: " + COOKIE.encode() + b"=" + value
    status, body = await raw(platform, request_line + b" HTTP/1.1\r\n" + cookie)
    assert status in (200, 303, 401), (status, body)
    if status == 200:
        assert b'"signed_out": false' in body, body
    assert b"Traceback" not in body


@pytest.mark.parametrize("path", [b"/%FF", b"/accounts%FF", b"/a%ED%A0%80"])
async def test_a_page_path_that_is_no_text_is_not_a_500(platform, path):
    status, body = await raw(platform, b"GET " + path + b" HTTP/1.1\r\nX: y")
    assert status in (303, 400, 404), (status, body)


async def test_an_idempotency_key_that_is_no_text_is_a_400(platform):
    http = await signed_in(platform, "operator")
    try:
        cookie = http.headers["Cookie"].encode()
    finally:
        await http.close()
    body = b'{"name": "x"}'
    for key in (b"\xff\xfe", b"ab\x01c"):
        status, answer = await raw(
            platform,
            b"POST /api/accounts HTTP/1.1\r\nContent-Type: application/json\r\n"
            + b"Cookie: "
            + cookie
            + b"\r\nIdempotency-Key: "
            + key,
            body,
        )
        # ours names the key; a control character the HTTP parser refuses first
        assert status == 400, (key, status, answer)
        assert b'"field": "idempotency_key"' in answer or key == b"ab\x01c", answer


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/verify", {"code": "\x00\x07\x1b[2J", "purpose": PURPOSE}),
        ("/api/verify", {"code": "HC1:\x00" + "A" * 30, "purpose": PURPOSE}),
        ("/api/accounts/x%00y/password", {"password": "p" * 20}),
        ("/api/accounts/x%FFy/disable", {}),
    ],
)
async def test_json_and_path_text_with_control_characters_is_never_a_500(
    platform, path, body
):
    http = await signed_in(platform, "operator" if "accounts" in path else "clerk")
    try:
        async with http.post(URL(path, encoded=True), json=body) as reply:
            text = await reply.text()
            assert reply.status < 500, (path, reply.status, text)
    finally:
        await http.close()
