"""The Seal gRPC servicer: check shape, convert, call the service, convert back."""

from __future__ import annotations

import grpc

from certseal.errors import invalid
from certseal.idempotency import idempotent
from certseal.rpc import current_caller
from certseal.v1 import seal_pb2 as pb
from certseal.v1 import seal_pb2_grpc
from services.seal import convert, ofd_convert
from services.seal.licence_files import (
    CLERK_METADATA,
    COUNTER_METADATA,
    OFD_SUITES,
    Asker,
    LicenceFiles,
    asked_by,
)
from services.seal.ofd_service import OfdSealService
from services.seal.pdf_service import PdfSealService
from services.seal.republish import SealRepublisher
from services.seal.service import SealService


def _asker(context: grpc.aio.ServicerContext) -> Asker:
    """Who the caller verifies a licence file for: itself, or for the counter
    console the counter and clerk it names (:func:`asked_by`)."""
    named: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if key in (COUNTER_METADATA, CLERK_METADATA):
            named[key] = value if isinstance(value, str) else value.decode()
    return asked_by(
        str(current_caller()),
        counter=named.get(COUNTER_METADATA),
        clerk=named.get(CLERK_METADATA),
    )


class SealServicer(seal_pb2_grpc.SealServicer):
    """Thin: every rule lives in :class:`SealService`, :class:`PdfSealService` and
    :class:`OfdSealService`."""

    def __init__(
        self,
        *,
        service: SealService,
        pdfs: PdfSealService,
        ofds: OfdSealService | None = None,
        republisher: SealRepublisher | None = None,
        licence_files: LicenceFiles | None = None,
    ):
        self._licence_files = licence_files or LicenceFiles(verifier=None)
        self._service = service
        self._pdfs = pdfs
        self._ofds = ofds or OfdSealService(
            seals=service, max_document_bytes=pdfs.max_document_bytes
        )
        self._republisher = republisher

    @idempotent
    async def RegisterSeal(
        self, request: pb.RegisterSealRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterSealResponse:
        caller = current_caller()
        data = convert.register_input(request, caller=caller, clock=self._service.now)
        row = await self._service.register(caller, data)
        return pb.RegisterSealResponse(seal=convert.seal_info(row))

    async def GetSeal(
        self, request: pb.GetSealRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSealResponse:
        row = await self._service.get(current_caller(), request.seal_id)
        return pb.GetSealResponse(seal=convert.seal_info(row))

    async def ListSeals(
        self, request: pb.ListSealsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSealsResponse:
        rows, token = await self._service.list_seals(
            current_caller(),
            request.owner_code,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListSealsResponse(
            seals=[convert.seal_info(r) for r in rows], next_page_token=token
        )

    @idempotent
    async def RevokeSeal(
        self, request: pb.RevokeSealRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeSealResponse:
        row = await self._service.revoke(
            current_caller(), request.seal_id, request.reason
        )
        return pb.RevokeSealResponse(seal=convert.seal_info(row))

    @idempotent
    async def SealDocument(
        self, request: pb.SealDocumentRequest, context: grpc.aio.ServicerContext
    ) -> pb.SealDocumentResponse:
        document, digest = convert.document_content(request)
        sealed = await self._service.seal_document(
            current_caller(),
            request.seal_id,
            document=document,
            document_hash=digest,
            property_info=request.property_info,
        )
        return convert.sealed_document(sealed)

    async def VerifySealedDocument(
        self,
        request: pb.VerifySealedDocumentRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.VerifySealedDocumentResponse:
        if not request.signature:
            raise invalid("signature", "is required: the DER SES_Signature")
        document, digest = convert.document_content(request)
        result = await self._service.verify(
            request.signature, document=document, document_hash=digest
        )
        return convert.verification(result)

    async def InspectSes(
        self, request: pb.InspectSesRequest, context: grpc.aio.ServicerContext
    ) -> pb.InspectSesResponse:
        if not request.data:
            raise invalid("data", "is required: a DER SESeal or SES_Signature")
        return convert.inspection(*await self._service.inspect(request.data))

    @idempotent
    async def SealPdf(
        self, request: pb.SealPdfRequest, context: grpc.aio.ServicerContext
    ) -> pb.SealPdfResponse:
        if not request.pdf:
            raise invalid("pdf", "is required")
        seal_id = request.seal_id
        if not seal_id:
            if not request.owner_code:
                raise invalid("seal_id", "give seal_id, or owner_code")
            seal_id = await self._licence_files.official_seal_for(
                current_caller(), request.owner_code
            )
        sealed = await self._pdfs.seal_pdf(
            current_caller(),
            seal_id,
            pdf=request.pdf,
            placement=convert.placement(request),
            reason=request.reason,
            password=request.password,
            field_name=request.field_name,
        )
        response = convert.sealed_pdf(sealed)
        response.seal_id = seal_id
        return response

    async def VerifyPdf(
        self, request: pb.VerifyPdfRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyPdfResponse:
        if not request.pdf:
            raise invalid("pdf", "is required")
        seals = await self._pdfs.verify_pdf(request.pdf, password=request.password)
        response = convert.pdf_seals(seals)
        status = await self._licence_files.status(
            request.pdf, seals, asker=_asker(context)
        )
        if status is not None:
            response.licence.CopyFrom(convert.licence_file_status(status))
        return response

    @idempotent
    async def SealOfd(
        self, request: pb.SealOfdRequest, context: grpc.aio.ServicerContext
    ) -> pb.SealOfdResponse:
        if not request.ofd:
            raise invalid("ofd", "is required: the OFD document (a ZIP package)")
        place = ofd_convert.stamp_place(request)
        seal_id = request.seal_id
        if not seal_id:
            if not request.owner_code:
                raise invalid("seal_id", "give seal_id, or owner_code")
            seal_id = await self._licence_files.official_seal_for(
                current_caller(), request.owner_code, OFD_SUITES
            )
        sealed = await self._ofds.seal_ofd(
            current_caller(), seal_id, ofd=request.ofd, place=place
        )
        response = ofd_convert.sealed_ofd(sealed)
        response.seal_id = seal_id
        return response

    async def VerifyOfd(
        self, request: pb.VerifyOfdRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyOfdResponse:
        if not request.ofd:
            raise invalid("ofd", "is required: the OFD document (a ZIP package)")
        found = await self._ofds.verify_ofd(request.ofd)
        response = ofd_convert.ofd_signatures(found)
        status = await self._licence_files.ofd_status(
            request.ofd, found.signatures, asker=_asker(context)
        )
        if status is not None:
            response.licence.CopyFrom(convert.licence_file_status(status))
        return response

    async def RepublishSeals(
        self, request: pb.RepublishSealsRequest, context: grpc.aio.ServicerContext
    ) -> pb.RepublishSealsResponse:
        if self._republisher is None:  # wired by the app; never None when serving
            raise RuntimeError("no republisher")
        run = await self._republisher.republish(
            current_caller(), restart=request.restart, max_events=request.max_events
        )
        return convert.republish_message(run)
