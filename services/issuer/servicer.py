"""Issuer and IssuerAdmin gRPC servicers: validate shapes, convert, call, convert back."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc

from certseal import codes
from certseal.errors import CertsealError, invalid
from certseal.rpc import current_caller
from certseal.timestamps import ts
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import issuer_pb2_grpc, licence_pb2
from services.issuer import domain
from services.issuer.domain import (
    Action,
    FieldKind,
    FieldSpec,
    FieldValue,
    LicenceRecord,
)
from services.issuer.service import (
    IssueInput,
    IssuerService,
    proto_operation,
    proto_status,
)
from services.issuer.storage import DepartmentRow, KeyRow

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


def from_ts(message: Any, name: str) -> dt.datetime | None:
    """The datetime of an optional timestamp field."""
    if not message.HasField(name):
        return None
    value: dt.datetime = getattr(message, name).ToDatetime(tzinfo=dt.UTC)
    return value


def field_values(values: Any, where: str = "fields") -> dict[str, FieldValue]:
    """Typed values from a proto map<string, FieldValue>."""
    out: dict[str, FieldValue] = {}
    for name, value in values.items():
        kind = value.WhichOneof("value")
        if kind is None:
            raise invalid(f"{where}.{name}", "has no value")
        if kind == "date_value":
            try:
                out[name] = dt.date.fromisoformat(value.date_value)
            except ValueError:
                raise invalid(
                    f"{where}.{name}",
                    f"{value.date_value!r} is not a date (YYYY-MM-DD)",
                ) from None
        else:
            out[name] = getattr(value, kind)
    return out


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


def department_message(row: DepartmentRow) -> licence_pb2.Department:
    """The proto view of a department."""
    return licence_pb2.Department(
        code=row.code,
        name=row.name,
        roles=[_ROLE_ENUMS[r] for r in row.roles],
        created_at=ts(row.created_at),
    )


def key_message(row: KeyRow) -> licence_pb2.SigningKey:
    """The public view of a key: never the private part."""
    return licence_pb2.SigningKey(
        kid=row.kid,
        department_code=row.department_code,
        suite=row.suite,
        status=_KEY_STATUS[row.status],
        public_key=row.public_key,
        not_before=ts(row.not_before),
        not_after=ts(row.not_after),
        created_at=ts(row.created_at),
        retired_at=ts(row.retired_at),
        revoked_at=ts(row.revoked_at),
        revocation_reason=row.revocation_reason,
    )


def licence_type_message(
    t: domain.LicenceType, created_at: dt.datetime
) -> licence_pb2.LicenceType:
    """The proto view of a licence type."""
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
            )
            for f in t.fields
        ],
        default_validity_days=t.default_validity_days,
        issuer_codes=sorted(t.issuer_codes),
        created_at=ts(created_at),
    )


def issue_input(request: pb.IssueLicenceRequest, where: str = "") -> IssueInput:
    """An issuance request as the service takes it."""
    if not request.type_code:
        raise invalid(f"{where}type_code", "is required")
    if not request.HasField("holder"):
        raise invalid(f"{where}holder", "is required")
    holder = domain.validate_holder(
        request.holder.name, request.holder.id_type, request.holder.id_number
    )
    if len(request.idempotency_key) > 128:
        raise invalid(f"{where}idempotency_key", "at most 128 characters")
    return IssueInput(
        type_code=request.type_code,
        holder=holder,
        fields=field_values(request.fields, f"{where}fields"),
        valid_from=from_ts(request, "valid_from"),
        valid_until=from_ts(request, "valid_until"),
        idempotency_key=request.idempotency_key,
    )


def _prefixed(exc: CertsealError, where: str) -> CertsealError:
    if exc.field and not exc.field.startswith(where):
        exc.field = where + exc.field
    return exc


class IssuerServicer(issuer_pb2_grpc.IssuerServicer):
    """The Issuer service."""

    def __init__(self, *, service: IssuerService):
        self._service = service

    async def IssueLicence(
        self, request: pb.IssueLicenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.IssueLicenceResponse:
        record = await self._service.issue(current_caller(), issue_input(request))
        return pb.IssueLicenceResponse(licence=licence_message(record))

    async def IssueLicences(
        self, request: pb.IssueLicencesRequest, context: grpc.aio.ServicerContext
    ) -> pb.IssueLicencesResponse:
        if not request.items:
            raise invalid("items", "give at least one item")
        if len(request.items) > self._service.max_batch:
            raise invalid(
                "items",
                f"{len(request.items)} items; the limit is {self._service.max_batch}",
            )
        inputs: list[IssueInput | None] = []
        errors: dict[int, CertsealError] = {}
        for i, item in enumerate(request.items):
            try:
                inputs.append(issue_input(item, f"items[{i}]."))
            except CertsealError as exc:
                errors[i] = exc
                inputs.append(None)
        valid = [x for x in inputs if x is not None]
        outcomes = iter(
            await self._service.issue_many(current_caller(), valid) if valid else []
        )
        response = pb.IssueLicencesResponse()
        for i, parsed in enumerate(inputs):
            outcome: LicenceRecord | CertsealError = (
                errors[i] if parsed is None else next(outcomes)
            )
            result = response.results.add(index=i)
            if isinstance(outcome, CertsealError):
                item_error = _prefixed(outcome, f"items[{i}].")
                result.error.CopyFrom(
                    pb.ItemError(
                        code=item_error.kind.value,
                        message=item_error.message,
                        field=item_error.field or "",
                    )
                )
            else:
                result.licence.CopyFrom(licence_message(outcome))
        return response

    async def GetLicence(
        self, request: pb.GetLicenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetLicenceResponse:
        record = await self._service.get(
            current_caller(), _required(request.identifier)
        )
        return pb.GetLicenceResponse(licence=licence_message(record))

    async def ListLicences(
        self, request: pb.ListLicencesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListLicencesResponse:
        holder = None
        if request.HasField("holder"):
            if not request.holder.id_type or not request.holder.id_number:
                raise invalid("holder", "give id_type and id_number")
            holder = (request.holder.id_type, request.holder.id_number)
        status = None
        if request.status:
            try:
                status = domain.Status(f"{request.status:02d}")
            except ValueError:
                raise invalid("status", f"unknown status {request.status}") from None
        records, token = await self._service.list(
            current_caller(),
            holder=holder,
            type_code=request.type_code,
            status=status,
            include_superseded=request.include_superseded,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListLicencesResponse(
            licences=[licence_message(r) for r in records], next_page_token=token
        )

    async def RenewLicence(
        self, request: pb.RenewLicenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.RenewLicenceResponse:
        record = await self._service.new_version(
            current_caller(),
            _required(request.identifier),
            Action.RENEW,
            valid_from=from_ts(request, "valid_from"),
            valid_until=from_ts(request, "valid_until"),
        )
        return pb.RenewLicenceResponse(licence=licence_message(record))

    async def AmendLicence(
        self, request: pb.AmendLicenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.AmendLicenceResponse:
        record = await self._service.new_version(
            current_caller(),
            _required(request.identifier),
            Action.AMEND,
            changes=field_values(request.fields),
            removals=list(request.remove_fields),
            holder_name=request.holder_name,
            reason=request.reason,
        )
        return pb.AmendLicenceResponse(licence=licence_message(record))

    async def _status(self, request: Any, action: Action) -> licence_pb2.Licence:
        record = await self._service.change_status(
            current_caller(), _required(request.identifier), action, request.reason
        )
        return licence_message(record)

    async def SuspendLicence(
        self, request: pb.SuspendLicenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.SuspendLicenceResponse:
        return pb.SuspendLicenceResponse(
            licence=await self._status(request, Action.SUSPEND)
        )

    async def UnsuspendLicence(
        self, request: pb.UnsuspendLicenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.UnsuspendLicenceResponse:
        return pb.UnsuspendLicenceResponse(
            licence=await self._status(request, Action.UNSUSPEND)
        )

    async def RevokeLicence(
        self, request: pb.RevokeLicenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeLicenceResponse:
        actions = {
            pb.REVOCATION_KIND_REVOKE: Action.REVOKE,
            pb.REVOCATION_KIND_SANCTION: Action.REVOKE_AS_SANCTION,
        }
        if request.kind not in actions:
            raise invalid("kind", "choose REVOKE (撤销, 03) or SANCTION (吊销, 07)")
        return pb.RevokeLicenceResponse(
            licence=await self._status(request, actions[request.kind])
        )

    async def CancelLicence(
        self, request: pb.CancelLicenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelLicenceResponse:
        return pb.CancelLicenceResponse(
            licence=await self._status(request, Action.CANCEL)
        )

    async def TransferLicence(
        self, request: pb.TransferLicenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.TransferLicenceResponse:
        old, new = await self._service.transfer(
            current_caller(),
            _required(request.identifier),
            request.to_department_code,
            request.reason,
        )
        return pb.TransferLicenceResponse(
            transferred_out=licence_message(old), transferred_in=licence_message(new)
        )

    async def GetLicenceCode(
        self, request: pb.GetLicenceCodeRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetLicenceCodeResponse:
        text = await self._service.licence_code(
            current_caller(), _required(request.identifier)
        )
        return pb.GetLicenceCodeResponse(text=text, png=codes.qr_png(text))

    async def CreatePresentationCode(
        self,
        request: pb.CreatePresentationCodeRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.CreatePresentationCodeResponse:
        text, expires = await self._service.presentation_code(
            current_caller(), _required(request.identifier), request.ttl_seconds
        )
        return pb.CreatePresentationCodeResponse(
            text=text, png=codes.qr_png(text), expires_at=ts(expires)
        )


class IssuerAdminServicer(issuer_pb2_grpc.IssuerAdminServicer):
    """The IssuerAdmin service (platform operators)."""

    def __init__(self, *, service: IssuerService):
        self._service = service

    async def OnboardDepartment(
        self, request: pb.OnboardDepartmentRequest, context: grpc.aio.ServicerContext
    ) -> pb.OnboardDepartmentResponse:
        roles = []
        for role in request.roles:
            if role not in _ROLE_NAMES:
                raise invalid("roles", f"unknown role {role}")
            roles.append(_ROLE_NAMES[role])
        row = await self._service.onboard_department(
            current_caller(), request.code, request.name, roles
        )
        return pb.OnboardDepartmentResponse(department=department_message(row))

    async def ListDepartments(
        self, request: pb.ListDepartmentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDepartmentsResponse:
        rows = await self._service.store.list_departments()
        return pb.ListDepartmentsResponse(
            departments=[department_message(r) for r in rows]
        )

    async def RegisterLicenceType(
        self, request: pb.RegisterLicenceTypeRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterLicenceTypeResponse:
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
                )
            )
        t = domain.validate_licence_type(
            request.type_code,
            request.name,
            specs,
            request.default_validity_days,
            list(request.issuer_codes),
        )
        await self._service.register_licence_type(current_caller(), t)
        found = await self._service.store.get_licence_type(t.type_code)
        assert found is not None
        return pb.RegisterLicenceTypeResponse(licence_type=licence_type_message(*found))

    async def ListLicenceTypes(
        self, request: pb.ListLicenceTypesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListLicenceTypesResponse:
        rows = await self._service.store.list_licence_types()
        return pb.ListLicenceTypesResponse(
            licence_types=[licence_type_message(*r) for r in rows]
        )

    async def CreateSigningKey(
        self, request: pb.CreateSigningKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateSigningKeyResponse:
        key = await self._service.create_key(
            current_caller(),
            request.department_code,
            request.suite,
            request.validity_days,
        )
        return pb.CreateSigningKeyResponse(key=key_message(key))

    async def RotateSigningKey(
        self, request: pb.RotateSigningKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.RotateSigningKeyResponse:
        key, retired = await self._service.rotate_key(
            current_caller(),
            request.department_code,
            request.suite,
            request.validity_days,
        )
        return pb.RotateSigningKeyResponse(
            key=key_message(key), retired=[key_message(k) for k in retired]
        )

    async def RetireSigningKey(
        self, request: pb.RetireSigningKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.RetireSigningKeyResponse:
        key = await self._service.change_key_status(
            current_caller(), request.kid, "retired"
        )
        return pb.RetireSigningKeyResponse(key=key_message(key))

    async def RevokeSigningKey(
        self, request: pb.RevokeSigningKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeSigningKeyResponse:
        key = await self._service.change_key_status(
            current_caller(),
            request.kid,
            "revoked",
            request.reason,
            from_ts(request, "revoked_at"),
        )
        return pb.RevokeSigningKeyResponse(key=key_message(key))

    async def ListSigningKeys(
        self, request: pb.ListSigningKeysRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSigningKeysResponse:
        keys = await self._service.store.department_keys(
            _required(request.department_code, "department_code")
        )
        return pb.ListSigningKeysResponse(keys=[key_message(k) for k in keys])


def _required(value: str, field: str = "identifier") -> str:
    if not value.strip():
        raise invalid(field, "is required")
    return value
