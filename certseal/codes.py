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
import re
import struct
import unicodedata
import zlib
from dataclasses import dataclass
from typing import Any

import base45
import cbor2

from certseal import cbor, cose
from certseal.bounds import (
    MAX_CODE_CHARS,
    MAX_CODE_COMPRESSED_BYTES,
    MAX_CODE_INPUT_CHARS,
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
    return prefix + b45encode(zlib.compress(message, 9))


#: RFC 9285's alphabet, and every value below 45² as its two characters (low first)
_B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
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
            + _prefix_hint(text),
        )
    try:
        message = _inflated(text, len(prefix))
    except MalformedCode as exc:
        raise _read_as_one(exc, text, len(prefix)) from None
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

# Characters a scanner or keyboard may put around a code: Unicode white space, the C0
# and C1 controls and DEL, and the invisible format characters (zero-width space,
# joiners, word joiner, byte order mark) that pasting from documents brings along.
_SURROUNDING = (
    "".join(
        chr(c)
        for c in (
            *range(0x00, 0x21),
            *range(0x7F, 0xA1),
            0x1680,
            *range(0x2000, 0x200E),
        )
    )
    + "\u2028\u2029\u202f\u205f\u2060\u3000\ufeff"
)

# The invisible format characters (Unicode category Cf) that copying from a chat, a web
# page or a word processor leaves inside a long unbroken string: soft hyphen, Mongolian
# vowel separator, zero-width space, non-joiner and joiner, the direction marks and
# embeddings, word joiner and invisible operators, the isolates, byte order mark.
_INVISIBLE = re.compile(
    "[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]"
)
_NON_ASCII = re.compile("[^\x00-\x7f]")
_NOT_BASE45 = re.compile("[^0-9A-Z $%*+\\-./:]")
_AUTHORISATION_LIKE = re.compile("AU[- ]?[0-9A-Z]{4}")
# The most characters a QR code holds in alphanumeric mode, which Base45 uses (ISO/IEC
# 18004, version 40, error correction level L): no scanned code is longer.
_QR_MAX_ALPHANUMERIC = 4296

# What a Chinese input method in Chinese punctuation mode types for Base45's
# punctuation; NFKC leaves these as they are.
_IME_PUNCTUATION = "。￥¥、，…—·"


def normalise_code_text(text: str) -> str:
    """The canonical form of a code's text as a scanner or keyboard delivered it.

    Shape: any text in, the text a code is made of out (``LC1:`` or ``PC1:`` and
    upper-case Base45, ASCII only), or :class:`MalformedCode` (stage ``prefix``).

    - The raw text is bounded first, by :data:`~certseal.bounds.MAX_CODE_INPUT_CHARS`,
      so nothing below runs on more than that.
    - Surrounding white space, control characters (C0, DEL, C1) and invisible format
      characters are removed; the rest must be at most
      :data:`~certseal.bounds.MAX_CODE_CHARS` characters.
    - Text with characters outside ASCII loses its invisible format characters
      (Unicode category Cf: zero-width space and joiners, soft hyphen, bidi marks)
      wherever they are, and each other character outside ASCII is replaced by its
      Unicode normalisation form NFKC (Unicode Standard Annex #15), which maps the
      full-width forms a Chinese input method types (``ＬＣ１：``, U+FF01 to U+FF5E,
      and the ideographic space) back to ASCII. The first character whose form is not
      ASCII is refused, naming it, its position (1-based) and, when it is likely, the
      cause.
    - Letters are upper-cased: the prefixes and the Base45 alphabet (RFC 9285) are
      upper-case, so case carries no information (Caps Lock, a scanner's case setting).
    - A symbology identifier before the prefix (ISO/IEC 15424: ``]``, the
      symbology's letter and a modifier, ``]Q1`` for a QR Code), which a scanner set
      to transmit it sends first, is removed. ``]`` is not Base45, so no code starts
      with it.
    """
    if len(text) > MAX_CODE_INPUT_CHARS:
        raise MalformedCode(
            CodeStage.PREFIX, f"text longer than {MAX_CODE_INPUT_CHARS} chars"
        )
    text = text.strip(_SURROUNDING)
    if len(text) > MAX_CODE_CHARS:
        raise MalformedCode(
            CodeStage.PREFIX, f"code longer than {MAX_CODE_CHARS} chars"
        )
    if not text.isascii():
        text = _ascii_form(text).strip(_SURROUNDING)
        if len(text) > MAX_CODE_CHARS:
            raise MalformedCode(
                CodeStage.PREFIX, f"code longer than {MAX_CODE_CHARS} chars"
            )
    return without_symbology_identifier(text).upper()


def without_symbology_identifier(text: str) -> str:
    """``text`` without the symbology identifier a scanner may send before the data.

    ISO/IEC 15424: ``]``, the symbology's letter and a modifier character (``]Q1``
    for a QR Code, ``]d2`` for a Data Matrix). Shape: str in, str out, unchanged when
    it does not start with one. Safe for codes whose alphabet has no ``]`` (Base45
    after ``LC1:``/``PC1:``, the authorisation codes' ``AU-`` and Crockford base32).
    """
    if text[:1] == "]" and text[1:2].isalpha() and text[2:3].isalnum():
        return text[3:]
    return text


def _ascii_form(text: str) -> str:
    """``text`` (at most MAX_CODE_CHARS characters) in ASCII, or MalformedCode naming
    the first character that has no ASCII form.

    Invisible format characters are removed wherever they are; every other character
    outside ASCII is replaced by its NFKC form (Unicode Standard Annex #15) when that
    is ASCII (at most 4 characters, U+2167). One distinct character at a time, in
    order, stopping at the first without: NFKC of the whole text would first make up
    to 18 characters of each (U+FDFA)."""
    text = _INVISIBLE.sub("", text)
    forms: dict[str, str | int | None] = {}
    for found in _NON_ASCII.finditer(text):
        char = found.group()
        if char not in forms:
            form = unicodedata.normalize("NFKC", char)
            if not form.isascii():
                raise MalformedCode(CodeStage.PREFIX, _non_ascii(text, found.start()))
            forms[char] = form
    return text.translate(str.maketrans(forms))


def _non_ascii(text: str, index: int) -> str:
    """Why a text whose character at ``index`` has no ASCII form is no code: that
    character, its position (from 1) and, when it is likely, the cause."""
    position, char = index + 1, text[index]
    name = unicodedata.name(char, "unnamed")
    problem = (
        f"character {position} is {char!r} (U+{ord(char):04X} {name}); a code is "
        "ASCII only"
    )
    if any(c in _IME_PUNCTUATION for c in text):
        return (
            f"{problem}: looks like a code typed with a full-width (Chinese) input "
            "method in Chinese punctuation mode; switch the input method to English "
            "punctuation (half-width) and type or scan it again"
        )
    if any(unicodedata.east_asian_width(c) in ("F", "W") for c in text):
        return (
            f"{problem}: looks like a code typed with a full-width input method; "
            "switch the input method to half-width and type or scan it again"
        )
    return problem


def _prefix_hint(text: str) -> str:
    """A likely cause for a text that does not start with a code prefix, or ''."""
    if not text:
        return "; the text is empty"
    upper = text.upper()
    if upper.startswith(("HTTP://", "HTTPS://")):
        return "; this is a web address, not a certseal code"
    if upper.startswith("1.2.156.3005.2."):
        return (
            "; this is a licence identifier, not a code: scan the QR code on the "
            "licence or ask the holder for the code"
        )
    if upper.startswith("HC1:"):
        return "; this is an EU Digital COVID Certificate, not a certseal code"
    if LICENCE_CODE_PREFIX.startswith(upper) or PRESENTATION_CODE_PREFIX.startswith(
        upper
    ):
        return "; the text stops inside the prefix: it looks cut short, scan it again"
    if _AUTHORISATION_LIKE.match(upper):
        return (
            "; this looks like an authorisation code (授权码, AU-…), which the counter "
            "redeems; it is not a licence code"
        )
    for p in (LICENCE_CODE_PREFIX, PRESENTATION_CODE_PREFIX):
        if p in text:
            return (
                f"; {p!r} appears at character {text.index(p) + 1}: something was "
                "typed or scanned before the code"
            )
    return ""


def _inflated(text: str, start: int) -> bytes:
    """The zlib stream's content of the Base45 (RFC 9285) after ``text[:start]``, the
    prefix; MalformedCode (stage ``base45`` or ``zlib``) saying what is wrong."""
    body = text[start:]
    try:
        compressed = base45.b45decode(body)
    except Exception as exc:
        hint = _base45_hint(body, start)
        raise MalformedCode(CodeStage.BASE45, f"not Base45 ({exc}){hint}") from None
    if (
        len(compressed) > MAX_CODE_COMPRESSED_BYTES
    ):  # a guard; the text bound implies it
        raise MalformedCode(CodeStage.BASE45, "longer than a code can be")
    return _inflate(compressed)


def _read_as_one(exc: MalformedCode, text: str, start: int) -> MalformedCode:
    """``exc``, or what more likely went wrong with a text that is not one whole code:
    a second code's prefix after the first's (a double read, a cut read with the
    rescan typed after it), or characters after a complete code (a full stop copied
    with it). Only in the refusal's words: the refusal itself stands."""
    second = min(
        (
            at
            for p in (LICENCE_CODE_PREFIX, PRESENTATION_CODE_PREFIX)
            if (at := text.find(p, start)) >= 0
        ),
        default=-1,
    )
    if second >= 0:
        return MalformedCode(
            exc.stage,
            f"a second code starts at character {second + 1}: two codes were read as "
            "one; scan one code at a time",
        )
    extra = _chars_after_a_code(text[start:])
    if extra:
        return MalformedCode(
            exc.stage,
            f"{extra} characters after the code ({text[-extra:]!r}): it was copied or "
            "scanned with text after it; remove them or scan it again",
        )
    return exc


def _chars_after_a_code(body: str) -> int:
    """How many characters follow a complete code at the start of ``body``: 1 to 8
    when ``body`` without them is Base45 of a complete zlib stream, else 0. Only on a
    refusal, and bounded: the Base45 before the last 8 characters is decoded once, each
    of the 8 candidate ends adds at most 4 groups of it and one bounded inflate. A
    body longer than a QR code can hold (:data:`_QR_MAX_ALPHANUMERIC`) was not scanned
    and gets no diagnosis."""
    if len(body) > _QR_MAX_ALPHANUMERIC:
        return 0
    common = max(0, (len(body) - 8) // 3) * 3  # whole groups before any candidate end
    try:
        before = base45.b45decode(body[:common])
    except ValueError:
        return 0
    for cut in range(1, min(8, len(body)) + 1):
        tail = body[common : len(body) - cut]
        if len(tail) % 3 == 1:
            continue
        try:
            compressed = before + base45.b45decode(tail)
            inflater = zlib.decompressobj()
            inflater.decompress(compressed, MAX_CODE_MESSAGE_BYTES)
        except (ValueError, zlib.error):
            continue
        if inflater.eof:
            used = len(compressed) - len(inflater.unused_data)
            return len(body) - (used // 2 * 3 + used % 2 * 2)
    return 0


def _base45_hint(body: str, start: int) -> str:
    """Why Base45 text (RFC 9285) that does not decode is no code, or ''.

    A character outside the alphabet is named with its position in the whole text
    (``start``: the prefix's length). A scan stopped early leaves 1 character after
    the last group of 3 (no Base45 text has that), or 2 characters that begin a group
    of 3 and so exceed one byte's value (255) as a pair.
    """
    outside = _NOT_BASE45.search(body)
    if outside is not None:
        char = outside.group()
        return (
            f"; character {start + outside.start() + 1} is {char!r} "
            f"(U+{ord(char):04X}), which is not Base45"
        )
    if len(body) % 3 == 1:
        return (
            f"; {len(body)} characters after the prefix cannot be Base45 (a Base45 "
            "text is 2 or 0 characters longer than a multiple of 3): it looks cut "
            "short, scan it again"
        )
    if len(body) % 3 == 2 and _B45.index(body[-2]) + 45 * _B45.index(body[-1]) > 255:
        return (
            "; its last 2 characters are more than one byte (255), as the start of a "
            "group of 3 is: it looks cut short, scan it again"
        )
    return ""


def _inflate(compressed: bytes) -> bytes:
    """The zlib stream's content, which must end exactly where ``compressed`` ends.

    A stream that ends before its end marker, within the output bound, is a code cut
    short (a scan stopped early at a 3-character boundary, so the Base45 was valid).
    """
    try:
        inflater = zlib.decompressobj()
        message = inflater.decompress(compressed, MAX_CODE_MESSAGE_BYTES)
    except zlib.error as exc:
        raise MalformedCode(
            CodeStage.ZLIB, f"not zlib ({exc}); if it was scanned, scan it again"
        ) from None
    if inflater.unconsumed_tail or (
        not inflater.eof and len(message) >= MAX_CODE_MESSAGE_BYTES
    ):
        raise MalformedCode(CodeStage.ZLIB, "not zlib (inflates to more than 64 KiB)")
    if not inflater.eof:
        raise MalformedCode(
            CodeStage.ZLIB,
            "the zlib stream ends early: the code looks cut short, scan it again",
        )
    if inflater.unused_data:
        raise MalformedCode(
            CodeStage.ZLIB,
            f"{len(inflater.unused_data)} byte"
            f"{'s' if len(inflater.unused_data) > 1 else ''} after the zlib stream",
        )
    return message
