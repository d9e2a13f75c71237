"""Sealing restricted field values for the verifiers (certseal.indexkeys): only a held
key with the right id opens a blob, and only for the lineage and version it was sealed
for. Pure."""

from __future__ import annotations

import dataclasses

import pytest

from certseal.indexkeys import (
    CannotOpen,
    IndexKeys,
    IndexSealer,
    Sealed,
    associated_data,
    index_key_id,
)

OLD, NEW, OTHER = bytes(32), bytes(range(32)), b"\xff" * 32
LINEAGE = "1.2.156.3005.2.11440300MB2C93173U001.000000001"


def sealed(key: bytes = NEW, lineage: str = LINEAGE, version: int = 3) -> Sealed:
    return IndexSealer(key).seal(
        "grade=等级G7".encode(), lineage=lineage, lineage_version=version
    )


def test_a_held_key_opens_what_it_sealed_and_the_blob_hides_the_value():
    blob = sealed()
    assert "等级G7".encode() not in blob.nonce + blob.ciphertext
    assert (
        len(blob.nonce) == 12
        and len(blob.ciphertext) == len("grade=等级G7".encode()) + 16
    )
    keys = IndexKeys([OLD, NEW])
    assert (
        keys.open(blob, lineage=LINEAGE, lineage_version=3) == "grade=等级G7".encode()
    )
    # a fresh nonce every time: equal values do not give equal blobs
    assert sealed().ciphertext != blob.ciphertext


def test_key_ids_are_derived_distinct_and_keys_are_never_shown():
    assert index_key_id(NEW) == IndexSealer(NEW).kid
    assert index_key_id(NEW).startswith("ik-") and len(index_key_id(NEW)) == 19
    assert len({index_key_id(k) for k in (OLD, NEW, OTHER)}) == 3
    keys = IndexKeys([OLD, NEW])
    assert keys.kids == {index_key_id(OLD), index_key_id(NEW)}
    for shown in (repr(keys), repr(IndexSealer(NEW))):
        assert NEW.hex() not in shown and OLD.hex() not in shown
    with pytest.raises(ValueError, match="32 bytes"):
        index_key_id(bytes(16))


def test_rotation_a_verifier_with_both_keys_opens_old_and_new_blobs():
    keys = IndexKeys([OLD, NEW])
    assert (
        keys.open(sealed(OLD), lineage=LINEAGE, lineage_version=3)
        == "grade=等级G7".encode()
    )
    assert (
        keys.open(sealed(NEW), lineage=LINEAGE, lineage_version=3)
        == "grade=等级G7".encode()
    )


def test_an_unknown_key_id_is_refused():
    with pytest.raises(CannotOpen) as caught:
        IndexKeys([OLD]).open(sealed(NEW), lineage=LINEAGE, lineage_version=3)
    assert caught.value.reason == "unknown_kid"
    assert caught.value.kid == index_key_id(NEW)
    with pytest.raises(CannotOpen, match="unknown_kid"):
        IndexKeys([]).open(sealed(NEW), lineage=LINEAGE, lineage_version=3)


def test_a_blob_claiming_another_held_keys_id_does_not_open():
    blob = dataclasses.replace(sealed(OTHER), kid=index_key_id(NEW))
    with pytest.raises(CannotOpen, match="tampered"):
        IndexKeys([NEW]).open(blob, lineage=LINEAGE, lineage_version=3)


@pytest.mark.parametrize(
    "change",
    [
        lambda b: dataclasses.replace(
            b, ciphertext=bytes([b.ciphertext[0] ^ 1]) + b.ciphertext[1:]
        ),
        lambda b: dataclasses.replace(b, ciphertext=b.ciphertext[:-1]),
        lambda b: dataclasses.replace(b, ciphertext=b""),
        lambda b: dataclasses.replace(b, nonce=bytes(12)),
        lambda b: dataclasses.replace(b, nonce=b.nonce[:8]),
        lambda b: dataclasses.replace(b, nonce=b""),
    ],
    ids=["flipped-bit", "cut-tag", "empty", "other-nonce", "short-nonce", "no-nonce"],
)
def test_a_tampered_blob_is_refused(change):
    with pytest.raises(CannotOpen) as caught:
        IndexKeys([NEW]).open(change(sealed()), lineage=LINEAGE, lineage_version=3)
    assert caught.value.reason == "tampered"


@pytest.mark.parametrize(
    ("lineage", "version"),
    [(LINEAGE[:-1] + "2", 3), (LINEAGE, 2), (LINEAGE, 4), (LINEAGE + "\x00", 3)],
    ids=["other-lineage", "older-version", "newer-version", "lineage-suffix"],
)
def test_a_blob_moved_to_another_licence_or_version_is_refused(lineage, version):
    with pytest.raises(CannotOpen, match="tampered"):
        IndexKeys([NEW]).open(sealed(), lineage=lineage, lineage_version=version)


def test_the_associated_data_separates_its_parts():
    kid = index_key_id(NEW)
    assert associated_data(kid, "a", 1) != associated_data(kid, "a", 256)
    assert associated_data(kid, "a\x00", 1) != associated_data(kid, "a", 1)
    assert associated_data(kid, "a", 1).endswith((1).to_bytes(8, "big"))
