"""The transparency log's use cases: append batches (for the sequencer) and proofs.

Every proof is built from stored perfect-subtree hashes (services/tlog/domain.py): an
inclusion or consistency proof over a tree of n leaves reads O(log n) nodes in one query.
"""

from __future__ import annotations

from dataclasses import dataclass

from certseal.checkpoints import Checkpoint, NoteSigner, sign_checkpoint
from certseal.errors import invalid
from certseal.merkle import EMPTY_ROOT, leaf_hash
from services.tlog import domain
from services.tlog.domain import Appended, Leaf, LogEntry, SignedCheckpoint
from services.tlog.storage import LogStore

#: the most leaves one GetEntries returns
MAX_ENTRIES = 1000
#: the most leaves one FindEntries returns
MAX_FOUND = 100
#: the longest subject FindEntries looks up (characters)
MAX_SUBJECT = 256


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """An audit path: the leaf, the tree size, the path and the checkpoint if signed."""

    leaf_index: int
    tree_size: int
    proof: list[bytes]
    leaf_data: bytes
    checkpoint: str


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """A consistency proof between two tree sizes, with the second's checkpoint."""

    first_tree_size: int
    second_tree_size: int
    proof: list[bytes]
    checkpoint: str


class LogService:
    """Reads of the log, and the sequencer's append step."""

    def __init__(self, *, store: LogStore, signer: NoteSigner):
        self._store = store
        self._signer = signer

    @property
    def log_key(self) -> str:
        """The log's note-verifier key (``<origin>+<hex id>+<base64 key>``)."""
        return self._signer.verifier.encode()

    def append_batch(
        self, size: int, frontier: list[bytes], entries: list[LogEntry]
    ) -> tuple[Appended, SignedCheckpoint]:
        """Append ``entries`` to the tree of ``size`` leaves; sign the new checkpoint."""
        appended = domain.append(
            size, frontier, [leaf_hash(e.encode()) for e in entries]
        )
        cp = Checkpoint(self._signer.name, appended.size, appended.root)
        return appended, SignedCheckpoint(
            cp.size, cp.root_hash, sign_checkpoint(cp, self._signer)
        )

    async def latest_checkpoint(self) -> SignedCheckpoint:
        """The latest signed checkpoint (the empty tree's before the first append)."""
        found = await self._store.latest_checkpoint()
        if found is not None:
            return found
        empty = Checkpoint(self._signer.name, 0, EMPTY_ROOT)
        return SignedCheckpoint(0, EMPTY_ROOT, sign_checkpoint(empty, self._signer))

    async def _tree_size(self, requested: int, field: str) -> int:
        """``requested`` (0: the latest), checked against the tree's size."""
        size = await self._store.size()
        if requested > size:
            raise invalid(
                field, f"tree size {requested} is beyond the log's size {size}"
            )
        return requested or size

    async def inclusion_proof(self, leaf_index: int, tree_size: int) -> InclusionProof:
        """The audit path of leaf ``leaf_index`` in the tree of ``tree_size`` leaves (0:
        the latest). INVALID_ARGUMENT (``leaf_index`` / ``tree_size``) when either is
        out of range."""
        _bounded(leaf_index, "leaf_index")
        _bounded(tree_size, "tree_size")
        size = await self._tree_size(tree_size, "tree_size")
        if leaf_index >= size:
            raise invalid(
                "leaf_index", f"leaf index {leaf_index} is not below tree size {size}"
            )
        ranges = domain.inclusion_ranges(leaf_index, size)
        nodes = await self._store.nodes(domain.proof_nodes(ranges))
        leaves = await self._store.leaves(leaf_index, 1)
        signed = await self._store.checkpoint(size)
        return InclusionProof(
            leaf_index=leaf_index,
            tree_size=size,
            proof=domain.assemble(ranges, nodes),
            leaf_data=leaves[0].data,
            checkpoint=signed.note if signed else "",
        )

    async def consistency_proof(self, first: int, second: int) -> ConsistencyProof:
        """The proof that the tree of ``first`` leaves is a prefix of the tree of
        ``second`` (0: the latest). INVALID_ARGUMENT (``first_tree_size`` /
        ``second_tree_size``) unless ``0 < first <= second <= size``."""
        _bounded(first, "first_tree_size")
        _bounded(second, "second_tree_size")
        size = await self._tree_size(second, "second_tree_size")
        if first == 0:
            raise invalid(
                "first_tree_size", "a consistency proof starts at a tree size above 0"
            )
        if first > size:
            raise invalid(
                "first_tree_size",
                f"first tree size {first} is beyond the second tree size {size}",
            )
        ranges = domain.consistency_ranges(first, size)
        nodes = await self._store.nodes(domain.proof_nodes(ranges))
        signed = await self._store.checkpoint(size)
        return ConsistencyProof(
            first_tree_size=first,
            second_tree_size=size,
            proof=domain.assemble(ranges, nodes),
            checkpoint=signed.note if signed else "",
        )

    async def entries(self, start: int, count: int) -> list[Leaf]:
        """Leaves ``[start, start + count)``; INVALID_ARGUMENT (``count`` / ``start``)
        for a count of 0 or above :data:`MAX_ENTRIES` or a start beyond the tree."""
        _bounded(start, "start")
        if not 0 < count <= MAX_ENTRIES:
            raise invalid("count", f"count must be between 1 and {MAX_ENTRIES}")
        size = await self._store.size()
        if start >= size:
            raise invalid("start", f"start {start} is not below the log's size {size}")
        return await self._store.leaves(start, min(count, size - start))

    async def find(self, subject: str, after: int, page_size: int) -> list[Leaf]:
        """Leaves naming ``subject`` after leaf index ``after``; INVALID_ARGUMENT
        (``subject`` / ``page_size``) for an empty or overlong subject or page."""
        if not subject or len(subject) > MAX_SUBJECT or not subject.isprintable():
            raise invalid(
                "subject", f"a subject is 1 to {MAX_SUBJECT} printable characters"
            )
        if page_size > MAX_FOUND:
            raise invalid("page_size", f"page_size must be at most {MAX_FOUND}")
        _bounded(max(after, 0), "after_leaf_index")
        return await self._store.find(
            subject, after=max(after, -1), limit=page_size or MAX_FOUND
        )


def _bounded(value: int, field: str) -> None:
    if not 0 <= value <= domain.MAX_TREE_SIZE:
        raise invalid(field, f"{value} is not between 0 and {domain.MAX_TREE_SIZE}")
