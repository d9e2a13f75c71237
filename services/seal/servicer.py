"""The Seal gRPC servicer: validate, convert, call the service, convert back."""

from __future__ import annotations

import datetime as dt

import grpc

from certseal.crypto import Suite
from certseal.errors import invalid
from certseal.rpc import current_caller
from certseal.timestamps import ts
from certseal.v1 import seal_pb2 as pb
from certseal.v1 import seal_pb2_grpc
from services.seal.pdf import Placement
from services.seal.service import RegisterSealInput, SealService
from services.seal.ses import SESeal
from services.seal.storage import SealRow

DEFAULT_VALIDITY = dt.timedelta(days=5 * 365)


def seal_message(row: SealRow) -> pb.SealInfo:
    """The proto view of a seal."""
    picture = SESeal.load(row.seal)["e_seal_info"]["picture"]["data"].native
    return pb.SealInfo(
        seal_id=row.seal_id,
        owner_code=row.owner_code,
        seal_type=row.seal_type,
        name=row.name,
        suite=row.suite,
        status=row.status,
        valid_start=ts(row.valid_start),
        valid_end=ts(row.valid_end),
        signers=list(row.signers),
        created_at=ts(row.created_at),
        revoked_at=ts(row.revoked_at),
        revocation_reason=row.revocation_reason,
        seal=row.seal,
        certificate=row.certificate,
        picture=picture,
    )


def _content(
    request: pb.SealDocumentRequest | pb.VerifySealedDocumentRequest,
) -> tuple[bytes | None, bytes | None]:
    which = request.WhichOneof("content")
    if which == "document":
        return request.document, None
    if which == "document_digest":
        return None, request.document_digest
    raise invalid("document", "give the document or its digest")


class SealServicer(seal_pb2_grpc.SealServicer):
    """Thin: every rule lives in :class:`SealService`."""

    def __init__(self, *, service: SealService):
        self._service = service

    async def RegisterSeal(
        self, request: pb.RegisterSealRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterSealResponse:
        caller = current_caller()
        owner = request.owner_code or (caller.name if caller.kind == "dept" else "")
        if not owner:
            raise invalid("owner_code", "is required when an operator registers")
        start = (
            request.valid_start.ToDatetime(tzinfo=dt.UTC)
            if request.HasField("valid_start")
            else self._service.now()
        )
        end = (
            request.valid_end.ToDatetime(tzinfo=dt.UTC)
            if request.HasField("valid_end")
            else start + DEFAULT_VALIDITY
        )
        row = await self._service.register(
            caller,
            RegisterSealInput(
                owner_code=owner,
                seal_type=request.seal_type or "official",
                name=request.name,
                suite=Suite.parse(request.suite or "sm2"),
                valid_start=start,
                valid_end=end,
                signers=tuple(request.signers) or (f"dept:{owner}",),
                picture_png=request.picture,
            ),
        )
        return pb.RegisterSealResponse(seal=seal_message(row))

    async def GetSeal(
        self, request: pb.GetSealRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSealResponse:
        row = await self._service.get(current_caller(), request.seal_id)
        return pb.GetSealResponse(seal=seal_message(row))

    async def ListSeals(
        self, request: pb.ListSealsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSealsResponse:
        caller = current_caller()
        rows, token = await self._service.list_seals(
            caller,
            request.owner_code or caller.name,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListSealsResponse(
            seals=[seal_message(r) for r in rows], next_page_token=token
        )

    async def RevokeSeal(
        self, request: pb.RevokeSealRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeSealResponse:
        row = await self._service.revoke(
            current_caller(), request.seal_id, request.reason
        )
        return pb.RevokeSealResponse(seal=seal_message(row))

    async def SealDocument(
        self, request: pb.SealDocumentRequest, context: grpc.aio.ServicerContext
    ) -> pb.SealDocumentResponse:
        document, digest = _content(request)
        sealed = await self._service.seal_document(
            current_caller(),
            request.seal_id,
            document=document,
            document_hash=digest,
            property_info=request.property_info,
        )
        return pb.SealDocumentResponse(
            signature=sealed.signature,
            document_digest=sealed.document_hash.hex(),
            signed_at=ts(sealed.signed_at),
        )

    async def VerifySealedDocument(
        self,
        request: pb.VerifySealedDocumentRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.VerifySealedDocumentResponse:
        if not request.signature:
            raise invalid("signature", "is required: the DER SES_Signature")
        document, digest = _content(request)
        result = await self._service.verify(
            request.signature, document=document, document_hash=digest
        )
        return pb.VerifySealedDocumentResponse(
            verdict=result.verdict.value,
            checks=[
                pb.SealCheck(name=c.name, passed=c.passed, detail=c.detail)
                for c in result.checks
            ],
            seal_id=result.seal_id,
            seal_name=result.seal_name,
            signer=result.signer,
            signed_at=ts(result.signed_at),
            current_status=result.current_status,
        )

    async def SealPdf(
        self, request: pb.SealPdfRequest, context: grpc.aio.ServicerContext
    ) -> pb.SealPdfResponse:
        if not request.pdf:
            raise invalid("pdf", "is required")
        sealed = await self._service.seal_pdf(
            current_caller(),
            request.seal_id,
            pdf=request.pdf,
            placement=Placement(
                page=request.page,
                x_mm=request.x_mm or 20.0,
                y_mm=request.y_mm or 20.0,
            ),
            reason=request.reason,
        )
        return pb.SealPdfResponse(
            pdf=sealed.pdf,
            pdf_digest=sealed.pdf_digest.hex(),
            signed_at=ts(sealed.signed_at),
        )

    async def VerifyPdf(
        self, request: pb.VerifyPdfRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyPdfResponse:
        if not request.pdf:
            raise invalid("pdf", "is required")
        results = await self._service.verify_pdf(request.pdf)
        return pb.VerifyPdfResponse(
            seals=[
                pb.PdfSealResult(
                    field_name=r.found.field_name,
                    seal_id=r.seal.seal_id if r.seal else "",
                    seal_name=r.seal.name if r.seal else "",
                    verdict=r.verdict.value,
                    intact=r.found.intact,
                    trusted=r.found.trusted,
                    modified=r.found.modified,
                    signed_at=ts(r.found.signed_at),
                    current_status=r.seal.status if r.seal else "",
                    detail=r.found.detail,
                )
                for r in results
            ]
        )
