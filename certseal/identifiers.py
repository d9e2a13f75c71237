"""Identifiers: unified social credit codes (GB 32100) and licence identifiers (GB/T 36904).

Pure functions; no I/O. Every parse error is a :class:`CertsealError` naming the field.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from certseal.errors import CertsealError, ErrorKind, invalid

# GB 32100-2015: 31 characters (no I, O, S, V, Z), weights 3^i mod 31 for positions 1..17.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_RE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}")


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a code."""
    total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(code: str, field: str = "department_code") -> str:
    """Return ``code`` if it is a well-formed unified social credit code, else raise."""
    if len(code) != 18:
        raise invalid(field, f"must be 18 characters, got {len(code)} ({code!r})")
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
    code = first17 + "0"
    if len(first17) != 17 or not _USCC_RE.fullmatch(code):
        raise invalid("code", f"{first17!r} is not the first 17 characters of a code")
    return first17 + uscc_check_char(first17)


_TYPE_CODE_RE = re.compile(r"[0-9A-Z]{18}\d{3}")


def validate_type_code(code: str, field: str = "type_code") -> str:
    """A licence type code: the defining authority's 18-character code + 3 digits."""
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
_PART_RE = re.compile(r"[0-9A-Z]+")


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
    INVALID_ARGUMENT :class:`CertsealError` when the identifier is malformed.
    """
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
    if not re.fullmatch(r"\d{3}", version):
        raise invalid(field, f"version {version!r} must be 3 digits")
    if not re.fullmatch(r"[0-9A-Z]", check):
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
