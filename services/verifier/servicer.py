"""The Verifier gRPC servicer: check the request's shape, convert, call the service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc

from certseal.errors import invalid
from certseal.qr import read_qr_image
from certseal.rpc import current_caller
from certseal.v1 import verifier_pb2 as pb
from certseal.v1 import verifier_pb2_grpc
from services.verifier.convert import (
    bundle_to_proto,
    index_status_to_proto,
    verification_to_proto,
)
from services.verifier.service import VerifierService

MAX_CODE = 8192
MAX_BATCH = 500


class VerifierServicer(verifier_pb2_grpc.VerifierServicer):
    """The Verifier API over :class:`VerifierService`."""

    def __init__(self, *, service: VerifierService):
        self._service = service

    async def VerifyCode(
        self, request: pb.VerifyCodeRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyCodeResponse:
        if not request.code.strip():
            raise invalid("code", "is required: the scanned text")
        if len(request.code) > MAX_CODE:
            raise invalid(
                "code", f"is {len(request.code)} characters; the limit is {MAX_CODE}"
            )
        _purpose(request.purpose)
        verify = self._counter()
        return pb.VerifyCodeResponse(result=await verify(request.code, request.purpose))

    async def VerifyImage(
        self, request: pb.VerifyImageRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyImageResponse:
        _purpose(request.purpose)
        verify = self._counter()
        text = read_qr_image(request.image)
        return pb.VerifyImageResponse(
            result=await verify(text, request.purpose), code=text
        )

    async def VerifyCodes(
        self, request: pb.VerifyCodesRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyCodesResponse:
        _purpose(request.purpose)
        if not request.codes:
            raise invalid("codes", "give at least one code")
        if len(request.codes) > MAX_BATCH:
            raise invalid(
                "codes", f"{len(request.codes)} codes; the limit is {MAX_BATCH}"
            )
        verify = self._counter()
        return pb.VerifyCodesResponse(
            results=[await verify(text, request.purpose) for text in request.codes]
        )

    def _counter(self) -> Callable[[str, str], Awaitable[pb.VerificationResult]]:
        """Verification as the calling counter (checked once per request)."""
        caller = current_caller()
        department = self._service.counter_department(caller)

        async def verify(text: str, purpose: str) -> pb.VerificationResult:
            result = await self._service.verify(
                text, purpose=purpose, caller=caller, department=department
            )
            return verification_to_proto(result, self._service.freshness)

        return verify

    async def GetIndexStatus(
        self, request: pb.GetIndexStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetIndexStatusResponse:
        return index_status_to_proto(await self._service.index_status())

    async def ExportTrustBundle(
        self, request: pb.ExportTrustBundleRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExportTrustBundleResponse:
        return bundle_to_proto(
            await self._service.export_bundle(
                since_version=request.since_version, group=request.group
            )
        )


def _purpose(purpose: str) -> None:
    if not purpose.strip():
        raise invalid("purpose", "is required: the purpose of use (用证事由)")
