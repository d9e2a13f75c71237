"""RFC 9162 Merkle tree hashing and proof verification (pure).

Standards: RFC 6962 §2.1 and RFC 9162 §2.1 with SHA-256: ``leaf = SHA-256(0x00 ||
data)``, ``node = SHA-256(0x01 || left || right)``, the empty tree ``SHA-256("")``;
inclusion proofs verified as RFC 9162 §2.1.3.2 says, consistency proofs as §2.1.4.2.
Used by the transparency log (services/tlog), ``certseal log verify`` and the verifier's
offline bundles; tested against transparency-dev/merkle's published vectors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from certseal.errors import CertsealError, ErrorKind

HASH_SIZE = 32
#: RFC 9162 §2.1.1: the hash of the empty tree
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(CertsealError):
    """A proof does not verify (or cannot: it has the wrong shape)."""

    def __init__(self, message: str, *, field: str = "proof"):
        super().__init__(ErrorKind.FAILED_PRECONDITION, message, field=field)


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x00 || data), 32 bytes."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x01 || left || right), 32 bytes."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162 §2.1.1: the largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_hash(value: bytes, field: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"a hash is {HASH_SIZE} bytes, not {len(value)}", field=field)


def root_from_inclusion_proof(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes]
) -> bytes:
    """RFC 9162 §2.1.3.2: the root an audit path leads to from leaf hash ``leaf``.

    Raises :class:`ProofError` when the index is not below the size, a hash is not 32
    bytes, or the path has too few or too many hashes.
    """
    if not 0 <= index < size:
        raise ProofError(
            f"leaf index {index} is not below tree size {size}", field="leaf_index"
        )
    _check_hash(leaf, "leaf_hash")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        _check_hash(p, "proof")
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows leaf hash ``leaf`` at ``index``
    in the tree of ``size`` leaves with root hash ``root`` (RFC 9162 §2.1.3.2); a
    root, leaf or proof hash that is not 32 bytes is refused."""
    computed = root_from_inclusion_proof(index, size, leaf, proof)
    _check_hash(root, "root_hash")
    if computed != root:
        raise ProofError("the inclusion proof does not lead to the root hash")


def verify_consistency(
    first: int,
    second: int,
    proof: Sequence[bytes],
    first_root: bytes,
    second_root: bytes,
) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows the tree of ``first`` leaves
    with ``first_root`` is a prefix of the tree of ``second`` leaves with
    ``second_root`` (RFC 9162 §2.1.4.2). A proof from the empty tree is meaningless
    and refused, as is ``first > second``; a root or proof hash that is not 32 bytes
    (SHA-256, RFC 9162 §2.1.1) is refused whatever the sizes."""
    if not 0 < first <= second:
        raise ProofError(
            f"no consistency proof from tree size {first} to {second}",
            field="first_tree_size",
        )
    _check_hash(first_root, "first_root_hash")
    _check_hash(second_root, "second_root_hash")
    if first == second:
        if proof:
            raise ProofError("equal tree sizes take an empty proof")
        if first_root != second_root:
            raise ProofError("equal tree sizes with different root hashes")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    for p in proof:
        _check_hash(p, "proof")
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first root is the seed
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != first_root:
        raise ProofError("the consistency proof does not lead to the first root hash")
    if sr != second_root:
        raise ProofError("the consistency proof does not lead to the second root hash")


def reference_root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) computed straight from RFC 9162 §2.1.1's recursion over leaf hashes
    (for tests and audits of small trees; O(n))."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = largest_power_of_two_below(len(leaves))
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))
