"""What the console reads of a request: a JSON object body, a query parameter as
sent, the purpose of use (用证事由), an encrypted PDF's password (a header); each
refused with a 400 naming what is wrong; a body over the console's limit, 413."""

from __future__ import annotations

import urllib.parse
from typing import Any

from aiohttp import web

from certseal.bounds import MAX_PDF_PASSWORD_BYTES
from certseal.errors import CertsealError
from certseal.jsontext import json_kind, loads_bounded
from certseal.sizes import byte_limit, over_limit
from certseal.text import unfit_character


class BadRequest(Exception):
    """A request the page should not have sent: the message names what is wrong;
    ``words``, more keys of the JSON error (a refusal's ``reason_zh``/``reason_en``)."""

    def __init__(self, message: str, *, field: str, status: int = 400):
        super().__init__(message)
        self.message, self.status, self.field = message, status, field
        self.words: dict[str, str] = {}


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's body as a JSON object: UTF-8, nested at most
    :data:`~certseal.bounds.MAX_JSON_DEPTH` deep (checked before decoding), else a
    400 naming ``body``."""
    try:
        body = loads_bounded(await request.read(), "body")
    except CertsealError as exc:
        raise BadRequest(f"the request {exc.message}", field="body") from None
    if not isinstance(body, dict):
        raise BadRequest("the request is not a JSON object", field="body")
    return body


def text_of(value: Any, field: str) -> str:
    """A JSON body's text field, stripped ("" for none); a 400 naming ``field`` for a
    value that is not text (a number, a list: told as what it is, not as missing)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"must be text, not {json_kind(value)}", field=field)
    return value.strip()


def purpose_of(value: Any) -> str:
    purpose = text_of(value, "purpose")
    if not purpose:
        raise BadRequest(
            "choose the purpose of use (用证事由) before scanning", field="purpose"
        )
    if len(purpose) > 200:
        raise BadRequest(
            "the purpose of use is longer than 200 characters", field="purpose"
        )
    unfit = unfit_character(purpose)
    if unfit is not None:
        raise BadRequest(
            f"the purpose of use holds U+{ord(unfit):04X}, which no text may hold "
            "(a control character, or bytes that are not UTF-8)",
            field="purpose",
        )
    return purpose


def query_text(request: web.Request, name: str) -> str | None:
    """The query parameter ``name`` (its first value) as sent, None when absent.
    Bytes that are not UTF-8 stay visible as lone surrogates (refused by the checks
    of each value, e.g. :func:`purpose_of`), where ``request.query`` would make them
    U+FFFD and a value that was never text would pass for one."""
    values = urllib.parse.parse_qs(
        request.rel_url.raw_query_string,
        keep_blank_values=True,
        errors="surrogateescape",
    ).get(name)
    return values[0] if values else None


def body_too_large(request: web.Request) -> str:
    """Why a body over the console's limit (``client_max_size``,
    :func:`~services.console.config.body_limit`) is refused: its size when the
    request says it, and the limit, in MiB."""
    limit, size = request.client_max_size, request.content_length
    limit_text = f"{byte_limit(limit)}, the largest document the seal service takes"
    if size is not None and size > limit:
        return "the body " + over_limit(size, limit, limit_text=limit_text)
    return f"the body is over {limit_text}"


#: the request header that carries an encrypted PDF's password to /api/verify-pdf: a
#: header, never the URL (URLs get logged, and kept in the browser's history)
PDF_PASSWORD_HEADER = "X-PDF-Password"


def pdf_password(request: web.Request) -> str:
    """The encrypted PDF's password from :data:`PDF_PASSWORD_HEADER` ("" for none):
    its bytes UTF-8, at most :data:`~certseal.bounds.MAX_PDF_PASSWORD_BYTES` (the
    seal service's rule), else a 400 naming ``password``. No answer or log line ever
    repeats it."""
    value = request.headers.get(PDF_PASSWORD_HEADER, "")
    raw = value.encode("utf-8", "surrogateescape")  # the header's bytes as sent
    if len(raw) > MAX_PDF_PASSWORD_BYTES:
        raise BadRequest(
            f"the password is {len(raw)} bytes of UTF-8; a PDF password has at most "
            f"{MAX_PDF_PASSWORD_BYTES}",
            field="password",
        )
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise BadRequest(
            f"the {PDF_PASSWORD_HEADER} header is not UTF-8 text", field="password"
        ) from None


def password_refusal(refused: BadRequest, *, given: bool) -> BadRequest:
    """The seal service's refusal of the password given for an encrypted PDF (one
    that does not open it, or that its encryption cannot carry), said as the
    password given with what the clerk does next; any other refusal, and the one
    asking for a password when none was given, unchanged."""
    if refused.field != "password" or not given:
        return refused
    return BadRequest(
        f"the password given {refused.message}: check it with whoever sent the PDF "
        "(its user or owner password) and verify again",
        field="password",
        status=refused.status,
    )
