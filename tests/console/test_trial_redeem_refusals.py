"""A new user's trial of the counter console, findings 2 and 12, without a stack.

2. A redemption refused (POST /api/redeem) was English only, and the issuer's ABORTED
   (the licence changed while the copy was made) was a 502 "the issuer service
   failed". Every refusal is now answered with its status and field as before, the
   issuer's ``error`` kept, and ``refusal``, ``reason_zh`` and ``reason_en`` beside
   them: the reason in the clerk's words, Chinese first. The issuer's messages are
   made here by the issuer's own functions, so a change of their shape fails here.
12. A file dropped on the wrong route was "the file is not a PDF", an empty one too:
   an OFD sent to /api/verify-pdf now says it is an OFD package and names
   /api/verify-ofd (``use``), a PDF sent to /api/verify-ofd names /api/verify-pdf,
   and an empty body says "the file is empty (0 bytes)".
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from typing import Any

import grpc
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from certseal.errors import CertsealError, ErrorKind, precondition
from certseal.rpcerrors import ERROR_FIELD_KEY, ERROR_KIND_KEY, ERROR_REASON_KEY
from services.console.access import ACCOUNT
from services.console.accounts import Account, Role
from services.console.handlers import ConsoleHandlers, guard
from services.console.refusals import (
    REDEMPTION_WORDS,
    dropped_file,
    redemption_failure,
)
from services.console.requests import BadRequest
from services.issuer.authorisation import (
    MISREAD_CODE,
    licence_refusal,
    refusal_error,
)
from services.issuer.domain import Status

NOW = dt.datetime(2026, 12, 5, 10, tzinfo=dt.UTC)


class _Auth:
    authorisation_id = "auth-1f2e"


class _Record:
    identifier = "LIC-1"
    status = Status.VALID
    valid_from = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    valid_until = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)


def _licence(**changes: Any) -> CertsealError:
    """The issuer's refusal for a licence version (its own licence_refusal)."""
    record = _Record()
    for name, value in changes.items():
        setattr(record, name, value)
    refused = licence_refusal(record, NOW)  # type: ignore[arg-type]
    assert refused is not None
    return CertsealError(ErrorKind.FAILED_PRECONDITION, refused[1], field="code")


def _rpc(error: CertsealError, *extra: tuple[str, str]) -> grpc.aio.AioRpcError:
    """``error`` as the issuer's interceptor sends it (certseal.rpc)."""
    code = getattr(grpc.StatusCode, error.kind.name)
    trailing = [(ERROR_KIND_KEY, error.kind.value), *extra]
    if error.field:
        trailing.append((ERROR_FIELD_KEY, error.field))
    if error.reason and not extra:
        trailing.append((ERROR_REASON_KEY, error.reason))
    return grpc.aio.AioRpcError(
        code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailing), str(error)
    )


SETUP = CertsealError(
    ErrorKind.FAILED_PRECONDITION,
    "the platform cannot seal annotated copies (…); an operator registers its seal: "
    "certseal seal register …",
    field="setup",
)
CHANGED = CertsealError(
    ErrorKind.ABORTED,
    "licence LIC-1 was changed (now LIC-2) while the copy was made: redeem the code "
    "again",
    field="code",
)

#: each refusal: the issuer's error, the console's status and field, its key and
#: words that must be in its Chinese and English reasons
CASES = [
    (refusal_error("not_found", None), 404, "code", "not_found", "没有", "no auth"),
    (
        refusal_error("other_counter", _Auth()),  # type: ignore[arg-type]
        403,
        "code",
        "other_counter",
        "其他窗口",
        "another counter",
    ),
    (
        refusal_error("withdrawn", _Auth()),  # type: ignore[arg-type]
        400,
        "code",
        "withdrawn",
        "撤回",
        "withdrew",
    ),
    (
        refusal_error("expired", _Auth()),  # type: ignore[arg-type]
        400,
        "code",
        "expired",
        "已过期",
        "expired",
    ),
    (
        _licence(status=Status.REVOKED),
        400,
        "code",
        "licence_no_longer_valid",
        "证照已撤销（03）",
        "no longer valid",
    ),
    (
        _licence(valid_until=dt.datetime(2026, 6, 1, tzinfo=dt.UTC)),
        400,
        "code",
        "licence_no_longer_valid",
        "2026-06-01届满",
        "valid until 2026-06-01",
    ),
    (
        _licence(valid_from=dt.datetime(2027, 2, 1, tzinfo=dt.UTC)),
        400,
        "code",
        "licence_not_yet_valid",
        "尚未生效（自2027-02-01起有效）",
        "valid from 2027-02-01",
    ),
    (CHANGED, 409, "code", "licence_changed", "已变更", "scan the authorisation"),
    (SETUP, 503, "setup", "setup", "平台", "operator registers"),
    (
        # a licence the copy cannot draw whole (services/issuer/printable.py)
        precondition(
            "contains U+E000, which the licence file's fonts cannot draw: the file "
            "is not drawn nor sealed without it",
            field="address",
            reason="not_drawable",
        ),
        400,
        "address",
        "not_drawable",
        "无法显示的字符",
        "cannot draw",
    ),
    (
        CertsealError(ErrorKind.INVALID_ARGUMENT, MISREAD_CODE, field="code"),
        400,
        "code",
        "misread",
        "重新扫描",
        "scan it again",
    ),
]


@pytest.mark.parametrize("error,status,field,key,zh,en", CASES)
def test_each_redemption_refusal_has_its_status_and_reasons_chinese_first(
    error, status, field, key, zh, en
):
    refused = redemption_failure(_rpc(error))
    assert (refused.status, refused.field) == (status, field)
    assert refused.message == error.message  # ``error`` as before, for scripts
    words = refused.words
    assert words["refusal"] == key
    assert zh in words["reason_zh"]
    assert en.lower() in words["reason_en"].lower()
    assert any("\u4e00" <= c <= "\u9fff" for c in words["reason_zh"])
    assert not any("\u4e00" <= c <= "\u9fff" for c in words["reason_en"])


def test_a_reason_key_the_issuer_sends_decides_over_the_message():
    """The stable cue: the issuer's audited ``why`` in trailing metadata."""
    error = CertsealError(ErrorKind.FAILED_PRECONDITION, "reworded", field="code")
    refused = redemption_failure(_rpc(error, (ERROR_REASON_KEY, "expired")))
    assert refused.words["refusal"] == "expired"
    assert refused.words["reason_zh"] == REDEMPTION_WORDS["expired"][0]
    # an unknown one, or none, and a message of no known shape: general words
    refused = redemption_failure(_rpc(error, (ERROR_REASON_KEY, "something-new")))
    assert refused.words["refusal"] == "refused"
    assert (refused.status, refused.message) == (400, "reworded")


def test_an_unreachable_or_failed_issuer_is_said_in_both_languages():
    for code, status, key in (
        (grpc.StatusCode.UNAVAILABLE, 503, "unreachable"),
        (grpc.StatusCode.INTERNAL, 502, "failed"),
    ):
        exc = grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "x")
        refused = redemption_failure(exc)
        assert (refused.status, refused.field) == (status, "issuer")
        assert refused.words["refusal"] == key and refused.words["reason_zh"]


class _Refusing:
    def __init__(self, error: CertsealError):
        self.error = error

    async def RedeemAuthorisation(self, request: Any, **_: Any) -> Any:
        raise _rpc(self.error)


def _app(error: CertsealError) -> web.Application:
    handlers = ConsoleHandlers(
        verifier=None,  # type: ignore[arg-type]
        seal=None,  # type: ignore[arg-type]
        redemption=_Refusing(error),  # type: ignore[arg-type]
        collector=None,  # type: ignore[arg-type]
        verifier_target="127.0.0.1:1",
        purposes=["窗口办事"],
        operator_page=False,
        clock=lambda: NOW,
    )
    account = Account("li.si", "91350200M00020000L", Role.CLERK, has_password=True)

    async def redeem(request: web.Request) -> web.StreamResponse:
        request[ACCOUNT] = account
        return await handlers.redeem(request)

    app = web.Application(middlewares=[guard])
    app.router.add_post("/api/redeem", redeem)
    return app


async def _redeem(error: CertsealError, code: str = "AU-7K3M-9Q2W") -> tuple[int, dict]:
    client = TestClient(TestServer(_app(error)))
    async with client, client.post("/api/redeem", json={"code": code}) as reply:
        return reply.status, await reply.json()


@pytest.mark.parametrize("error,status,field,key,zh,en", CASES[:4] + CASES[7:9])
async def test_the_api_answers_error_field_and_both_reasons(
    error, status, field, key, zh, en
):
    got, body = await _redeem(error)
    assert got == status
    assert set(body) == {"error", "field", "refusal", "reason_zh", "reason_en"}
    assert (body["error"], body["field"], body["refusal"]) == (
        error.message,
        field,
        key,
    )
    assert zh in body["reason_zh"]


async def test_the_consoles_own_refusals_of_a_code_have_reasons_too():
    for code, key in (("", "empty"), ("AU-" + "X" * 64, "too_long")):
        status, body = await _redeem(SETUP, code)
        assert (status, body["field"], body["refusal"]) == (400, "code", key)
        assert body["reason_zh"] and body["reason_en"]


def _ofd() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        package.writestr("OFD.xml", "<ofd:OFD/>")
    return out.getvalue()


async def _drop(path: str, media: str, data: bytes) -> tuple[int, dict]:
    async def pdf(request: web.Request) -> web.Response:
        await dropped_file(
            request, "pdf", ("application/pdf",), "a PDF", b"%PDF-", "a PDF"
        )
        return web.json_response({})

    async def ofd(request: web.Request) -> web.Response:
        await dropped_file(
            request,
            "ofd",
            ("application/ofd",),
            "an OFD",
            b"PK\x03\x04",
            "an OFD (a ZIP package)",
        )
        return web.json_response({})

    app = web.Application(middlewares=[guard])
    app.router.add_post("/api/verify-pdf", pdf)
    app.router.add_post("/api/verify-ofd", ofd)
    async with (
        TestClient(TestServer(app)) as client,
        client.post(path, data=data, headers={"Content-Type": media}) as reply,
    ):
        return reply.status, await reply.json()


async def test_an_ofd_sent_as_a_pdf_is_named_with_the_route_that_takes_it():
    status, body = await _drop("/api/verify-pdf", "application/pdf", _ofd())
    assert (status, body["field"]) == (400, "pdf")
    assert body["error"] == (
        "the file is an OFD package, not a PDF: send it to /api/verify-ofd"
    )
    assert body["use"] == "/api/verify-ofd"
    assert "OFD" in body["reason_zh"] and "OFD package" in body["reason_en"]


async def test_a_pdf_sent_as_an_ofd_is_named_with_the_route_that_takes_it():
    status, body = await _drop("/api/verify-ofd", "application/ofd", b"%PDF-1.7\n")
    assert (status, body["field"], body["use"]) == (400, "ofd", "/api/verify-pdf")
    assert body["error"] == (
        "the file is a PDF, not an OFD (a ZIP package): send it to /api/verify-pdf"
    )


async def test_an_empty_body_says_it_is_empty_and_other_files_as_before():
    for path, media, field in (
        ("/api/verify-pdf", "application/pdf", "pdf"),
        ("/api/verify-ofd", "application/ofd", "ofd"),
    ):
        status, body = await _drop(path, media, b"")
        assert (status, body["field"]) == (400, field)
        assert body["error"] == "the file is empty (0 bytes)"
        assert "0字节" in body["reason_zh"]
    status, body = await _drop("/api/verify-pdf", "application/pdf", b"hello")
    assert body == {"error": "the file is not a PDF", "field": "pdf"}
    # a ZIP that is no OFD is not sent on to the OFD route
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as package:
        package.writestr("word/document.xml", "<w/>")
    status, body = await _drop("/api/verify-pdf", "application/pdf", other.getvalue())
    assert body == {"error": "the file is not a PDF", "field": "pdf"}


def test_the_words_are_json_keys_beside_error():
    refused = BadRequest("x", field="code")
    assert refused.words == {}
    json.dumps(refused.words)
