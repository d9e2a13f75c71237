"""The counter console's HTTP side: its routes, handlers and request guard.

Clerks scan (a scanner gun types into the page), upload or film a licence QR code, or
drop a sealed PDF; the handlers ask the verifier or the seal service over gRPC and show
what it answered, nothing more. The operator page shows the latest status snapshot.

Every asset is served from here (no CDN), the pages run no inline script (the CSP says
so), and a request from another origin is refused, so a web page elsewhere cannot make
the clerk's browser verify through it. Errors are JSON ``{"error", "field"}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web

from certseal.rpc import error_from_rpc
from certseal.timestamps import Clock, rfc3339
from certseal.v1 import seal_pb2, seal_pb2_grpc, verifier_pb2, verifier_pb2_grpc
from services.console.convert import licence_view, pdf_seal_view
from services.console.status import StatusCollector

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
_MAX_CODE = 8192
_IMAGE_TYPES = {"image/png", "image/jpeg"}
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; font-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_STATUS_OF = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 413,
}


class BadRequest(Exception):
    """A request the page should not have sent: the message names what is wrong."""

    def __init__(self, message: str, *, status: int = 400, field: str = ""):
        super().__init__(message)
        self.message, self.status, self.field = message, status, field


def _purpose(value: Any) -> str:
    purpose = value.strip() if isinstance(value, str) else ""
    if not purpose:
        raise BadRequest(
            "choose the purpose of use (用证事由) before scanning", field="purpose"
        )
    if len(purpose) > 200:
        raise BadRequest(
            "the purpose of use is longer than 200 characters", field="purpose"
        )
    return purpose


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
            raise BadRequest("requests from another site are refused", status=403)
        response = await handler(request)
    except BadRequest as exc:
        response = _error(exc.status, exc.message, exc.field)
    except web.HTTPException as exc:  # e.g. 413 "Maximum request body size ..."
        response = _error(exc.status, exc.text or exc.reason)
    except Exception:
        log.exception("console request %s %s failed", request.method, request.path)
        response = _error(500, "the console failed; see its log")
    _secure(request, response)
    return response


def _secure(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers["Content-Security-Policy"] = _CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Permissions-Policy"] = "camera=(self), microphone=(), geolocation=()"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    if request.path.startswith("/api/") or request.path in ("/", "/operator"):
        headers["Cache-Control"] = "no-store"  # verdicts and names stay off the disk


def _error(status: int, message: str, field: str = "") -> web.Response:
    return web.json_response({"error": message, "field": field}, status=status)


def _rpc_failure(exc: grpc.aio.AioRpcError, service: str) -> BadRequest:
    """What the page says when a service refused or could not answer."""
    if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        log.warning("%s unavailable: %s", service, exc.details())
        return BadRequest(
            f"the {service} service is not reachable; try again in a moment",
            status=503,
        )
    status = _STATUS_OF.get(exc.code())
    if status is None:
        log.error("%s failed: %s %s", service, exc.code().name, exc.details())
        return BadRequest(f"the {service} service failed; see its log", status=502)
    error = error_from_rpc(exc)
    return BadRequest(str(error), status=status, field=error.field or "")


class ConsoleHandlers:
    """The console's HTTP handlers: check the request, ask the service, show its answer.

    ``verifier`` answers this counter's verifications (the first verifier group,
    ``verifier_target``); ``seal`` verifies sealed PDFs; ``collector`` holds the
    operator snapshot. Every call is made with the counter's identity ``counter``.
    """

    def __init__(
        self,
        *,
        verifier: verifier_pb2_grpc.VerifierStub,
        seal: seal_pb2_grpc.SealStub,
        collector: StatusCollector,
        counter: str,
        verifier_target: str,
        purposes: Sequence[str],
        operator_page: bool,
        clock: Clock,
    ):
        self.verifier = verifier
        self.seal = seal
        self.collector = collector
        self.counter = counter
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
        """Who this console verifies as, and the purposes it offers."""
        return web.json_response(
            {
                "counter": self.counter,
                "verifier": self.verifier_target,
                "purposes": self.purposes,
                "operator_page": self.operator_page,
            }
        )

    async def verify_code(self, request: web.Request) -> web.Response:
        """A scanned text: ``{"code": ..., "purpose": ...}``."""
        if request.content_type != "application/json":
            raise BadRequest("send the scan as application/json", status=415)
        try:
            body = await request.json()
        except json.JSONDecodeError:
            raise BadRequest("the request is not JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("the request is not a JSON object")
        purpose = _purpose(body.get("purpose"))
        code = body.get("code")
        if not isinstance(code, str) or not code.strip():
            raise BadRequest("nothing was scanned", field="code")
        if len(code) > _MAX_CODE:
            raise BadRequest(
                f"the scan is {len(code)} characters; a licence code has at most "
                f"{_MAX_CODE}",
                field="code",
            )
        try:
            reply = await self.verifier.VerifyCode(
                verifier_pb2.VerifyCodeRequest(code=code.strip(), purpose=purpose),
                timeout=10,
            )
        except grpc.aio.AioRpcError as exc:
            raise _rpc_failure(exc, "verifier") from None
        return self._verdict(reply.result, purpose)

    async def verify_image(self, request: web.Request) -> web.Response:
        """A photo or camera frame of a QR code (PNG or JPEG body)."""
        purpose = _purpose(request.query.get("purpose"))
        if request.content_type not in _IMAGE_TYPES:
            raise BadRequest(
                f"send a PNG or JPEG image, not {request.content_type or 'nothing'}",
                status=415,
            )
        image = await request.read()
        if not image:
            raise BadRequest("the image is empty", field="image")
        try:
            reply = await self.verifier.VerifyImage(
                verifier_pb2.VerifyImageRequest(image=image, purpose=purpose),
                timeout=10,
            )
        except grpc.aio.AioRpcError as exc:
            raise _rpc_failure(exc, "verifier") from None
        return self._verdict(reply.result, purpose)

    def _verdict(
        self, result: verifier_pb2.VerificationResult, purpose: str
    ) -> web.Response:
        view = licence_view(
            result, verified_at=self.clock(), purpose=purpose, counter=self.counter
        )
        return web.json_response(view.to_json())

    async def verify_pdf(self, request: web.Request) -> web.Response:
        """A sealed PDF: every seal in it with its verdict."""
        if request.content_type != "application/pdf":
            raise BadRequest(
                f"send a PDF, not {request.content_type or 'nothing'}", status=415
            )
        pdf = await request.read()
        if not pdf.startswith(b"%PDF-"):
            raise BadRequest("the file is not a PDF", field="pdf")
        try:
            reply = await self.seal.VerifyPdf(
                seal_pb2.VerifyPdfRequest(pdf=pdf), timeout=60
            )
        except grpc.aio.AioRpcError as exc:
            raise _rpc_failure(exc, "seal") from None
        return web.json_response(
            {
                "seals": [pdf_seal_view(s).to_json() for s in reply.seals],
                "verified_at": rfc3339(self.clock()),
            }
        )

    async def status(self, request: web.Request) -> web.Response:
        """The latest operator snapshot (taken every ``refresh_s``)."""
        return web.json_response(self.collector.snapshot or {"groups": []})


async def _healthz(request: web.Request) -> web.Response:
    """For probes: the console answers HTTPS."""
    return web.json_response({"status": "ok"})


async def _font(request: web.Request) -> web.StreamResponse:
    """Chinese text renders on any terminal: the font ships with a Python package."""
    font = resources.files("pylopdf_fonts_zh_cn") / "NotoSansSC-Regular.otf"
    response = web.FileResponse(Path(str(font)))
    response.headers["Cache-Control"] = "public, max-age=604800, immutable"
    return response


def application(handlers: ConsoleHandlers, *, client_max_size: int) -> web.Application:
    """The console's routes behind :func:`guard`; ``/operator`` and ``/api/status``
    only when ``handlers.operator_page``. Bodies over ``client_max_size`` bytes get
    413."""
    app = web.Application(middlewares=[guard], client_max_size=client_max_size)
    app.router.add_get("/", handlers.page("counter.html"))
    app.router.add_get("/api/session", handlers.session)
    app.router.add_post("/api/verify", handlers.verify_code)
    app.router.add_post("/api/verify-image", handlers.verify_image)
    app.router.add_post("/api/verify-pdf", handlers.verify_pdf)
    if handlers.operator_page:
        app.router.add_get("/operator", handlers.page("operator.html"))
        app.router.add_get("/api/status", handlers.status)
    app.router.add_get("/healthz", _healthz)
    app.router.add_static("/static", STATIC)
    app.router.add_get("/fonts/noto-sans-sc.otf", _font)
    return app
