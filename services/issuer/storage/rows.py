"""The issuer's rows as domain values, and the stored (JSON) form of licence fields."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec

from certseal.audit import AuditEntry
from certseal.events import OutboxRecord
from services.issuer.domain import (
    Department,
    FieldKind,
    FieldSpec,
    FieldValue,
    LicenceRecord,
    LicenceType,
    Operation,
    SigningKey,
    Status,
)

#: what a change writes beside its rows, in its transaction: (outbox rows, audit rows)
Records = tuple[Sequence[OutboxRecord], Sequence[AuditEntry]]


def utc(value: dt.datetime | None) -> Any:
    """A stored timestamptz as the aware UTC datetime that was written.

    asyncpg writes an aware ``datetime.max`` (9999-12-31T23:59:59.999999Z, the latest
    time a request may name) as PostgreSQL's ``infinity`` and reads ``infinity`` back
    as a NAIVE ``datetime.max``; every other value comes back aware.
    """
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


LICENCE_COLUMNS = """identifier, lineage, version, type_code, issuer_code, holder_ref,
    holder_display_name, private_data, clear_fields, valid_from, valid_until, status,
    status_reason, last_operation, issued_at, updated_at, replaces, superseded_by,
    transferred_to, kid, lineage_version"""


class AlreadyStored(Exception):
    """Another writer stored the same unique value first (a licence identifier, an
    idempotency key, a kid, the one active presentation key); nothing was written."""


class NotListed(Exception):
    """Licence types that no longer list the issuing department, read under a key
    share lock as new licences were written (their issuers changed since the type
    was read): nothing was written."""

    def __init__(self, type_codes: frozenset[str]):
        super().__init__(", ".join(sorted(type_codes)))
        self.type_codes = type_codes


@dataclass(frozen=True, slots=True)
class NewLicence:
    """Everything one new licence version writes."""

    record: LicenceRecord
    private_data: bytes  # holder and personal fields, encrypted
    clear_fields: dict[str, Any]  # as :func:`encode_fields` gives them
    code: str  # the signed static licence code


@dataclass(frozen=True, slots=True)
class StoredLicence:
    """One stored licence version as read, before its licence type types the fields.

    ``record.fields`` is empty: :meth:`typed` fills it from ``clear_fields``.
    """

    record: LicenceRecord
    clear_fields: dict[str, Any]
    private_data: bytes  # holder and personal fields, encrypted
    code: str

    def typed(self, licence_type: LicenceType) -> LicenceRecord:
        """A fresh record with the clear fields typed by ``licence_type`` (holder not
        decrypted)."""
        return dataclasses.replace(
            self.record, fields=decode_fields(licence_type, self.clear_fields)
        )


def encode_fields(values: dict[str, FieldValue]) -> dict[str, Any]:
    """Field values as JSON (dates as ISO strings)."""
    return {
        k: v.isoformat() if isinstance(v, dt.date) else v for k, v in values.items()
    }


def decode_fields(
    licence_type: LicenceType, data: dict[str, Any]
) -> dict[str, FieldValue]:
    """Field values from JSON, typed by the schema."""
    out: dict[str, FieldValue] = {}
    for name, value in data.items():
        spec = licence_type.spec(name)
        if spec is not None and spec.kind is FieldKind.DATE and isinstance(value, str):
            out[name] = dt.date.fromisoformat(value)
        else:
            out[name] = value
    return out


#: msgspec's encoder: the same compact UTF-8 JSON as ``json.dumps(value,
#: ensure_ascii=False, separators=(",", ":"))`` for the str/list/dict values kept
#: here, about 20 times cheaper (6.5 -> 0.33 us for a holder and three fields;
#: it was 1.9 % of the serving process's samples in IssueLicences of 500)
_ENCODE = msgspec.json.Encoder().encode


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON bytes (RFC 8259; for encrypted personal data, read back
    with ``json.loads``). TypeError for a value JSON cannot hold."""
    return _ENCODE(value)


def department(row: asyncpg.Record) -> Department:
    """A department from its row."""
    return Department(row["code"], row["name"], tuple(row["roles"]), row["created_at"])


def licence_type(row: asyncpg.Record) -> LicenceType:
    """A licence type from its row."""
    return LicenceType(
        type_code=row["type_code"],
        name=row["name"],
        fields=tuple(FieldSpec.from_json(f) for f in row["fields"]),
        default_validity_days=row["default_validity_days"],
        issuer_codes=frozenset(row["issuer_codes"]),
    )


def signing_key(row: asyncpg.Record) -> SigningKey:
    """A signing key from its row."""
    return SigningKey(
        kid=row["kid"],
        department_code=row["department_code"],
        suite=row["suite"],
        status=row["status"],
        public_key=bytes(row["public_key"]),
        wrapped_private_key=bytes(row["wrapped_private_key"]),
        not_before=utc(row["not_before"]),
        not_after=utc(row["not_after"]),
        created_at=utc(row["created_at"]),
        retired_at=utc(row["retired_at"]),
        revoked_at=utc(row["revoked_at"]),
        revocation_reason=row["revocation_reason"],
        key_version=row["key_version"],
        presentation=row["presentation"],
    )


def stored_licence(row: asyncpg.Record) -> StoredLicence:
    """A licence version from its row (``LICENCE_COLUMNS`` and ``code``)."""
    return StoredLicence(
        record=LicenceRecord(
            identifier=row["identifier"],
            lineage=row["lineage"],
            version=row["version"],
            type_code=row["type_code"],
            issuer_code=row["issuer_code"],
            holder_ref=row["holder_ref"],
            holder_display_name=row["holder_display_name"],
            fields={},
            valid_from=utc(row["valid_from"]),
            valid_until=utc(row["valid_until"]),
            status=Status(row["status"]),
            status_reason=row["status_reason"],
            last_operation=Operation(row["last_operation"]),
            issued_at=utc(row["issued_at"]),
            updated_at=utc(row["updated_at"]),
            replaces=row["replaces"],
            superseded_by=row["superseded_by"],
            kid=row["kid"],
            lineage_version=row["lineage_version"],
            transferred_to=row["transferred_to"],
        ),
        clear_fields=row["clear_fields"],
        private_data=bytes(row["private_data"]),
        code=row["code"],
    )
