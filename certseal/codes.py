"""Codes shown to counters: prefix + Base45(zlib(COSE_Sign1(CBOR claims))).

The static licence code (prefix ``LC1:``) and the short-lived presentation code (``PC1:``)
share this pipeline, which the EU Digital COVID Certificate proved at scale. COSE_Sign1
(RFC 9052) is framed here with cbor2 because the signature must come from a
:class:`certseal.crypto.Signer` (which may be an HSM and is async) and SM2 is not in any
COSE library; the tests cross-check es256 and ed25519 codes against pycose.

Claims are a CWT map (RFC 8392): 1 iss, 4 exp, 5 nbf, 6 iat, 7 cti, plus one private
claim holding the licence part (see docs/codes.md).
"""

from __future__ import annotations

import enum
import io
import zlib
from dataclasses import dataclass
from typing import Any

import base45
import cbor2
import segno
import zxingcpp
from PIL import Image, UnidentifiedImageError

from certseal.crypto import InvalidSignature, Signer, Suite, verify
from certseal.errors import invalid

LICENCE_CODE_PREFIX = "LC1:"
PRESENTATION_CODE_PREFIX = "PC1:"

CWT_ISS, CWT_EXP, CWT_NBF, CWT_IAT, CWT_CTI = 1, 4, 5, 6, 7
CLAIM_LICENCE = -65537  # private-use claim: the licence part of a licence code
CLAIM_PRESENTATION = (
    -65538
)  # private-use claim: the licence reference of a presentation

_COSE_SIGN1_TAG = 18
_HEADER_ALG, _HEADER_KID = 1, 4
_MAX_CODE_CHARS = 8192
_MAX_PAYLOAD_BYTES = 64 * 1024
MAX_IMAGE_BYTES = 8 * 1024 * 1024
_QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


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
        """The COSE Sig_structure the signature covers."""
        return _sig_structure(self.protected, self.payload)

    def verify_signature(self, public_key_der: bytes) -> None:
        """Raise :class:`certseal.crypto.InvalidSignature` unless the signature holds."""
        if self.suite is None:
            raise InvalidSignature(f"unknown COSE alg {self.alg!r}")
        verify(self.suite, public_key_der, self.to_be_signed(), self.signature)


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])


async def encode_code(prefix: str, claims: dict[Any, Any], signer: Signer) -> str:
    """Sign ``claims`` with ``signer`` and return the code text."""
    protected = cbor2.dumps(
        {_HEADER_ALG: signer.suite.cose_alg, _HEADER_KID: bytes.fromhex(signer.kid)}
    )
    payload = cbor2.dumps(claims)
    signature = await signer.sign(_sig_structure(protected, payload))
    message = cbor2.dumps(
        cbor2.CBORTag(_COSE_SIGN1_TAG, [protected, {}, payload, signature])
    )
    return prefix + base45.b45encode(zlib.compress(message, 9)).decode("ascii")


def decode_code(text: str) -> DecodedCode:
    """Decode a code's text without verifying it; raise :class:`MalformedCode`."""
    text = text.strip()
    if len(text) > _MAX_CODE_CHARS:
        raise MalformedCode(
            CodeStage.PREFIX, f"code longer than {_MAX_CODE_CHARS} chars"
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
    try:
        inflater = zlib.decompressobj()
        message = inflater.decompress(compressed, _MAX_PAYLOAD_BYTES)
        if inflater.unconsumed_tail or not inflater.eof:
            raise zlib.error("truncated or larger than 64 KiB")
    except zlib.error as exc:
        raise MalformedCode(CodeStage.ZLIB, f"not zlib ({exc})") from None
    protected, payload, signature, header = _parse_cose_sign1(message)
    alg = header.get(_HEADER_ALG)
    kid = header.get(_HEADER_KID)
    if not isinstance(kid, bytes) or len(kid) != 8:
        raise MalformedCode(CodeStage.COSE, "protected header has no 8-byte kid")
    try:
        claims = cbor2.loads(payload)
    except Exception as exc:
        raise MalformedCode(CodeStage.CLAIMS, f"payload is not CBOR ({exc})") from None
    if not isinstance(claims, dict):
        raise MalformedCode(CodeStage.CLAIMS, "payload is not a CBOR map")
    return DecodedCode(
        prefix=prefix,
        suite=Suite.from_cose_alg(alg),
        alg=alg,
        kid=kid.hex(),
        claims=claims,
        protected=protected,
        payload=payload,
        signature=signature,
    )


def _parse_cose_sign1(message: bytes) -> tuple[bytes, bytes, bytes, dict[Any, Any]]:
    try:
        obj = cbor2.loads(message)
    except Exception as exc:
        raise MalformedCode(CodeStage.COSE, f"not CBOR ({exc})") from None
    if isinstance(obj, cbor2.CBORTag):
        if obj.tag != _COSE_SIGN1_TAG:
            raise MalformedCode(CodeStage.COSE, f"CBOR tag {obj.tag} is not COSE_Sign1")
        obj = obj.value
    if not (isinstance(obj, list | tuple) and len(obj) == 4):
        raise MalformedCode(CodeStage.COSE, "COSE_Sign1 must be an array of 4")
    protected, _unprotected, payload, signature = obj
    if not all(isinstance(x, bytes) for x in (protected, payload, signature)):
        raise MalformedCode(CodeStage.COSE, "COSE_Sign1 fields have the wrong types")
    try:
        header = cbor2.loads(protected) if protected else {}
    except Exception:
        raise MalformedCode(CodeStage.COSE, "protected header is not CBOR") from None
    if not isinstance(header, dict):
        raise MalformedCode(CodeStage.COSE, "protected header is not a map")
    return protected, payload, signature, header


def qr_png(text: str, *, scale: int = 4) -> bytes:
    """The code as a QR symbol (alphanumeric mode, error correction Q) in PNG."""
    qr = segno.make_qr(text, error="q", boost_error=False)
    out = io.BytesIO()
    qr.save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def read_qr_image(data: bytes) -> str:
    """The text of the QR code in a PNG or JPEG, or INVALID_ARGUMENT saying why not."""
    if not data:
        raise invalid("image", "is required: a PNG or JPEG of the QR code")
    if len(data) > MAX_IMAGE_BYTES:
        raise invalid("image", f"is {len(data)} bytes; the limit is {MAX_IMAGE_BYTES}")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ("PNG", "JPEG"):
                raise invalid("image", f"is {image.format}; send a PNG or JPEG")
            image.load()
            found = zxingcpp.read_barcodes(image, formats=_QR)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise invalid("image", "is not a readable PNG or JPEG") from None
    texts = [b.text for b in found if b.valid and b.text]
    if not texts:
        raise invalid("image", "contains no readable QR code")
    if len(set(texts)) > 1:
        raise invalid(
            "image", f"contains {len(set(texts))} different QR codes; show one"
        )
    return texts[0]
