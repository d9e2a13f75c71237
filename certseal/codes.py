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

import struct
import zlib
from dataclasses import dataclass
from typing import Any

import base45
import cbor2

from certseal import cbor, cose
from certseal.bounds import (
    MAX_CODE_COMPRESSED_BYTES,
)
from certseal.crypto import InvalidSignature, Signer, Suite, verify
from certseal.scanned import (  # re-exported: a code's text is read by this module
    BASE45_ALPHABET,
    LICENCE_CODE_PREFIX,
    PRESENTATION_CODE_PREFIX,
    SHORTEST_CODE_CHARS,
    CodeStage,
    MalformedCode,
    base45_hint,
    inflate,
    no_code_length,
    normalise_code_text,
    prefix_hint,
    read_as_one,
)
from certseal.scanned import (
    MAX_MALFORMED_MESSAGE_CHARS as MAX_MALFORMED_MESSAGE_CHARS,
)
from certseal.scanned import (
    without_symbology_identifier as without_symbology_identifier,
)

CWT_ISS, CWT_EXP, CWT_NBF, CWT_IAT, CWT_CTI = 1, 4, 5, 6, 7
CLAIM_LICENCE = -65537  # private-use claim: the licence part of a licence code
CLAIM_PRESENTATION = (
    -65538
)  # private-use claim: the licence reference of a presentation


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
    return prefix + b45encode(zlib.compress(message, 9))


#: RFC 9285's alphabet, and every value below 45² as its two characters (low first)
_B45 = BASE45_ALPHABET
_B45_PAIRS = [_B45[n % 45] + _B45[n // 45] for n in range(45 * 45)]


def b45encode(data: bytes) -> str:
    """Base45 text of ``data`` (RFC 9285 section 4): each two bytes ``a, b`` as
    ``n = 256a + b = c + 45d + 45²e``, written ``c d e``; a last odd byte ``a = c +
    45d`` as ``c d``. The same text as ``base45.b45encode`` (the decoder this module
    uses), for about two thirds of its CPU in the serving process (measured with the
    thread's CPU clock under load; a 65,536-entry table was no faster there, its
    lookups missing the cache).
    """
    pairs = len(data) // 2
    values = struct.unpack(f">{pairs}H", data[: 2 * pairs])
    text = "".join([_B45_PAIRS[n % 2025] + _B45[n // 2025] for n in values])
    if len(data) % 2:
        text += _B45_PAIRS[data[-1]]
    return text


def decode_code(text: str, limits: cbor.CborLimits = cbor.CODE_LIMITS) -> DecodedCode:
    """Decode a code's text without verifying it; raise :class:`MalformedCode`.

    The text is first put in its one canonical form by :func:`normalise_code_text`
    (case, full-width forms, surrounding white space and control characters), so a
    code typed or scanned in any of those forms is the same code. Every stage is
    bounded before it allocates and must be consumed exactly: the text by
    :data:`~certseal.bounds.MAX_CODE_CHARS`, the zlib stream by
    :data:`~certseal.bounds.MAX_CODE_MESSAGE_BYTES` of output and must end where the
    Base45 ends, and the COSE_Sign1 and its claims are read by the strict
    :mod:`certseal.cbor` (no tags but COSE's 18, optionally inside the CWT tag 61 of
    RFC 8392 section 6, no shared references, no trailing bytes). A code is exactly the
    signed structure and nothing more. ``limits`` bounds the claims (default
    :data:`~certseal.cbor.CODE_LIMITS`); a caller may pass tighter ones to bound the
    time of a decode it runs where time matters (the verifier's event loop).
    """
    text = normalise_code_text(text)
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
            f"expected {LICENCE_CODE_PREFIX!r} or {PRESENTATION_CODE_PREFIX!r}"
            + prefix_hint(text),
        )
    try:
        message = _inflated(text, len(prefix))
    except MalformedCode as exc:
        raise read_as_one(exc, text, len(prefix)) from None
    if message[:2] == _CWT_TAG_BYTES:  # RFC 8392 section 6: 61(18([...]))
        message = message[2:]
        if message[:1] != _SIGN1_TAG_BYTE:
            raise MalformedCode(
                CodeStage.COSE, "the CWT tag 61 must enclose a tagged COSE_Sign1 (18)"
            )
    try:
        sign1 = cose.parse_sign1(message)
    except cose.CoseError as exc:
        raise MalformedCode(CodeStage.COSE, str(exc)) from None
    alg = sign1.header.get(cose.HEADER_ALG)
    kid = sign1.header.get(cose.HEADER_KID)
    if not isinstance(kid, bytes) or len(kid) != 8:
        raise MalformedCode(CodeStage.COSE, "protected header has no 8-byte kid")
    try:
        claims = cbor.loads(sign1.payload, limits)
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


CWT_TAG = 61
"""The CBOR tag of a CWT (RFC 8392 section 6); a code may wrap its COSE_Sign1 in it."""

_CWT_TAG_BYTES = bytes([0xD8, CWT_TAG])  # major type 6, one-byte argument
_SIGN1_TAG_BYTE = bytes([0xC0 | cose.SIGN1_TAG])


def _inflated(text: str, start: int) -> bytes:
    """The zlib stream's content of the Base45 (RFC 9285) after ``text[:start]``, the
    prefix; MalformedCode (stage ``base45`` or ``zlib``) saying what is wrong."""
    body = text[start:]
    try:
        compressed = base45.b45decode(body)
    except Exception as exc:
        hint = base45_hint(body, start, text[:start])
        raise MalformedCode(CodeStage.BASE45, f"not Base45 ({exc}){hint}") from None
    if (
        len(compressed) > MAX_CODE_COMPRESSED_BYTES
    ):  # a guard; the text bound implies it
        raise MalformedCode(CodeStage.BASE45, "longer than a code can be")
    try:
        return inflate(compressed)
    except MalformedCode as exc:
        if len(body) >= SHORTEST_CODE_CHARS:
            raise
        # Base45, but too short to be a code: a word typed, another label
        raise MalformedCode(
            exc.stage,
            f"{len(body)} characters after the prefix are {no_code_length(text[:start])}",
        ) from None
