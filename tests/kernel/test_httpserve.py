"""certseal.httpserve: a request that is not HTTP gets the service's own short answer
(no echo, no server version) and at most one warning line a minute, never aiohttp's
traceback; the seal service's TSA room serves through it (fixnu-c 5's kind). Raw
sockets; the counter console's are tests/e2e/test_fixnu_c_console_malformed.py."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web

from certseal.errors import CertsealError
from certseal.httpserve import MalformedRequests, name_server, serve, serve_setting

MALFORMED = [
    "POST /?x=窗口 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode(),
    b"GET / HTTP/1.1\r\nHost: x\r\nno colon on this line\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 20000 + b"\r\n\r\n",
    b"\x16\x03\x01 not http at all\r\n\r\n",
]


async def raw(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def check_answer(answer: bytes, server_name: str) -> None:
    head, _, _ = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1].startswith(b"4"), answer[:300]
    assert f"\r\nServer: {server_name}\r\n".encode() in head, head
    assert b"aiohttp" not in answer and b"Python" not in answer, answer[:300]
    for piece in (b"/?x", "窗口".encode(), b"colon", b"aaaa", b"not http"):
        assert piece not in answer, answer[:300]


# The loggers a served request can reach. Records of others (a Kafka client an
# earlier test of the session left retrying a broker that is gone) are not this
# test's to judge.
SERVING_LOGGERS = ("certseal", "services", "aiohttp", "asyncio")


def served_records(caplog) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name.split(".")[0] in SERVING_LOGGERS or r.name == "root"
    ]


def check_log(caplog) -> None:
    for record in served_records(caplog):
        assert record.exc_info is None, record.getMessage()
        assert record.levelno < logging.ERROR, record.getMessage()
        assert "窗口" not in record.getMessage() and "colon" not in record.getMessage()


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


@pytest.fixture
async def served():
    app = web.Application()
    app.router.add_get("/", _ok)
    name_server(app, "certseal-test")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    malformed = MalformedRequests("test server")
    server = await serve(
        runner, "127.0.0.1", 0, malformed=malformed, server_name="certseal-test"
    )
    yield server.sockets[0].getsockname()[1], malformed
    server.close()
    await runner.cleanup()
    await server.wait_closed()


@pytest.mark.parametrize(
    "request_bytes", MALFORMED, ids=["utf8", "header", "long", "junk"]
)
async def test_a_malformed_request_gets_a_short_answer(served, request_bytes, caplog):
    port, malformed = served
    caplog.set_level(logging.DEBUG)
    answer = await raw(port, request_bytes)
    check_answer(answer, "certseal-test")
    assert answer.endswith(b"malformed HTTP request\n"), answer
    assert malformed.count == 1
    check_log(caplog)


async def test_a_wellformed_request_is_served_and_named(served):
    port, _ = served
    answer = await raw(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok"), answer
    assert b"\r\nServer: certseal-test\r\n" in answer, answer


async def test_an_address_that_cannot_be_bound_names_its_setting(served):
    port, malformed = served
    app = web.Application()
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        for listen in (f"127.0.0.1:{port}", "127.0.0.1:http"):
            with pytest.raises(CertsealError) as refused:
                await serve_setting(
                    runner,
                    listen,
                    "test.listen",
                    malformed=malformed,
                    server_name="x",
                )
            assert refused.value.field == "test.listen"
    finally:
        await runner.cleanup()


async def test_the_tsa_room_answers_a_malformed_request_as_its_own(tmp_path, caplog):
    from certseal.devpki import DevCA
    from services.seal.tsa import TsaServer

    ident = DevCA(tmp_path, name="test TSA CA").tsa_identity("test TSA")
    tsa = TsaServer(cert_file=str(ident.cert_file), key_file=str(ident.key_file))
    port = await tsa.start("127.0.0.1:0")
    caplog.set_level(logging.DEBUG)
    try:
        for request in MALFORMED:
            check_answer(await raw(port, request), "certseal-tsa")
        answer = await raw(
            port,
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 0\r\nConnection: close\r\n\r\n",
        )
        assert answer.startswith(b"HTTP/1.1 415"), answer  # the room's own answer
        assert b"\r\nServer: certseal-tsa\r\n" in answer, answer
    finally:
        await tsa.stop()
    assert tsa.malformed.count == len(MALFORMED)
    warnings = [r for r in served_records(caplog) if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].getMessage().startswith(
        "TSA: 1 malformed"
    )
    check_log(caplog)


def test_the_log_check_judges_the_serving_loggers_only(caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("aiokafka.conn").error("Unable connect to node with id 111")
    check_log(caplog)
    logging.getLogger("certseal.httpserve").error("a served request failed")
    with pytest.raises(AssertionError, match="a served request failed"):
        check_log(caplog)


def test_the_warnings_are_rate_limited(caplog):
    now = [100.0]
    malformed = MalformedRequests("test", every_s=60, clock=lambda: now[0])
    caplog.set_level(logging.DEBUG, logger="certseal.httpserve")

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    malformed.seen("192.0.2.1", 400, ValueError("x"))
    assert warnings() == [
        "test: 1 malformed HTTP request(s) refused with 400 (the last from "
        "192.0.2.1: ValueError); at most one such line every 60 s"
    ]
    for _ in range(3):
        now[0] += 10
        malformed.seen("192.0.2.2", 400, None)
    assert len(warnings()) == 1  # within the minute: at DEBUG
    now[0] += 31  # 61 s after the first warning
    malformed.seen("192.0.2.3", 400, None)
    assert len(warnings()) == 2 and warnings()[1].startswith("test: 4 malformed")
    assert malformed.count == 5
