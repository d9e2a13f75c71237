"""The transparency log's pure rules: RFC 9162 Merkle tree hashing, proofs, leaves.

Standards: RFC 6962 §2.1 and RFC 9162 §2.1 (the Merkle Tree Hash, audit paths and
consistency proofs, with SHA-256: ``leaf = SHA-256(0x00 || data)``,
``node = SHA-256(0x01 || left || right)``, empty tree ``SHA-256("")``).

Storage model: a *node* ``(level, index)`` is the hash of the perfect subtree over
leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 holds the leaf hashes.
Only perfect subtrees are stored; every other subtree hash a proof needs is the fold of
at most log2(n) perfect ones (:func:`perfect_cover`), so a proof reads O(log n) nodes.
Appending ``k`` leaves writes ``k`` leaf nodes and at most ``k`` interior nodes, from the
*frontier* (the perfect subtrees covering ``[0, size)``, largest first).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

from certseal.errors import CertsealError, ErrorKind
from certseal.merkle import EMPTY_ROOT, largest_power_of_two_below, node_hash

#: the largest tree size a request may name (2**63 - 1: PostgreSQL's bigint)
MAX_TREE_SIZE = 2**63 - 1

Node = tuple[int, int]  # (level, index)


def perfect_cover(start: int, end: int) -> list[Node]:
    """The perfect subtrees whose leaves are ``[start, end)``, left to right.

    ``start`` must be a multiple of the largest power of two not above ``end - start``
    (true of every subtree RFC 9162's recursion names); the sizes then decrease.
    """
    nodes: list[Node] = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start % (1 << level):
            level -= 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of a range from its perfect cover's hashes (left to right).

    RFC 9162's split puts the largest power of two on the left, so the range's hash is
    the right fold: H(c0, H(c1, ... H(c[n-2], c[n-1]))). Empty: :data:`EMPTY_ROOT`.
    """
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes form PATH(index, D[0:size]) (RFC 6962 §2.1.1),
    in proof order (the leaf's sibling first). Raises :class:`CertsealError`
    (INVALID_ARGUMENT) when ``index`` is not below ``size``."""
    if not 0 <= index < size:
        raise CertsealError(
            ErrorKind.INVALID_ARGUMENT,
            f"leaf index {index} is not below tree size {size}",
            field="leaf_index",
        )
    ranges: list[tuple[int, int]] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = largest_power_of_two_below(hi - lo)
        if m < k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m = lo + k, m - k
    ranges.reverse()
    return ranges


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes form PROOF(first, D[0:second]) (RFC 6962 §2.1.2),
    in proof order. Raises :class:`CertsealError` (INVALID_ARGUMENT) unless
    ``0 < first <= second``."""
    if not 0 < first <= second:
        raise CertsealError(
            ErrorKind.INVALID_ARGUMENT,
            f"first tree size {first} must be above 0 and not above the second "
            f"tree size {second}",
            field="first_tree_size",
        )
    ranges: list[tuple[int, int]] = []
    lo, hi, m, whole = 0, second, first, True
    while m != hi - lo:
        k = largest_power_of_two_below(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def proof_nodes(ranges: Iterable[tuple[int, int]]) -> set[Node]:
    """Every stored node a proof over ``ranges`` reads."""
    return {n for a, b in ranges for n in perfect_cover(a, b)}


def assemble(
    ranges: Sequence[tuple[int, int]], nodes: Mapping[Node, bytes]
) -> list[bytes]:
    """The proof's hashes from the stored ``nodes`` (see :func:`proof_nodes`)."""
    return [fold([nodes[n] for n in perfect_cover(a, b)]) for a, b in ranges]


def root_from_frontier(frontier: Sequence[bytes]) -> bytes:
    """The tree's root hash from its frontier's hashes (largest subtree first)."""
    return fold(frontier)


def frontier_nodes(size: int) -> list[Node]:
    """The perfect subtrees covering ``[0, size)``, largest first."""
    return perfect_cover(0, size)


@dataclass(frozen=True, slots=True)
class Appended:
    """What appending leaves to a tree produced."""

    #: every node to store, leaves and the interior nodes they completed
    nodes: list[tuple[int, int, bytes]]
    #: the new tree size
    size: int
    #: the new frontier's hashes (largest subtree first)
    frontier: list[bytes]

    @property
    def root(self) -> bytes:
        """The new root hash."""
        return root_from_frontier(self.frontier)


def append(
    size: int, frontier: Sequence[bytes], leaf_hashes: Iterable[bytes]
) -> Appended:
    """Append ``leaf_hashes`` to a tree of ``size`` leaves with the given frontier.

    Each leaf at index i is stored as (0, i); while its index at a level is odd, it
    completes its parent with its left sibling (the frontier's last entry).
    """
    levels = [lvl for lvl, _ in frontier_nodes(size)]
    if len(levels) != len(frontier):
        raise ValueError(f"a tree of {size} leaves has {len(levels)} frontier nodes")
    stack = list(zip(levels, frontier, strict=True))
    nodes: list[tuple[int, int, bytes]] = []
    for h in leaf_hashes:
        index, level = size, 0
        nodes.append((0, index, h))
        while stack and stack[-1][0] == level:
            _, left = stack.pop()
            h = node_hash(left, h)
            level += 1
            index >>= 1
            nodes.append((level, index, h))
        stack.append((level, h))
        size += 1
    return Appended(nodes=nodes, size=size, frontier=[h for _, h in stack])


#: the first line of every leaf's data; its version changes with the format
ENTRY_FORMAT = "certseal/transparency-log/entry/v1"
#: the topics whose events are logged (docs/architecture.md, "The transparency log")
LOGGED_TOPICS = (
    "certseal.licence-events.v1",
    "certseal.trust-events.v1",
    "certseal.seal-events.v1",
)
_SAFE = ":/.-_@+=~"
_ENTRY_FIELDS = ("topic", "type", "subject", "event", "time", "sha256")


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One leaf's data: a logged event's public identifiers and its digest.

    No personal data: the event's topic, CloudEvents type, subject (a licence lineage,
    a key id or a seal id), event id and time, and the SHA-256 of the event's protobuf
    value (which itself carries no personal data in clear, docs/events.md).
    """

    topic: str
    type: str
    subject: str
    event: str
    time: str
    sha256: bytes

    def encode(self) -> bytes:
        """The leaf data: UTF-8 lines ``<field> <value>`` after the format line, each
        value percent-encoded (RFC 3986) so that it is one word of printable ASCII."""
        values = (self.topic, self.type, self.subject, self.event, self.time)
        lines = [ENTRY_FORMAT]
        lines += [
            f"{n} {quote(v, safe=_SAFE)}"
            for n, v in zip(_ENTRY_FIELDS, values, strict=False)
        ]
        lines.append(f"sha256 {self.sha256.hex()}")
        return ("\n".join(lines) + "\n").encode()

    @classmethod
    def decode(cls, data: bytes) -> LogEntry:
        """Read leaf data; INVALID_ARGUMENT (field ``leaf``) if it is not an entry."""
        try:
            lines = data.decode().split("\n")
        except UnicodeDecodeError:
            lines = []
        if (
            len(lines) != len(_ENTRY_FIELDS) + 2
            or lines[0] != ENTRY_FORMAT
            or lines[-1] != ""
        ):
            raise CertsealError(
                ErrorKind.INVALID_ARGUMENT, "not a certseal log entry", field="leaf"
            )
        values: list[str] = []
        for name, line in zip(_ENTRY_FIELDS, lines[1:-1], strict=True):
            key, sep, value = line.partition(" ")
            if key != name or not sep:
                raise CertsealError(
                    ErrorKind.INVALID_ARGUMENT,
                    f"the entry's {name} line is missing",
                    field="leaf",
                )
            values.append(unquote(value))
        try:
            digest = bytes.fromhex(values[5])
        except ValueError:
            digest = b""
        if len(digest) != 32:
            raise CertsealError(
                ErrorKind.INVALID_ARGUMENT,
                "the entry's sha256 is not 32 bytes",
                field="leaf",
            )
        entry = cls(
            values[0], values[1], values[2], values[3], values[4], sha256=digest
        )
        if entry.encode() != data:
            raise CertsealError(
                ErrorKind.INVALID_ARGUMENT,
                "the entry is not in its canonical form",
                field="leaf",
            )
        return entry


def entry_of(topic: str, headers: Mapping[str, str], value_sha256: bytes) -> LogEntry:
    """The log entry of an outbox row: its topic, CloudEvents headers and digest."""
    return LogEntry(
        topic=topic,
        type=headers.get("ce_type", ""),
        subject=headers.get("ce_subject", ""),
        event=headers.get("ce_id", ""),
        time=headers.get("ce_time", ""),
        sha256=value_sha256,
    )


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint the log signed: its tree size, root hash and signed note."""

    size: int
    root_hash: bytes
    note: str


@dataclass(frozen=True, slots=True)
class Leaf:
    """One leaf: its index and data."""

    index: int
    data: bytes
