"""Console accounts: who may sign in, what each may open, when a session ends.

Pure rules (no I/O; time is a parameter): an account's shape (its name, department and
role), what a role may open, the password policy and hashing (Argon2id through
argon2-cffi: CPU-heavy, so the service runs it off the event loop), session tokens and
when a session expires (idle and absolute), and when failed logins throttle further
attempts.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import argon2

from certseal.errors import CertsealError, ErrorKind, invalid
from certseal.identifiers import is_account_name, validate_uscc
from certseal.jsontext import json_kind
from certseal.personal import check_published

MIN_PASSWORD = 12
#: Argon2 hashes any length, but a login body must stay small and the hash bounded
MAX_PASSWORD = 256
_MAX_CERTIFICATE_NAME = 200


class Role(enum.Enum):
    """What an account may open: a clerk the counter page, an operator everything."""

    CLERK = "clerk"
    OPERATOR = "operator"

    def may_open(self, needed: Role) -> bool:
        """An operator may open whatever a clerk may; a clerk only the counter."""
        return self is Role.OPERATOR or needed is Role.CLERK


@dataclass(frozen=True, slots=True)
class Account:
    """A console account as the operator manages it (its password hash stays in the
    store)."""

    name: str
    #: the department (unified social credit code) whose counter this account works at
    department: str
    role: Role
    disabled: bool = False
    has_password: bool = False
    #: the common name of a browser client certificate that signs in as this account
    certificate: str = ""
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    @property
    def counter(self) -> str:
        """The counter identity its verifications are attributed to: ``dept:<code>``."""
        return f"dept:{self.department}"

    @property
    def principal(self) -> str:
        """How the audit trail names this account: ``console:<name>``."""
        return f"console:{self.name}"

    def to_json(self) -> dict[str, object]:
        """The admin API's view (never the hash)."""
        return {
            "name": self.name,
            "department": self.department,
            "role": self.role.value,
            "disabled": self.disabled,
            "password": self.has_password,
            "certificate": self.certificate,
            "counter": self.counter,
        }


def required_text(value: object, field: str, missing: str) -> str:
    """``value`` when it is text that is not empty; else INVALID_ARGUMENT on
    ``field``: ``missing`` for none, and for another JSON value what it is (a
    number is not taken for a missing name)."""
    if value is not None and not isinstance(value, str):
        raise invalid(field, f"must be text, not {json_kind(value)}")
    if not value:
        raise invalid(field, missing)
    return value


def account_name(value: object, field: str = "name") -> str:
    """A valid account name, or INVALID_ARGUMENT naming what is wrong."""
    value = required_text(value, field, "is required: the account name")
    if not is_account_name(value):
        raise invalid(
            field,
            "use 1 to 64 ASCII letters, digits and . _ @ - (starting with a letter or "
            "digit)",
        )
    return value


def new_account_name(value: object, field: str = "name") -> str:
    """:func:`account_name` for a new account, which also holds no phone or identity
    number (a clerk's name is in every usage record of their verifications:
    :func:`certseal.personal.check_published`). Accounts made before keep theirs,
    to be disabled or renamed."""
    return check_published(field, account_name(value, field))


def role_of(value: object, field: str = "role") -> Role:
    """``clerk`` or ``operator``."""
    value = required_text(value, field, "is required: clerk or operator")
    try:
        return Role(value)
    except ValueError:
        raise invalid(field, f"{value!r} is not a role: clerk or operator") from None


def department_of(value: object, field: str = "department") -> str:
    """A department's unified social credit code (GB 32100)."""
    required = "is required: the department's unified social credit code"
    return validate_uscc(required_text(value, field, required), field)


def certificate_name(value: object, field: str = "certificate") -> str:
    """A client certificate common name ('' for none)."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise invalid(field, f"must be text, not {json_kind(value)}")
    if len(value) > _MAX_CERTIFICATE_NAME or not value.isprintable():
        raise invalid(
            field,
            f"a certificate common name is printable text of at most "
            f"{_MAX_CERTIFICATE_NAME} characters",
        )
    return value


def new_password(value: object, field: str = "password") -> str:
    """A password the policy accepts: 12 to 256 characters."""
    value = required_text(value, field, "is required")
    if len(value) < MIN_PASSWORD:
        raise invalid(field, f"use at least {MIN_PASSWORD} characters")
    if len(value) > MAX_PASSWORD:
        raise invalid(field, f"use at most {MAX_PASSWORD} characters")
    if "\x00" in value:
        raise invalid(field, "contains a NUL character")
    return value


def hash_password(password: str) -> str:
    """The Argon2id hash (PHC string) of ``password``: about 60 ms of CPU, 64 MiB."""
    return argon2.PasswordHasher().hash(password)


def password_matches(stored_hash: str, password: str) -> bool:
    """Whether ``password`` is the one hashed in ``stored_hash`` (constant work)."""
    try:
        return argon2.PasswordHasher().verify(stored_hash, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


# -- sessions --------------------------------------------------------------------------


def new_session_token() -> str:
    """A session token: 256 random bits, URL-safe (the cookie's value)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    """What the store keeps of a token: SHA-256, so a database reader cannot sign in.

    ``token`` is the cookie as sent, which may hold bytes that are not UTF-8 (aiohttp
    keeps them as lone surrogates): they are hashed as the bytes they were, so such a
    cookie is an unknown session (401), not a 500 (atk17c)."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """How long a session lasts: ``idle`` since the last request, ``absolute`` since
    sign-in."""

    idle: dt.timedelta
    absolute: dt.timedelta

    def expires_at(
        self, created_at: dt.datetime, last_seen_at: dt.datetime
    ) -> dt.datetime:
        """The instant the session ends, unless a request comes before."""
        return min(last_seen_at + self.idle, created_at + self.absolute)

    def expired(
        self, created_at: dt.datetime, last_seen_at: dt.datetime, now: dt.datetime
    ) -> str:
        """Why the session has ended at ``now`` ('' while it is alive).

        Ended from the expiry instant on, as codes are.
        """
        if now >= created_at + self.absolute:
            return (
                f"the session ended {_minutes(self.absolute)} after sign-in: "
                "sign in again"
            )
        if now >= last_seen_at + self.idle:
            return (
                f"the session ended after {_minutes(self.idle)} without use: "
                "sign in again"
            )
        return ""


def _minutes(span: dt.timedelta) -> str:
    minutes = span.total_seconds() / 60
    return f"{minutes:g} minutes" if minutes != 1 else "1 minute"


# -- throttling failed logins ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """At most ``max_failures`` failed logins within ``window`` per subject (an account
    or a client address); then no attempt is tried until the oldest falls out."""

    max_failures: int
    window: dt.timedelta

    def retry_after(
        self, failures: Iterable[dt.datetime], now: dt.datetime
    ) -> dt.timedelta | None:
        """How long until another attempt is tried (None: it is tried now).

        A failure counts from its instant until ``window`` later (not at that instant);
        one stamped after ``now`` (another replica's clock) does not count.
        """
        recent = sorted(f for f in failures if dt.timedelta(0) <= now - f < self.window)
        if self.max_failures <= 0 or len(recent) < self.max_failures:
            return None
        return recent[-self.max_failures] + self.window - now


class Throttled(CertsealError):
    """RESOURCE_EXHAUSTED: too many failed logins for an account or an address."""

    def __init__(self, retry_after: dt.timedelta, subject: str):
        self.retry_after_s = max(1, int(-(-retry_after.total_seconds() // 1)))
        super().__init__(
            ErrorKind.RESOURCE_EXHAUSTED,
            f"too many failed sign-ins from this {subject}: try again in "
            f"{self.retry_after_s} s",
            field="retry_after",
        )
