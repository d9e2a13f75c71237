"""Codes shown to counters: prefix + Base45(zlib(COSE_Sign1(CBOR claims))).

The static licence code (prefix ``LC1:``) and the short-lived presentation code (``PC1:``)
share this pipeline, which the EU Digital COVID Certificate proved at scale. COSE_Sign1
(RFC 9052) is framed by :mod:`certseal.cose` because the signature must come from a
:class:`certseal.crypto.Signer` (which may be an HSM and is async) and SM2 is not in any
COSE library; the tests cross-check es256 and ed25519 codes against pycose.

Pure: text in, text out. Rendering a code as a QR symbol and reading one from an image
are in :mod:`certseal.qr`.

Claims are a CWT map (RFC 8392): 1 iss, 4 exp, 5 nbf, 6 iat, 7 cti, plus one private
claim holding the licence part (see docs/codes.md).
"""

from __future__ import annotations

import enum
import zlib
from dataclasses import dataclass
from typing import Any

import base45
import cbor2

from certseal import cbor, cose
from certseal.bounds import (
    MAX_CODE_CHARS,
    MAX_CODE_COMPRESSED_BYTES,
    MAX_CODE_MESSAGE_BYTES,
)
from certseal.crypto import InvalidSignature, Signer, Suite, verify

LICENCE_CODE_PREFIX = "LC1:"
PRESENTATION_CODE_PREFIX = "PC1:"

CWT_ISS, CWT_EXP, CWT_NBF, CWT_IAT, CWT_CTI = 1, 4, 5, 6, 7
CLAIM_LICENCE = -65537  # private-use claim: the licence part of a licence code
CLAIM_PRESENTATION = (
    -65538
)  # private-use claim: the licence reference of a presentation


class CodeStage(enum.Enum):
    """The decoding stage at which a code was found malformed."""

    PREFIX = "prefix"
    BASE45 = "base45"
    ZLIB = "zlib"
    COSE = "cose"
    CLAIMS = "claims"


class MalformedCode(Exception):
    """A code that cannot be decoded; ``stage`` says where it broke."""

    def __init__(self, stage: CodeStage, message: str):
        super().__init__(f"{stage.value}: {message}")
        self.stage = stage
        self.message = message


@dataclass(frozen=True, slots=True)
class DecodedCode:
    """A decoded, not yet verified, COSE_Sign1 code."""

    prefix: str
    suite: Suite | None
    alg: object
    kid: str
    claims: dict[Any, Any]
    protected: bytes
    payload: bytes
    signature: bytes

    def to_be_signed(self) -> bytes:
        """The COSE Sig_structure the signature covers (RFC 9052 section 4.4)."""
        return cose.sig_structure(self.protected, self.payload)

    def verify_signature(self, public_key_der: bytes) -> None:
        """Raise :class:`certseal.crypto.InvalidSignature` unless the signature holds."""
        if self.suite is None:
            raise InvalidSignature(f"unknown COSE alg {self.alg!r}")
        verify(self.suite, public_key_der, self.to_be_signed(), self.signature)


async def encode_code(prefix: str, claims: dict[Any, Any], signer: Signer) -> str:
    """Sign ``claims`` with ``signer`` and return the code text."""
    protected = cose.encode_protected(
        {
            cose.HEADER_ALG: signer.suite.cose_alg,
            cose.HEADER_KID: bytes.fromhex(signer.kid),
        }
    )
    payload = cbor2.dumps(claims)
    signature = await signer.sign(cose.sig_structure(protected, payload))
    message = cose.encode_sign1(protected, payload, signature)
    return prefix + base45.b45encode(zlib.compress(message, 9)).decode("ascii")


def decode_code(text: str) -> DecodedCode:
    """Decode a code's text without verifying it; raise :class:`MalformedCode`.

    Every stage is bounded before it allocates and must be consumed exactly: the text
    by :data:`~certseal.bounds.MAX_CODE_CHARS`, the zlib stream by
    :data:`~certseal.bounds.MAX_CODE_MESSAGE_BYTES` of output and must end where the
    Base45 ends, and the COSE_Sign1 and its claims are read by the strict
    :mod:`certseal.cbor` (no tags but COSE's 18, no shared references, no trailing
    bytes). A code is exactly the signed structure and nothing more.
    """
    text = text.strip()
    if len(text) > MAX_CODE_CHARS:
        raise MalformedCode(
            CodeStage.PREFIX, f"code longer than {MAX_CODE_CHARS} chars"
        )
    prefix = next(
        (
            p
            for p in (LICENCE_CODE_PREFIX, PRESENTATION_CODE_PREFIX)
            if text.startswith(p)
        ),
        None,
    )
    if prefix is None:
        raise MalformedCode(
            CodeStage.PREFIX,
            f"expected {LICENCE_CODE_PREFIX!r} or {PRESENTATION_CODE_PREFIX!r}",
        )
    try:
        compressed = base45.b45decode(text[len(prefix) :])
    except Exception as exc:
        raise MalformedCode(CodeStage.BASE45, f"not Base45 ({exc})") from None
    if (
        len(compressed) > MAX_CODE_COMPRESSED_BYTES
    ):  # a guard; the text bound implies it
        raise MalformedCode(CodeStage.BASE45, "longer than a code can be")
    message = _inflate(compressed)
    try:
        sign1 = cose.parse_sign1(message)
    except cose.CoseError as exc:
        raise MalformedCode(CodeStage.COSE, str(exc)) from None
    alg = sign1.header.get(cose.HEADER_ALG)
    kid = sign1.header.get(cose.HEADER_KID)
    if not isinstance(kid, bytes) or len(kid) != 8:
        raise MalformedCode(CodeStage.COSE, "protected header has no 8-byte kid")
    try:
        claims = cbor.loads(sign1.payload, cbor.CODE_LIMITS)
    except cbor.CborError as exc:
        raise MalformedCode(CodeStage.CLAIMS, f"payload is not CBOR ({exc})") from None
    if not isinstance(claims, dict):
        raise MalformedCode(CodeStage.CLAIMS, "payload is not a CBOR map")
    return DecodedCode(
        prefix=prefix,
        suite=Suite.from_cose_alg(alg),
        alg=alg,
        kid=kid.hex(),
        claims=claims,
        protected=sign1.protected,
        payload=sign1.payload,
        signature=sign1.signature,
    )


def _inflate(compressed: bytes) -> bytes:
    """The zlib stream's content, which must end exactly where ``compressed`` ends."""
    try:
        inflater = zlib.decompressobj()
        message = inflater.decompress(compressed, MAX_CODE_MESSAGE_BYTES)
    except zlib.error as exc:
        raise MalformedCode(CodeStage.ZLIB, f"not zlib ({exc})") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise MalformedCode(
            CodeStage.ZLIB, "not zlib (truncated or larger than 64 KiB)"
        )
    if inflater.unused_data:
        raise MalformedCode(
            CodeStage.ZLIB, f"{len(inflater.unused_data)} bytes after the zlib stream"
        )
    return message
