"""Scanned code text: its one canonical form, the stages at which a code is found
malformed, and the words of a refusal (what most likely went wrong with a scan).

What a scanner gun, a keyboard or a paste delivers is put in the form a code is
written in (:func:`normalise_code_text`); a text that does not decode is refused with
a :class:`MalformedCode` naming the stage and, when it is likely, the cause: a read cut
short, two codes read as one, text after a code, a character outside Base45 (RFC 9285),
an input method's full-width forms (docs/codes.md, "The text of a code as scanned or
typed"). The codec itself is :mod:`certseal.codes`, which re-exports these names.
Pure: text in, text out.
"""

from __future__ import annotations

import enum
import re
import unicodedata
import zlib

import base45

from certseal.bounds import MAX_CODE_CHARS, MAX_CODE_INPUT_CHARS, MAX_CODE_MESSAGE_BYTES

LICENCE_CODE_PREFIX = "LC1:"
PRESENTATION_CODE_PREFIX = "PC1:"

#: RFC 9285's alphabet
BASE45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


class CodeStage(enum.Enum):
    """The decoding stage at which a code was found malformed."""

    PREFIX = "prefix"
    BASE45 = "base45"
    ZLIB = "zlib"
    COSE = "cose"
    CLAIMS = "claims"


MAX_MALFORMED_MESSAGE_CHARS = 400
"""The most characters of a :class:`MalformedCode` message: one may quote what a code
holds (a claim, a CBOR map key), and a code signed by anyone can hold 30,000 NULs
there; cut, with "…", so that a verdict is never hundreds of times its code's size
(500 of them made a VerifyCodes answer of 120 MB)."""


class MalformedCode(Exception):
    """A code that cannot be decoded; ``stage`` says where it broke, ``message`` why
    (at most :data:`MAX_MALFORMED_MESSAGE_CHARS` characters)."""

    def __init__(self, stage: CodeStage, message: str):
        if len(message) > MAX_MALFORMED_MESSAGE_CHARS:
            message = message[: MAX_MALFORMED_MESSAGE_CHARS - 1] + "…"
        super().__init__(f"{stage.value}: {message}")
        self.stage = stage
        self.message = message


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
SHORTEST_CODE_CHARS = 96
"""Base45 characters that even the shortest code exceeds: its COSE_Sign1 signature
alone is 64 bytes for every suite (ES256 and SM2 as r||s, RFC 9053 section 2.1 and
GM/T 0009; Ed25519, RFC 8032), random so that deflate cannot shrink it, and Base45
writes 2 bytes as 3 characters (RFC 9285 section 4)."""

_NOT_BASE45 = re.compile("[^0-9A-Z $%*+\\-./:]")
_AUTHORISATION_LIKE = re.compile("AU[- ]?[0-9A-Z]{4}")
# The most characters a QR code holds in alphanumeric mode, which Base45 uses (ISO/IEC
# 18004, version 40, error correction level L): no scanned code is longer.
_QR_MAX_ALPHANUMERIC = 4296

# What a Chinese input method in Chinese punctuation mode types for Base45's
# punctuation; NFKC leaves these as they are.
_IME_PUNCTUATION = "。￥¥、，…—·"
# Of those, the ones that stand for exactly one Base45 character, read as it (after
# NFKC, which makes ¥ of ￥ and 。 of the half-width ｡): 。 is typed for '.', ￥ for '$'
# (Sogou, Microsoft Pinyin; ¥ where a Japanese one is used), 、 for a backslash or '/',
# of which only '/' is Base45. A wrong guess cannot make a code: the zlib check and
# the signature decide what was read.
_IME_BASE45 = {"。": ".", "¥": "$", "、": "/"}


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
      and the ideographic space) back to ASCII; the Chinese punctuation that stands
      for one Base45 character is read as it (``。`` '.', ``￥`` '$', ``、`` '/').
      The first character whose form is not
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
    is ASCII (at most 4 characters, U+2167). The work is per distinct character, in
    the order they first appear, stopping at the first without an ASCII form: NFKC of
    the whole text would first make up to 18 characters of each (U+FDFA)."""
    text = _INVISIBLE.sub("", text)
    forms: dict[str, str | int | None] = {}
    for char in dict.fromkeys(text):  # distinct, in order of first appearance
        if char.isascii():
            continue
        form = unicodedata.normalize("NFKC", char)
        form = _IME_BASE45.get(form, form)
        if not form.isascii():
            raise MalformedCode(CodeStage.PREFIX, _non_ascii(text, text.index(char)))
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


def prefix_hint(text: str) -> str:
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


def read_as_one(exc: MalformedCode, text: str, start: int) -> MalformedCode:
    """``exc``, or what more likely went wrong with a text that is not one whole code:
    a second code's prefix after the first's (a double read, a cut read with the
    rescan typed after it), or characters after a complete code (a full stop copied
    with it). Only in the refusal's words: the refusal itself stands."""
    second = _second_code(text, start)
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


def _second_code(text: str, start: int) -> int:
    """Where a second code starts in ``text`` (its first code's prefix ends at
    ``start``), or -1: a prefix from which the rest of the text is a whole zlib stream
    in Base45 (a double read, a cut read and its rescan), or without which the text
    is (a prefix pasted into a code). A prefix inside a code's own Base45 (about one
    code in several thousand has one) is neither, and is not named. At most the first
    4 prefixes found are tried, each with 2 decodes of at most a QR code's text."""
    found = sorted(
        at
        for p in (LICENCE_CODE_PREFIX, PRESENTATION_CODE_PREFIX)
        for at in _finds(text, p, start)
    )
    for at in found[:4]:
        after = text[at + len(LICENCE_CODE_PREFIX) :]
        without = text[start:at] + after
        if _whole_stream(after) or _whole_stream(without):
            return at
    return -1


def _finds(text: str, part: str, start: int) -> list[int]:
    """The first 4 places of ``part`` in ``text`` from ``start``."""
    places: list[int] = []
    while len(places) < 4 and (at := text.find(part, start)) >= 0:
        places.append(at)
        start = at + 1
    return places


def _whole_stream(body: str) -> bool:
    """Whether ``body`` is Base45 of exactly one whole zlib stream (:func:`inflate`),
    within what a QR code holds."""
    if len(body) > _QR_MAX_ALPHANUMERIC:
        return False
    try:
        inflate(base45.b45decode(body))
    except (ValueError, MalformedCode):
        return False
    return True


def _chars_after_a_code(body: str) -> int:
    """How many characters follow a complete code at the start of ``body``: 1 to 8
    when ``body`` without them is Base45 of a complete zlib stream, else 0. Only on a
    refusal, and bounded: the Base45 before the last 8 characters is decoded and
    inflated once; each of the 8 candidate ends adds at most 4 groups to a copy of
    that inflater. A body longer than a QR code can hold
    (:data:`_QR_MAX_ALPHANUMERIC`) was not scanned and gets no diagnosis."""
    if len(body) > _QR_MAX_ALPHANUMERIC:
        return 0
    common = max(0, (len(body) - 8) // 3) * 3  # whole groups before any candidate end
    try:
        before = base45.b45decode(body[:common])
        inflater = zlib.decompressobj()
        inflated = len(inflater.decompress(before, MAX_CODE_MESSAGE_BYTES))
    except (ValueError, zlib.error):
        return 0
    if inflater.eof or inflater.unconsumed_tail:  # ended already (or a bomb)
        used = len(before) - len(inflater.unused_data)
        extra = len(body) - (used // 2 * 3 + used % 2 * 2)
        return extra if inflater.eof and 1 <= extra <= 8 else 0
    for cut in range(1, min(8, len(body)) + 1):
        tail = body[common : len(body) - cut]
        if len(tail) % 3 == 1:
            continue
        try:
            added = base45.b45decode(tail)
            candidate = inflater.copy()
            candidate.decompress(added, MAX_CODE_MESSAGE_BYTES - inflated)
        except (ValueError, zlib.error):
            continue
        if candidate.eof:
            used = len(before) + len(added) - len(candidate.unused_data)
            return len(body) - (used // 2 * 3 + used % 2 * 2)
    return 0


def base45_hint(body: str, start: int, prefix: str = LICENCE_CODE_PREFIX) -> str:
    """Why Base45 text (RFC 9285) that does not decode is no code, or ''.

    A character outside the alphabet is named with its position in the whole text
    (``start``: the prefix's length), as is a group of 3 worth more than 2 bytes
    (65535): a character mistyped or misread. A text shorter than any code is said to
    be none of the kind ``prefix`` says (or only a code's start: :func:`no_code_length`). A scan stopped early leaves 1 character after
    the last group of 3 (no Base45 text has that), or 2 characters that begin a group
    of 3 and so exceed one byte's value (255) as a pair.
    """
    outside = _NOT_BASE45.search(body)
    if outside is not None:
        char = outside.group()
        return (
            f"; character {start + outside.start() + 1} is {char!r} "
            f"(U+{ord(char):04X}), which is not Base45: {MISREAD}"
        )
    if len(body) < SHORTEST_CODE_CHARS:
        return f"; {len(body)} characters after the prefix are {no_code_length(prefix)}"
    for at in range(0, len(body) - 2, 3):
        a, b, c = (BASE45_ALPHABET.index(char) for char in body[at : at + 3])
        if a + 45 * b + 45 * 45 * c > 0xFFFF:
            return (
                f"; characters {start + at + 1} to {start + at + 3} are more than 2 "
                f"bytes (65535) as a group of 3: {MISREAD}"
            )
    if len(body) % 3 == 1:
        return (
            f"; {len(body)} characters after the prefix cannot be Base45 (a Base45 "
            "text is 2 or 0 characters longer than a multiple of 3): it looks cut "
            "short, scan it again"
        )
    if (
        len(body) % 3 == 2
        and BASE45_ALPHABET.index(body[-2]) + 45 * BASE45_ALPHABET.index(body[-1]) > 255
    ):
        return (
            "; its last 2 characters are more than one byte (255), as the start of a "
            "group of 3 is: it looks cut short or its end misread, scan it again"
        )
    return ""


MISREAD = (
    "a character is mistyped or was misread; scan it again, or type it again with care"
)
"""What a text with a character that no code can hold there is told to do."""


def no_code_length(prefix: str = LICENCE_CODE_PREFIX) -> str:
    """Why a text after ``prefix`` shorter than :data:`SHORTEST_CODE_CHARS` is no code
    of the kind that prefix says: a presentation code's start is not said to be no
    licence code (atk74: the holder's code was called no code of its kind)."""
    kind = "presentation" if prefix == PRESENTATION_CODE_PREFIX else "licence"
    return (
        f"far shorter than any {kind} code (its signature alone takes "
        f"{SHORTEST_CODE_CHARS} characters): this is not a {kind} code, or only its "
        "start was read; scan it again"
    )


def inflate(compressed: bytes) -> bytes:
    """The zlib stream's content, which must end exactly where ``compressed`` ends.

    A stream that ends before its end marker, within the output bound, is a code cut
    short (a scan stopped early at a 3-character boundary, so the Base45 was valid).
    """
    try:
        inflater = zlib.decompressobj()
        message = inflater.decompress(compressed, MAX_CODE_MESSAGE_BYTES)
    except zlib.error as exc:
        raise MalformedCode(  # plain words first, zlib's for the integrator after
            CodeStage.ZLIB,
            f"the code is damaged: a character is mistyped or was misread (zlib: "
            f"{exc}); scan it again, or type it again with care",
        ) from None
    if inflater.unconsumed_tail or (
        not inflater.eof and len(message) >= MAX_CODE_MESSAGE_BYTES
    ):
        raise MalformedCode(CodeStage.ZLIB, "not zlib (inflates to more than 64 KiB)")
    if not inflater.eof:
        raise MalformedCode(
            CodeStage.ZLIB,
            "the zlib stream ends early: the code looks cut short or its end misread, "
            "scan it again",
        )
    if inflater.unused_data:
        raise MalformedCode(
            CodeStage.ZLIB,
            f"{len(inflater.unused_data)} byte"
            f"{'s' if len(inflater.unused_data) > 1 else ''} after the zlib stream",
        )
    return message
