"""The counter console's HTTP side: its routes, handlers and request guard.

Clerks scan (a scanner gun types into the page), upload or film a licence QR code, or
drop a sealed PDF or OFD; the handlers ask the verifier or the seal service over gRPC and show
what it answered, nothing more. The operator page shows the latest status snapshot.

Every route but the sign-in page, the assets and the probe needs a signed-in account
(:mod:`services.console.access`): the counter page and the verification API a clerk,
the operator page, the status API and the account API an operator. Each verification
runs as the clerk's own counter: the console calls with its own identity
(``service:console``) and names the counter and clerk in gRPC metadata
(``x-certseal-counter: dept:<code>``, ``x-certseal-clerk: <name>``), which the verifier
honours from the console's identity only.

Every asset is served from here (no CDN), the pages run no inline script (the CSP says
so), and a request from another origin is refused, so a web page elsewhere cannot make
the clerk's browser verify through it. Every response carries HSTS, frame denial and
no server version. Errors are JSON ``{"error", "field"}``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web

from certseal.bounds import (
    IMAGE_LIMIT,
    MAX_CODE_CHARS,
    MAX_CODE_INPUT_CHARS,
    MAX_IMAGE_BYTES,
)
from certseal.sizes import byte_limit, over_limit
from certseal.timestamps import Clock, rfc3339
from certseal.v1 import (
    issuer_pb2,
    issuer_pb2_grpc,
    seal_pb2,
    seal_pb2_grpc,
    verifier_pb2,
    verifier_pb2_grpc,
)
from services.console.access import Access, account_of
from services.console.accounts import Account, Role
from services.console.convert import (
    licence_file_of,
    licence_view,
    ofd_file_of,
    ofd_seal_view,
    pdf_seal_view,
    redemption_view,
)
from services.console.domain import PdfSealView
from services.console.fonts import noto_sans_sc, rare_font
from services.console.refusals import (
    dropped_file,
    redemption_failure,
    redemption_words,
    rpc_failure,
)
from services.console.requests import (
    BadRequest,
    body_too_large,
    json_object,
    password_refusal,
    pdf_password,
    purpose_of,
    query_text,
    text_of,
)
from services.console.status import StatusCollector

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATIC = Path(__file__).parent / "static"
#: characters of an authorisation code (授权码, AU-…) the console sends on at most
MAX_AUTHORISATION_CODE = 64
_IMAGE_TYPES = {"image/png", "image/jpeg", "image/heic", "image/heif"}
# GB/T 33190 registers application/ofd; browsers send a dropped .ofd as zip or as
# nothing (the page then names it application/ofd)
OFD_TYPES = {"application/ofd", "application/zip", "application/octet-stream"}
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; font-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
#: a browser that reached the console over HTTPS once keeps to HTTPS for two years
_HSTS = "max-age=63072000"
#: what the console says it is, without a version
SERVER = "certseal-console"


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    site = request.headers.get("Sec-Fetch-Site", "same-origin")
    return origin in (None, f"https://{request.host}") and site in (
        "same-origin",
        "none",
    )


@web.middleware
async def guard(
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    """Same-origin requests only for the API; security headers; JSON errors."""
    response: web.StreamResponse
    try:
        if request.method not in ("GET", "HEAD") and not _same_origin(request):
            raise BadRequest(
                "requests from another site are refused", status=403, field="origin"
            )
        response = await handler(request)
    except BadRequest as exc:
        response = _error(exc.status, exc.message, exc.field, exc.words)
    except web.HTTPException as exc:
        if exc.status == 413:  # aiohttp's "Maximum request body size N exceeded."
            response = _error(413, body_too_large(request), "body")
        else:  # 404/405: the path or method asked for
            field = "method" if exc.status == 405 else "path"
            response = _error(exc.status, exc.text or exc.reason, field)
    except Exception:
        log.exception("console request %s %s failed", request.method, request.path)
        response = _error(500, "the console failed; see its log", "console")
    return response


async def secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response, also those no handler made: the security headers, no
    server version."""
    add_secure_headers(response, request.path)


def add_secure_headers(response: web.StreamResponse, path: str) -> None:
    """The security headers and the console's server name (no version) on
    ``response`` to a request for ``path``; also for the answers to malformed
    requests, which no application hook sees (:mod:`certseal.httpserve`)."""
    headers = response.headers
    headers["Server"] = SERVER
    headers["Strict-Transport-Security"] = _HSTS
    headers["X-Frame-Options"] = "DENY"
    headers["Content-Security-Policy"] = _CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Permissions-Policy"] = "camera=(self), microphone=(), geolocation=()"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    if path.startswith("/api/") or path in ("/", "/operator", "/login"):
        headers["Cache-Control"] = "no-store"  # verdicts and names stay off the disk


def _error(
    status: int, message: str, field: str, words: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": message, "field": field, **(words or {})}, status=status
    )


def malformed_answer(status: int) -> web.Response:
    """The answer to a request that is not HTTP (certseal.httpserve): the JSON error
    naming ``request``, nothing of the request repeated."""
    return _error(status, "malformed HTTP request", "request")


class ConsoleHandlers:
    """The console's HTTP handlers: check the request, ask the service, show its answer.

    ``verifier`` answers verifications (the first verifier group,
    ``verifier_target``); ``seal`` verifies sealed PDFs; ``redemption`` redeems
    holders' authorisation codes (授权用证); ``collector`` holds the
    operator snapshot. Every call names the signed-in account's counter and name in
    its metadata (:func:`attribution`).
    """

    def __init__(
        self,
        *,
        verifier: verifier_pb2_grpc.VerifierStub,
        seal: seal_pb2_grpc.SealStub,
        redemption: issuer_pb2_grpc.RedemptionStub,
        collector: StatusCollector,
        verifier_target: str,
        purposes: Sequence[str],
        operator_page: bool,
        clock: Clock,
    ):
        self.verifier = verifier
        self.seal = seal
        self.redemption = redemption
        self.collector = collector
        self.verifier_target = verifier_target
        self.purposes = list(purposes)
        self.operator_page = operator_page
        self.clock = clock

    @staticmethod
    def page(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """A handler serving the static page ``name``."""

        async def page(request: web.Request) -> web.StreamResponse:
            return web.FileResponse(STATIC / name)

        return page

    async def session(self, request: web.Request) -> web.Response:
        """Who is signed in, whose counter verifies, and the purposes offered."""
        account = account_of(request)
        return web.json_response(
            {
                "account": account.name,
                "role": account.role.value,
                "counter": account.counter,
                "verifier": self.verifier_target,
                "purposes": self.purposes,
                "operator_page": self.operator_page
                and account.role.may_open(Role.OPERATOR),
            }
        )

    async def verify_code(self, request: web.Request) -> web.Response:
        """A scanned text: ``{"code": ..., "purpose": ...}``."""
        if request.content_type != "application/json":
            raise BadRequest(
                "send the scan as application/json", status=415, field="body"
            )
        body = await json_object(request)
        purpose = purpose_of(body.get("purpose"))
        scanned = body.get("code", "")
        code = text_of(scanned, "code")
        if not code:
            raise BadRequest("nothing was scanned", field="code")
        # the kernel's bounds (certseal.codes.normalise_code_text): the raw text, then
        # the code without what surrounds it
        if len(scanned) > MAX_CODE_INPUT_CHARS or len(code) > MAX_CODE_CHARS:
            raise BadRequest(
                f"the scan is {len(code)} characters; a licence code has at "
                f"most {MAX_CODE_CHARS}",
                field="code",
            )
        try:
            reply = await self.verifier.VerifyCode(
                verifier_pb2.VerifyCodeRequest(code=code, purpose=purpose),
                timeout=10,
                metadata=attribution(account_of(request)),
            )
        except grpc.aio.AioRpcError as exc:
            raise rpc_failure(exc, "verifier") from None
        return self._verdict(reply.result, purpose, account_of(request))

    async def verify_image(self, request: web.Request) -> web.Response:
        """A photo or camera frame of a QR code (PNG, JPEG or HEIC body), within the
        one image limit (:data:`certseal.qr.IMAGE_LIMIT`): refused with 413 before the
        body is read when its declared length is over it."""
        purpose = purpose_of(query_text(request, "purpose"))
        if request.content_type not in _IMAGE_TYPES:
            raise BadRequest(
                f"send {IMAGE_LIMIT}, not {request.content_type or 'nothing'}",
                status=415,
                field="image",
            )
        size = request.content_length
        if size is not None and size > MAX_IMAGE_BYTES:
            raise BadRequest(
                "the image "
                + over_limit(size, MAX_IMAGE_BYTES, limit_text=IMAGE_LIMIT),
                status=413,
                field="image",
            )
        image = await request.read()  # within client_max_size (max_upload_bytes)
        if len(image) > MAX_IMAGE_BYTES:
            raise BadRequest(
                f"the image is over {byte_limit(MAX_IMAGE_BYTES)}; the limit is {IMAGE_LIMIT}",
                status=413,
                field="image",
            )
        if not image:
            raise BadRequest("the image is empty", field="image")
        try:
            reply = await self.verifier.VerifyImage(
                verifier_pb2.VerifyImageRequest(image=image, purpose=purpose),
                timeout=10,
                metadata=attribution(account_of(request)),
            )
        except grpc.aio.AioRpcError as exc:
            raise rpc_failure(exc, "verifier") from None
        return self._verdict(reply.result, purpose, account_of(request))

    def _verdict(
        self, result: verifier_pb2.VerificationResult, purpose: str, account: Account
    ) -> web.Response:
        view = licence_view(
            result,
            verified_at=self.clock(),
            purpose=purpose,
            counter=account.counter,
            clerk=account.name,
        )
        return web.json_response(view.to_json())

    async def verify_pdf(self, request: web.Request) -> web.Response:
        """A sealed PDF, with its password if it is encrypted: every seal's verdict."""
        password = pdf_password(request)  # an encrypted PDF's (X-PDF-Password)
        pdf = await dropped_file(
            request, "pdf", ("application/pdf",), "a PDF", b"%PDF-", "a PDF"
        )
        message = seal_pb2.VerifyPdfRequest(pdf=pdf, password=password)
        try:
            reply = await self._ask_seal(request, self.seal.VerifyPdf, message)
        except BadRequest as exc:
            raise password_refusal(exc, given=bool(password)) from None
        return self._sealed_file_answer([pdf_seal_view(s) for s in reply.seals], reply)

    async def verify_ofd(self, request: web.Request) -> web.Response:
        """A sealed OFD (GB/T 33190): every signature in it with its verdict, and for
        a licence file the licence's current status (as for a PDF)."""
        ofd = await dropped_file(
            request, "ofd", OFD_TYPES, "an OFD", b"PK\x03\x04", "an OFD (a ZIP package)"
        )
        reply = await self._ask_seal(
            request, self.seal.VerifyOfd, seal_pb2.VerifyOfdRequest(ofd=ofd)
        )
        return self._sealed_file_answer(
            [ofd_seal_view(s) for s in reply.signatures], reply, ofd_file_of(reply)
        )

    async def _ask_seal(self, request: web.Request, rpc: Any, message: Any) -> Any:
        """``rpc(message)`` at the seal service for the signed-in clerk."""
        try:
            return await rpc(
                message, timeout=60, metadata=attribution(account_of(request))
            )
        except grpc.aio.AioRpcError as exc:
            raise rpc_failure(exc, "seal") from None

    def _sealed_file_answer(
        self,
        views: list[PdfSealView],
        reply: Any,
        whole: dict[str, object] | None = None,
    ) -> web.Response:
        """Each seal's view, the licence file's status if any, and when; for an OFD
        also the file's verdict and its documents' (``file``)."""
        answer: dict[str, object] = {
            "seals": [view.to_json() for view in views],
            "licence": licence_file_of(reply),
            "verified_at": rfc3339(self.clock()),
        }
        if whole is not None:
            answer["file"] = whole
        return web.json_response(answer)

    async def redeem(self, request: web.Request) -> web.Response:
        """An authorisation code (授权码): ``{"code": ...}`` → the shared fields and the
        annotated copy (加注件, base64 PDF sealed by the platform), redeemed for the
        signed-in clerk's counter."""
        if request.content_type != "application/json":
            raise BadRequest(
                "send the code as application/json", status=415, field="body"
            )
        code = text_of((await json_object(request)).get("code"), "code")
        if not code:
            refused = BadRequest("give the authorisation code (AU-…)", field="code")
            refused.words = redemption_words("empty")
            raise refused
        if len(code) > MAX_AUTHORISATION_CODE:
            refused = BadRequest(
                f"is {len(code)} characters; an authorisation code (AU-…) has at most "
                f"{MAX_AUTHORISATION_CODE}",
                field="code",
            )
            refused.words = redemption_words("too_long")
            raise refused
        try:
            reply = await self.redemption.RedeemAuthorisation(
                issuer_pb2.RedeemAuthorisationRequest(code=code),
                timeout=30,
                metadata=attribution(account_of(request)),
            )
        except grpc.aio.AioRpcError as exc:
            raise redemption_failure(exc) from None
        return web.json_response(redemption_view(reply, redeemed_at=self.clock()))

    async def status(self, request: web.Request) -> web.Response:
        """The latest operator snapshot (taken every ``refresh_s``)."""
        return web.json_response(self.collector.snapshot or {"groups": []})


async def _healthz(request: web.Request) -> web.Response:
    """For probes: the console answers HTTPS."""
    return web.json_response({"status": "ok"})


def attribution(account: Account) -> tuple[tuple[str, str], ...]:
    """The gRPC metadata that makes a call the clerk's: counter and clerk."""
    return (("x-certseal-counter", account.counter), ("x-certseal-clerk", account.name))


def application(
    handlers: ConsoleHandlers,
    access: Access,
    *,
    client_max_size: int,
    rare_font_file: str = "",
) -> web.Application:
    """The console's routes behind :func:`guard`, each behind the role it needs;
    ``/operator`` and ``/api/status`` only when ``handlers.operator_page``. Bodies
    over ``client_max_size`` bytes get 413; ``rare_font_file`` is :func:`rare_font`'s."""
    app = web.Application(middlewares=[guard], client_max_size=client_max_size)
    app.on_response_prepare.append(secure_headers)
    clerk, operator = Role.CLERK, Role.OPERATOR

    def page(role: Role, name: str, what: str) -> Handler:
        return access.need(role, handlers.page(name), what=what, page=True)

    def api(role: Role, handler: Handler, what: str) -> Handler:
        return access.need(role, handler, what=what, page=False)

    app.router.add_get("/login", handlers.page("login.html"))
    app.router.add_post("/api/login", access.login)
    app.router.add_post("/api/login/certificate", access.login_certificate)
    app.router.add_post("/api/logout", access.logout)
    app.router.add_get("/", page(clerk, "counter.html", "the counter page"))
    app.router.add_get("/api/session", api(clerk, handlers.session, "the session"))
    for path, handler in (
        ("/api/verify", handlers.verify_code),
        ("/api/verify-image", handlers.verify_image),
        ("/api/verify-pdf", handlers.verify_pdf),
        ("/api/verify-ofd", handlers.verify_ofd),
        ("/api/redeem", handlers.redeem),
    ):
        app.router.add_post(path, api(clerk, handler, "verification"))
    if handlers.operator_page:
        app.router.add_get(
            "/operator", page(operator, "operator.html", "the operator page")
        )
        app.router.add_get(
            "/api/status", api(operator, handlers.status, "the status API")
        )
    accounts = "the account API"
    app.router.add_get("/api/accounts", api(operator, access.list_accounts, accounts))
    app.router.add_post("/api/accounts", api(operator, access.add_account, accounts))
    app.router.add_post(
        "/api/accounts/{name}/{change}",
        api(operator, access.change_account, accounts),
    )
    app.router.add_get("/healthz", _healthz)
    app.router.add_static("/static", STATIC)
    app.router.add_get("/fonts/noto-sans-sc.otf", noto_sans_sc)
    app.router.add_get("/fonts/rare-han.ttf", rare_font(rare_font_file))
    return app
