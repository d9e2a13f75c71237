"""Outside attack on the transparency log (atk38): RFC 9162 proof verification, the
C2SP signed-note and tlog-checkpoint parsing, the log service's hostile arguments and
caller kinds, ``certseal log verify`` with hostile files and a hostile log, and the
verifier's log watch.

Each fault found was one ``xfail(strict=True)`` test asserting the correct behaviour,
now fixed and tested with more inputs of its kind beside it; the other tests pin what
certseal already handled correctly. Everything but the last
test is pure (no database, broker or network): the CLI runs in-process with its gRPC
calls replaced by a hostile log's answers, the log service over an in-memory store.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certseal.checkpoints import (
    MAX_NOTE_BYTES,
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    sign_checkpoint,
)
from certseal.errors import CertsealError, ErrorKind
from certseal.merkle import (
    EMPTY_ROOT,
    largest_power_of_two_below,
    leaf_hash,
    node_hash,
    reference_root,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from services.tlog import domain
from services.tlog.domain import LogEntry, SignedCheckpoint

ORIGIN = "log.example/atk38"
EM = "\u2014 "
ROOT_B64 = base64.b64encode(bytes(32)).decode()


@pytest.fixture(scope="module")
def signer() -> NoteSigner:
    return NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes(range(32))))


def _note(signer: NoteSigner, size: int, root: bytes) -> str:
    """The checkpoint signed by the log key, as a hostile log could sign it too
    (``sign_checkpoint`` refuses a size-0 one with another root than the empty
    tree's)."""
    return signer.sign(Checkpoint(ORIGIN, size, root).text())


def _refused(call, kind: ErrorKind | None = None, field: str | None = None):
    """The CertsealError ``call`` raises (nothing else may escape)."""
    with pytest.raises(CertsealError) as err:
        call()
    if kind is not None:
        assert err.value.kind is kind, err.value
    if field is not None:
        assert err.value.field == field, err.value
    return err.value


# -- an independent RFC 6962 §2.1.1 / §2.1.2 reference (PATH and PROOF) --------------


def _path(m: int, hashes: list[bytes]) -> list[bytes]:
    n = len(hashes)
    if n <= 1:
        return []
    k = largest_power_of_two_below(n)
    if m < k:
        return [*_path(m, hashes[:k]), reference_root(hashes[k:])]
    return [*_path(m - k, hashes[k:]), reference_root(hashes[:k])]


def _subproof(m: int, hashes: list[bytes], whole: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if whole else [reference_root(hashes)]
    k = largest_power_of_two_below(n)
    if m <= k:
        return [*_subproof(m, hashes[:k], whole), reference_root(hashes[k:])]
    return [*_subproof(m - k, hashes[k:], False), reference_root(hashes[:k])]


N = 20
LEAVES = [leaf_hash(bytes([i])) for i in range(N)]
ROOTS = [reference_root(LEAVES[:n]) for n in range(N + 1)]


def _passes(call) -> bool:
    try:
        call()
    except CertsealError:
        return False
    return True


# == 1. Merkle proof verification (RFC 9162 §2.1.3.2, §2.1.4.2) ======================


def test_inclusion_proofs_bind_their_index_and_size_and_refuse_any_change():
    proofs = {(m, n): _path(m, LEAVES[:n]) for n in range(1, N + 1) for m in range(n)}
    junk = leaf_hash(b"junk")
    for (m, n), p in proofs.items():
        verify_inclusion(m, n, LEAVES[m], p, ROOTS[n])
        for changed in ([*p, junk], [junk, *p], p[:-1], p[1:], p[::-1]):
            if changed != p:
                assert not _passes(
                    lambda c=changed, m=m, n=n: verify_inclusion(
                        m, n, LEAVES[m], c, ROOTS[n]
                    )
                ), (m, n)
        # the same path never verifies for another (index, size) of the same tree
        for m2, n2 in proofs:
            if (m2, n2) != (m, n):
                assert not _passes(
                    lambda m2=m2, n2=n2, p=p, m=m: verify_inclusion(
                        m2, n2, LEAVES[m], p, ROOTS[n2]
                    )
                ), ((m, n), (m2, n2))


def test_consistency_proofs_bind_their_sizes_and_refuse_any_change():
    proofs = {
        (m, n): _subproof(m, LEAVES[:n], True)
        for n in range(2, N + 1)
        for m in range(1, n)
    }
    junk = leaf_hash(b"junk")
    for (m, n), p in proofs.items():
        verify_consistency(m, n, p, ROOTS[m], ROOTS[n])
        for changed in ([*p, junk], [junk, *p], p[:-1], p[1:], p[::-1], []):
            if changed != p:
                assert not _passes(
                    lambda c=changed, m=m, n=n: verify_consistency(
                        m, n, c, ROOTS[m], ROOTS[n]
                    )
                ), (m, n)
        for m2, n2 in proofs:
            if (m2, n2) != (m, n):
                assert not _passes(
                    lambda m2=m2, n2=n2, p=p: verify_consistency(
                        m2, n2, p, ROOTS[m2], ROOTS[n2]
                    )
                ), ((m, n), (m2, n2))
        # a fork: the right proof against another second root of that size
        assert not _passes(
            lambda m=m, n=n, p=p: verify_consistency(m, n, p, ROOTS[m], junk)
        )


@pytest.mark.parametrize(
    ("index", "size", "field"),
    [
        (0, 0, "leaf_index"),
        (1, 1, "leaf_index"),
        (5, 3, "leaf_index"),
        (-1, 3, "leaf_index"),
        (2**64, 2**64, "leaf_index"),
    ],
)
def test_an_inclusion_proof_outside_the_tree_is_refused(index, size, field):
    _refused(
        lambda: verify_inclusion(index, size, LEAVES[0], [], ROOTS[1]),
        ErrorKind.FAILED_PRECONDITION,
        field,
    )


def test_inclusion_hashes_of_the_wrong_length_are_refused():
    p = _path(2, LEAVES[:5])
    _refused(
        lambda: verify_inclusion(2, 5, LEAVES[2][:31], p, ROOTS[5]),
        field="leaf_hash",
    )
    _refused(
        lambda: verify_inclusion(2, 5, LEAVES[2], [p[0] + b"\0", *p[1:]], ROOTS[5]),
        field="proof",
    )
    # a root of another length never matches
    _refused(lambda: verify_inclusion(2, 5, LEAVES[2], p, ROOTS[5] + b"\0"))


def test_a_huge_tree_size_with_a_short_path_is_refused_quickly():
    _refused(
        lambda: root_from_inclusion_proof(0, 2**4000, LEAVES[0], LEAVES[:10]),
        ErrorKind.FAILED_PRECONDITION,
    )


@pytest.mark.parametrize(
    ("first", "second", "proof"),
    [
        (0, 5, []),  # from the empty tree: meaningless, refused
        (0, 0, []),
        (5, 3, []),
        (-1, 3, []),
        (3, 3, [LEAVES[0]]),  # equal sizes take an empty proof
        (3, 5, []),  # an empty proof between different sizes
    ],
)
def test_consistency_sizes_out_of_order_or_proofs_of_the_wrong_shape_are_refused(
    first, second, proof
):
    root = ROOTS[first] if 0 <= first <= N else EMPTY_ROOT
    _refused(
        lambda: verify_consistency(first, second, proof, root, ROOTS[second]),
        ErrorKind.FAILED_PRECONDITION,
    )


def test_equal_sizes_with_different_roots_are_a_fork():
    _refused(lambda: verify_consistency(4, 4, [], ROOTS[4], ROOTS[5]))


def test_leaf_and_node_hashes_are_separated_by_domain():
    # second preimage: the data of an interior node, logged as a leaf, hashes to
    # something else than the node (0x00 vs 0x01 prefix), so a verifier that hashes
    # the leaf data it was served cannot be shown an interior node as a leaf
    interior = LEAVES[0] + LEAVES[1]
    assert leaf_hash(interior) != node_hash(LEAVES[0], LEAVES[1])
    root2 = ROOTS[2]
    _refused(lambda: verify_inclusion(0, 1, leaf_hash(interior), [], root2))


def test_a_first_root_hash_that_is_not_32_bytes_is_refused():
    short = b"short"
    second = node_hash(short, LEAVES[1])  # what the proof leads to from that seed
    _refused(
        lambda: verify_consistency(1, 2, [LEAVES[1]], short, second),
        ErrorKind.FAILED_PRECONDITION,
        "first_root_hash",
    )


@pytest.mark.parametrize(
    ("first", "second", "first_root", "second_root", "field"),
    [
        # equal sizes compare the roots only: two equal short "roots" are no tree head
        (3, 3, b"x", b"x", "first_root_hash"),
        (3, 3, b"", b"", "first_root_hash"),
        (4, 4, ROOTS[4] + b"\0", ROOTS[4] + b"\0", "first_root_hash"),
        (2, 4, ROOTS[2][:31], ROOTS[4], "first_root_hash"),
        (3, 5, ROOTS[3] + b"\0", ROOTS[5], "first_root_hash"),
        (3, 5, ROOTS[3], ROOTS[5][:31], "second_root_hash"),
        (4, 4, ROOTS[4], ROOTS[4] + b"\0", "second_root_hash"),
    ],
)
def test_root_hashes_that_are_not_32_bytes_are_refused_whatever_the_sizes(
    first, second, first_root, second_root, field
):
    proof = _subproof(first, LEAVES[:second], True)
    _refused(
        lambda: verify_consistency(first, second, proof, first_root, second_root),
        ErrorKind.FAILED_PRECONDITION,
        field,
    )
    # an inclusion proof's root too
    path = _path(0, LEAVES[:second])
    _refused(
        lambda: verify_inclusion(0, second, LEAVES[0], path, second_root[:31]),
        ErrorKind.FAILED_PRECONDITION,
        "root_hash",
    )


# == 2. C2SP signed note and tlog-checkpoint ========================================


def test_a_signed_checkpoint_round_trips(signer):
    cp = open_checkpoint(_note(signer, 7, ROOTS[7]), signer.verifier)
    assert (cp.origin, cp.size, cp.root_hash) == (ORIGIN, 7, ROOTS[7])


def test_the_key_id_and_verifier_key_string_are_c2sp(signer):
    raw = signer.verifier.public_key
    want = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + raw).digest()[:4]
    assert signer.verifier.key_id == want
    text = signer.verifier.encode()
    b64 = base64.b64encode(bytes([1]) + raw).decode()
    assert text == f"{ORIGIN}+{want.hex()}+{b64}"
    assert NoteVerifier.parse(text) == signer.verifier


@pytest.mark.parametrize(
    "mangle",
    [
        lambda n: n[:-1],  # no final newline
        lambda n: n.replace("\n\n", "\n", 1),  # no blank line
        lambda n: n.replace("\n", "\r\n"),  # CRLF
        lambda n: n.replace(EM, "-- ", 1),  # not the em dash
        lambda n: n.replace(EM, "\u2013 ", 1),  # an en dash
        lambda n: n.replace(EM, "\u2014", 1),  # no space after the dash
        lambda n: n + "\n",  # a trailing blank line
        lambda n: n.replace(f"{EM}{ORIGIN} ", f"{EM}{ORIGIN}\t", 1),  # a tab
        lambda n: n + f"{EM}w !!!!\n",  # another signature not base64
        lambda n: n + f"{EM}w AAAA\n",  # another signature shorter than an ID
        lambda n: n + "x" * MAX_NOTE_BYTES,  # too large
        lambda n: n + f"{EM}w AAAAAAAA\n" * 64,  # too many signature lines
        lambda n: "\x00" + n,
    ],
)
def test_a_malformed_note_is_invalid_argument(signer, mangle):
    _refused(
        lambda: open_checkpoint(mangle(_note(signer, 3, ROOTS[3])), signer.verifier),
        ErrorKind.INVALID_ARGUMENT,
        "checkpoint",
    )


def _with_text(signer: NoteSigner, text: str) -> str:
    """``text`` signed by the log key (as a hostile log could sign it)."""
    return signer.sign(text)


@pytest.mark.parametrize(
    "size",
    ["010", "+5", "-1", " 5", "5 ", "0x5", "\u0665", "1e3", "", "99999999999999999999"],
)
def test_a_tree_size_that_is_not_plain_decimal_is_refused_even_when_signed(
    signer, size
):
    note = _with_text(signer, f"{ORIGIN}\n{size}\n{ROOT_B64}\n")
    _refused(
        lambda: open_checkpoint(note, signer.verifier),
        ErrorKind.INVALID_ARGUMENT,
        "checkpoint",
    )


@pytest.mark.parametrize(
    "root",
    [
        base64.b64encode(bytes(31)).decode(),
        base64.b64encode(bytes(33)).decode(),
        ROOT_B64.rstrip("="),
        "_" * 43 + "=",
        ROOT_B64 + " ",
        "",
    ],
)
def test_a_root_hash_that_is_not_32_bytes_of_base64_is_refused(signer, root):
    note = _with_text(signer, f"{ORIGIN}\n5\n{root}\n")
    _refused(
        lambda: open_checkpoint(note, signer.verifier),
        ErrorKind.INVALID_ARGUMENT,
        "checkpoint",
    )


def test_extension_lines_are_kept_and_empty_ones_refused(signer):
    note = _with_text(signer, f"{ORIGIN}\n5\n{ROOT_B64}\next one\next two\n")
    assert open_checkpoint(note, signer.verifier).extensions == ("ext one", "ext two")
    # the text is split from the signatures at the last blank line, so a blank line
    # inside the text is an empty extension line
    note = _with_text(signer, f"{ORIGIN}\n5\n{ROOT_B64}\n\next\n")
    _refused(lambda: open_checkpoint(note, signer.verifier), ErrorKind.INVALID_ARGUMENT)


def test_the_origin_must_be_the_key_name(signer):
    note = _with_text(signer, f"other.example/log\n5\n{ROOT_B64}\n")
    _refused(
        lambda: open_checkpoint(note, signer.verifier),
        ErrorKind.FAILED_PRECONDITION,
        "checkpoint",
    )


def test_signatures_of_unknown_keys_are_ignored_but_a_bad_one_of_the_log_key_refuses(
    signer,
):
    note = _note(signer, 5, ROOTS[5])
    own = note.rstrip("\n").rsplit("\n", 1)[1]
    kid, sig = base64.b64decode(own.rsplit(" ", 1)[1])[:4], own.rsplit(" ", 1)[1]
    other_id = bytes(b ^ 0xFF for b in kid)
    blob = base64.b64decode(sig)
    # the same name with another key ID, another name with the same key ID: ignored
    extra = (
        f"{EM}{ORIGIN} {base64.b64encode(other_id + blob[4:]).decode()}\n"
        f"{EM}witness.example {sig}\n"
    )
    assert open_checkpoint(note + extra, signer.verifier).size == 5
    # only unknown keys: no signature of the log
    _refused(
        lambda: open_checkpoint(
            note.replace(f"{EM}{ORIGIN} {sig}\n", extra), signer.verifier
        ),
        ErrorKind.FAILED_PRECONDITION,
    )
    # a second, invalid signature of the log key rejects the whole note
    forged = base64.b64encode(kid + bytes(64)).decode()
    _refused(
        lambda: open_checkpoint(note + f"{EM}{ORIGIN} {forged}\n", signer.verifier),
        ErrorKind.FAILED_PRECONDITION,
    )
    # the very same signature line twice is still the one signature (Go skips it)
    assert open_checkpoint(note + own + "\n", signer.verifier).size == 5


def test_a_signature_over_other_text_is_refused(signer):
    note = _note(signer, 5, ROOTS[5])
    sig = note.split("\n\n", 1)[1]
    forged = f"{ORIGIN}\n6\n{base64.b64encode(ROOTS[6]).decode()}\n\n{sig}"
    _refused(
        lambda: open_checkpoint(forged, signer.verifier), ErrorKind.FAILED_PRECONDITION
    )


@pytest.mark.parametrize(
    "key",
    [
        "",
        "x",
        "a b+d870bab6+AAAA",  # a name with a space
        "+d870bab6+AAAA",  # no name
        "n+zz+AAAA",  # the key ID not hex
        "n+d870bab6+!!!!",  # bad base64
        "n+d870bab6+" + "A" * 5000,  # not an Ed25519 key
        "n+d870+AQ" + "A" * 42 + "=",  # a 2-byte key ID
    ],
)
def test_a_malformed_verifier_key_is_invalid_argument(key):
    _refused(lambda: NoteVerifier.parse(key), ErrorKind.INVALID_ARGUMENT, "log_key")


def test_a_verifier_key_whose_id_does_not_match_its_key_is_refused(signer):
    name, kid, b64 = signer.verifier.encode().split("+", 2)
    wrong = bytes(b ^ 1 for b in bytes.fromhex(kid)).hex()
    _refused(lambda: NoteVerifier.parse(f"{name}+{wrong}+{b64}"), field="log_key")
    # the ID is bound to the name: the same key under another name has another ID
    _refused(lambda: NoteVerifier.parse(f"other+{kid}+{b64}"), field="log_key")


def test_a_key_name_with_a_space_or_a_plus_cannot_sign():
    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    for name in ("a b", "a+b", "", "a\u3000b"):
        _refused(lambda n=name: NoteSigner(n, key), ErrorKind.INVALID_ARGUMENT)


def test_a_verifier_key_id_with_white_space_is_refused(signer):
    name, kid, b64 = signer.verifier.encode().split("+", 2)
    _refused(
        lambda: NoteVerifier.parse(f"{name}+{kid[:4]} {kid[4:]}+{b64}"),
        ErrorKind.INVALID_ARGUMENT,
        "log_key",
    )


@pytest.mark.parametrize(
    "shape",
    [
        lambda k: f" {k} ",
        lambda k: f"{k}\t",
        lambda k: f"{k[:2]}\n{k[2:]}",
        lambda k: f"{k[:4]}_{k[4:]}",  # int(..., 16) would skip an underscore
        lambda k: f"0x{k[2:]}",
        lambda k: f"00{k}",
        lambda k: k[:6],
        lambda k: "".join(chr(ord(c) + 0xFEE0) for c in k),  # full-width digits
    ],
)
def test_a_verifier_key_id_is_exactly_8_hex_digits(signer, shape):
    name, kid, b64 = signer.verifier.encode().split("+", 2)
    _refused(
        lambda: NoteVerifier.parse(f"{name}+{shape(kid)}+{b64}"),
        ErrorKind.INVALID_ARGUMENT,
        "log_key",
    )
    # upper-case hex is hex (Go's strconv.ParseUint reads it)
    assert NoteVerifier.parse(f"{name}+{kid.upper()}+{b64}") == signer.verifier


@pytest.mark.parametrize(
    "line",
    [
        f"{EM} AAAAAAAA\n",
        f"{EM}a b AAAAAAAA\n",
        f"{EM}a+b AAAAAAAA\n",  # Go's isValidName: no '+'
        f"{EM}a\u3000b AAAAAAAA\n",  # Unicode white space
        f"{EM}a\u00a0b AAAAAAAA\n",
        f"{EM}{ORIGIN}  AAAAAAAA\n",  # two spaces: an empty signature, then text
        f"{EM}{ORIGIN}\n",  # no signature at all
    ],
)
def test_a_signature_line_with_a_malformed_key_name_makes_the_note_malformed(
    signer, line
):
    _refused(
        lambda: open_checkpoint(_note(signer, 3, ROOTS[3]) + line, signer.verifier),
        ErrorKind.INVALID_ARGUMENT,
        "checkpoint",
    )


def test_a_note_that_is_not_unicode_text_is_invalid_argument(signer):
    note = _note(signer, 3, ROOTS[3]).replace(ORIGIN, ORIGIN + "\ud800", 1)
    _refused(
        lambda: open_checkpoint(note, signer.verifier),
        ErrorKind.INVALID_ARGUMENT,
        "checkpoint",
    )


@pytest.mark.parametrize(
    "mangle",
    [
        lambda n: n.replace(f"{EM}{ORIGIN}", f"{EM}{ORIGIN}\udcff", 1),  # its key name
        lambda n: n.replace(f"{EM}{ORIGIN}", f"{EM}w\udc80", 1),  # an unknown key
        lambda n: n + f"{EM}w\ud800 AAAAAAAA\n",
        lambda n: n.replace("\n3\n", "\n3\n\udfff\n", 1),  # an extension line
        lambda n: "\ud800" * (MAX_NOTE_BYTES + 1),
        lambda n: n[:-1] + "\udc0a",  # the final newline surrogate-escaped
    ],
)
def test_a_lone_surrogate_anywhere_in_a_note_is_invalid_argument(signer, mangle):
    note = mangle(_note(signer, 3, ROOTS[3]))
    _refused(
        lambda: open_checkpoint(note, signer.verifier),
        ErrorKind.INVALID_ARGUMENT,
        "checkpoint",
    )


def test_a_lone_surrogate_in_a_key_is_invalid_argument(signer):
    name, kid, b64 = signer.verifier.encode().split("+", 2)
    for text in (f"{name}\ud800+{kid}+{b64}", f"{name}+{kid}+{b64}\udcff"):
        _refused(
            lambda t=text: NoteVerifier.parse(t), ErrorKind.INVALID_ARGUMENT, "log_key"
        )
    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    _refused(lambda: NoteSigner("log\ud800", key), ErrorKind.INVALID_ARGUMENT, "origin")
    _refused(lambda: signer.sign(f"{ORIGIN}\n1\n\udcff\n"), ErrorKind.INVALID_ARGUMENT)


def test_an_empty_tree_checkpoint_with_another_root_is_refused(signer):
    _refused(
        lambda: open_checkpoint(
            _with_text(signer, f"{ORIGIN}\n0\n{base64.b64encode(ROOTS[5]).decode()}\n"),
            signer.verifier,
        ),
        ErrorKind.FAILED_PRECONDITION,
        "checkpoint",
    )


@pytest.mark.parametrize(
    "root",
    [ROOTS[1], ROOTS[5], bytes(32), leaf_hash(b""), node_hash(EMPTY_ROOT, EMPTY_ROOT)],
)
def test_a_size_0_checkpoint_has_the_empty_trees_root_however_it_is_read_or_signed(
    signer, root
):
    text = f"{ORIGIN}\n0\n{base64.b64encode(root).decode()}\n"
    # signed by the log key (a hostile log), with an extension line, or unsigned
    for note in (_with_text(signer, text), _with_text(signer, text + "ext\n")):
        _refused(
            lambda n=note: open_checkpoint(n, signer.verifier),
            ErrorKind.FAILED_PRECONDITION,
            "checkpoint",
        )
    _refused(lambda: Checkpoint.parse_text(text), ErrorKind.FAILED_PRECONDITION)
    # the log never signs one
    _refused(
        lambda: sign_checkpoint(Checkpoint(ORIGIN, 0, root), signer),
        ErrorKind.FAILED_PRECONDITION,
        "checkpoint",
    )
    # the empty tree's own root reads
    empty = open_checkpoint(_note(signer, 0, EMPTY_ROOT), signer.verifier)
    assert (empty.size, empty.root_hash) == (0, EMPTY_ROOT)


# == 3. The log service with hostile arguments, and who may call it =================


class _Store:
    """An in-memory LogStore of ``size`` reference leaves."""

    def __init__(self, signer: NoteSigner, size: int):
        entries = [self._entry(i) for i in range(size)]
        self.data = [e.encode() for e in entries]
        appended = domain.append(0, [], [leaf_hash(d) for d in self.data])
        self.stored = {(lvl, idx): h for lvl, idx, h in appended.nodes}
        self._size = size
        cp = Checkpoint(signer.name, size, appended.root if size else EMPTY_ROOT)
        self.cp = SignedCheckpoint(size, cp.root_hash, sign_checkpoint(cp, signer))

    @staticmethod
    def _entry(i: int) -> LogEntry:
        return LogEntry(
            "certseal.trust-events.v1", "t", f"s{i % 3}", f"e{i}", "t0", bytes(32)
        )

    async def size(self) -> int:
        return self._size

    async def nodes(self, wanted):
        return {n: self.stored[n] for n in wanted}

    async def leaves(self, start, count):
        return [
            domain.Leaf(i, self.data[i])
            for i in range(start, min(start + count, self._size))
        ]

    async def checkpoint(self, size):
        return self.cp if size == self._size else None

    async def latest_checkpoint(self):
        return self.cp if self._size else None

    async def find(self, subject, *, after, limit):
        got = [
            domain.Leaf(i, d)
            for i, d in enumerate(self.data)
            if i > after and self._entry(i).subject == subject
        ]
        return got[:limit]


def _service(signer: NoteSigner, size: int):
    from services.tlog.service import LogService

    return LogService(store=_Store(signer, size), signer=signer)


BIG = 2**64 - 1


@pytest.mark.parametrize(
    ("method", "args", "field"),
    [
        ("inclusion_proof", (9, 0), "leaf_index"),
        ("inclusion_proof", (-1, 0), "leaf_index"),
        ("inclusion_proof", (BIG, 0), "leaf_index"),
        ("inclusion_proof", (0, BIG), "tree_size"),
        ("inclusion_proof", (0, 10), "tree_size"),
        ("inclusion_proof", (0, -1), "tree_size"),
        ("inclusion_proof", (5, 5), "leaf_index"),
        ("consistency_proof", (0, 0), "first_tree_size"),
        ("consistency_proof", (0, 5), "first_tree_size"),
        ("consistency_proof", (5, 3), "first_tree_size"),
        ("consistency_proof", (10, 0), "first_tree_size"),
        ("consistency_proof", (1, 10), "second_tree_size"),
        ("consistency_proof", (1, BIG), "second_tree_size"),
        ("consistency_proof", (BIG, BIG), "first_tree_size"),
        ("consistency_proof", (-1, 5), "first_tree_size"),
        ("entries", (0, 0), "count"),
        ("entries", (0, 1001), "count"),
        ("entries", (0, -1), "count"),
        ("entries", (9, 1), "start"),
        ("entries", (-1, 1), "start"),
        ("entries", (BIG, 1), "start"),
        ("find", ("", 0, 0), "subject"),
        ("find", ("x" * 257, 0, 0), "subject"),
        ("find", ("s\x00", 0, 0), "subject"),
        ("find", ("s\u2028", 0, 0), "subject"),
        ("find", ("s1", 0, 101), "page_size"),
        ("find", ("s1", BIG, 0), "after_leaf_index"),
    ],
)
async def test_hostile_service_arguments_are_invalid_argument_naming_the_field(
    signer, method, args, field
):
    service = _service(signer, 9)
    with pytest.raises(CertsealError) as err:
        await getattr(service, method)(*args)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT, err.value
    assert err.value.field == field, err.value


async def test_every_proof_the_service_serves_verifies_against_its_signed_checkpoint(
    signer,
):
    service = _service(signer, 13)
    cp = open_checkpoint((await service.latest_checkpoint()).note, signer.verifier)
    for index in range(13):
        p = await service.inclusion_proof(index, 0)
        verify_inclusion(index, 13, leaf_hash(p.leaf_data), p.proof, cp.root_hash)
        assert open_checkpoint(p.checkpoint, signer.verifier) == cp
    for first in range(1, 14):
        c = await service.consistency_proof(first, 13)
        root = reference_root([leaf_hash(d) for d in service._store.data[:first]])
        verify_consistency(first, 13, c.proof, root, cp.root_hash)
    # a negative "after" is the start; page tokens past the end find nothing
    assert [x.index for x in await service.find("s1", -(2**63), 2)] == [1, 4]
    assert await service.find("s1", 2**63 - 1, 0) == []


async def test_the_empty_log_answers_a_signed_empty_checkpoint_and_no_proof(signer):
    service = _service(signer, 0)
    cp = open_checkpoint((await service.latest_checkpoint()).note, signer.verifier)
    assert (cp.size, cp.root_hash) == (0, EMPTY_ROOT)
    for call in (
        service.inclusion_proof(0, 0),
        service.consistency_proof(1, 0),
        service.entries(0, 1),
    ):
        with pytest.raises(CertsealError) as err:
            await call
        assert err.value.kind is ErrorKind.INVALID_ARGUMENT


def test_the_log_api_is_read_only_and_auditors_may_call_nothing_else():
    from certseal.v1 import tlog_pb2
    from services.feed.app import FeedApp
    from services.issuer.app import IssuerApp
    from services.seal.app import SealApp
    from services.tlog.app import TLOG, TlogApp

    methods = tlog_pb2.DESCRIPTOR.services_by_name["TransparencyLog"].methods
    assert {m.name for m in methods} == {
        "GetCheckpoint",
        "GetInclusionProof",
        "GetConsistencyProof",
        "GetEntries",
        "FindEntries",
    }
    assert not any(m.client_streaming for m in methods)
    assert set(TlogApp.allowed_kinds) == {TLOG}
    assert "auditor" in TlogApp.allowed_kinds[TLOG]
    for app in (IssuerApp, FeedApp, SealApp):
        for service, kinds in app.allowed_kinds.items():
            assert "auditor" not in kinds, (app.__name__, service)


def test_the_verifier_service_refuses_auditors():
    import inspect

    from services.verifier import server

    source = inspect.getsource(server)
    start = source.index("allowed_kinds={")
    block = source[start : source.index("}", source.index("PEER", start)) + 1]
    assert "auditor" not in block


# == 4. certseal log ... with hostile files and a hostile log ========================


@pytest.fixture(scope="module")
def cli_config(tmp_path_factory, signer) -> Path:
    """A [cli] configuration with the log key; the log is never reached (its gRPC
    calls are replaced where a test needs a log)."""
    from certseal.devpki import DevCA

    folder = tmp_path_factory.mktemp("atk38-cli")
    ca = DevCA(folder / "ca")
    me = ca.identity("auditor:atk38")
    path = folder / "cli.toml"
    path.write_text(
        f'[tls]\nca_file = "{ca.ca_file}"\n[cli]\ncert_file = "{me.cert_file}"\n'
        f'key_file = "{me.key_file}"\ntlog_target = "nosuchhost.invalid:1"\n'
        f'log_key = "{signer.verifier.encode()}"\n'
    )
    return path


@pytest.fixture
def certseal(cli_config, capsys, monkeypatch):
    """``certseal(*argv, log={method: answer})``: exit status and output of the CLI
    run in-process, the log's answers given (None: no call may be made)."""
    from services.cli import main
    from services.tlog import cli as log_cli

    def run(*argv: str, log: dict | None = None) -> tuple[int, str]:
        def call(cfg, method, request):
            assert log is not None and method in log, f"unexpected call {method}"
            answer = log[method]
            return answer(request) if callable(answer) else answer

        monkeypatch.setattr(log_cli, "_call", call)
        code = main(["--config", str(cli_config), *argv])
        out = capsys.readouterr()
        text = out.out + out.err
        assert "Traceback" not in text
        return code, text

    return run


def _file(tmp_path: Path, name: str, data: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (bytes(range(256)) * 4, "not a signed checkpoint"),
        (b"A" * 100_000, "limit"),
        (b"", "empty"),
        ("log.example/atk38\n5\n\xe9\n".encode("latin-1"), "not a signed checkpoint"),
        (b"o\n5\n" + b"A" * 43 + b"=\n\xff\xfe\n\n", "not UTF-8"),
    ],
)
def test_a_hostile_checkpoint_file_is_bad_input_naming_the_option(
    certseal, tmp_path, data, problem
):
    old = _file(tmp_path, "old.checkpoint", data)
    code, out = certseal("log", "verify", "--old", old)
    assert code == 2, out
    assert out.startswith("error: old:") and problem in out, out


def test_a_directory_or_device_as_a_checkpoint_is_bad_input(certseal, tmp_path):
    for path in (str(tmp_path), "/dev/zero"):
        code, out = certseal("log", "verify", "--old", path)
        assert code == 2, out
        assert out.startswith("error: old:"), out
    note = _file(tmp_path, "new.checkpoint", "x")
    code, out = certseal("log", "verify", "--old", note, "--new", str(tmp_path))
    assert code == 2 and out.startswith("error: "), out


@pytest.mark.parametrize(
    "key",
    [
        "log.example/atk38+zz+AAAA",
        "log.example/atk38+d870bab6+!!!!",
        "a b+d870bab6+AAAA",
        "x",
        "n+d870bab6+" + "A" * 5000,
    ],
)
def test_a_bad_log_key_is_bad_input(certseal, tmp_path, signer, key):
    old = _file(tmp_path, "old", _note(signer, 3, ROOTS[3]))
    code, out = certseal("log", "verify", "--old", old, "--new", old, "--log-key", key)
    assert code == 2, out
    assert out.startswith("error: log-key:"), out


def test_two_consistent_files_verify_and_a_fork_or_shrink_does_not(
    certseal, tmp_path, signer
):
    three = _file(tmp_path, "3", _note(signer, 3, ROOTS[3]))
    also3 = _file(tmp_path, "3b", _note(signer, 3, ROOTS[4]))
    two = _file(tmp_path, "2", _note(signer, 2, ROOTS[2]))
    code, out = certseal("log", "verify", "--old", three, "--new", three)
    assert code == 0 and "consistent" in out, out
    code, out = certseal("log", "verify", "--old", three, "--new", also3)
    assert code == 1 and "different root hashes" in out, out
    code, out = certseal("log", "verify", "--old", three, "--new", two)
    assert code == 1, out


def test_a_hostile_log_cannot_prove_a_fork_or_a_rewritten_leaf(
    certseal, tmp_path, signer
):
    from certseal.identifiers import LicenceId, parse_licence_id

    old = _file(tmp_path, "old", _note(signer, 3, ROOTS[3]))
    new = SimpleNamespace(checkpoint=_note(signer, 8, ROOTS[8]))
    good = _subproof(3, LEAVES[:8], True)
    for proof in (good[:-1], [*good, LEAVES[0]], [h + b"\0" for h in good], []):
        code, out = certseal(
            "log",
            "verify",
            "--old",
            old,
            log={
                "GetCheckpoint": new,
                "GetConsistencyProof": SimpleNamespace(proof=proof),
            },
        )
        assert code == 1, out
        assert out.startswith("error: proof:"), out
    code, out = certseal(
        "log",
        "verify",
        "--old",
        old,
        log={"GetCheckpoint": new, "GetConsistencyProof": SimpleNamespace(proof=good)},
    )
    assert code == 0, out

    # --licence: the leaf the log serves is hashed here; a changed one fails
    licence = str(LicenceId("11100000000013338W001", "11100000000013338W", "ATK38", 1))
    lineage = parse_licence_id(licence).lineage
    entry = LogEntry(
        "certseal.licence-events.v1",
        "cn.gov.certseal.licence.issued",
        lineage,
        "e1",
        "2026-01-01T00:00:00Z",
        bytes(32),
    ).encode()
    sibling = leaf_hash(b"sibling")
    root = node_hash(leaf_hash(entry), sibling)
    log = {
        "GetCheckpoint": SimpleNamespace(checkpoint=_note(signer, 2, root)),
        "FindEntries": SimpleNamespace(
            leaves=[SimpleNamespace(leaf_index=0, leaf_data=entry)]
        ),
        "GetInclusionProof": SimpleNamespace(leaf_data=entry, proof=[sibling]),
    }
    code, out = certseal("log", "verify", "--licence", licence, log=log)
    assert code == 0 and "issuance is leaf 0" in out, out
    changed = entry.replace(b"e1", b"e2")
    log["GetInclusionProof"] = SimpleNamespace(leaf_data=changed, proof=[sibling])
    code, out = certseal("log", "verify", "--licence", licence, log=log)
    assert code == 1 and out.startswith("error: leaf:"), out
    log["GetInclusionProof"] = SimpleNamespace(leaf_data=entry, proof=[sibling + b"x"])
    code, out = certseal("log", "verify", "--licence", licence, log=log)
    assert code == 1 and out.startswith("error: leaf:"), out


@pytest.mark.parametrize(
    ("old_root", "new_size", "new_root"),
    [(ROOTS[1], 0, ROOTS[2]), (ROOTS[3], 5, ROOTS[5])],
    ids=["fork-at-size-0", "empty-tree-with-a-root"],
)
def test_log_verify_refuses_a_size_0_checkpoint_with_a_wrong_root(
    certseal, tmp_path, signer, old_root, new_size, new_root
):
    old = _file(tmp_path, "old", _note(signer, 0, old_root))
    new = _file(tmp_path, "new", _note(signer, new_size, new_root))
    code, out = certseal("log", "verify", "--old", old, "--new", new)
    assert code == 1, out
    assert "consistent" not in out, out


@pytest.mark.parametrize("answer", ["leaf", "checkpoint"])
def test_a_malformed_answer_of_the_log_is_not_verified_rather_than_bad_input(
    certseal, signer, answer
):
    from certseal.identifiers import LicenceId

    licence = str(LicenceId("11100000000013338W001", "11100000000013338W", "ATK38", 1))
    root = node_hash(leaf_hash(b"junk"), LEAVES[1])
    log = {
        "GetCheckpoint": SimpleNamespace(
            checkpoint=_note(signer, 2, root) if answer == "leaf" else "garbage\n"
        ),
        "FindEntries": SimpleNamespace(
            leaves=[
                SimpleNamespace(
                    leaf_index=0,
                    leaf_data=b"certseal/transparency-log/entry/v1\n"
                    b"type cn.gov.certseal.licence.issued\n",
                )
            ]
        ),
        "GetInclusionProof": SimpleNamespace(leaf_data=b"junk", proof=[LEAVES[1]]),
    }
    code, out = certseal("log", "verify", "--licence", licence, log=log)
    assert code == 1, out
    assert out.startswith(f"error: {answer}:"), out


_LICENCE = "11100000000013338W001"


def _refuses(field: str):
    """A log answer: the service refusing the request as INVALID_ARGUMENT."""

    def answer(request):
        raise CertsealError(ErrorKind.INVALID_ARGUMENT, "out of range", field=field)

    return answer


@pytest.mark.parametrize(
    "leaf_data",
    [
        b"",
        b"\xff\xfe",
        b"certseal/transparency-log/entry/v1\ntype cn.gov.certseal.licence.issued\n",
        LogEntry("t", "cn.gov.certseal.licence.issued", "s", "e", "t0", bytes(32))
        .encode()
        .replace(b"sha256 " + bytes(32).hex().encode(), b"sha256 zz"),
    ],
)
def test_leaf_data_of_the_log_that_is_no_entry_is_not_verified(
    certseal, signer, leaf_data
):
    from certseal.identifiers import LicenceId

    licence = str(LicenceId(_LICENCE, "11100000000013338W", "ATK38", 1))
    root = node_hash(leaf_hash(leaf_data), LEAVES[1])
    prefix = (
        b"certseal/transparency-log/entry/v1\ntype cn.gov.certseal.licence.issued\n"
    )
    log = {
        "GetCheckpoint": SimpleNamespace(checkpoint=_note(signer, 2, root)),
        "FindEntries": SimpleNamespace(
            leaves=[SimpleNamespace(leaf_index=0, leaf_data=prefix)]
        ),
        "GetInclusionProof": SimpleNamespace(leaf_data=leaf_data, proof=[LEAVES[1]]),
    }
    code, out = certseal("log", "verify", "--licence", licence, log=log)
    assert (code, out.startswith("error: leaf: leaf 0 as the log serves it")) == (
        1,
        True,
    ), out
    # the log refusing to prove the leaf it found, in its own signed tree
    log["GetInclusionProof"] = _refuses("leaf_index")
    code, out = certseal("log", "verify", "--licence", licence, log=log)
    assert code == 1 and out.startswith("error: leaf: the log proves no leaf 0"), out


@pytest.mark.parametrize(
    "note",
    [
        "garbage\n",
        "",
        "\ud800",
        "x" * 100_000,
        f"{ORIGIN}\n3\n{ROOT_B64}\n\n{EM} AAAAAAAA\n",
        "size-0",  # signed, of size 0 with another root
    ],
)
def test_a_checkpoint_of_the_log_that_is_no_signed_note_is_not_verified(
    certseal, tmp_path, signer, note
):
    if note == "size-0":
        note = _note(signer, 0, ROOTS[2])
    old = _file(tmp_path, "old", _note(signer, 2, ROOTS[2]))
    log = {"GetCheckpoint": SimpleNamespace(checkpoint=note)}
    for argv in (("log", "checkpoint"), ("log", "verify", "--old", old)):
        code, out = certseal(*argv, log=log)
        assert code == 1, (argv, out)
        assert out.startswith(
            "error: checkpoint: the log's latest checkpoint is not a valid one"
        ), out


def test_a_consistency_proof_the_log_refuses_to_give_is_not_verified(
    certseal, tmp_path, signer
):
    # a --new checkpoint signed by the log key that the log no longer proves
    old = _file(tmp_path, "old", _note(signer, 3, ROOTS[3]))
    new = _file(tmp_path, "new", _note(signer, 8, ROOTS[8]))
    log = {"GetConsistencyProof": _refuses("second_tree_size")}
    code, out = certseal("log", "verify", "--old", old, "--new", new, log=log)
    assert code == 1, out
    assert out.startswith(
        "error: proof: the log gives no consistency proof from size 3 to 8"
    ), out
    # a refusal that is no answer of the log to the request (the setting at fault)
    # is still said as it is: bad input
    log = {"GetConsistencyProof": _refuses("cli.tlog_target")}
    code, out = certseal("log", "verify", "--old", old, "--new", new, log=log)
    assert code == 2 and out.startswith("error: cli.tlog_target:"), out


def test_a_bad_signature_names_the_file_it_is_on(certseal, tmp_path, signer):
    good = _file(tmp_path, "good.checkpoint", _note(signer, 3, ROOTS[3]))
    bad_note = _note(signer, 4, ROOTS[4]).replace("\n4\n", "\n5\n")
    bad = _file(tmp_path, "bad.checkpoint", bad_note)
    code, out = certseal("log", "verify", "--old", good, "--new", bad)
    assert code == 1, out
    assert out.startswith(f"error: new: {bad}: the signature of {ORIGIN}"), out
    code, out = certseal("log", "verify", "--old", bad, "--new", good)
    assert code == 1, out
    assert out.startswith(f"error: old: {bad}: the signature of {ORIGIN}"), out
    # with no --new: the old file named, the log never asked
    code, out = certseal("log", "verify", "--old", bad)
    assert code == 1 and out.startswith(f"error: old: {bad}:"), out
    # a file that is no signed note is still bad input, naming its option and file
    garbage = _file(tmp_path, "garbage.checkpoint", f"{ORIGIN}\n4\n{ROOT_B64}\n")
    code, out = certseal("log", "verify", "--old", good, "--new", garbage)
    assert code == 2 and out.startswith(f"error: new: {garbage}:"), out


def test_a_shrunk_log_is_named_as_such(certseal, tmp_path, signer):
    old = _file(tmp_path, "old", _note(signer, 5, ROOTS[5]))
    new = _file(tmp_path, "new", _note(signer, 4, ROOTS[4]))
    code, out = certseal("log", "verify", "--old", old, "--new", new)
    assert code == 1, out
    assert out.startswith(
        f"error: new: the log shrank: {new} has tree size 4, smaller than the 5 of "
        f"{old}"
    ), out
    assert "tree_size" not in out, out
    # the log's latest checkpoint smaller than --old: the log's checkpoint is named
    for size in (4, 0):
        root = ROOTS[size]
        log = {"GetCheckpoint": SimpleNamespace(checkpoint=_note(signer, size, root))}
        code, out = certseal("log", "verify", "--old", old, log=log)
        assert code == 1, out
        assert out.startswith(
            "error: checkpoint: the log shrank: the log's latest checkpoint has tree "
            f"size {size}, smaller than the 5 of {old}"
        ), out


def test_size_0_and_equal_sizes_compare_roots(certseal, tmp_path, signer):
    empty = _file(tmp_path, "empty", _note(signer, 0, EMPTY_ROOT))
    five = _file(tmp_path, "five", _note(signer, 5, ROOTS[5]))
    code, out = certseal("log", "verify", "--old", empty, "--new", empty)
    assert (code, out) == (0, "consistent  size 0: the same tree (equal root hashes)\n")
    code, out = certseal("log", "verify", "--old", empty, "--new", five)
    assert (code, out) == (0, "consistent  the empty tree precedes size 5\n")
    code, out = certseal("log", "verify", "--old", five, "--new", five)
    assert code == 0 and "the same tree" in out, out
    # a fork at size 0 or 5, from a file or from the log
    forked = _file(tmp_path, "forked", _note(signer, 5, ROOTS[6]))
    code, out = certseal("log", "verify", "--old", five, "--new", forked)
    assert code == 1, out
    assert out.startswith(
        f"error: new: {forked} and {five} are both of tree size 5 with different root "
        "hashes"
    ), out
    log = {"GetCheckpoint": SimpleNamespace(checkpoint=_note(signer, 5, ROOTS[4]))}
    code, out = certseal("log", "verify", "--old", five, log=log)
    assert code == 1 and out.startswith("error: checkpoint: the log's latest"), out
    for root in (ROOTS[1], bytes(32)):
        wrong = _file(tmp_path, "wrong", _note(signer, 0, root))
        for argv, option in (
            (("--old", wrong, "--new", empty), "old"),
            (("--old", empty, "--new", wrong), "new"),
            (("--old", wrong, "--new", five), "old"),
        ):
            code, out = certseal("log", "verify", *argv)
            assert code == 1, out
            assert out.startswith(
                f"error: {option}: {wrong}: a checkpoint of tree size 0 must have the empty "
                "tree's root hash"
            ), out
        log = {"GetCheckpoint": SimpleNamespace(checkpoint=_note(signer, 0, root))}
        code, out = certseal("log", "verify", "--old", empty, log=log)
        assert code == 1 and out.startswith("error: checkpoint:"), out
        assert "consistent" not in out, out


# == 5. The verifier's log watch ====================================================


class _HostileLog:
    """A TransparencyLog stub answering the checkpoints and proofs given."""

    checkpoints: list[str] = []  # noqa: RUF012
    proofs: list[list[bytes]] = []  # noqa: RUF012
    asked: list[tuple[int, int]] = []  # noqa: RUF012

    def __init__(self, channel):
        pass

    async def GetCheckpoint(self, request, **options):
        return SimpleNamespace(checkpoint=self.checkpoints.pop(0))

    async def GetConsistencyProof(self, request, **options):
        self.asked.append((request.first_tree_size, request.second_tree_size))
        return SimpleNamespace(proof=self.proofs.pop(0) if self.proofs else [])


@pytest.fixture
def watch(monkeypatch, signer):
    from services.verifier import logwatch

    monkeypatch.setattr(logwatch.tlog_pb2_grpc, "TransparencyLogStub", _HostileLog)
    _HostileLog.checkpoints, _HostileLog.proofs, _HostileLog.asked = [], [], []
    w = logwatch.LogWatch(
        target="log.invalid:1",
        log_key=signer.verifier.encode(),
        ca_file="",
        cert_file="",
        key_file="",
    )
    w._channel = object()  # never dialled: the stub is the hostile log
    return w


async def _feed(watch, *notes: str, proofs: list[list[bytes]] = ()):
    _HostileLog.checkpoints = list(notes)
    _HostileLog.proofs = list(proofs)
    for _ in notes:
        await asyncio.wait_for(watch.refresh(), 5)


async def test_the_log_watch_keeps_its_checkpoint_against_a_fork_a_shrink_or_a_bad_proof(
    watch, signer
):
    await _feed(watch, _note(signer, 4, ROOTS[4]))
    assert watch.checkpoint.size == 4
    proof = _subproof(4, LEAVES[:6], True)
    await _feed(
        watch,
        _note(signer, 4, ROOTS[5]),  # a fork at the same size
        _note(signer, 3, ROOTS[3]),  # a shrink
        _note(signer, 6, ROOTS[7]),  # a root the proof does not lead to
        _note(signer, 6, ROOTS[6]).replace("\n6\n", "\n7\n"),  # a bad signature
        "x" * 100_000,  # a huge answer
        proofs=[proof],
    )
    assert (watch.checkpoint.size, watch.checkpoint.root_hash) == (4, ROOTS[4])
    await _feed(watch, _note(signer, 6, ROOTS[6]), proofs=[proof])
    assert (watch.checkpoint.size, watch.checkpoint.root_hash) == (6, ROOTS[6])
    assert _HostileLog.asked == [(4, 6), (4, 6)]


async def test_the_log_watch_refuses_an_empty_tree_checkpoint_with_another_root(
    watch, signer
):
    await _feed(watch, _note(signer, 0, ROOTS[3]))
    assert watch.checkpoint is None or watch.checkpoint.root_hash == EMPTY_ROOT


async def test_the_log_watch_keeps_the_empty_tree_against_a_size_0_fork(watch, signer):
    await _feed(watch, _note(signer, 0, EMPTY_ROOT))
    assert (watch.checkpoint.size, watch.checkpoint.root_hash) == (0, EMPTY_ROOT)
    empty_note = watch.note
    for root in (ROOTS[1], ROOTS[3], bytes(32)):
        await _feed(watch, _note(signer, 0, root))
        assert watch.note == empty_note
        assert (watch.checkpoint.size, watch.checkpoint.root_hash) == (0, EMPTY_ROOT)
    # the empty tree precedes every tree: a larger one is taken with no proof asked
    await _feed(watch, _note(signer, 3, ROOTS[3]))
    assert (watch.checkpoint.size, watch.checkpoint.root_hash) == (3, ROOTS[3])
    # and a size-0 head after it is a shrink, whatever its root
    for root in (EMPTY_ROOT, ROOTS[1]):
        await _feed(watch, _note(signer, 0, root))
        assert watch.checkpoint.size == 3
    assert _HostileLog.asked == []


# == 6. The running log over gRPC (the session's stack) =============================


async def test_hostile_grpc_arguments_are_invalid_argument_never_internal(log_stub):
    from certseal.v1 import tlog_pb2 as pb

    auditor = log_stub("auditor:atk38")
    # a negative or final "after" is a page token that finds what follows it
    for after in (-(2**63), 2**63 - 1):
        await auditor.FindEntries(
            pb.FindEntriesRequest(subject="x", after_leaf_index=after)
        )
    refused = [
        auditor.FindEntries(pb.FindEntriesRequest(subject="\u2028")),
        auditor.GetEntries(pb.GetEntriesRequest(start=2**64 - 1, count=2**32 - 1)),
        auditor.GetConsistencyProof(
            pb.GetConsistencyProofRequest(first_tree_size=2**63, second_tree_size=1)
        ),
        auditor.GetInclusionProof(
            pb.GetInclusionProofRequest(leaf_index=2**63, tree_size=2**63)
        ),
    ]
    for call in refused:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, err.value.details()


async def test_the_log_watch_says_an_unreachable_log_in_one_line(
    watch, caplog, monkeypatch
):
    """trial49 L8's kind: a log that cannot be reached was logged as the gRPC error's
    repr every refresh, six lines with its debug string; now its status and details."""

    async def unreachable(self, request, **options):
        raise grpc.aio.AioRpcError(
            grpc.StatusCode.UNAVAILABLE,
            grpc.aio.Metadata(),
            grpc.aio.Metadata(),
            details="failed to connect to all addresses",
            debug_error_string="UNAVAILABLE: ipv4:127.0.0.1:1: Connection refused",
        )

    monkeypatch.setattr(_HostileLog, "GetCheckpoint", unreachable)
    with caplog.at_level(logging.WARNING, logger="services.verifier.logwatch"):
        await asyncio.wait_for(watch.refresh(), 5)
    (line,) = [r.getMessage() for r in caplog.records]
    assert line == (
        "transparency log log.invalid:1: UNAVAILABLE: failed to connect to all addresses"
    )
    assert watch.checkpoint is None
