"""Log values -> protobuf answers of the TransparencyLog API."""

from __future__ import annotations

from certseal.v1 import tlog_pb2 as pb
from services.tlog.domain import Leaf, SignedCheckpoint
from services.tlog.service import ConsistencyProof, InclusionProof


def checkpoint(cp: SignedCheckpoint, log_key: str) -> pb.GetCheckpointResponse:
    """GetCheckpoint's answer."""
    return pb.GetCheckpointResponse(
        checkpoint=cp.note, tree_size=cp.size, root_hash=cp.root_hash, log_key=log_key
    )


def inclusion(p: InclusionProof) -> pb.GetInclusionProofResponse:
    """GetInclusionProof's answer."""
    return pb.GetInclusionProofResponse(
        leaf_index=p.leaf_index,
        tree_size=p.tree_size,
        proof=p.proof,
        leaf_data=p.leaf_data,
        checkpoint=p.checkpoint,
    )


def consistency(p: ConsistencyProof) -> pb.GetConsistencyProofResponse:
    """GetConsistencyProof's answer."""
    return pb.GetConsistencyProofResponse(
        first_tree_size=p.first_tree_size,
        second_tree_size=p.second_tree_size,
        proof=p.proof,
        checkpoint=p.checkpoint,
    )


def leaves(found: list[Leaf]) -> list[pb.LogLeaf]:
    """Stored leaves as LogLeaf messages."""
    return [pb.LogLeaf(leaf_index=leaf.index, leaf_data=leaf.data) for leaf in found]
