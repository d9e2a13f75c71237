"""The time-stamping authority (RFC 3161 over HTTP, section 3.4) and its client.

:class:`TsaServer` is a room of the seal process: when ``[seal] tsa_listen`` is set it
answers ``POST`` requests of type ``application/timestamp-query`` with
``application/timestamp-reply``. pyHanko's TSA builder
(:class:`pyhanko.sign.timestamps.DummyTimeStamper`: TSTInfo, ESS signingCertificate,
CMS SignedData; RSA keys) makes the tokens with the TSA's own key and certificate
(``tsa_key_file``, ``tsa_cert_file``; extended key usage timeStamping, critical), at
the time of the process's clock. Requests are at most :data:`MAX_QUERY_BYTES`; the
imprint must be SHA-256, SHA-384, SHA-512 (or SM3 by OID, GB/T 20520); anything else
is answered with a ``rejection`` (``badAlg`` / ``badDataFormat``), never an error page.

:class:`Timestamper` asks a TSA (``[seal] tsa_url``, the platform's own or an external
one) for a token over some bytes, with pyHanko's HTTP client. A TSA that does not
answer in ``tsa_timeout_s`` or answers badly is UNAVAILABLE (retryable).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from aiohttp import web
from asn1crypto import core, keys, pem, tsp
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.timestamps import DummyTimeStamper, HTTPTimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError

from certseal.errors import CertsealError, ErrorKind
from certseal.files import read_regular_file
from certseal.timestamps import Clock, utcnow
from services.seal.timestamp import SM3, imprint

MAX_QUERY_BYTES = 8 * 1024
"""A TimeStampReq is an imprint, a nonce and a policy: well under 1 KiB."""
_ALGORITHMS = {"sha256", "sha384", "sha512"}
_TSA_POLICY = "1.3.6.1.4.1.4146.2.2"


def unavailable(message: str) -> CertsealError:
    """UNAVAILABLE on ``tsa_url``: retry later."""
    return CertsealError(ErrorKind.UNAVAILABLE, message, field="tsa_url")


def _der(path: str, field: str) -> bytes:
    data = read_regular_file(Path(path), field, 64 * 1024)
    if pem.detect(data):
        return pem.unarmor(data)[2]
    return data


class Rejection(core.Sequence):
    """A ``TimeStampResp`` without its (OPTIONAL, RFC 3161 2.4.2) token, which
    asn1crypto's own type requires."""

    _fields = [("status", tsp.PKIStatusInfo)]  # noqa: RUF012


def _rejection(fail: str, text: str) -> bytes:
    return Rejection(
        {
            "status": {
                "status": "rejection",
                "status_string": [text],
                "fail_info": tsp.PKIFailureInfo({fail}),
            }
        }
    ).dump()


class TsaServer:
    """The platform's TSA: an HTTP server on ``listen`` (host:port)."""

    def __init__(self, *, cert_file: str, key_file: str, clock: Clock = utcnow) -> None:
        cert = asn1_x509.Certificate.load(_der(cert_file, "seal.tsa_cert_file"))
        key = keys.PrivateKeyInfo.load(_der(key_file, "seal.tsa_key_file"))
        self.certificate = cert.dump()
        self._cert, self._key, self._clock = cert, key, clock
        self._runner: web.AppRunner | None = None
        self.port = 0

    def respond(self, body: bytes) -> bytes:
        """The DER TimeStampResp to a DER TimeStampReq (CPU: one RSA signature)."""
        try:
            req = tsp.TimeStampReq.load(body)
            algorithm = req["message_imprint"]["hash_algorithm"]["algorithm"].dotted
            name = req["message_imprint"]["hash_algorithm"]["algorithm"].native
            digest_len = len(req["message_imprint"]["hashed_message"].native)
        except Exception:
            return _rejection("bad_data_format", "not a TimeStampReq")
        if name not in _ALGORITHMS and algorithm != SM3:
            return _rejection("bad_alg", f"imprint algorithm {name} is not accepted")
        if digest_len != len(imprint(b"", name)):
            return _rejection("bad_data_format", "the imprint has the wrong length")
        if req["req_policy"].native not in (None, _TSA_POLICY):
            return _rejection("unaccepted_policy", f"only the policy {_TSA_POLICY}")
        try:
            # one builder per request: its time is this request's (threads share none)
            tsa = DummyTimeStamper(
                tsa_cert=self._cert, tsa_key=self._key, fixed_dt=self._clock()
            )
            return tsa.request_tsa_response(req).dump()
        except Exception:  # e.g. a nonce or extension the builder cannot carry
            return _rejection("system_failure", "the request cannot be stamped")

    async def _handle(self, request: web.Request) -> web.Response:
        if request.content_type != "application/timestamp-query":
            return web.Response(status=415, text="send application/timestamp-query")
        if (request.content_length or 0) > MAX_QUERY_BYTES:
            return web.Response(status=413, text=f"at most {MAX_QUERY_BYTES} bytes")
        body = await request.content.read(MAX_QUERY_BYTES + 1)
        if len(body) > MAX_QUERY_BYTES:
            return web.Response(status=413, text=f"at most {MAX_QUERY_BYTES} bytes")
        reply = await asyncio.to_thread(self.respond, body)  # off the event loop
        return web.Response(body=reply, content_type="application/timestamp-reply")

    async def start(self, listen: str) -> int:
        """Serve on ``listen`` (host:port; port 0 picks one); returns the port."""
        app = web.Application(client_max_size=MAX_QUERY_BYTES)
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        host, _, port = listen.rpartition(":")
        # several seal processes on one host share the port, as their gRPC one
        site = web.TCPSite(self._runner, host, int(port), reuse_port=True)
        await site.start()
        server = site._server
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        return self.port

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class Timestamper:
    """A client of the TSA at ``url``: tokens over bytes (SHA-256 imprints)."""

    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        #: pyHanko's client, also handed to PdfSigner for PAdES B-T
        self.client = HTTPTimeStamper(url, timeout=timeout_s)

    async def stamp(self, data: bytes) -> bytes:
        """The DER TimeStampToken (a CMS ContentInfo) over SHA-256(``data``).

        Raises UNAVAILABLE (``tsa_url``) when the TSA does not answer within the
        timeout, answers with an error, or grants no token.
        """
        try:
            async with asyncio.timeout(self.timeout_s + 1):
                token = await self.client.async_timestamp(imprint(data), "sha256")
        except (
            TimestampRequestError,
            aiohttp.ClientError,
            OSError,
            TimeoutError,
        ) as exc:
            raise unavailable(
                f"the time-stamping authority at {self.url} gave no token: "
                f"{exc or type(exc).__name__}; retry later"
            ) from None
        except Exception as exc:  # a reply that does not decode
            raise unavailable(
                f"the time-stamping authority at {self.url} answered badly: {exc}"
            ) from None
        return token.dump()
