"""Identifiers: unified social credit codes (GB 32100), licence identifiers (GB/T 36904)
and resident identity card numbers (GB 11643).

Pure functions; no I/O. Every parse error is a :class:`CertsealError` naming the field.
All of these identifiers are ASCII: :func:`require_ascii` is checked first by every
parser here, so a full-width or other Unicode digit (which Python's ``\\d`` and
``str.isdigit`` accept) is refused with the character and its position named instead of
failing later in a table lookup.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import unicodedata
from dataclasses import dataclass

from certseal.errors import CertsealError, ErrorKind, invalid


def require_ascii(value: str, field: str) -> str:
    """Return ``value`` when it is ASCII, else INVALID_ARGUMENT (``field``) naming the
    first other character, its position (1-based) and its Unicode name; for a
    full-width form (a Chinese input method in full-width mode) the ASCII character it
    stands for."""
    if value.isascii():
        return value
    position, char = next((i, c) for i, c in enumerate(value, 1) if not c.isascii())
    problem = (
        f"character {position} of {value!r} is {char!r} "
        f"(U+{ord(char):04X} {unicodedata.name(char, 'unnamed')}); identifiers are "
        "ASCII only"
    )
    folded = unicodedata.normalize("NFKC", char)
    if folded != char and folded.isascii():
        problem += (
            f": it is the full-width form of {folded!r}, typed with a full-width "
            "input method"
        )
    raise invalid(field, problem)


def is_identity_name(name: str) -> bool:
    """Whether ``name`` may be the name of an identity (``kind:name``, a certificate's
    common name, :func:`certseal.rpc.check_identity`): not empty, printable, no white
    space. Unlike the identifiers below it may be any script (``app:政务钱包``)."""
    return bool(name) and all(c.isprintable() and not c.isspace() for c in name)


#: a counter clerk's account name: ASCII, since it travels in gRPC metadata
#: (``x-certseal-clerk``), which carries printable ASCII only
_ACCOUNT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}", re.ASCII)


def is_account_name(text: str) -> bool:
    """Whether ``text`` is a counter clerk's account name: 1 to 64 ASCII letters,
    digits and ``. _ @ -``, a letter or digit first (the console's accounts, the
    counter an authorisation is made out to, the clerk a redemption names)."""
    return bool(_ACCOUNT_NAME.fullmatch(text))


# GB 32100-2015: 31 characters (no I, O, S, V, Z), weights 3^i mod 31 for positions 1..17.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_RE = re.compile(
    r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}", re.ASCII
)


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a code."""
    total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(code: str, field: str = "department_code") -> str:
    """Return ``code`` if it is a well-formed unified social credit code (GB 32100-2015:
    18 ASCII characters, check character last), else INVALID_ARGUMENT (``field``)."""
    require_ascii(code, field)
    if len(code) != 18:
        prefix, colon, rest = code.rpartition(":")
        hint = (
            f"; a department is named by its code alone: {rest!r}, without {prefix + colon!r}"
            if colon and len(rest) == 18
            else ""
        )
        raise invalid(field, f"must be 18 characters, got {len(code)} ({code!r}){hint}")
    if not _USCC_RE.fullmatch(code):
        raise invalid(
            field,
            f"{code!r} is not a unified social credit code: characters 1-2 and 9-18 "
            "must be from 0-9A-Z without I, O, S, V, Z and characters 3-8 digits",
        )
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        raise invalid(
            field, f"check character of {code!r} is {code[17]!r}, expected {expected!r}"
        )
    return code


def make_uscc(first17: str) -> str:
    """Complete 17 characters into an 18-character code (for tests and dev data)."""
    require_ascii(first17, "code")
    code = first17 + "0"
    if len(first17) != 17 or not _USCC_RE.fullmatch(code):
        raise invalid("code", f"{first17!r} is not the first 17 characters of a code")
    return first17 + uscc_check_char(first17)


_TYPE_CODE_RE = re.compile(r"[0-9A-Z]{18}[0-9]{3}", re.ASCII)


def validate_type_code(code: str, field: str = "type_code") -> str:
    """A licence type code: the defining authority's 18-character code + 3 digits, all
    ASCII; else INVALID_ARGUMENT (``field``)."""
    require_ascii(code, field)
    if not _TYPE_CODE_RE.fullmatch(code):
        raise invalid(
            field,
            f"{code!r} is not a licence type code: expected 21 characters, an "
            "18-character unified social credit code followed by 3 digits",
        )
    validate_uscc(code[:18], field)
    return code


# ISO/IEC 7064 MOD 37,36 (hybrid system) over 0-9A-Z valued 0..35.
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ALNUM_VALUE = {c: i for i, c in enumerate(_ALNUM)}


def mod37_36_check_char(data: str) -> str:
    """The ISO/IEC 7064 MOD 37,36 check character of ``data`` (characters 0-9A-Z)."""
    p = 36
    for c in data:
        s = (p + _ALNUM_VALUE[c]) % 36 or 36
        p = (s * 2) % 37
    return _ALNUM[(37 - p) % 36]


LICENCE_OID_PREFIX = "1.2.156.3005.2."
_PART_RE = re.compile(r"[0-9A-Z]+", re.ASCII)


@dataclass(frozen=True, slots=True)
class LicenceId:
    """A parsed GB/T 36904 licence identifier."""

    type_code: str
    authority_code: str
    serial: str
    version: int

    @property
    def check_char(self) -> str:
        """The check character this identifier must carry."""
        return mod37_36_check_char(
            f"{self.type_code}{self.authority_code}{self.serial}{self.version:03d}"
        )

    @property
    def lineage(self) -> str:
        """The identifier without version and check: shared by all versions."""
        return (
            f"{LICENCE_OID_PREFIX}{self.type_code}.{self.authority_code}.{self.serial}"
        )

    def __str__(self) -> str:
        return f"{self.lineage}.{self.version:03d}.{self.check_char}"

    def next_version(self) -> LicenceId:
        """The identifier of the next version of this licence (renewal, amendment)."""
        if self.version >= 999:
            raise CertsealError(
                ErrorKind.FAILED_PRECONDITION, f"{self} is at the last version (999)"
            )
        return LicenceId(
            self.type_code, self.authority_code, self.serial, self.version + 1
        )


class CheckCharacterError(CertsealError):
    """A well-formed identifier whose check character is wrong."""

    def __init__(self, parsed: LicenceId, found: str, field: str):
        super().__init__(
            ErrorKind.INVALID_ARGUMENT,
            f"check character is {found!r}, expected {parsed.check_char!r}",
            field=field,
        )
        self.parsed = parsed
        self.found = found


def parse_licence_id(text: str, field: str = "identifier") -> LicenceId:
    """Parse and check a licence identifier.

    Raises :class:`CheckCharacterError` when only the check character is wrong, and a plain
    INVALID_ARGUMENT :class:`CertsealError` when the identifier is malformed (first of
    all when it is not ASCII: :func:`require_ascii`).
    """
    require_ascii(text, field)
    if not text.startswith(LICENCE_OID_PREFIX):
        raise invalid(field, f"must start with {LICENCE_OID_PREFIX!r}")
    parts = text[len(LICENCE_OID_PREFIX) :].split(".")
    if len(parts) != 5:
        raise invalid(
            field,
            "expected <type code>.<authority code>.<serial>.<version>.<check> after "
            f"{LICENCE_OID_PREFIX!r}, got {len(parts)} parts",
        )
    type_code, authority, serial, version, check = parts
    if not _TYPE_CODE_RE.fullmatch(type_code):
        raise invalid(field, f"type code {type_code!r} must be 21 characters [0-9A-Z]")
    for name, value in (("authority code", authority), ("serial", serial)):
        if not _PART_RE.fullmatch(value):
            raise invalid(field, f"{name} {value!r} must be non-empty [0-9A-Z]")
    if not re.fullmatch(r"[0-9]{3}", version, re.ASCII):
        raise invalid(field, f"version {version!r} must be 3 digits")
    if not re.fullmatch(r"[0-9A-Z]", check, re.ASCII):
        raise invalid(field, f"check {check!r} must be one character [0-9A-Z]")
    parsed = LicenceId(type_code, authority, serial, int(version))
    if parsed.check_char != check:
        raise CheckCharacterError(parsed, check, field)
    return parsed


def mint_serial(length: int = 16) -> str:
    """A fresh random serial of uppercase alphanumerics (about 82 bits for 16)."""
    value = secrets.randbits(length * 6)  # 64 >= 36: a little extra, then reduced
    out = []
    for _ in range(length):
        value, digit = divmod(value, 36)
        out.append(_ALNUM[digit])
    return "".join(out)


_ID_TYPE_RE = re.compile(r"[0-9A-Z]{1,8}", re.ASCII)
_ID_NUMBER_RE = re.compile(r"[0-9A-Za-z\-]{1,64}", re.ASCII)


def validate_identity_document(
    id_type: str, id_number: str, field: str = "holder"
) -> tuple[str, str]:
    """A holder's identity document as (type, number upper-cased), else INVALID_ARGUMENT
    naming ``{field}.id_type`` or ``{field}.id_number``.

    The type is 1-8 characters 0-9A-Z (``111`` is the resident identity card), the
    number 1-64 characters 0-9A-Za-z and ``-``, both ASCII only; a resident identity
    card number is checked per GB 11643 (:func:`validate_resident_id`).
    """
    require_ascii(id_type, f"{field}.id_type")
    if not _ID_TYPE_RE.fullmatch(id_type):
        raise invalid(f"{field}.id_type", "must be 1-8 characters [0-9A-Z], e.g. 111")
    require_ascii(id_number, f"{field}.id_number")
    if not _ID_NUMBER_RE.fullmatch(id_number):
        raise invalid(f"{field}.id_number", "must be 1-64 characters [0-9A-Za-z-]")
    if id_type == RESIDENT_ID_TYPE:
        return id_type, validate_resident_id(id_number, f"{field}.id_number")
    return id_type, id_number.upper()


# GB 11643-1999: the citizen identification number of the resident identity card.
RESIDENT_ID_TYPE = "111"
"""The holder identity document type of the resident identity card (居民身份证)."""

_RESIDENT_ID_RE = re.compile(r"[0-9]{17}[0-9X]", re.ASCII)
_RESIDENT_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))


def resident_id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character (GB 11643-1999 section 7) of 17 digits:
    ``0``-``9`` or ``X`` for ten."""
    total = sum(int(c) * w for c, w in zip(first17, _RESIDENT_ID_WEIGHTS, strict=True))
    return "0123456789X"[(12 - total % 11) % 11]


def validate_resident_id(number: str, field: str = "holder.id_number") -> str:
    """Return ``number`` (upper-cased) when it is a citizen identification number of
    GB 11643-1999, else INVALID_ARGUMENT (``field``) saying what is wrong.

    18 ASCII characters: a 6-digit address code, the birth date as YYYYMMDD (a real
    calendar date, year 1800 or later), a 3-digit sequence code and the ISO 7064
    MOD 11-2 check character (a digit or ``X``; a lower-case ``x`` is taken as ``X``).
    """
    require_ascii(number, field)
    number = number.upper()
    if len(number) != 18:
        raise invalid(
            field,
            f"a resident identity card number has 18 characters (GB 11643), "
            f"got {len(number)}",
        )
    if not _RESIDENT_ID_RE.fullmatch(number):
        raise invalid(
            field,
            "a resident identity card number is 17 digits and a check character "
            "0-9 or X (GB 11643)",
        )
    birth = number[6:14]
    try:
        born = dt.date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
    except ValueError:
        born = None
    if born is None or born.year < 1800:
        raise invalid(
            field,
            f"characters 7-14 ({birth}) are not a birth date YYYYMMDD (GB 11643)",
        )
    expected = resident_id_check_char(number[:17])
    if number[17] != expected:
        raise invalid(
            field,
            f"check character is {number[17]!r}, expected {expected!r} "
            "(GB 11643, ISO 7064 MOD 11-2): a digit is mistyped",
        )
    return number


def make_resident_id(first17: str) -> str:
    """Complete 17 digits into a resident identity card number (tests and dev data)."""
    if not (len(first17) == 17 and _RESIDENT_ID_RE.fullmatch(first17 + "0")):
        raise invalid("id_number", f"{first17!r} is not 17 digits")
    return first17 + resident_id_check_char(first17)


def random_resident_id() -> str:
    """A random, well-formed resident identity card number (tests and dev data): a
    random address code, a birth date between 1940 and 2004 and sequence code."""
    born = dt.date(1940, 1, 1) + dt.timedelta(days=secrets.randbelow(65 * 365))
    return make_resident_id(
        f"{secrets.randbelow(10**6):06d}{born:%Y%m%d}{secrets.randbelow(1000):03d}"
    )
