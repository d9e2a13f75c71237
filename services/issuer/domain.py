"""Issuer domain: licence types and their field schemas, holders, statuses and the
operations that move between them (the claims of the codes: :mod:`.claims`). Pure:
no I/O."""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from certseal import identifiers as ids
from certseal.errors import invalid, precondition
from certseal.identifiers import validate_type_code, validate_uscc
from certseal.statuses import status_label
from certseal.text import check_display_name, with_article
from certseal.timestamps import shifted
from services.issuer.limits import MAX_TYPE_VALIDITY_DAYS

MAX_TEXT = 1000
MAX_FIELDS = 100
#: what a department may be onboarded as
ROLES = ("issuer", "counter", "seal_owner", "integrator")


class Status(enum.Enum):
    """Licence status; values are the national status codes."""

    VALID = "01"
    SUSPENDED = "02"
    REVOKED = "03"
    CANCELLED = "04"
    EXPIRED = "05"
    TRANSFERRED_OUT = "06"
    REVOKED_AS_SANCTION = "07"
    OTHER = "99"

    @property
    def label(self) -> str:
        """The status as every server and command says it:
        ``revoked as a sanction (07)`` (:func:`certseal.statuses.status_label`)."""
        return status_label(self.value)


class Operation(enum.Enum):
    """Operation; values are the national operation codes."""

    ISSUE = "01"
    RENEW = "02"
    SUSPEND = "03"
    EXPIRE = "04"
    CANCEL_REVOKE = "05"
    UNSUSPEND = "06"
    TRANSFER_OUT = "07"
    TRANSFER_IN = "08"
    AMEND = "09"


class Action(enum.Enum):
    """What a department (or the expiry sweep) asks to do to an existing licence."""

    RENEW = "renew"
    AMEND = "amend"
    SUSPEND = "suspend"
    UNSUSPEND = "unsuspend"
    REVOKE = "revoke"
    REVOKE_AS_SANCTION = "revoke as sanction"
    CANCEL = "cancel"
    TRANSFER = "transfer"
    EXPIRE = "expire"


@dataclass(frozen=True, slots=True)
class Transition:
    """From which statuses an action is allowed, and what it leads to."""

    allowed_from: frozenset[Status]
    to: Status  # for RENEW/AMEND: the status of the new version
    operation: Operation
    event: str


_LIVE = frozenset({Status.VALID, Status.SUSPENDED})
TRANSITIONS: dict[Action, Transition] = {
    Action.RENEW: Transition(
        frozenset({Status.VALID, Status.EXPIRED}),
        Status.VALID,
        Operation.RENEW,
        "licence.renewed",
    ),
    Action.AMEND: Transition(
        frozenset({Status.VALID}), Status.VALID, Operation.AMEND, "licence.amended"
    ),
    Action.SUSPEND: Transition(
        frozenset({Status.VALID}),
        Status.SUSPENDED,
        Operation.SUSPEND,
        "licence.suspended",
    ),
    Action.UNSUSPEND: Transition(
        frozenset({Status.SUSPENDED}),
        Status.VALID,
        Operation.UNSUSPEND,
        "licence.unsuspended",
    ),
    Action.REVOKE: Transition(
        _LIVE, Status.REVOKED, Operation.CANCEL_REVOKE, "licence.revoked"
    ),
    Action.REVOKE_AS_SANCTION: Transition(
        _LIVE, Status.REVOKED_AS_SANCTION, Operation.CANCEL_REVOKE, "licence.revoked"
    ),
    Action.CANCEL: Transition(
        frozenset({Status.VALID, Status.SUSPENDED, Status.EXPIRED}),
        Status.CANCELLED,
        Operation.CANCEL_REVOKE,
        "licence.cancelled",
    ),
    Action.TRANSFER: Transition(
        frozenset({Status.VALID}),
        Status.TRANSFERRED_OUT,
        Operation.TRANSFER_OUT,
        "licence.transferred",
    ),
    Action.EXPIRE: Transition(
        _LIVE, Status.EXPIRED, Operation.EXPIRE, "licence.expired"
    ),
}


def check_transition(
    action: Action, current: Status, *, superseded_by: str | None
) -> Transition:
    """The transition for ``action`` from ``current``, or FAILED_PRECONDITION naming it."""
    if superseded_by:
        raise precondition(
            f"cannot {action.value}: this version was superseded by {superseded_by}; "
            "use the current version",
            field="identifier",
        )
    transition = TRANSITIONS[action]
    if current not in transition.allowed_from:
        allowed = ", ".join(
            s.label for s in sorted(transition.allowed_from, key=lambda s: s.value)
        )
        raise precondition(
            f"cannot {action.value} a licence whose status is {current.label}; "
            f"allowed from: {allowed}",
            field="identifier",
        )
    return transition


class FieldKind(enum.Enum):
    """The type of a licence field."""

    STRING = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATE = "date"


_FIELD_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a licence type's schema. At most one of ``public`` (printed in every
    code: every counter sees it), ``restricted`` (never in a code: the verifier shows it
    to counters whose field rights grant it) and ``personal`` (encrypted; never in codes
    or events); with none the value never leaves the issuer (docs/codes.md)."""

    name: str
    kind: FieldKind
    required: bool = False
    public: bool = False
    personal: bool = False
    title: str = ""
    restricted: bool = False

    def to_json(self) -> dict[str, Any]:
        """The spec as stored."""
        return {f.name: getattr(self, f.name) for f in fields(self)} | {
            "kind": self.kind.value
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FieldSpec:
        """A spec from its stored form (stored before ``title`` or ``restricted``
        existed: untitled, not restricted)."""
        get = data.get
        return cls(data["name"], FieldKind(data["kind"]), data["required"],
                   data["public"], data["personal"], get("title", ""),
                   get("restricted", False))  # fmt: skip


@dataclass(frozen=True, slots=True)
class LicenceType:
    """A catalogue entry: what a licence of this type contains and who may issue it."""

    type_code: str
    name: str
    fields: tuple[FieldSpec, ...]
    default_validity_days: int
    issuer_codes: frozenset[str]
    _by_name: dict[str, FieldSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:  # the first spec of a name, as a scan found
        object.__setattr__(self, "_by_name", {f.name: f for f in self.fields[::-1]})

    def spec(self, name: str) -> FieldSpec | None:
        """The spec of field ``name`` (a lookup: it is asked per field per licence)."""
        return self._by_name.get(name)


def first_codes(codes: Iterable[str], shown: int) -> str:
    """Codes as a message names them: the first ``shown`` in order, and how many
    more (``A, B, C and 4 more``)."""
    ordered = sorted(codes)
    more = f" and {len(ordered) - shown} more" if len(ordered) > shown else ""
    return ", ".join(ordered[:shown]) + more


def validate_licence_type(
    type_code: str,
    name: str,
    specs: list[FieldSpec],
    default_validity_days: int,
    issuer_codes: list[str],
) -> LicenceType:
    """Check a licence type as registered by the operator."""
    validate_type_code(type_code)
    validate_text("name", name, required=True, limit=200)
    check_display_name(name, "name")  # shown at counters: no invisible characters
    if not 1 <= default_validity_days <= MAX_TYPE_VALIDITY_DAYS:
        raise invalid(
            "default_validity_days",
            f"must be between 1 and {MAX_TYPE_VALIDITY_DAYS} days",
        )
    if len(specs) > MAX_FIELDS:
        raise invalid("fields", f"at most {MAX_FIELDS} fields")
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        where = f"fields[{i}]"
        if not _FIELD_NAME_RE.fullmatch(spec.name):
            raise invalid(
                f"{where}.name", f"{spec.name!r} must match [a-z][a-z0-9_]{{0,63}}"
            )
        if spec.name in seen:
            raise invalid(f"{where}.name", f"field {spec.name!r} is declared twice")
        if spec.title:
            validate_text(f"{where}.title", spec.title, required=False, limit=200)
            check_display_name(spec.title, f"{where}.title")
        both = [v for v in ("public", "restricted", "personal") if getattr(spec, v)]
        if len(both) > 1:  # personal data never in codes or events in clear
            raise invalid(
                where, f"field {spec.name!r} cannot be both {' and '.join(both[:2])}"
            )
        seen.add(spec.name)
    return LicenceType(
        type_code,
        name,
        tuple(specs),
        default_validity_days,
        validate_issuer_codes(issuer_codes),
    )


#: at most this many departments issue one licence type (a province's cities and
#: districts: about 150 in Guangdong; the bound keeps one request's checks small)
MAX_ISSUERS = 500


def validate_issuer_codes(issuer_codes: Sequence[str]) -> frozenset[str]:
    """The departments that may issue a licence type, once each: at least one, at
    most :data:`MAX_ISSUERS`, each a unified social credit code (GB 32100).
    INVALID_ARGUMENT on ``issuer_codes`` (``issuer_codes[i]`` for a bad code)."""
    if not issuer_codes:
        raise invalid("issuer_codes", "name at least one department that may issue it")
    if len(issuer_codes) > MAX_ISSUERS:
        raise invalid("issuer_codes", f"at most {MAX_ISSUERS} departments")
    for i, code in enumerate(issuer_codes):
        validate_uscc(code, f"issuer_codes[{i}]")
    return frozenset(issuer_codes)


FieldValue = str | int | bool | dt.date
_KINDS = {FieldKind.STRING: str, FieldKind.INTEGER: int, FieldKind.BOOLEAN: bool,
          FieldKind.DATE: dt.date}  # fmt: skip


def validate_fields(
    licence_type: LicenceType, values: dict[str, FieldValue], *, partial: bool = False
) -> dict[str, FieldValue]:
    """Check field values against the type's schema; ``partial`` skips required checks."""
    for name, value in values.items():
        spec = licence_type.spec(name)
        where = f"fields.{name}"
        if spec is None:
            raise invalid(
                where, f"is not a field of licence type {licence_type.type_code}"
            )
        if type(value) is not _KINDS[spec.kind]:
            got = {v: k for k, v in _KINDS.items()}.get(type(value), FieldKind.STRING)
            must, was = (with_article(kind.value) for kind in (spec.kind, got))
            raise invalid(where, f"must be {must}, got {was}")
        if isinstance(value, str):
            validate_text(where, value, required=spec.required, limit=MAX_TEXT)
    if not partial:
        for spec in licence_type.fields:
            if spec.required and spec.name not in values:
                raise invalid(f"fields.{spec.name}", "is required")
    return values


#: Unicode's general category Cc: exactly U+0000-U+001F and U+007F-U+009F (stable)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def validate_text(field_name: str, value: str, *, required: bool, limit: int) -> str:
    """Check a free-text value: presence, length, no control characters."""
    if required and not value.strip():
        raise invalid(field_name, "must not be empty")
    if len(value) > limit:
        raise invalid(field_name, f"is {len(value)} characters; the limit is {limit}")
    if _CONTROL.search(value):
        raise invalid(field_name, "must not contain control characters")
    return value


@dataclass(frozen=True, slots=True)
class Holder:
    """The licence holder (personal data: never in events or logs)."""

    name: str
    id_type: str
    id_number: str

    def __repr__(self) -> str:
        return "Holder(<personal data>)"


def validate_holder(name: str, id_type: str, id_number: str) -> Holder:
    """Check the holder's name and identity document (ASCII; type 111: GB 11643)."""
    validate_text("holder.name", name, required=True, limit=200)
    id_type, id_number = ids.validate_identity_document(id_type, id_number, "holder")
    return Holder(name.strip(), id_type, id_number)


def mask_name(name: str) -> str:
    """A display name that identifies nobody: 张三 → 张*, 欧阳娜娜 → 欧**娜, John Smith → J*** S****."""
    name = name.strip()
    if not name.isascii():
        if len(name) <= 2:
            return name[0] + "*" * (len(name) - 1)
        return name[0] + "*" * (len(name) - 2) + name[-1]
    return " ".join(w[0] + "*" * (len(w) - 1) for w in name.split())


@dataclass(frozen=True, slots=True)
class Validity:
    """A validity window [valid_from, valid_until)."""

    valid_from: dt.datetime
    valid_until: dt.datetime


def resolve_validity(
    licence_type: LicenceType,
    valid_from: dt.datetime | None,
    valid_until: dt.datetime | None,
    now: dt.datetime,
) -> Validity:
    """Defaults (now; plus the type's validity) and the end-after-start check."""
    start = valid_from or now
    default = dt.timedelta(days=licence_type.default_validity_days)
    end = valid_until or shifted(start, default, "valid_from")
    if end <= start:
        raise invalid(
            "valid_until",
            f"validity end {end.isoformat()} is not after its start {start.isoformat()}",
        )
    if end <= now:
        raise invalid("valid_until", f"validity end {end.isoformat()} is in the past")
    return Validity(start, end)


def split_fields(
    licence_type: LicenceType, values: dict[str, FieldValue]
) -> tuple[dict[str, FieldValue], dict[str, FieldValue]]:
    """(fields stored in clear, personal fields stored encrypted)."""
    personal = _where(licence_type, values, "personal")
    return {k: v for k, v in values.items() if k not in personal}, personal


def public_fields(
    licence_type: LicenceType, values: dict[str, FieldValue]
) -> dict[str, FieldValue]:
    """The fields every counter sees: the only ones printed in the static code."""
    return _where(licence_type, values, "public")


def restricted_fields(
    licence_type: LicenceType, values: dict[str, FieldValue]
) -> dict[str, FieldValue]:
    """Fields for the verifiers' index (shown per field right; never in a code)."""
    return _where(licence_type, values, "restricted")


def _where(
    licence_type: LicenceType, values: dict[str, FieldValue], visibility: str
) -> dict[str, FieldValue]:
    return {
        k: v for k, v in values.items() if getattr(_spec(licence_type, k), visibility)
    }


def _spec(licence_type: LicenceType, name: str) -> FieldSpec:
    # a stored field the schema no longer has is treated as personal
    return licence_type.spec(name) or FieldSpec(name, FieldKind.STRING, personal=True)


@dataclass
class LicenceRecord:
    """A licence version as the issuer keeps it (holder decrypted on demand)."""

    identifier: str
    lineage: str
    version: int
    type_code: str
    issuer_code: str
    holder_ref: str
    holder_display_name: str
    fields: dict[str, FieldValue]
    valid_from: dt.datetime
    valid_until: dt.datetime
    status: Status
    status_reason: str
    last_operation: Operation
    issued_at: dt.datetime
    updated_at: dt.datetime
    replaces: str | None
    superseded_by: str | None
    kid: str
    lineage_version: int
    transferred_to: str | None = None
    holder: Holder | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Department:
    """An onboarded department: its USCC ``code`` (GB 32100-2015) and its roles."""

    code: str
    name: str
    roles: tuple[str, ...]  # each one of ROLES
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class HolderAppGrant:
    """A holder app's (``app:<name>``) right to read one licence type, holder-bound."""

    app: str
    type_code: str
    granted_at: dt.datetime
    granted_by: str  # the operator


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A department's signing key, or the platform's presentation key (the private
    key stays wrapped under the KEK; ``wrapped_private_key`` is opaque here)."""

    kid: str  # 16 lowercase hex characters
    department_code: str
    suite: str  # a certseal.crypto.Suite value
    status: str  # active | retired | revoked
    public_key: bytes  # DER
    wrapped_private_key: bytes
    not_before: dt.datetime
    not_after: dt.datetime
    created_at: dt.datetime
    retired_at: dt.datetime | None
    revoked_at: dt.datetime | None
    revocation_reason: str
    key_version: int  # bumped by every status change
    presentation: bool

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid}, status={self.status})"
