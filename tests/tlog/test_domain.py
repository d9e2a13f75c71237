"""The log's pure rules: appends, proofs over 10,000 leaves, entries, checkpoints."""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certseal.checkpoints import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    sign_checkpoint,
)
from certseal.errors import CertsealError, ErrorKind
from certseal.merkle import (
    ProofError,
    leaf_hash,
    reference_root,
    verify_consistency,
    verify_inclusion,
)
from services.tlog import domain

N = 10_000


@pytest.fixture(scope="module")
def tree():
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(N)]
    stored: dict[tuple[int, int], bytes] = {}
    size, frontier = 0, []
    for start in range(0, N, 997):  # uneven batches, as the sequencer appends
        appended = domain.append(size, frontier, hashes[start : start + 997])
        stored.update({(lvl, idx): h for lvl, idx, h in appended.nodes})
        size, frontier = appended.size, appended.frontier
    return hashes, stored


def _root(stored, size):
    return domain.fold([stored[n] for n in domain.frontier_nodes(size)])


def _sizes():
    rng = random.Random(6962)
    edges = {1, 2, 3, N - 1, N}
    for p in range(14):
        edges |= {2**p - 1, 2**p, 2**p + 1}
    return sorted(
        {s for s in edges if 1 <= s <= N} | set(rng.sample(range(1, N + 1), 150))
    )


def test_roots_of_stored_nodes_are_the_reference_roots(tree):
    hashes, stored = tree
    for size in [1, 2, 3, 5, 7, 8, 9, 1000, 1023, 1024, 1025, 4097, N]:
        assert _root(stored, size) == reference_root(hashes[:size]), size


def test_an_append_stores_about_two_nodes_per_leaf(tree):
    _, stored = tree
    assert len(stored) == 2 * N - bin(N).count("1")


def test_inclusion_proofs_for_10000_leaves(tree):
    hashes, stored = tree
    rng = random.Random(9162)
    checked = 0
    for size in _sizes():
        root = _root(stored, size)
        for index in {0, size - 1, size // 2, *rng.sample(range(size), min(size, 12))}:
            ranges = domain.inclusion_ranges(index, size)
            proof = domain.assemble(ranges, stored)
            assert len(domain.proof_nodes(ranges)) <= 2 * size.bit_length()
            verify_inclusion(index, size, hashes[index], proof, root)
            checked += 1
            if index + 1 < size:  # the proof names its own leaf, no other
                with pytest.raises(ProofError):
                    verify_inclusion(index, size, hashes[index + 1], proof, root)
    assert checked > 2000


def test_consistency_proofs_for_10000_leaves(tree):
    _, stored = tree
    rng = random.Random(6962)
    sizes = _sizes()
    checked = 0
    for second in sizes:
        root2 = _root(stored, second)
        for first in {
            1,
            second,
            second - 1 or 1,
            *rng.sample(range(1, second + 1), min(second, 8)),
        }:
            ranges = domain.consistency_ranges(first, second)
            proof = domain.assemble(ranges, stored)
            assert len(domain.proof_nodes(ranges)) <= 3 * second.bit_length()
            verify_consistency(first, second, proof, _root(stored, first), root2)
            checked += 1
            if first < second and proof:
                bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
                with pytest.raises(ProofError):
                    verify_consistency(first, second, bad, _root(stored, first), root2)
    assert checked > 1000


@pytest.mark.parametrize(
    ("index", "size", "field"),
    [(-1, 5, "leaf_index"), (5, 5, "leaf_index"), (0, 0, "leaf_index")],
)
def test_an_inclusion_request_outside_the_tree_names_the_field(index, size, field):
    with pytest.raises(CertsealError) as err:
        domain.inclusion_ranges(index, size)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT and err.value.field == field


@pytest.mark.parametrize(("first", "second"), [(0, 5), (6, 5), (-1, 3)])
def test_a_consistency_request_out_of_order_names_the_field(first, second):
    with pytest.raises(CertsealError) as err:
        domain.consistency_ranges(first, second)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert err.value.field == "first_tree_size"


def test_an_entry_round_trips_and_rejects_a_changed_form():
    entry = domain.LogEntry(
        topic="certseal.licence-events.v1",
        type="cn.gov.certseal.licence.issued",
        subject="1.2.156.3005.2.11100000000013338W001.11100000000013338W.ABC",
        event="7b1c",
        time="2026-11-30T10:00:00Z",
        sha256=bytes(range(32)),
    )
    data = entry.encode()
    assert domain.LogEntry.decode(data) == entry
    assert b"1.2.156" in data and b"holder" not in data
    for bad in (
        data.replace(b"v1\n", b"v2\n"),
        data + b"x",
        data.replace(b"7b1c", b"%37b1c"),
    ):
        with pytest.raises(CertsealError) as err:
            domain.LogEntry.decode(bad)
        assert err.value.field == "leaf"


# -- checkpoints (C2SP tlog-checkpoint in a C2SP signed note) -------------------------


@pytest.fixture
def signer():
    return NoteSigner("certseal.example/log", Ed25519PrivateKey.generate())


def test_a_checkpoint_is_signed_and_opened(signer):
    cp = Checkpoint("certseal.example/log", 10, bytes(32))
    note = sign_checkpoint(cp, signer)
    lines = note.split("\n")
    assert lines[:4] == ["certseal.example/log", "10", "A" * 43 + "=", ""]
    assert lines[4].startswith("\u2014 certseal.example/log ")
    assert open_checkpoint(note, signer.verifier) == cp
    verifier = NoteVerifier.parse(signer.verifier.encode())
    assert verifier == signer.verifier


def test_the_key_id_is_c2sp_signed_notes():
    # SHA-256(name || 0x0A || 0x01 || key)[:4], as Go's sumdb/note computes it
    import hashlib

    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    signer = NoteSigner("example.com/log", key)
    raw = signer.verifier.public_key
    want = hashlib.sha256(b"example.com/log\n\x01" + raw).digest()[:4]
    assert signer.verifier.key_id == want


def test_a_changed_checkpoint_fails_its_signature(signer):
    note = sign_checkpoint(Checkpoint("certseal.example/log", 10, bytes(32)), signer)
    forged = note.replace("\n10\n", "\n11\n")
    with pytest.raises(CertsealError) as err:
        open_checkpoint(forged, signer.verifier)
    assert (
        err.value.kind is ErrorKind.FAILED_PRECONDITION
        and err.value.field == "checkpoint"
    )


def test_a_checkpoint_signed_by_another_key_is_refused(signer):
    other = NoteSigner("certseal.example/log", Ed25519PrivateKey.generate())
    note = sign_checkpoint(Checkpoint("certseal.example/log", 3, bytes(32)), other)
    with pytest.raises(CertsealError) as err:
        open_checkpoint(note, signer.verifier)
    assert err.value.kind is ErrorKind.FAILED_PRECONDITION


def test_other_signatures_on_a_note_are_ignored(signer):
    note = sign_checkpoint(Checkpoint("certseal.example/log", 3, bytes(32)), signer)
    witness = "\u2014 witness.example AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
    assert open_checkpoint(note + witness, signer.verifier).size == 3


@pytest.mark.parametrize(
    "note",
    [
        "",
        "certseal.example/log\n10\n",
        "certseal.example/log\n010\nAAAA\n\n\u2014 x AAAAAAAA\n",
        "x" * 20000,
        "certseal.example/log\n1\n\x00\n\n\u2014 x AAAA\n",
    ],
)
def test_a_malformed_note_is_invalid_argument(signer, note):
    with pytest.raises(CertsealError) as err:
        open_checkpoint(note, signer.verifier)
    assert err.value.kind in (ErrorKind.INVALID_ARGUMENT, ErrorKind.FAILED_PRECONDITION)
    assert err.value.field == "checkpoint"


def test_a_malformed_checkpoint_text_names_the_problem():
    for text in [
        "o\n1\n",
        "o\n01\n" + "A" * 43 + "=\n",
        "o\n1\nAAAA\n",
        "o\n1\n" + "A" * 43 + "=\n\n",
    ]:
        with pytest.raises(CertsealError) as err:
            Checkpoint.parse_text(text)
        assert err.value.kind is ErrorKind.INVALID_ARGUMENT
