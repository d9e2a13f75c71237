"""trial38 finding 2: the counter refused a sealed PDF the seal service verifies.

The console's body limit was 32 MiB while the seal service takes 60 MiB documents,
and its refusal was aiohttp's own words (``Maximum request body size 33554432
exceeded.``). Its limit is now the seal service's ``[seal] max_document_bytes``
(``[console] max_upload_bytes`` 0), and a body over it is answered in the console's
JSON error shape, with the size and the limit in MiB."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from certseal.bounds import MAX_DOCUMENT_BYTES
from services.config import Config
from services.console.config import body_limit
from services.console.handlers import guard
from services.console.refusals import dropped_file

LIMIT = 4096
LIMIT_TEXT = "4 KiB, the largest document the seal service takes"


def test_the_body_limit_is_the_seal_services_document_limit():
    config = Config()
    assert body_limit(config) == config.seal.max_document_bytes == MAX_DOCUMENT_BYTES
    config.seal.max_document_bytes = 100 * 1024 * 1024
    assert body_limit(config) == 100 * 1024 * 1024
    config.console.max_upload_bytes = 8 * 1024 * 1024  # set: it decides
    assert body_limit(config) == 8 * 1024 * 1024


async def _client() -> TestClient:
    async def verify_pdf(request: web.Request) -> web.Response:
        pdf = await dropped_file(
            request, "pdf", ("application/pdf",), "a PDF", b"%PDF-", "a PDF"
        )
        return web.json_response({"bytes": len(pdf)})

    app = web.Application(middlewares=[guard], client_max_size=LIMIT)
    app.router.add_post("/api/verify-pdf", verify_pdf)
    return TestClient(TestServer(app))


async def _post(client: TestClient, data) -> tuple[int, dict]:
    async with client.post(
        "/api/verify-pdf", data=data, headers={"Content-Type": "application/pdf"}
    ) as reply:
        return reply.status, await reply.json()


async def test_a_body_at_the_limit_is_taken_and_one_over_is_a_clear_413():
    async with await _client() as client:
        assert await _post(client, b"%PDF-" + bytes(LIMIT - 5)) == (
            200,
            {"bytes": LIMIT},
        )
        status, body = await _post(client, b"%PDF-" + bytes(104_857_600 - 5))
        assert status == 413
        assert body == {
            "error": f"the body is 100.0 MiB (104,857,600 bytes); the limit is "
            f"{LIMIT_TEXT}",
            "field": "body",
        }
        status, body = await _post(client, b"%PDF-" + bytes(LIMIT - 4))
        assert status == 413 and body["field"] == "body"
        assert body["error"].startswith("the body is 4.001 KiB (4,097 bytes)")


async def test_a_body_of_unsaid_length_over_the_limit_is_a_clear_413():
    async def chunks() -> AsyncIterator[bytes]:
        yield b"%PDF-"
        for _ in range(4):
            yield bytes(LIMIT)

    async with await _client() as client:
        status, body = await _post(client, chunks())  # chunked: no Content-Length
    assert (status, body) == (
        413,
        {"error": f"the body is over {LIMIT_TEXT}", "field": "body"},
    )
