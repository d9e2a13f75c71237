"""The Issuer, LicenceHolder and Redemption gRPC servicers (IssuerAdmin's is in
:mod:`services.issuer.admin_servicer`): validate shapes, convert, call, convert back.

Conversions live in :mod:`services.issuer.convert`; the use cases in
:mod:`services.issuer.service`. Errors are :class:`CertsealError`, mapped to gRPC status
codes by the common interceptor.
"""

from __future__ import annotations

import asyncio
import functools
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import grpc

from certseal import qr
from certseal.errors import CertsealError, denied, invalid
from certseal.idempotency import idempotent
from certseal.identifiers import is_account_name
from certseal.refused import RefusedChange
from certseal.rpc import Caller, current_caller
from certseal.timestamps import ts
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import issuer_pb2_grpc, licence_pb2
from services.issuer import convert
from services.issuer.authorisation import asked_authorisation
from services.issuer.convert import (
    issue_input,
    licence_message,
    optional_time,
    required,
)
from services.issuer.domain import Action, LicenceRecord
from services.issuer.events import proto_status
from services.issuer.service import IssuerService
from services.issuer.service.issuance import IssueInput
from services.issuer.service.reading import asked_licence

#: how a servicer method's request names the subject of its audit row
Subject = Callable[[Any], str]
Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])
_ATTEMPT = "__certseal_attempt__"


def _licence(request: Any) -> str:
    return asked_licence(request.identifier)


def _authorisation(request: Any) -> str:
    return asked_authorisation(request.authorisation_id)


def _no_subject(request: Any) -> str:
    return "-"


def _as_asked(text: str) -> None:
    """Any subject the method's ``Subject`` gave (it keeps its own shape)."""


def attempted(
    action: str, subject: Subject = _no_subject
) -> Callable[[Handler], Handler]:
    """Mark a servicer method whose every attempt is ONE audit row (docs/holder.md,
    "授权用证"; docs/architecture.md, "One audit row per attempt"): its body runs in :meth:`IssuerService.attempt` (``action``,
    the subject ``subject`` reads of the request: ``-`` for none), so its success
    writes its ``ok`` row and any refusal in it a ``denied`` one; a refusal before it
    runs (the interceptor's: the caller's kind, a request that cannot be decoded, a
    field's character, an idempotency key) is recorded as the same action by
    :func:`services.issuer.admin_servicer.audit_refused_call`, which reads the marked
    methods (:func:`attempted_methods`)."""

    def mark(method: Handler) -> Handler:
        @functools.wraps(method)
        async def run(self: Any, request: Any, context: Any) -> Any:
            caller = current_caller()
            async with self._service.attempt(caller, action, subject(request)):
                return await method(self, request, context)

        setattr(run, _ATTEMPT, RefusedChange(action, subject, _as_asked))
        return cast(Handler, run)

    return mark


def attempted_methods(*servicers: type) -> dict[str, RefusedChange]:
    """The methods marked :func:`attempted` of ``servicers`` (generated servicer
    classes' subclasses), by full gRPC method name (``/certseal.v1.Redemption/
    RedeemAuthorisation``), as their refusals on the way in are recorded."""
    found: dict[str, RefusedChange] = {}
    for service in pb.DESCRIPTOR.services_by_name.values():
        base = getattr(issuer_pb2_grpc, f"{service.name}Servicer")
        for servicer in (s for s in servicers if issubclass(s, base)):
            for method in service.methods:
                mark = getattr(getattr(servicer, method.name), _ATTEMPT, None)
                if mark is not None:
                    found[f"/{service.full_name}/{method.name}"] = mark
    return found


class IssuerServicer(issuer_pb2_grpc.IssuerServicer):
    """The Issuer service (issuing departments, and holder apps holder-bound)."""

    def __init__(self, *, service: IssuerService):
        self._service = service

    @idempotent
    async def IssueLicence(
        self, request: pb.IssueLicenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.IssueLicenceResponse:
        record = await self._service.issue(current_caller(), issue_input(request))
        return pb.IssueLicenceResponse(
            licence=licence_message(record),
            warnings=await self._service.file_warnings(record),
        )

    @idempotent
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
                result.error.CopyFrom(convert.item_error(outcome, f"items[{i}]."))
            else:
                result.licence.CopyFrom(licence_message(outcome))
                result.warnings.extend(await self._service.file_warnings(outcome))
        return response

    async def GetLicence(
        self, request: pb.GetLicenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetLicenceResponse:
        record = await self._service.get(
            current_caller(),
            required(request.identifier),
            convert.holder_filter(request),
        )
        return pb.GetLicenceResponse(licence=licence_message(record))

    async def ListLicences(
        self, request: pb.ListLicencesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListLicencesResponse:
        holder = convert.holder_filter(request)
        status = convert.status_filter(request.status)
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

    @idempotent
    async def RenewLicence(
        self, request: pb.RenewLicenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.RenewLicenceResponse:
        record = await self._service.new_version(
            current_caller(),
            required(request.identifier),
            Action.RENEW,
            valid_from=optional_time(request, "valid_from"),
            valid_until=optional_time(request, "valid_until"),
        )
        return pb.RenewLicenceResponse(licence=licence_message(record))

    @idempotent
    async def AmendLicence(
        self, request: pb.AmendLicenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.AmendLicenceResponse:
        record = await self._service.new_version(
            current_caller(),
            required(request.identifier),
            Action.AMEND,
            changes=convert.field_values(request.fields),
            removals=list(request.remove_fields),
            holder_name=request.holder_name,
            reason=request.reason,
        )
        return pb.AmendLicenceResponse(
            licence=licence_message(record),
            warnings=await self._service.file_warnings(record),
        )

    async def _status(self, request: Any, action: Action) -> licence_pb2.Licence:
        record = await self._service.change_status(
            current_caller(), required(request.identifier), action, request.reason
        )
        return licence_message(record)

    @idempotent
    async def SuspendLicence(
        self, request: pb.SuspendLicenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.SuspendLicenceResponse:
        return pb.SuspendLicenceResponse(
            licence=await self._status(request, Action.SUSPEND)
        )

    @idempotent
    async def UnsuspendLicence(
        self, request: pb.UnsuspendLicenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.UnsuspendLicenceResponse:
        return pb.UnsuspendLicenceResponse(
            licence=await self._status(request, Action.UNSUSPEND)
        )

    @idempotent
    async def RevokeLicence(
        self, request: pb.RevokeLicenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeLicenceResponse:
        action = convert.revocation(request.kind)
        return pb.RevokeLicenceResponse(licence=await self._status(request, action))

    @idempotent
    async def CancelLicence(
        self, request: pb.CancelLicenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelLicenceResponse:
        return pb.CancelLicenceResponse(
            licence=await self._status(request, Action.CANCEL)
        )

    @idempotent
    async def TransferLicence(
        self, request: pb.TransferLicenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.TransferLicenceResponse:
        old, new = await self._service.transfer(
            current_caller(),
            required(request.identifier),
            request.to_department_code,
            request.reason,
        )
        return pb.TransferLicenceResponse(
            transferred_out=licence_message(old), transferred_in=licence_message(new)
        )

    async def GetLicenceCode(
        self, request: pb.GetLicenceCodeRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetLicenceCodeResponse:
        text, current = await self._service.licence_code(
            current_caller(),
            required(request.identifier),
            convert.holder_filter(request),
        )
        return pb.GetLicenceCodeResponse(
            text=text, png=await _drawn(text), current_identifier=current
        )

    async def CreatePresentationCode(
        self,
        request: pb.CreatePresentationCodeRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.CreatePresentationCodeResponse:
        text, expires = await self._service.presentation_code(
            current_caller(),
            required(request.identifier),
            request.ttl_seconds,
            convert.holder_filter(request),
        )
        return pb.CreatePresentationCodeResponse(
            text=text, png=await _drawn(text), expires_at=ts(expires)
        )

    @attempted("licence.usage", _licence)
    async def ListLicenceUsage(
        self, request: pb.ListLicenceUsageRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListLicenceUsageResponse:
        entries, token = await self._service.list_usage(
            current_caller(),
            required(request.identifier),
            holder=convert.holder_filter(request),
            page_size=request.page_size,
            page_token=request.page_token,
            newest_first=request.newest_first,
            kinds=convert.usage_kinds(request.kinds),
        )
        return pb.ListLicenceUsageResponse(
            uses=[convert.usage_message(e) for e in entries], next_page_token=token
        )


#: the only identity that may redeem on behalf of a counter, naming it in metadata
CONSOLE = "service:console"
COUNTER_METADATA = "x-certseal-counter"
CLERK_METADATA = "x-certseal-clerk"


def _holder_app() -> Caller:
    """The caller, if a holder app; PERMISSION_DENIED before anything else is read
    (authorisations are the holder's own acts)."""
    caller = current_caller()
    if caller.kind != "app":
        raise denied(f"{caller} may not authorise uses: holder apps only", field="as")
    return caller


class LicenceHolderServicer(issuer_pb2_grpc.LicenceHolderServicer):
    """The holder's side: licence files (holder apps and the issuing department) and
    authorisations (holder apps only)."""

    def __init__(self, *, service: IssuerService, clock: Any):
        self._service = service
        self._clock = clock

    @attempted("licence.document", _licence)
    async def GetLicenceDocument(
        self, request: pb.GetLicenceDocumentRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetLicenceDocumentResponse:
        document = await self._service.holder.document(
            current_caller(),
            required(request.identifier),
            convert.holder_filter(request),
            ofd=convert.is_ofd(request.format),
        )
        return pb.GetLicenceDocumentResponse(
            document=document.pdf,
            media_type=document.media_type,
            seal_id=document.seal_id,
            document_digest=document.digest,
            status=proto_status(document.status) if document.status else None,
            current_identifier=document.current_identifier,
        )

    @idempotent
    @attempted("licence.authorise", _licence)
    async def AuthoriseUse(
        self, request: pb.AuthoriseUseRequest, context: grpc.aio.ServicerContext
    ) -> pb.AuthoriseUseResponse:
        auth, code, name = await self._service.holder.authorise(
            _holder_app(),
            required(request.identifier),
            holder=convert.holder_filter(request),
            department_code=required(request.department_code, "department_code"),
            counter=request.counter,
            purpose=request.purpose,
            fields=list(request.fields),
            expires_at=optional_time(request, "expires_at"),
            valid_days=request.valid_days,
        )
        return pb.AuthoriseUseResponse(
            authorisation=convert.authorisation_message(
                auth, now=self._clock(), code=code, department_name=name
            )
        )

    @attempted("licence.authorisation_revoke", _authorisation)
    async def RevokeAuthorisation(
        self, request: pb.RevokeAuthorisationRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeAuthorisationResponse:
        auth, name = await self._service.holder.revoke(
            _holder_app(),
            required(request.authorisation_id, "authorisation_id"),
            holder=convert.holder_filter(request),
            reason=request.reason,
        )
        return pb.RevokeAuthorisationResponse(
            authorisation=convert.authorisation_message(
                auth, now=self._clock(), department_name=name
            )
        )


class RedemptionServicer(issuer_pb2_grpc.RedemptionServicer):
    """Redemption of authorisation codes by the department authorised: as itself, or
    through the counter console for the clerk's counter."""

    def __init__(self, *, service: IssuerService, clock: Any):
        self._service = service
        self._clock = clock

    @attempted("authorisation.redeem")
    async def RedeemAuthorisation(
        self, request: pb.RedeemAuthorisationRequest, context: grpc.aio.ServicerContext
    ) -> pb.RedeemAuthorisationResponse:
        caller = current_caller()
        metadata = dict(context.invocation_metadata() or ())
        named = str(metadata.get(COUNTER_METADATA, ""))
        given_clerk = str(metadata.get(CLERK_METADATA, ""))
        clerk = urllib.parse.unquote(given_clerk)
        # who may name a counter or a clerk first, then the shape of the one named:
        # a caller that may name none is told so whatever it sent (atk41h F7)
        if str(caller) == CONSOLE:
            if not named.startswith("dept:"):
                raise denied(
                    f"{CONSOLE} redeems on behalf of a counter: send "
                    f"{COUNTER_METADATA} (dept:<code>)",
                    field=COUNTER_METADATA,
                )
            caller = Caller.parse(named)
        elif caller.kind != "dept":
            raise denied(f"{caller} may not redeem authorisations", field="as")
        elif named or given_clerk:
            # the counter an authorisation is made out to is a console clerk: only
            # the console says which clerk a call is made at (atk-authz 1)
            raise denied(
                f"only {CONSOLE} may name a counter or a clerk",
                field=COUNTER_METADATA if named else CLERK_METADATA,
            )
        if given_clerk and not is_account_name(clerk):
            # a clerk is a console account (its names' shape), never any other text:
            # it is stored in the holder's record and the audit trail
            raise invalid(
                CLERK_METADATA,
                "is no console account: 1 to 64 ASCII letters, digits and . _ @ -, "
                "percent-encoded",
            )
        redemption = await self._service.holder.redeem(
            caller, required(request.code, "code"), counter=clerk
        )
        return pb.RedeemAuthorisationResponse(
            authorisation=convert.authorisation_message(
                redemption.authorisation,
                now=self._clock(),
                department_name=redemption.department_name,
            ),
            fields={k: convert.to_field_value(v) for k, v in redemption.fields.items()},
            annotated_copy=redemption.annotated_copy.pdf,
            seal_id=redemption.annotated_copy.seal_id,
            type_code=redemption.type_code,
            type_name=redemption.type_name,
            field_titles=redemption.field_titles,
            holder_display_name=redemption.holder_display_name,
            copy_identifier=redemption.copy_identifier,
            copy_valid_until=ts(redemption.copy_valid_until),
            copy_statement=redemption.annotation.statement,
            copy_purpose_line=redemption.annotation.purpose,
        )


async def _drawn(text: str) -> bytes:
    """The code's QR symbol as a PNG (:func:`certseal.qr.qr_png`), drawn in a thread:
    segno is pure Python and a licence code's symbol takes about 25 ms, which on the
    event loop would hold every other call, health and the relay that long."""
    return await asyncio.to_thread(qr.qr_png, text)


#: every method of the issuer's gRPC services whose attempts are audited, one row each
ATTEMPTS = attempted_methods(IssuerServicer, LicenceHolderServicer, RedemptionServicer)
