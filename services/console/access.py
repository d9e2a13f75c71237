"""Who may reach which console route: sign-in, sessions, and the account admin API.

A session is a server-side row named by a random token in the ``__Host-certseal-session``
cookie: HttpOnly, Secure, SameSite=Strict, Path=/, no Domain, and Max-Age the absolute
session lifetime; the server also ends it after the idle time, on sign-out, on a new
password and when the account is disabled. A route needs a clerk (counter page and
verification API; an operator may too) or an operator (operator page, status and
account API). Without a valid session a page redirects to ``/login`` and the API answers
401 JSON naming what is missing; with the wrong role, 403 naming the role needed.
Cross-origin POSTs are refused before any of this by the handlers' guard.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from certseal.errors import CertsealError, ErrorKind
from certseal.idempotency import AnswerStore, Claim, check_key, fingerprint_bytes
from certseal.jsontext import loads_bounded
from certseal.timestamps import rfc3339
from services.console.accounts import Account, Role
from services.console.service import ConsoleAccounts, SignedIn

log = logging.getLogger(__name__)

COOKIE = "__Host-certseal-session"
ACCOUNT = web.RequestKey("account", Account)
RAW_BODY = web.RequestKey("raw_body", bytes)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_MAX_LOGIN_BODY = 4096

#: the HTTP header that carries an idempotency key
IDEMPOTENCY_HEADER = "Idempotency-Key"

_HTTP_STATUS = {
    ErrorKind.INVALID_ARGUMENT: 400,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.ALREADY_EXISTS: 409,
    ErrorKind.FAILED_PRECONDITION: 403,
    ErrorKind.PERMISSION_DENIED: 403,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.RESOURCE_EXHAUSTED: 429,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.ABORTED: 503,
}


def error_response(exc: CertsealError) -> web.Response:
    """A CertsealError as the console's JSON error ``{"error", "field"}``."""
    response = web.json_response(
        {"error": exc.message, "field": exc.field or ""},
        status=_HTTP_STATUS.get(exc.kind, 500),
    )
    retry = getattr(exc, "retry_after_s", None)
    if retry is not None:
        response.headers["Retry-After"] = str(retry)
    return response


def client_address(request: web.Request) -> str:
    """The address a request came from (the TCP peer; an ingress in front of the
    console makes this the ingress's address)."""
    return request.remote or "unknown"


def account_of(request: web.Request) -> Account:
    """The signed-in account of a request that passed :meth:`Access.need`."""
    return request[ACCOUNT]


async def _bounded_body(request: web.Request) -> bytes:
    """The request's body, at most ``_MAX_LOGIN_BODY`` bytes (read once, then kept)."""
    if RAW_BODY in request:
        return request[RAW_BODY]
    raw = await request.content.read(_MAX_LOGIN_BODY + 1)
    if len(raw) > _MAX_LOGIN_BODY:
        raise CertsealError(
            ErrorKind.INVALID_ARGUMENT,
            f"the request is larger than {_MAX_LOGIN_BODY} bytes",
            field="body",
        )
    request[RAW_BODY] = raw
    return raw


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise CertsealError(
            ErrorKind.INVALID_ARGUMENT, "send application/json", field="body"
        )
    if (request.content_length or 0) > _MAX_LOGIN_BODY:
        raise CertsealError(
            ErrorKind.INVALID_ARGUMENT,
            f"the request is larger than {_MAX_LOGIN_BODY} bytes",
            field="body",
        )
    raw = await _bounded_body(request)
    # UTF-8, nesting bounded before decoding, JSON: else INVALID_ARGUMENT on body
    body = loads_bounded(raw, "body")
    if not isinstance(body, dict):
        raise CertsealError(
            ErrorKind.INVALID_ARGUMENT, "the request is not a JSON object", field="body"
        )
    return body


def _peer_common_name(request: web.Request) -> str:
    """The common name of the client certificate TLS verified ('' without one)."""
    transport = request.transport
    cert = transport.get_extra_info("peercert") if transport is not None else None
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return ""


class Access:
    """Sign-in and sign-out handlers, the per-route guard and the account admin API."""

    def __init__(
        self,
        *,
        accounts: ConsoleAccounts,
        session_absolute_s: float,
        idempotency: AnswerStore | None = None,
    ):
        self.accounts = accounts
        self.max_age = int(session_absolute_s)
        self._answers = idempotency

    async def _once(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """``handler`` honouring the ``Idempotency-Key`` header (the IETF HTTPAPI
        draft's name; the rules of :mod:`certseal.idempotency`): a retry with the same
        key, account and body gets the first 2xx answer again and changes nothing;
        the same key with another request is 409 naming the key; an error answer is
        not stored."""
        key = request.headers.get(IDEMPOTENCY_HEADER, "")
        if not key or self._answers is None:
            return await handler(request)
        try:
            method = f"{request.method} {request.path}"
            claim = Claim(
                account_of(request).principal,
                check_key(key),
                method,
                fingerprint_bytes(method, await _bounded_body(request)),
            )
            stored = await self._answers.lookup(claim)
        except CertsealError as exc:
            return error_response(exc)
        if stored is None:
            async with self._answers.scope(claim) as scope:
                response = await handler(request)
                if not 200 <= response.status < 300 or not isinstance(
                    response, web.Response
                ):
                    return response
                stored = await self._answers.answer(
                    scope,
                    json.dumps(
                        {"status": response.status, "body": response.text}
                    ).encode(),
                )
        first = json.loads(stored)
        return web.Response(
            status=first["status"], text=first["body"], content_type="application/json"
        )

    # -- the guard ------------------------------------------------------------------

    def need(self, role: Role, handler: Handler, *, what: str, page: bool) -> Handler:
        """``handler`` for signed-in accounts whose role may open ``what``."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            token = request.cookies.get(COOKIE, "")
            try:
                account = await self.accounts.session(token)
                self.accounts.need(account, role, what)
            except CertsealError as exc:
                if page and exc.kind is ErrorKind.UNAUTHENTICATED:
                    target = quote(request.path_qs, safe="/")
                    response = web.Response(
                        status=303, headers={"Location": f"/login?next={target}"}
                    )
                    if token:
                        response.del_cookie(COOKIE, path="/")
                    return response
                response = error_response(exc)
                if token and exc.kind is ErrorKind.UNAUTHENTICATED:
                    response.del_cookie(COOKIE, path="/")
                return response
            request[ACCOUNT] = account
            return await handler(request)

        return guarded

    # -- signing in and out ---------------------------------------------------------

    def _signed_in(self, signed: SignedIn) -> web.Response:
        response = web.json_response(
            {
                "account": signed.account.to_json(),
                "expires_at": rfc3339(signed.expires_at),
            }
        )
        response.set_cookie(
            COOKIE,
            signed.token,
            path="/",
            max_age=self.max_age,
            secure=True,
            httponly=True,
            samesite="Strict",
        )
        return response

    async def login(self, request: web.Request) -> web.Response:
        """``POST /api/login`` ``{"name", "password"}``: a session cookie."""
        try:
            body = await _json_body(request)
            signed = await self.accounts.login(
                body.get("name"), body.get("password"), address=client_address(request)
            )
        except CertsealError as exc:
            return error_response(exc)
        return self._signed_in(signed)

    async def login_certificate(self, request: web.Request) -> web.Response:
        """``POST /api/login/certificate``: sign in as the account of the browser's
        client certificate."""
        try:
            signed = await self.accounts.login_certificate(
                _peer_common_name(request), address=client_address(request)
            )
        except CertsealError as exc:
            return error_response(exc)
        return self._signed_in(signed)

    async def logout(self, request: web.Request) -> web.Response:
        """``POST /api/logout``: the session is revoked and the cookie removed."""
        signed_out = await self.accounts.logout(request.cookies.get(COOKIE, ""))
        response = web.json_response({"signed_out": signed_out})
        response.del_cookie(COOKIE, path="/")
        return response

    # -- the account admin API (operators only) ------------------------------------

    async def list_accounts(self, request: web.Request) -> web.Response:
        """``GET /api/accounts``."""
        return web.json_response(
            {"accounts": [a.to_json() for a in await self.accounts.accounts()]}
        )

    async def add_account(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/accounts`` ``{"name", "department", "role", "password",
        "certificate"}``; honours ``Idempotency-Key``."""
        return await self._once(request, self._add_account)

    async def _add_account(self, request: web.Request) -> web.Response:
        try:
            body = await _json_body(request)
            account = await self.accounts.add(
                body.get("name"),
                department=body.get("department"),
                role=body.get("role"),
                password=body.get("password"),
                certificate=body.get("certificate"),
                by=account_of(request).principal,
            )
        except CertsealError as exc:
            return error_response(exc)
        return web.json_response(account.to_json(), status=201)

    async def change_account(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/accounts/{name}/{disable|enable|password}``; honours
        ``Idempotency-Key``."""
        return await self._once(request, self._change_account)

    async def _change_account(self, request: web.Request) -> web.Response:
        name, change = request.match_info["name"], request.match_info["change"]
        by = account_of(request).principal
        try:
            if change == "password":
                body = await _json_body(request)
                account = await self.accounts.set_password(
                    name, body.get("password"), by=by
                )
            elif change in ("disable", "enable"):
                account = await self.accounts.set_disabled(
                    name, change == "disable", by=by
                )
            else:
                raise CertsealError(
                    ErrorKind.NOT_FOUND,
                    f"no such change {change!r}: disable, enable or password",
                    field="change",
                )
        except CertsealError as exc:
            return error_response(exc)
        return web.json_response(account.to_json())
