"""The TransparencyLog gRPC servicer: check shape, call the service, convert back."""

from __future__ import annotations

import grpc

from certseal.v1 import tlog_pb2 as pb
from certseal.v1 import tlog_pb2_grpc
from services.tlog import convert
from services.tlog.service import LogService


class TransparencyLogServicer(tlog_pb2_grpc.TransparencyLogServicer):
    """Thin: every rule lives in :class:`LogService`."""

    def __init__(self, *, service: LogService):
        self._service = service

    async def GetCheckpoint(
        self, request: pb.GetCheckpointRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetCheckpointResponse:
        cp = await self._service.latest_checkpoint()
        return convert.checkpoint(cp, self._service.log_key)

    async def GetInclusionProof(
        self, request: pb.GetInclusionProofRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetInclusionProofResponse:
        proof = await self._service.inclusion_proof(
            request.leaf_index, request.tree_size
        )
        return convert.inclusion(proof)

    async def GetConsistencyProof(
        self, request: pb.GetConsistencyProofRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetConsistencyProofResponse:
        proof = await self._service.consistency_proof(
            request.first_tree_size, request.second_tree_size
        )
        return convert.consistency(proof)

    async def GetEntries(
        self, request: pb.GetEntriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetEntriesResponse:
        found = await self._service.entries(request.start, request.count)
        return pb.GetEntriesResponse(leaves=convert.leaves(found))

    async def FindEntries(
        self, request: pb.FindEntriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.FindEntriesResponse:
        found = await self._service.find(
            request.subject, request.after_leaf_index, request.page_size
        )
        return pb.FindEntriesResponse(leaves=convert.leaves(found))
