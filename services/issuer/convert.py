"""Protobuf <-> domain for the Issuer and IssuerAdmin APIs
(``protos/certseal/v1/issuer.proto`` and ``licence.proto``).

``*_message`` functions give the proto view of a domain value; the others read a
request into what the service takes, raising INVALID_ARGUMENT (naming the field) for a
request whose shape is wrong.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from certseal.crypto import Suite, is_token_reference
from certseal.errors import CertsealError, invalid
from certseal.identifiers import validate_identity_document
from certseal.timestamps import request_time, ts
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from services.issuer import domain
from services.issuer.authorisation import Authorisation
from services.issuer.domain import (
    Action,
    Department,
    FieldKind,
    FieldSpec,
    FieldValue,
    HolderAppGrant,
    LicenceRecord,
    LicenceType,
    SigningKey,
    Status,
)
from services.issuer.events import proto_operation, proto_status
from services.issuer.service.directory import recorded_roles
from services.issuer.service.issuance import IssueInput
from services.issuer.service.republish import RepublishRun
from services.issuer.usage import UsageEntry, UsageKind

_FIELD_KINDS = {
    licence_pb2.FIELD_TYPE_STRING: FieldKind.STRING,
    licence_pb2.FIELD_TYPE_INTEGER: FieldKind.INTEGER,
    licence_pb2.FIELD_TYPE_BOOLEAN: FieldKind.BOOLEAN,
    licence_pb2.FIELD_TYPE_DATE: FieldKind.DATE,
}
_FIELD_TYPES = {v: k for k, v in _FIELD_KINDS.items()}
_ROLE_NAMES = {
    licence_pb2.DEPARTMENT_ROLE_ISSUER: "issuer",
    licence_pb2.DEPARTMENT_ROLE_COUNTER: "counter",
    licence_pb2.DEPARTMENT_ROLE_SEAL_OWNER: "seal_owner",
    licence_pb2.DEPARTMENT_ROLE_INTEGRATOR: "integrator",
}
_ROLE_ENUMS = {v: k for k, v in _ROLE_NAMES.items()}
_KEY_STATUS = {
    "active": licence_pb2.KEY_STATUS_ACTIVE,
    "retired": licence_pb2.KEY_STATUS_RETIRED,
    "revoked": licence_pb2.KEY_STATUS_REVOKED,
}
_REVOCATIONS = {
    pb.REVOCATION_KIND_REVOKE: Action.REVOKE,
    pb.REVOCATION_KIND_SANCTION: Action.REVOKE_AS_SANCTION,
}

# -- requests -> domain -----------------------------------------------------------


def required(value: str, field: str = "identifier") -> str:
    """``value``, or INVALID_ARGUMENT on ``field`` when it is blank."""
    if not value.strip():
        raise invalid(field, "is required")
    return value


def optional_time(message: Any, name: str) -> dt.datetime | None:
    """The datetime (UTC) of optional timestamp field ``name``; None when unset;
    INVALID_ARGUMENT on ``name`` outside a Timestamp's range."""
    return request_time(message, name)


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def field_values(values: Any, where: str = "fields") -> dict[str, FieldValue]:
    """Typed values from a proto map<string, FieldValue> (dates as YYYY-MM-DD)."""
    out: dict[str, FieldValue] = {}
    for name, value in values.items():
        kind = value.WhichOneof("value")
        if kind is None:
            raise invalid(f"{where}.{name}", "has no value")
        if kind == "date_value":
            try:
                # YYYY-MM-DD only: Python 3.11's fromisoformat also takes 20240101
                # and the week date 2024-W01-1 (atk16b F4)
                if not _DATE.fullmatch(value.date_value):
                    raise ValueError
                out[name] = dt.date.fromisoformat(value.date_value)
            except ValueError:
                raise invalid(
                    f"{where}.{name}",
                    f"{value.date_value!r} is not a date (YYYY-MM-DD)",
                ) from None
        else:
            out[name] = getattr(value, kind)
    return out


def issue_input(request: pb.IssueLicenceRequest, where: str = "") -> IssueInput:
    """An issuance request as the service takes it; ``where`` prefixes field names
    (``items[3].`` in a batch)."""
    if not request.type_code:
        raise invalid(f"{where}type_code", "is required")
    if not request.HasField("holder"):
        raise invalid(f"{where}holder", "is required")
    holder = domain.validate_holder(
        request.holder.name, request.holder.id_type, request.holder.id_number
    )
    if len(request.idempotency_key) > 128:
        raise invalid(f"{where}idempotency_key", "at most 128 characters")
    suite = Suite.parse(request.suite, f"{where}suite").value if request.suite else ""
    return IssueInput(
        type_code=request.type_code,
        holder=holder,
        fields=field_values(request.fields, f"{where}fields"),
        valid_from=optional_time(request, "valid_from"),
        valid_until=optional_time(request, "valid_until"),
        idempotency_key=request.idempotency_key,
        suite=suite,
    )


def holder_filter(
    request: pb.ListLicencesRequest
    | pb.GetLicenceRequest
    | pb.GetLicenceCodeRequest
    | pb.CreatePresentationCodeRequest
    | pb.ListLicenceUsageRequest
    | pb.GetLicenceDocumentRequest
    | pb.AuthoriseUseRequest
    | pb.RevokeAuthorisationRequest,
) -> tuple[str, str] | None:
    """The holder a request names, (id type, id number), if any: a listing's filter,
    the holder a holder app reads or acts for. The number is checked as an issuance checks it
    (GB 11643 for type 111; :func:`certseal.identifiers.validate_identity_document`):
    a listing by a number no licence can hold (a full-width digit, a wrong check
    character) was answered "no licences match", and a clerk told the citizen they
    hold none (trial48)."""
    if not request.HasField("holder"):
        return None
    if not request.holder.id_type or not request.holder.id_number:
        raise invalid("holder", "give id_type and id_number")
    return validate_identity_document(request.holder.id_type, request.holder.id_number)


def status_filter(value: int) -> Status | None:
    """The status a listing filters on (0: any)."""
    if not value:
        return None
    try:
        return Status(f"{value:02d}")
    except ValueError:
        raise invalid("status", f"unknown status {value}") from None


def is_ofd(value: int) -> bool:
    """Whether a GetLicenceDocument asks for the OFD form (0 and PDF: the PDF);
    INVALID_ARGUMENT on ``format`` for a number this version does not know, as for
    every other enum of a request, rather than a PDF the caller did not ask for."""
    if value not in (
        pb.DOCUMENT_FORMAT_UNSPECIFIED,
        pb.DOCUMENT_FORMAT_PDF,
        pb.DOCUMENT_FORMAT_OFD,
    ):
        raise invalid("format", "give DOCUMENT_FORMAT_PDF or DOCUMENT_FORMAT_OFD")
    return value == pb.DOCUMENT_FORMAT_OFD


def revocation(kind: pb.RevocationKind) -> Action:
    """REVOKE (撤销, 03) or REVOKE_AS_SANCTION (吊销, 07)."""
    if kind not in _REVOCATIONS:
        raise invalid("kind", "choose REVOKE (撤销, 03) or SANCTION (吊销, 07)")
    return _REVOCATIONS[kind]


def roles(values: Iterable[licence_pb2.DepartmentRole]) -> list[str]:
    """Role names (:data:`domain.ROLES`) of proto department roles."""
    names = []
    for role in values:
        if role not in _ROLE_NAMES:
            raise invalid("roles", f"unknown role {role}")
        names.append(_ROLE_NAMES[role])
    return names


def asked_roles(values: Iterable[licence_pb2.DepartmentRole]) -> list[str]:
    """The roles proto department roles ask for, as a refusal records them
    (:func:`services.issuer.service.directory.recorded_roles`; an unknown role is
    ``-``): a refused request may not have been checked."""
    return recorded_roles(_ROLE_NAMES.get(role, "-") for role in values)


def licence_type(request: pb.RegisterLicenceTypeRequest) -> LicenceType:
    """The licence type a registration asks for, checked by
    :func:`domain.validate_licence_type`."""
    specs = []
    for i, f in enumerate(request.fields):
        if f.type not in _FIELD_KINDS:
            raise invalid(
                f"fields[{i}].type", "choose STRING, INTEGER, BOOLEAN or DATE"
            )
        specs.append(
            FieldSpec(
                f.name,
                _FIELD_KINDS[f.type],
                f.required,
                f.public,
                f.personal,
                f.title,
                f.restricted,
            )
        )
    return domain.validate_licence_type(
        request.type_code,
        request.name,
        specs,
        request.default_validity_days,
        list(request.issuer_codes),
    )


# -- domain -> messages -----------------------------------------------------------


def to_field_value(value: FieldValue) -> licence_pb2.FieldValue:
    """A proto FieldValue."""
    if isinstance(value, bool):
        return licence_pb2.FieldValue(boolean_value=value)
    if isinstance(value, int):
        return licence_pb2.FieldValue(integer_value=value)
    if isinstance(value, dt.date):
        return licence_pb2.FieldValue(date_value=value.isoformat())
    return licence_pb2.FieldValue(string_value=value)


def licence_message(record: LicenceRecord) -> licence_pb2.Licence:
    """The proto view of a licence (holder included: callers are entitled to it)."""
    message = licence_pb2.Licence(
        identifier=record.identifier,
        lineage=record.lineage,
        version=record.version,
        type_code=record.type_code,
        issuer_code=record.issuer_code,
        holder_display_name=record.holder_display_name,
        valid_from=ts(record.valid_from),
        valid_until=ts(record.valid_until),
        status=proto_status(record.status),
        issued_at=ts(record.issued_at),
        replaces=record.replaces or "",
        superseded_by=record.superseded_by or "",
        kid=record.kid,
        status_reason=record.status_reason,
        last_operation=proto_operation(record.last_operation),
        lineage_version=record.lineage_version,
        updated_at=ts(record.updated_at),
    )
    if record.holder is not None:
        message.holder.CopyFrom(
            licence_pb2.Holder(
                name=record.holder.name,
                id_type=record.holder.id_type,
                id_number=record.holder.id_number,
            )
        )
    for name, value in record.fields.items():
        message.fields[name].CopyFrom(to_field_value(value))
    return message


def item_error(exc: CertsealError, where: str) -> pb.ItemError:
    """The error of one batch item, its field prefixed with ``where``."""
    if exc.field and not exc.field.startswith(where):
        exc.field = where + exc.field
    return pb.ItemError(code=exc.kind.value, message=exc.message, field=exc.field or "")


def department_message(department: Department) -> licence_pb2.Department:
    """The proto view of a department."""
    return licence_pb2.Department(
        code=department.code,
        name=department.name,
        roles=[_ROLE_ENUMS[r] for r in department.roles],
        created_at=ts(department.created_at),
    )


def grant_message(grant: HolderAppGrant) -> pb.HolderAppGrant:
    """The proto view of a holder-app grant."""
    return pb.HolderAppGrant(
        app=grant.app,
        type_code=grant.type_code,
        granted_at=ts(grant.granted_at),
        granted_by=grant.granted_by,
    )


def key_message(key: SigningKey) -> licence_pb2.SigningKey:
    """The public view of a key: never the private part."""
    return licence_pb2.SigningKey(
        kid=key.kid,
        department_code=key.department_code,
        suite=key.suite,
        status=_KEY_STATUS[key.status],
        public_key=key.public_key,
        not_before=ts(key.not_before),
        not_after=ts(key.not_after),
        created_at=ts(key.created_at),
        retired_at=ts(key.retired_at),
        revoked_at=ts(key.revoked_at),
        revocation_reason=key.revocation_reason,
        key_store="pkcs11"
        if is_token_reference(key.wrapped_private_key)
        else "software",
    )


def licence_type_message(
    t: LicenceType, created_at: dt.datetime
) -> licence_pb2.LicenceType:
    """The proto view of a licence type registered at ``created_at``."""
    return licence_pb2.LicenceType(
        type_code=t.type_code,
        name=t.name,
        fields=[
            licence_pb2.FieldSpec(
                name=f.name,
                type=_FIELD_TYPES[f.kind],
                required=f.required,
                public=f.public,
                personal=f.personal,
                title=f.title,
                restricted=f.restricted,
            )
            for f in t.fields
        ],
        default_validity_days=t.default_validity_days,
        issuer_codes=sorted(t.issuer_codes),
        created_at=ts(created_at),
    )


def republish_message(run: RepublishRun) -> pb.RepublishResponse:
    """Where a republishing run stands."""
    return pb.RepublishResponse(
        run_id=run.run_id,
        part=run.part,
        published=run.published,
        done=run.part == "done",
        resumed=run.resumed,
        started_at=ts(run.started_at),
        after_key=run.after_key,
    )


_USAGE_KINDS = {
    UsageKind.VERIFIED: pb.LICENCE_USAGE_KIND_VERIFIED,
    UsageKind.AUTHORISED: pb.LICENCE_USAGE_KIND_AUTHORISED,
    UsageKind.AUTHORISATION_REVOKED: pb.LICENCE_USAGE_KIND_AUTHORISATION_REVOKED,
    UsageKind.REDEEMED: pb.LICENCE_USAGE_KIND_REDEEMED,
    UsageKind.DOWNLOADED: pb.LICENCE_USAGE_KIND_DOWNLOADED,
    UsageKind.VIEWED: pb.LICENCE_USAGE_KIND_VIEWED,
    UsageKind.REDEMPTION_REFUSED: pb.LICENCE_USAGE_KIND_REDEMPTION_REFUSED,
}


def usage_kinds(values: Iterable[int]) -> list[UsageKind]:
    """The kinds a ListLicenceUsage request filters by; INVALID_ARGUMENT on
    ``kinds`` for UNSPECIFIED or a number this version does not know."""
    by_number: dict[int, UsageKind] = {
        int(number): kind for kind, number in _USAGE_KINDS.items()
    }
    try:
        return [by_number[v] for v in values]
    except KeyError:
        raise invalid("kinds", "give known LicenceUsageKind values") from None


def usage_message(entry: UsageEntry) -> pb.LicenceUsage:
    """One usage-record entry as the API's ``LicenceUsage``."""
    return pb.LicenceUsage(
        entry_id=entry.entry_id,
        kind=_USAGE_KINDS[entry.kind],
        identifier=entry.identifier,
        occurred_at=ts(entry.occurred_at),
        department_code=entry.department_code,
        department_name=entry.department_name,
        counter=entry.counter,
        clerk=entry.clerk,
        verifier_group=entry.verifier_group,
        purpose=entry.purpose,
        verdict=entry.verdict,
        actor=entry.actor,
        action=entry.action,
        reference=entry.reference,
    )


def authorisation_message(
    auth: Authorisation, *, now: dt.datetime, code: str = "", department_name: str = ""
) -> pb.Authorisation:
    """An authorisation as the API shows it (its code only when just created)."""
    message = pb.Authorisation(
        authorisation_id=auth.authorisation_id,
        code=code,
        identifier=auth.identifier,
        department_code=auth.department_code,
        department_name=department_name,
        counter=auth.counter,
        purpose=auth.purpose,
        fields=auth.fields,
        expires_at=ts(auth.expires_at),
        created_at=ts(auth.created_at),
        status=auth.status(now),
    )
    if auth.revoked_at is not None:
        message.revoked_at.CopyFrom(ts(auth.revoked_at))
    return message
