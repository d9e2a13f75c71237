"""The Verifier gRPC servicer: check the request's shape, convert, call the service.

Every RPC first settles who it acts as (:meth:`VerifierService.acting`: the caller, or
the counter the console names in :data:`~services.verifier.access.COUNTER_METADATA`),
so the group's counter allow-list guards each of them.
"""

from __future__ import annotations

import grpc

from certseal.errors import invalid
from certseal.rpc import current_caller
from certseal.v1 import verifier_pb2 as pb
from certseal.v1 import verifier_pb2_grpc
from services.verifier.access import (
    CLERK_METADATA,
    COUNTER_METADATA,
    Acting,
    check_purpose,
)
from services.verifier.convert import (
    ResultBodies,
    bundle_to_proto,
    index_status_to_proto,
    verification_to_proto,
)
from services.verifier.index import Freshness
from services.verifier.service import VerifierService

MAX_CODE = 8192
MAX_BATCH = 500


class VerifierServicer(verifier_pb2_grpc.VerifierServicer):
    """The Verifier API over :class:`VerifierService`."""

    def __init__(self, *, service: VerifierService):
        self._service = service
        self._bodies = ResultBodies()  # answers' bodies, per distinct result

    def shutdown(self) -> None:
        """Stop the service's worker pools (at the process's end)."""
        self._service.shutdown()

    async def publish_gathered_usage(self) -> None:
        """Hand the gathered uses to the producer; plain codes are refused from now."""
        await self._service.publish_gathered_usage()

    async def stop_clients(self) -> None:
        """Stop the service's own Kafka clients (at the process's end)."""
        await self._service.stop_clients()

    async def VerifyCode(
        self, request: pb.VerifyCodeRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyCodeResponse:
        if not request.code.strip():
            raise invalid("code", "is required: the scanned text")
        if len(request.code) > MAX_CODE:
            raise invalid(
                "code", f"is {len(request.code)} characters; the limit is {MAX_CODE}"
            )
        check_purpose(request.purpose)
        acting = self._acting(context, one_code=True)
        (result,) = await self._verify(
            [request.code], request.purpose, acting, request.ByteSize()
        )
        return pb.VerifyCodeResponse(result=result)

    async def VerifyImage(
        self, request: pb.VerifyImageRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyImageResponse:
        check_purpose(request.purpose)
        acting = self._acting(context)
        text = await self._service.read_image(request.image, acting)
        (result,) = await self._verify(
            [text], request.purpose, acting, request.ByteSize()
        )
        return pb.VerifyImageResponse(result=result, code=text)

    async def VerifyCodes(
        self, request: pb.VerifyCodesRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyCodesResponse:
        check_purpose(request.purpose)
        if not request.codes:
            raise invalid("codes", "give at least one code")
        if len(request.codes) > MAX_BATCH:
            raise invalid(
                "codes", f"{len(request.codes)} codes; the limit is {MAX_BATCH}"
            )
        acting = self._acting(context)
        results = await self._verify(
            list(request.codes), request.purpose, acting, request.ByteSize()
        )
        return pb.VerifyCodesResponse(results=results)

    async def _verify(
        self, texts: list[str], purpose: str, acting: Acting, carried: int
    ) -> list[pb.VerificationResult]:
        """``carried``: the request's serialized size, which bounds its usage record."""
        as_of: dict[bytes, Freshness] = {}
        results = await self._service.verify(
            texts, purpose=purpose, acting=acting, carried=carried, as_of=as_of
        )
        # each answer carries the freshness of the index that gave it (the owning
        # worker's, in a partitioned group) as it was when it gave its entry, not
        # as a later lookup of the same licence found it
        freshness_of = self._service.freshness_of
        group = self._service.group
        checkpoint = self._service.log_checkpoint()
        bodies = self._bodies
        return [
            verification_to_proto(
                r,
                as_of.get(r.lineage.encode()) or freshness_of(r.lineage),
                group,
                checkpoint,
                bodies,
            )
            for r in results
        ]

    def _acting(
        self,
        context: grpc.aio.ServicerContext,
        *,
        need_counter: bool = True,
        one_code: bool = False,
    ) -> Acting:
        """Who this request acts as: the caller, or the counter the console names
        (``one_code``: VerifyCode, which the seal service may ask)."""
        metadata: dict[str, str] = {}
        for key, value in context.invocation_metadata() or ():
            if key in (COUNTER_METADATA, CLERK_METADATA):
                if key in metadata:
                    raise invalid(key, "is given more than once")
                metadata[key] = value if isinstance(value, str) else value.decode()
        return self._service.acting(
            current_caller(),
            counter=metadata.get(COUNTER_METADATA),
            clerk=metadata.get(CLERK_METADATA),
            need_counter=need_counter,
            one_code=one_code,
        )

    async def GetIndexStatus(
        self, request: pb.GetIndexStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetIndexStatusResponse:
        self._acting(context, need_counter=False)
        return index_status_to_proto(await self._service.index_status())

    async def ExportTrustBundle(
        self, request: pb.ExportTrustBundleRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExportTrustBundleResponse:
        acting = self._acting(context)
        return bundle_to_proto(
            await self._service.export_bundle(
                since_version=request.since_version,
                group=request.group,
                acting=acting,
            )
        )
