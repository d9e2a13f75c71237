"""The transparency log's latest checkpoint, as this verifier group carries it.

Every ``[verifier] log_refresh_s`` the group fetches the log's checkpoint
(``TransparencyLog/GetCheckpoint``, as its own mTLS identity), checks its signature with
``[verifier] log_key`` (C2SP signed note, :mod:`certseal.checkpoints`) and, when it has
an older one, the consistency proof from the older to the newer (RFC 9162 §2.1.4,
:mod:`certseal.merkle`). Only a checkpoint that passes both is carried (in verification
results and offline bundles); a smaller tree, a fork or a bad proof keeps the last good
one and is logged as an error, and a size-0 checkpoint whose root is not the empty
tree's is never read (RFC 9162 §2.1.1). A log that cannot be reached keeps the last one too.
"""

from __future__ import annotations

import logging

import grpc

from certseal.checkpoints import Checkpoint, NoteVerifier, open_checkpoint
from certseal.merkle import verify_consistency
from certseal.rpc import secure_channel
from certseal.rpcerrors import failure_reason
from certseal.v1 import tlog_pb2 as pb
from certseal.v1 import tlog_pb2_grpc

log = logging.getLogger(__name__)


class LogWatch:
    """Holds the latest verified checkpoint of the transparency log ("" for none)."""

    def __init__(
        self,
        *,
        target: str,
        log_key: str,
        ca_file: str,
        cert_file: str,
        key_file: str,
    ):
        self._target = target
        self._verifier = (
            NoteVerifier.parse(log_key, "verifier.log_key") if target else None
        )
        self._files = (ca_file, cert_file, key_file)
        self._channel: grpc.aio.Channel | None = None
        #: the latest signed checkpoint as the log sent it, or ""
        self.note = ""
        self.checkpoint: Checkpoint | None = None

    @property
    def enabled(self) -> bool:
        """Whether this group follows a log."""
        return self._verifier is not None

    async def refresh(self) -> None:
        """Fetch, check and take the log's latest checkpoint; never raises."""
        if self._verifier is None:
            return
        try:
            await self._refresh(self._verifier)
        except Exception as exc:  # unreachable, a bad signature, a bad proof, ...
            log.warning("transparency log %s: %s", self._target, failure_reason(exc))

    async def _refresh(self, verifier: NoteVerifier) -> None:
        if self._channel is None:
            self._channel = secure_channel(self._target, *self._files)
        stub = tlog_pb2_grpc.TransparencyLogStub(self._channel)
        reply = await stub.GetCheckpoint(pb.GetCheckpointRequest(), timeout=5)
        new = open_checkpoint(reply.checkpoint, verifier)
        old = self.checkpoint
        if old is not None and new.size < old.size:
            log.error(
                "transparency log shrank from %d to %d leaves", old.size, new.size
            )
            return
        # from size 0 no proof is asked: the empty tree, whose root open_checkpoint
        # saw is SHA-256("") (RFC 9162 §2.1.1), precedes every tree
        if old is not None and 0 < old.size < new.size:
            proof = await stub.GetConsistencyProof(
                pb.GetConsistencyProofRequest(
                    first_tree_size=old.size, second_tree_size=new.size
                ),
                timeout=5,
            )
            verify_consistency(
                old.size, new.size, list(proof.proof), old.root_hash, new.root_hash
            )
        elif (
            old is not None and old.size == new.size and old.root_hash != new.root_hash
        ):
            log.error("transparency log forked at size %d", new.size)
            return
        self.note, self.checkpoint = reply.checkpoint, new

    async def close(self) -> None:
        """Close the channel."""
        if self._channel is not None:
            await self._channel.close()
