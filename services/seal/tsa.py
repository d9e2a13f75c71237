"""The time-stamping authority (RFC 3161 over HTTP, section 3.4) and its client.

:class:`TsaServer` is a room of the seal process: when ``[seal] tsa_listen`` is set it
answers ``POST`` requests of type ``application/timestamp-query`` with
``application/timestamp-reply``. pyHanko's TSA builder
(:class:`pyhanko.sign.timestamps.DummyTimeStamper`: TSTInfo, ESS signingCertificate,
CMS SignedData) makes the tokens with the TSA's own key and certificate
(``tsa_key_file``, ``tsa_cert_file``; extended key usage timeStamping, critical), at
the time of the process's clock. The key is RSA (at least 2,048 bits; PKCS #1 v1.5
signatures, RFC 5754 section 3.2) or EC P-256 (ECDSA, RFC 5753 and RFC 5754 section
3.3: ``ecdsa-with-SHA256``; its signature costs about a seventh of RSA-2048's CPU).
Requests are at most :data:`MAX_QUERY_BYTES`; the
imprint must be SHA-256, SHA-384, SHA-512 (or SM3 by OID, GB/T 20520); anything else
is answered with a ``rejection`` (``badAlg`` / ``badDataFormat``), never an error page.
A token over an SM3 imprint is signed over SHA-256 of its signed attributes
(:func:`signed_attrs_digest`).

:class:`Timestamper` asks a TSA (``[seal] tsa_url``, the platform's own or an external
one) for a token over some bytes, with pyHanko's HTTP client. A TSA that does not
answer in ``tsa_timeout_s`` or answers badly is UNAVAILABLE (retryable).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from asn1crypto import core, keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from pyhanko.sign.general import as_signing_certificate, simple_cms_attribute
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError, get_nonce

from certseal.certificates import CERTIFICATE_ERRORS, certificate_extension
from certseal.der import check_outside
from certseal.errors import CertsealError, ErrorKind, invalid
from certseal.files import read_regular_file, without_bom
from certseal.httpserve import MalformedRequests, name_server, serve_setting
from certseal.timestamps import Clock, utcnow
from certseal.tlsfiles import check_valid_now
from services.seal.timestamp import SM3, imprint
from services.seal.tsa_token import TokenParts, TsaBuilder, TsaKey, tsa_key

MAX_QUERY_BYTES = 8 * 1024
"""A TimeStampReq is an imprint, a nonce and a policy: well under 1 KiB."""
_ALGORITHMS = {"sha256", "sha384", "sha512"}
#: the TSA policy the dev stack's TSA names in every token (RFC 3161 2.4.2 ``policy``)
#: unless ``[seal] tsa_policy`` gives the operator's own (its CPS's OID): an OID under
#: 2.25 (ITU-T X.667: a UUID as an OID, needing no registration), certseal's own
DEFAULT_TSA_POLICY = "2.25.269192286253780675765954022311644817935"


def signed_attrs_digest(imprint_algorithm: str) -> str:
    """The digest algorithm of a token's signed attributes (its SignerInfo's
    ``digestAlgorithm``, RFC 5652 5.3) for a request whose imprint is hashed with
    ``imprint_algorithm`` (asn1crypto's name, or the dotted OID of SM3): the same
    SHA-2 algorithm, and SHA-256 for SM3, since the TSA's RSA or ECDSA key signs
    with SHA-2 only (RFC 5754 section 3). RFC 3161 2.4.2 leaves the two
    independent: the imprint is the requester's, the signature the TSA's."""
    return imprint_algorithm if imprint_algorithm in _ALGORITHMS else "sha256"


def unavailable(message: str) -> CertsealError:
    """UNAVAILABLE on ``tsa_url``: retry later."""
    return CertsealError(ErrorKind.UNAVAILABLE, message, field="tsa_url")


CERT_FIELD, KEY_FIELD = "seal.tsa_cert_file", "seal.tsa_key_file"


def _tsa_file(path: str, field: str) -> bytes:
    if not path:
        raise invalid(field, "is empty; [seal] tsa_listen serves a TSA, which needs it")
    return without_bom(read_regular_file(Path(path), field, 64 * 1024))


def read_tsa_identity(
    cert_file: str, key_file: str, now: dt.datetime | None = None
) -> tuple[asn1_x509.Certificate, keys.PrivateKeyInfo, TsaKey]:
    """The TSA's certificate (the first of a PEM file, or DER) and its private key
    (PKCS#8 or the algorithm's own form, PEM or DER, unencrypted), read and checked
    at start as :mod:`certseal.tlsfiles` checks a service's TLS files: the key as
    PKCS#8 for pyHanko's builder and as the signer.

    Raises CertsealError(INVALID_ARGUMENT) naming ``seal.tsa_cert_file`` when it is
    empty, cannot be read, holds no certificate, one whose key cannot be read, one
    without the timeStamping extended key usage (RFC 3161 2.3: every verifier refuses
    its tokens) or one not valid at ``now`` (default: the clock's); naming
    ``seal.tsa_key_file`` when it is empty, cannot be read, holds no private key, an
    encrypted one, one of a kind a TSA does not sign with
    (:func:`~services.seal.tsa_token.tsa_key`) or another certificate's key."""
    data = _tsa_file(cert_file, CERT_FIELD)
    try:
        if b"-----BEGIN" in data:
            chain = x509.load_pem_x509_certificates(data)
        else:
            chain = [x509.load_der_x509_certificate(data)]
        cert = chain[0]
    except CERTIFICATE_ERRORS:
        raise invalid(
            CERT_FIELD, f"{cert_file} holds no X.509 certificate (PEM or DER)"
        ) from None
    try:
        public = _spki(cert.public_key())
    except (ValueError, UnsupportedAlgorithm):
        raise invalid(
            CERT_FIELD,
            f"{cert_file} holds a certificate whose key a TSA cannot sign with "
            "(RSA or EC P-256)",
        ) from None
    try:
        usage = certificate_extension(cert, x509.ExtendedKeyUsage)
    except (ValueError, x509.DuplicateExtension):  # a malformed extension
        raise invalid(
            CERT_FIELD, f"{cert_file} holds a certificate with malformed extensions"
        ) from None
    if usage is None or ExtendedKeyUsageOID.TIME_STAMPING not in usage:
        if any(_time_stamping(later) for later in chain[1:]):  # a root-first chain
            raise invalid(
                CERT_FIELD,
                f"{cert_file} lists its certificates out of order: the TSA's own "
                "(timeStamping) certificate must come first, then its issuers",
            )
        raise invalid(
            CERT_FIELD,
            f"{cert_file} is no time-stamping certificate: its extended key usage "
            "must be timeStamping (RFC 3161 section 2.3), or verifiers refuse its "
            "tokens",
        )
    check_valid_now(
        cert, CERT_FIELD, cert_file, "every token would be refused", now=now
    )
    data = _tsa_file(key_file, KEY_FIELD)
    try:
        if b"-----BEGIN" in data:
            loaded = serialization.load_pem_private_key(data, None)
        else:
            loaded = serialization.load_der_private_key(data, None)
    except TypeError:
        raise invalid(
            KEY_FIELD, f"{key_file} is encrypted; a service reads its key unencrypted"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise invalid(
            KEY_FIELD, f"{key_file} holds no private key (PKCS#8 or SEC 1, PEM or DER)"
        ) from None
    signer = tsa_key(loaded, f"{key_file} holds")
    if _spki(signer.public_key()) != public:
        raise invalid(
            KEY_FIELD,
            f"{key_file} is not the key of the certificate in {CERT_FIELD} "
            f"({cert_file})",
        )
    pkcs8 = signer.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    certificate = asn1_x509.Certificate.load(
        cert.public_bytes(serialization.Encoding.DER)
    )
    return certificate, keys.PrivateKeyInfo.load(pkcs8), signer


class Rejection(core.Sequence):
    """A ``TimeStampResp`` without its (OPTIONAL, RFC 3161 2.4.2) token, which
    asn1crypto's own type requires."""

    _fields = [("status", tsp.PKIStatusInfo)]  # noqa: RUF012


def _time_stamping(cert: x509.Certificate) -> bool:
    """Whether ``cert``'s extended key usage names timeStamping."""
    try:
        usage = certificate_extension(cert, x509.ExtendedKeyUsage)
    except (x509.DuplicateExtension, ValueError):
        return False
    return usage is not None and ExtendedKeyUsageOID.TIME_STAMPING in usage


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


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

    def __init__(
        self,
        *,
        cert_file: str,
        key_file: str,
        clock: Clock = utcnow,
        policy: str = DEFAULT_TSA_POLICY,
    ) -> None:
        try:
            self.policy = tsp.ObjectIdentifier(policy).dotted
        except (ValueError, TypeError):
            raise invalid("seal.tsa_policy", "must be an OID (dotted digits)") from None
        cert, key, self._signer = read_tsa_identity(cert_file, key_file, clock())
        self.certificate = cert.dump()
        self._cert, self._key, self._clock = cert, key, clock
        self._ess = simple_cms_attribute(
            "signing_certificate", as_signing_certificate(cert)
        ).dump()
        self._runner: web.AppRunner | None = None
        self._server: asyncio.AbstractServer | None = None
        self.malformed = MalformedRequests("TSA")  # refused, logged once a minute
        self._parts: TokenParts | None = None
        self.port = 0

    def respond(self, body: bytes) -> bytes:
        """The DER TimeStampResp to a DER TimeStampReq (CPU: one signature)."""
        try:
            check_outside(body)  # bounded headers before asn1crypto sees them
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
        if req["req_policy"].native not in (None, self.policy):
            return _rejection("unaccepted_policy", f"only the policy {self.policy}")
        try:
            return self._grant(req, signed_attrs_digest(name)).dump()
        except Exception:  # e.g. a nonce or extension the builder cannot carry
            return _rejection("system_failure", "the request cannot be stamped")

    def _grant(self, req: tsp.TimeStampReq, md_algorithm: str) -> tsp.TimeStampResp:
        # one builder per request: its time is this request's (threads share none)
        tsa = TsaBuilder(self._cert, self._key, self._clock(), self.policy)
        tsa.signer, tsa.signing_certificate = self._signer, self._ess
        # pyHanko's builder would digest the signed attributes with the imprint's
        # algorithm, which for SM3 neither RSA nor ECDSA signs with
        tsa.override_md = md_algorithm
        return tsa.request_tsa_response(req)

    @property
    def signs_quickly(self) -> bool:
        """Whether :meth:`token` is cheap enough for the event loop: with an EC P-256
        key a token costs about 86 µs of CPU, most of it holding the GIL (DER
        assembly, and the ECDSA signature, which pyca/cryptography signs without
        releasing it), so a worker thread would block the loop about as long while
        the hop to it and back costs about 55 µs more (measured on the 2-core bench
        machine under load; the hop was about a tenth of SealDocument's CPU in the
        bench profile). An RSA-2048 token costs about 370 µs: it goes to a thread."""
        return isinstance(self._signer, ec.EllipticCurvePrivateKey)

    def token(self, data: bytes) -> bytes:
        """The DER TimeStampToken over SHA-256(``data``) for this process itself (no
        request to encode, no answer to decode: nothing crosses a wire), with a nonce
        and this TSA's time, key and policy, as :meth:`respond` grants it. CPU: one
        signature; run it off the event loop. Raises what building it raises.

        Its DER is written directly (:class:`TokenParts`): the parts that are the
        same in every token (version, algorithms, the certificate, the signer's
        identifier, the ESS attribute, the policy, the TSA's name) are taken once from
        a token pyHanko's builder made (:meth:`pyhanko_token`); what changes (the
        TSTInfo's imprint, serial, time and nonce; the signing time and message digest
        attributes; the signature) is encoded per token. pyHanko's asn1crypto
        building was about a tenth of SealDocument's CPU (bench/seal_bench.py,
        BENCH_PROFILE=1); tests/seal/test_timestamps.py checks both tokens carry
        the same values."""
        parts = self._parts
        if parts is None:
            parts = self._parts = TokenParts(self.pyhanko_token(b""))
        return parts.token(
            self._signer,
            imprint(data),
            at=self._clock(),
            serial=get_nonce(),
            nonce=get_nonce(),
        )

    def pyhanko_token(self, data: bytes) -> bytes:
        """:meth:`token` as pyHanko's TSA builder makes it (via a TimeStampReq)."""
        req = tsp.TimeStampReq(
            {
                "version": 1,
                "message_imprint": {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": imprint(data),
                },
                "nonce": get_nonce(),
                "cert_req": True,
            }
        )
        token: bytes = self._grant(req, "sha256")[
            "time_stamp_token"
        ].dump()  # always granted
        return token

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
        name_server(app, "certseal-tsa")  # no Python or aiohttp version
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        # seal processes on one host share the port, as their gRPC one; a request
        # that is not HTTP is a rate-limited warning line (certseal.httpserve)
        self._server = await serve_setting(
            self._runner,
            listen,
            "seal.tsa_listen",
            malformed=self.malformed,
            server_name="certseal-tsa",
            reuse_port=True,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


def check_tsa_settings(url: str, timeout_s: float, trusted_ca_files: list[str]) -> None:
    """Refuse ``[seal]`` TSA settings that cannot work: INVALID_ARGUMENT naming
    ``seal.tsa_url`` (not http or https), ``seal.tsa_timeout_s`` (not in (0, 60]) or
    ``seal.tsa_trusted_ca_files`` (empty while seals are stamped: every token made
    would verify UNTRUSTED_TIMESTAMP here)."""
    if not url:
        return
    if not url.startswith(("http://", "https://")):
        raise invalid("seal.tsa_url", f"{url!r} is not an http:// or https:// URL")
    if not 0 < timeout_s <= 60:
        raise invalid("seal.tsa_timeout_s", "must be more than 0 and at most 60 s")
    if not trusted_ca_files:
        raise invalid(
            "seal.tsa_trusted_ca_files",
            "name the root of the TSA at seal.tsa_url: without it every timestamp "
            "made would verify as UNTRUSTED_TIMESTAMP",
        )


def names_own_room(url: str, listen: str, port: int) -> bool:
    """Whether ``url`` (``[seal] tsa_url``) names the TSA room this process serves on
    ``listen`` (``[seal] tsa_listen``, host:port) at ``port``: plain http, path ``/``,
    that port, and the listen host or a loopback address when it listens on one or
    on every address."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.path not in ("", "/") or parts.query:
        return False
    if parts.port != port or parts.hostname is None:
        return False
    listen_host = listen.rpartition(":")[0].strip("[]")
    if parts.hostname == listen_host:
        return True
    try:
        address = ipaddress.ip_address(
            "127.0.0.1" if parts.hostname == "localhost" else parts.hostname
        )
        bound = ipaddress.ip_address(listen_host or "0.0.0.0")
    except ValueError:
        return False
    return address.is_loopback and (bound.is_loopback or bound.is_unspecified)


class Timestamper:
    """A client of the TSA at ``url``: tokens over bytes (SHA-256 imprints).

    ``own_room``: this process's own TSA room, which ``url`` names (see
    :func:`names_own_room`): :meth:`stamp` then has it make the token directly
    (:meth:`TsaServer.token`; on a thread unless :attr:`TsaServer.signs_quickly`)
    rather than over HTTP: the same token, with
    no request to encode and no answer to decode and check, since nothing crosses a
    wire. Measured (bench/seal_bench.py, BENCH_PROFILE=1): the HTTP request and its
    answer in the same process were about a quarter of SealDocument's CPU, pyHanko's
    client alone (request, answer, nonce check) a tenth. PAdES signing on a worker
    thread's loop (:meth:`fresh_client`) still goes over HTTP.
    """

    def __init__(
        self, url: str, *, timeout_s: float = 5.0, own_room: TsaServer | None = None
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._client: HTTPTimeStamper | None = None
        self._session: aiohttp.ClientSession | None = None
        self._own_room = own_room

    @property
    def client(self) -> HTTPTimeStamper:
        """pyHanko's client over one kept HTTP session (made in the running event
        loop on first use; without one pyHanko builds a session, and its TLS context,
        per token)."""
        if self._client is None:
            self._session = aiohttp.ClientSession()
            self._client = HTTPTimeStamper(
                self.url, timeout=self.timeout_s, session=self._session
            )
        return self._client

    def fresh_client(self) -> HTTPTimeStamper:
        """pyHanko's client with no kept session, for signing on another event loop
        (a worker thread's): it opens its HTTP session in the loop that asks."""
        return HTTPTimeStamper(self.url, timeout=self.timeout_s)

    async def __aenter__(self) -> Timestamper:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the kept HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = self._client = None

    async def stamp(self, data: bytes) -> bytes:
        """The DER TimeStampToken (a CMS ContentInfo) over SHA-256(``data``).

        Raises UNAVAILABLE (``tsa_url``) when the TSA does not answer within the
        timeout, answers with an error, or grants no token.
        """
        if self._own_room is not None:
            try:
                if self._own_room.signs_quickly:
                    return self._own_room.token(data)  # see TsaServer.signs_quickly
                return await asyncio.to_thread(self._own_room.token, data)
            except Exception as exc:
                raise unavailable(
                    f"the time-stamping authority of this process gave no token: "
                    f"{exc or type(exc).__name__}; retry later"
                ) from None
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
