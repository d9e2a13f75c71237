"""The IssuerAdmin gRPC servicer (platform operators, ``operator:<name>``):
validate shapes, convert, call, convert back, as :mod:`services.issuer.servicer`.

Another kind of caller is refused before any of it runs (the issuer's allowed kinds);
:func:`audit_refused_call` audits that refusal of a change, as the use case audits
its own."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Any

import grpc

from certseal.audit import recordable
from certseal.errors import CertsealError
from certseal.idempotency import idempotent
from certseal.identifiers import validate_type_code, validate_uscc
from certseal.refused import AskedOf, RefusedChange, audit_refused_changes
from certseal.rpc import (
    Caller,
    RefusedCall,
    current_caller,
)
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import issuer_pb2_grpc
from services.issuer import convert
from services.issuer.convert import (
    key_message,
    licence_type_message,
    optional_time,
    required,
)
from services.issuer.service import IssuerService
from services.issuer.service.directory import recorded_issuers
from services.issuer.service.holder_apps import app_identity
from services.issuer.service.keys import asked_suite, check_kid
from services.issuer.service.reading import asked_licence

_ADMIN = pb.DESCRIPTOR.services_by_name["IssuerAdmin"].full_name

#: what a refused change asked for, of its request (a message): the details its ok
#: row records of what was asked (:func:`certseal.audit.refusal`'s ``asked``)
Asking = Callable[[Any], AskedOf]


def _roles(request: Any) -> dict[str, str | list[str]]:
    return {"roles": convert.asked_roles(request.roles)}


def _issuer_codes(request: Any) -> dict[str, str | list[str]]:
    return {"issuer_codes": recorded_issuers(request.issuer_codes)}


def _suite(request: Any) -> dict[str, str | list[str]]:
    return {"suite": asked_suite(request.suite)}


def _type_code(request: Any) -> dict[str, str | list[str]]:
    return {"type_code": recordable(request.type_code, validate_type_code)}


def _revoked_at(request: Any) -> dict[str, str | list[str]]:
    try:  # a time out of range is the refused request's, not this record's fault
        at = optional_time(request, "revoked_at")
    except CertsealError:
        return {"revoked_at": "-"}
    return {"revoked_at": at.isoformat()} if at else {}


#: the shape each request field naming a subject must have to be recorded as it is
#: (each raises CertsealError): a caller refused for its kind is refused before its
#: request is checked, so its text may be anything, personal data put where a code goes
_SUBJECT_CHECKS: dict[str, Callable[[str], object]] = {
    "code": validate_uscc,
    "department_code": validate_uscc,
    "type_code": validate_type_code,
    "kid": check_kid,
    "app": app_identity,
}


def _no_subject(value: str) -> None:
    raise ValueError("no subject")


def _change(action: str, field: str, asked: Asking | None = None) -> RefusedChange:
    """The IssuerAdmin change whose request names its subject in ``field`` ("":
    none, recorded as ``-``)."""
    return RefusedChange(
        action,
        attrgetter(field) if field else lambda _: "",
        _SUBJECT_CHECKS.get(field, _no_subject),
        asked,
    )


#: each IssuerAdmin RPC that changes something, with the action its use case
#: audits its refusal as (as its success, but ``key.rotate``: a rotation made is
#: ``key.create`` and ``key.retire``)
CHANGES = {
    f"/{_ADMIN}/{rpc}": change
    for rpc, change in {
        "OnboardDepartment": _change("department.onboard", "code", _roles),
        "SetDepartmentRoles": _change("department.roles", "code", _roles),
        "RegisterLicenceType": _change("licence_type.register", "type_code"),
        "SetLicenceTypeIssuers": _change(
            "licence_type.issuers", "type_code", _issuer_codes
        ),
        "CreateSigningKey": _change("key.create", "department_code", _suite),
        "RotateSigningKey": _change("key.rotate", "department_code", _suite),
        "RetireSigningKey": _change("key.retired", "kid"),
        "RevokeSigningKey": _change("key.revoked", "kid", _revoked_at),
        "GrantHolderApp": _change("holder_app.grant", "app", _type_code),
        "RevokeHolderApp": _change("holder_app.revoke", "app", _type_code),
        "Republish": _change("republish.start", ""),
    }.items()
}


_ISSUER = pb.DESCRIPTOR.services_by_name["Issuer"].full_name


def _licence(request: Any) -> str:
    return asked_licence(request.identifier)


def _as_asked(text: str) -> None:
    """Any subject :func:`_licence` gave (it keeps its own shape)."""


#: each Issuer RPC that changes a licence, with the action its use case audits a
#: refusal as (a revocation as ``licence.revoke``, whichever its kind): refused for
#: the caller's kind (an operator revoking, a service issuing), its row is as a
#: holder app's refused change is (atk49: none was written)
LICENCE_CHANGES = {
    f"/{_ISSUER}/{rpc}": change
    for rpc, change in {
        "IssueLicence": _change("licence.issue", "type_code"),
        "IssueLicences": _change("licence.issue", ""),
        **{
            rpc: RefusedChange(f"licence.{action}", _licence, _as_asked)
            for rpc, action in (
                ("RenewLicence", "renew"),
                ("AmendLicence", "amend"),
                ("SuspendLicence", "suspend"),
                ("UnsuspendLicence", "unsuspend"),
                ("RevokeLicence", "revoke"),
                ("CancelLicence", "cancel"),
                ("TransferLicence", "transfer"),
            )
        },
    }.items()
}


def audit_refused_call(
    service: IssuerService, attempts: Mapping[str, RefusedChange] | None = None
) -> RefusedCall:
    """What the interceptor calls with a call refused on the way in
    (:class:`certseal.rpc.ServiceInterceptor`): for an RPC of :data:`CHANGES` (a
    department calling SetDepartmentRoles) or :data:`LICENCE_CHANGES` (an operator
    calling RevokeLicence) refused for the caller's kind, one
    ``denied`` audit row naming the caller, the action, the subject the request
    names (``-`` when it names none or could not be decoded), why, and what it
    asked as the use case's refusal records it (a role change's ``roles``: none when
    the request could not be decoded); for an RPC of ``attempts`` (the holder-side
    calls, every attempt one row: :data:`services.issuer.servicer.ATTEMPTS`), one
    for a refusal of any kind, its why as :func:`certseal.refused.refusal_why`
    words it (:func:`certseal.refused.audit_refused_changes`); nothing for a read
    (ListDepartments) or another refusal (the use cases audit their own)."""

    async def record(
        caller: Caller, action: str, subject: str, why: str, asked: AskedOf
    ) -> None:
        await service.audit_refusal(caller, action, subject, why, **asked)

    return audit_refused_changes({**CHANGES, **LICENCE_CHANGES}, record, attempts)


class IssuerAdminServicer(issuer_pb2_grpc.IssuerAdminServicer):
    """The IssuerAdmin service (platform operators)."""

    def __init__(self, *, service: IssuerService):
        self._service = service

    @idempotent
    async def OnboardDepartment(
        self, request: pb.OnboardDepartmentRequest, context: grpc.aio.ServicerContext
    ) -> pb.OnboardDepartmentResponse:
        roles = convert.roles(request.roles)
        department = await self._service.onboard_department(
            current_caller(), request.code, request.name, roles
        )
        return pb.OnboardDepartmentResponse(
            department=convert.department_message(department)
        )

    @idempotent
    async def SetDepartmentRoles(
        self, request: pb.SetDepartmentRolesRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetDepartmentRolesResponse:
        department = await self._service.set_department_roles(
            current_caller(), request.code, convert.roles(request.roles)
        )
        return pb.SetDepartmentRolesResponse(
            department=convert.department_message(department)
        )

    async def ListDepartments(
        self, request: pb.ListDepartmentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDepartmentsResponse:
        departments = await self._service.list_departments()
        return pb.ListDepartmentsResponse(
            departments=[convert.department_message(d) for d in departments]
        )

    @idempotent
    async def RegisterLicenceType(
        self, request: pb.RegisterLicenceTypeRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterLicenceTypeResponse:
        registered = await self._service.register_licence_type(
            current_caller(), convert.licence_type(request)
        )
        return pb.RegisterLicenceTypeResponse(
            licence_type=licence_type_message(*registered)
        )

    @idempotent
    async def SetLicenceTypeIssuers(
        self,
        request: pb.SetLicenceTypeIssuersRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.SetLicenceTypeIssuersResponse:
        changed = await self._service.set_licence_type_issuers(
            current_caller(), request.type_code, list(request.issuer_codes)
        )
        return pb.SetLicenceTypeIssuersResponse(
            licence_type=licence_type_message(
                changed.licence_type, changed.registered_at
            ),
            previous_issuer_codes=sorted(changed.previous),
        )

    async def ListLicenceTypes(
        self, request: pb.ListLicenceTypesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListLicenceTypesResponse:
        types = await self._service.list_licence_types()
        return pb.ListLicenceTypesResponse(
            licence_types=[licence_type_message(*t) for t in types]
        )

    @idempotent
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

    @idempotent
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

    @idempotent
    async def RetireSigningKey(
        self, request: pb.RetireSigningKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.RetireSigningKeyResponse:
        key = await self._service.change_key_status(
            current_caller(), request.kid, "retired"
        )
        return pb.RetireSigningKeyResponse(key=key_message(key))

    @idempotent
    async def RevokeSigningKey(
        self, request: pb.RevokeSigningKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeSigningKeyResponse:
        key = await self._service.change_key_status(
            current_caller(),
            request.kid,
            "revoked",
            request.reason,
            optional_time(request, "revoked_at"),
        )
        return pb.RevokeSigningKeyResponse(key=key_message(key))

    async def ListSigningKeys(
        self, request: pb.ListSigningKeysRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSigningKeysResponse:
        keys = await self._service.list_keys(
            required(request.department_code, "department_code")
        )
        return pb.ListSigningKeysResponse(keys=[key_message(k) for k in keys])

    @idempotent
    async def GrantHolderApp(
        self, request: pb.GrantHolderAppRequest, context: grpc.aio.ServicerContext
    ) -> pb.GrantHolderAppResponse:
        grant = await self._service.grant_holder_app(
            current_caller(),
            required(request.app, "app"),
            required(request.type_code, "type_code"),
        )
        return pb.GrantHolderAppResponse(grant=convert.grant_message(grant))

    @idempotent
    async def RevokeHolderApp(
        self, request: pb.RevokeHolderAppRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeHolderAppResponse:
        grant = await self._service.revoke_holder_app(
            current_caller(),
            required(request.app, "app"),
            required(request.type_code, "type_code"),
        )
        return pb.RevokeHolderAppResponse(grant=convert.grant_message(grant))

    async def ListHolderAppGrants(
        self,
        request: pb.ListHolderAppGrantsRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.ListHolderAppGrantsResponse:
        grants = await self._service.list_holder_app_grants(
            current_caller(), request.app
        )
        return pb.ListHolderAppGrantsResponse(
            grants=[convert.grant_message(g) for g in grants]
        )

    async def Republish(
        self, request: pb.RepublishRequest, context: grpc.aio.ServicerContext
    ) -> pb.RepublishResponse:
        run = await self._service.republish(
            current_caller(), restart=request.restart, max_events=request.max_events
        )
        return convert.republish_message(run)
