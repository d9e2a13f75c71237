# ruff: noqa: F811  (the fixtures imported below are parameters of the tests)
"""trial38 (a new user's trial) findings 1 and 2 at the counter console.

1. The console could not verify an encrypted PDF that certseal itself sealed: it
   answered 400 ``password`` ("... opens only with a password: give its user or owner
   password"), but /api/verify-pdf had no way to send one and the page no field for
   it. The clerk now gives it in the ``X-PDF-Password`` header (never the URL: URLs
   get logged), held to the seal service's 127 UTF-8 bytes and never echoed; the page
   asks for it when the answer names ``password`` and verifies again with it.
2. The console's ``error`` repeated its field (``"pdf: cannot be read as a PDF: …"``
   beside ``"field": "pdf"``); it is the message alone now, as docs/console-api.md
   shows it.

The platform, browser and page fixtures are tests/e2e/test_console.py's.
"""

from __future__ import annotations

from types import SimpleNamespace

import grpc
import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict
from playwright.async_api import expect

from certseal.bounds import MAX_PDF_PASSWORD_BYTES
from certseal.rpc import secure_channel
from certseal.rpcerrors import ERROR_FIELD_KEY, ERROR_KIND_KEY
from certseal.v1 import seal_pb2, seal_pb2_grpc
from services.console.refusals import rpc_failure
from services.console.requests import (
    PDF_PASSWORD_HEADER,
    BadRequest,
    password_refusal,
    pdf_password,
)
from tests.conftest import seal_owner
from tests.e2e.test_console import (  # noqa: F401  (fixtures)
    browser,
    drop_file,
    http,
    page,
    platform,
    shot,
)
from tests.seal.field_pdfs import OWNER_PASSWORD, encrypt, page_pdf

#: not ASCII: the header carries the password's UTF-8 bytes, from curl and the page
USER_PASSWORD = "柜台-user-pass"
WRONG = "not-the-password"
PDF = {"Content-Type": "application/pdf"}


def _pdf_password(value: str) -> str:
    """The header's value as aiohttp gives it (bytes not UTF-8: lone surrogates)."""
    request = SimpleNamespace(headers=CIMultiDict({PDF_PASSWORD_HEADER: value}))
    return pdf_password(request)  # type: ignore[arg-type]


def test_the_password_header_is_read_as_utf8_and_bounded_as_the_service_does():
    assert pdf_password(make_mocked_request("POST", "/api/verify-pdf")) == ""
    assert _pdf_password(USER_PASSWORD) == USER_PASSWORD
    at_most = "密" * (MAX_PDF_PASSWORD_BYTES // 3)  # 3 bytes each
    assert _pdf_password(at_most) == at_most
    over = at_most + "ab"
    with pytest.raises(BadRequest) as refused:
        _pdf_password(over)
    assert (refused.value.status, refused.value.field) == (400, "password")
    assert refused.value.message == (
        f"the password is {MAX_PDF_PASSWORD_BYTES + 1} bytes of UTF-8; a PDF "
        f"password has at most {MAX_PDF_PASSWORD_BYTES}"
    )
    assert over not in refused.value.message  # never echoed
    # bytes that are not UTF-8 reach aiohttp as lone surrogates
    with pytest.raises(BadRequest) as refused:
        _pdf_password("pass\udcff")
    assert refused.value.field == "password"
    assert refused.value.message == "the X-PDF-Password header is not UTF-8 text"


def test_a_wrong_password_is_said_as_the_one_given_with_what_to_do():
    wrong = BadRequest("does not open this PDF", field="password")
    said = password_refusal(wrong, given=True)
    assert (said.status, said.field) == (400, "password")
    assert said.message == (
        "the password given does not open this PDF: check it with whoever sent the "
        "PDF (its user or owner password) and verify again"
    )
    needed = BadRequest(
        "the PDF is encrypted (…) and opens only with …", field="password"
    )
    assert password_refusal(needed, given=False) is needed
    other = BadRequest("cannot be read as a PDF", field="pdf")
    assert password_refusal(other, given=True) is other


class _RefusedRpc(grpc.aio.AioRpcError):
    def __init__(self, field: str, details: str):
        super().__init__(
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.aio.Metadata(),
            grpc.aio.Metadata(
                (ERROR_KIND_KEY, "INVALID_ARGUMENT"), (ERROR_FIELD_KEY, field)
            ),
            details,
        )


@pytest.mark.parametrize(
    "field,details,message",
    [
        ("pdf", "pdf: cannot be read as a PDF: x", "cannot be read as a PDF: x"),
        ("password", "password: does not open this PDF", "does not open this PDF"),
    ],
)
def test_a_service_error_is_answered_as_its_message_alone(field, details, message):
    """The field is the answer's ``field``, not repeated at the start of ``error``."""
    refused = rpc_failure(_RefusedRpc(field, details), "seal")
    assert (refused.status, refused.field, refused.message) == (400, field, message)


# -- against the real stack ------------------------------------------------------------


@pytest.fixture(scope="module")
async def sealed(platform, operator) -> tuple[bytes, str]:
    """A blank PDF encrypted with AES-256 (revision 6), then sealed by the seal
    service with its user password (it stays encrypted), and the seal's id."""
    stack = platform["stack"]
    ident = stack.ca.identity(f"dept:{await seal_owner(operator)}")
    channel = secure_channel(
        f"localhost:{platform['seal_port']}",
        str(stack.ca.ca_file),
        str(ident.cert_file),
        str(ident.key_file),
    )
    try:
        stub = seal_pb2_grpc.SealStub(channel)
        seal = (
            await stub.RegisterSeal(
                seal_pb2.RegisterSealRequest(name="示例公司合同专用章", suite="es256")
            )
        ).seal
        locked = encrypt(page_pdf(), "aes-256", user_password=USER_PASSWORD)
        pdf = (
            await stub.SealPdf(
                seal_pb2.SealPdfRequest(
                    seal_id=seal.seal_id, pdf=locked, x_mm=20, password=USER_PASSWORD
                )
            )
        ).pdf
    finally:
        await channel.close()
    assert b"/Encrypt" in pdf
    return pdf, seal.seal_id


async def _verify(http, pdf: bytes, password: str | None = None) -> tuple[int, dict]:
    headers = dict(PDF)
    if password is not None:
        headers[PDF_PASSWORD_HEADER] = password
    async with http.post("/api/verify-pdf", data=pdf, headers=headers) as reply:
        return reply.status, await reply.json()


async def test_an_encrypted_sealed_pdf_is_verified_with_its_password(http, sealed):
    pdf, seal_id = sealed
    status, body = await _verify(http, pdf)
    assert (status, body["field"]) == (400, "password"), body
    assert body["error"].startswith("the PDF is encrypted (the standard security ")
    assert "AES-256 (revision 6)" in body["error"]
    assert "user or owner password" in body["error"]

    status, body = await _verify(http, pdf, WRONG)
    assert (status, body) == (
        400,
        {
            "error": "the password given does not open this PDF: check it with "
            "whoever sent the PDF (its user or owner password) and verify again",
            "field": "password",
        },
    )

    for password in (USER_PASSWORD, OWNER_PASSWORD):
        status, body = await _verify(http, pdf, password)
        assert status == 200, body
        assert set(body) == {"seals", "licence", "verified_at"}
        assert [(s["seal_id"], s["verdict"]) for s in body["seals"]] == [
            (seal_id, "VALID")
        ]
        assert password not in str(body)

    status, body = await _verify(http, pdf, "x" * (MAX_PDF_PASSWORD_BYTES + 1))
    assert (status, body["field"]) == (400, "password")
    assert "x" * 20 not in body["error"]


async def test_a_service_error_names_its_field_once(http):
    status, body = await _verify(http, b"%PDF-1.7\nnot really a PDF")
    assert (status, body["field"]) == (400, "pdf"), body
    assert not body["error"].startswith("pdf:"), body


async def test_the_page_asks_for_the_password_and_verifies_again(page, sealed):
    pdf, seal_id = sealed
    sent: list[tuple[str, str | None]] = []
    page.on(
        "request",
        lambda r: sent.append((r.url, r.headers.get(PDF_PASSWORD_HEADER.lower()))),
    )
    await drop_file(page, pdf, "encrypted.pdf", "application/pdf")
    area, field = page.locator("#pdf-password-area"), page.locator("#pdf-password")
    await expect(area).to_be_visible()
    await expect(page.locator("#message")).to_contain_text("opens only with a password")
    await expect(area).to_contain_text("encrypted.pdf")
    await expect(field).to_have_attribute("type", "password")
    await expect(field).to_be_focused()
    await shot(page, "38-pdf-password-asked")

    await field.fill(WRONG)
    await page.press("#pdf-password", "Enter")
    await expect(page.locator("#message")).to_contain_text(
        "the password given does not open this PDF"
    )
    await expect(area).to_be_visible()
    await expect(field).to_have_value("")

    await field.fill(USER_PASSWORD)
    await page.click("#pdf-password-verify")
    rows = page.locator("#seals-body tr")
    await expect(rows).to_have_count(1)
    await expect(rows.nth(0)).to_have_attribute("data-verdict", "VALID")
    await expect(rows.nth(0)).to_contain_text(seal_id)
    await expect(area).to_be_hidden()
    await expect(page.locator("#message")).to_be_hidden()
    await expect(page.locator("#scan")).to_be_focused()
    await shot(page, "38-pdf-password-verified")

    posts = [h for u, h in sent if u.endswith("/api/verify-pdf")]
    # the header carries the UTF-8 bytes (shown here as Latin-1 text); never the URL
    assert posts == [
        None,
        WRONG,
        USER_PASSWORD.encode().decode("latin-1"),
    ], posts
    assert not any(WRONG in u or "user-pass" in u for u, _ in sent)
