"""The counter console: an HTTPS page for counter clerks and operators.

Clerks scan (a scanner gun types into the page), upload or film a licence QR code, or
drop a sealed PDF; the console asks the verifier or the seal service over gRPC with the
counter's own mTLS identity and shows what it answered, nothing more. The operator page
shows every verifier group's lag, the outboxes and the event rates.

Every asset is served from here (no CDN), the pages run no inline script (the CSP says
so), and a request from another origin is refused, so a web page elsewhere cannot make
the clerk's browser verify through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web
from cryptography import x509
from cryptography.x509.oid import NameOID

from certseal.config import Config
from certseal.events import default_topics
from certseal.rpc import Caller, error_from_rpc, secure_channel
from certseal.timestamps import Clock, from_ts, rfc3339, utcnow
from certseal.v1 import seal_pb2, seal_pb2_grpc, verifier_pb2, verifier_pb2_grpc
from services.console.domain import LicenceView, PdfSealView
from services.console.status import StatusCollector, TopicOffsets

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


def licence_view(
    result: verifier_pb2.VerificationResult,
    *,
    verified_at: dt.datetime,
    purpose: str,
    counter: str,
) -> LicenceView:
    """The page's view of a verification: exactly what the verifier returned."""
    freshness = result.freshness
    return LicenceView(
        verdict=verifier_pb2.Verdict.Name(result.verdict).removeprefix("VERDICT_"),
        checks=[
            {"name": c.name, "passed": c.passed, "detail": c.detail}
            for c in result.checks
        ],
        identifier=result.identifier,
        type_code=result.type_code,
        issuer_code=result.issuer_code,
        holder_display_name=result.holder_display_name,
        fields=dict(result.fields),
        valid_from=from_ts(result.valid_from),
        valid_until=from_ts(result.valid_until),
        code_kind=result.code_kind,
        index_time=from_ts(freshness.last_event_time),
        index_lag_events=freshness.lag_events,
        verified_at=verified_at,
        purpose=purpose,
        counter=counter,
    )


def pdf_seal_view(seal: seal_pb2.PdfSealResult) -> PdfSealView:
    """The page's view of one seal found in a PDF."""
    return PdfSealView(
        field_name=seal.field_name,
        seal_id=seal.seal_id,
        seal_name=seal.seal_name,
        verdict=seal.verdict,
        intact=seal.intact,
        trusted=seal.trusted,
        modified=seal.modified,
        signed_at=from_ts(seal.signed_at),
        current_status=seal.current_status,
        detail=seal.detail,
    )


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


def _identity_name(cert_file: str) -> str:
    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


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


class ConsoleApp:
    """The console's web server, its gRPC channels and the operator status collector."""

    def __init__(
        self, config: Config, *, listen: str | None = None, clock: Clock = utcnow
    ):
        self.config = config
        self.settings = config.console
        self.listen = listen or self.settings.listen
        self.clock = clock
        self.port = 0
        self.counter = _identity_name(self.settings.cert_file)
        self._channels: list[grpc.aio.Channel] = []
        self._stop = asyncio.Event()
        self._collector_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None

    def _channel(self, target: str) -> grpc.aio.Channel:
        channel = secure_channel(
            target,
            self.config.tls.ca_file,
            self.settings.cert_file,
            self.settings.key_file,
        )
        self._channels.append(channel)
        return channel

    async def start(self) -> None:
        """Open the channels, start collecting, serve HTTPS."""
        cs = self.settings
        if not cs.verifier_targets:
            raise ValueError("[console] verifier_targets names no verifier group")
        Caller.parse(self.counter)  # a certseal identity, or this fails now
        groups = [(t, self._channel(t)) for t in cs.verifier_targets]
        self.verifier = verifier_pb2_grpc.VerifierStub(groups[0][1])
        self.seal = seal_pb2_grpc.SealStub(self._channel(cs.seal_target))
        sources = []
        for source in cs.metrics_sources:
            name, _, url = source.partition("=")
            if not url:
                raise ValueError(
                    f"[console] metrics_sources: {source!r} is not NAME=URL"
                )
            sources.append((name, url))
        self.collector = StatusCollector(
            groups=groups,
            metrics_sources=sources,
            offsets=TopicOffsets(
                self.config.kafka.settings("certseal-console"),
                [spec.name for spec in default_topics()],
            ),
            refresh_s=cs.refresh_s,
            history=cs.history,
            clock=self.clock,
        )
        app = web.Application(middlewares=[guard], client_max_size=cs.max_upload_bytes)
        app.router.add_get("/", self._page("counter.html"))
        app.router.add_get("/api/session", self.session)
        app.router.add_post("/api/verify", self.verify_code)
        app.router.add_post("/api/verify-image", self.verify_image)
        app.router.add_post("/api/verify-pdf", self.verify_pdf)
        if cs.operator_page:
            self._collector_task = asyncio.create_task(self.collector.run(self._stop))
            app.router.add_get("/operator", self._page("operator.html"))
            app.router.add_get("/api/status", self.status)
        app.router.add_get("/healthz", _healthz)
        app.router.add_static("/static", STATIC)
        app.router.add_get("/fonts/noto-sans-sc.otf", _font)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cs.https_cert_file, cs.https_key_file)
        host, _, port = self.listen.rpartition(":")
        site = web.TCPSite(self._runner, host, int(port), ssl_context=context)
        await site.start()
        self.port = self._runner.addresses[0][1]
        log.info("counter console on https://%s:%d/", host, self.port)

    async def stop(self) -> None:
        """Stop serving and collecting."""
        self._stop.set()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._collector_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._collector_task, 10)
        for channel in self._channels:
            await channel.close()

    # -- handlers -----------------------------------------------------------------

    @staticmethod
    def _page(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def page(request: web.Request) -> web.StreamResponse:
            return web.FileResponse(STATIC / name)

        return page

    async def session(self, request: web.Request) -> web.Response:
        """Who this console verifies as, and the purposes it offers."""
        return web.json_response(
            {
                "counter": self.counter,
                "verifier": self.settings.verifier_targets[0],
                "purposes": self.settings.purposes,
                "operator_page": self.settings.operator_page,
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
