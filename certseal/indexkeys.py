"""Sealing a licence's restricted field values for the verifiers (pure, no I/O).

A licence type's ``restricted`` fields are never in a code; the verifier shows them only
to counters with a field right (docs/codes.md, "Which fields a code carries"). The
licence events that carry them to the verifiers are read by others too (integrators hold
a Read ACL on ``certseal.licence-events.v1``), so the issuer seals the values with an
*index key* that only the issuer and the verifier groups hold: AES-256-GCM (NIST SP
800-38D) with a random 96-bit nonce, the associated data binding the blob to its
lineage and ``lineage_version`` (so a blob cannot be moved to another licence or
version).

An index key is 32 random bytes in a secret file; its key id (``kid``) is derived from
it (:func:`index_key_id`), so a deployment names nothing but the files. The issuer seals
with one key (the newest); a verifier opens with any of several (rotation: give the
verifiers the new key first, then the issuer).
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

#: bytes of an index key (AES-256)
INDEX_KEY_BYTES = 32
#: bytes of an AES-GCM nonce
NONCE_BYTES = 12
_KID_LABEL = b"certseal index key id v1\x00"
_AAD_LABEL = b"certseal restricted fields v1\x00"


def index_key_id(key: bytes) -> str:
    """The key id of an index key: ``ik-`` and 16 hex digits of a labelled SHA-256.

    Raises ValueError for a key that is not 32 bytes.
    """
    if len(key) != INDEX_KEY_BYTES:
        raise ValueError(f"an index key has {INDEX_KEY_BYTES} bytes, not {len(key)}")
    return "ik-" + hashlib.sha256(_KID_LABEL + key).hexdigest()[:16]


def associated_data(kid: str, lineage: str, lineage_version: int) -> bytes:
    """What a sealed blob is bound to: the key id, the lineage and its version."""
    return (
        _AAD_LABEL
        + kid.encode()
        + b"\x00"
        + lineage.encode()
        + b"\x00"
        + struct.pack(">Q", lineage_version)
    )


@dataclass(frozen=True, slots=True)
class Sealed:
    """A sealed value: the index key's id, the nonce, and ciphertext || GCM tag."""

    kid: str
    nonce: bytes
    ciphertext: bytes


class CannotOpen(Exception):
    """A sealed blob no configured key opens. ``reason``: ``unknown_kid`` (no key with
    that id) or ``tampered`` (the tag does not verify: changed, moved to another
    lineage or version, or a malformed nonce)."""

    def __init__(self, reason: str, kid: str):
        super().__init__(f"{reason}: index key {kid!r}")
        self.reason = reason
        self.kid = kid


class IndexSealer:
    """The issuer's side: seals with one index key."""

    def __init__(self, key: bytes):
        self.kid = index_key_id(key)
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, *, lineage: str, lineage_version: int) -> Sealed:
        """``plaintext`` sealed for ``lineage`` at ``lineage_version``."""
        nonce = os.urandom(NONCE_BYTES)
        ad = associated_data(self.kid, lineage, lineage_version)
        return Sealed(self.kid, nonce, self._aead.encrypt(nonce, plaintext, ad))

    def __repr__(self) -> str:
        return f"IndexSealer(kid={self.kid!r})"


class IndexKeys:
    """The verifier's side: opens blobs sealed with any of its index keys, by kid."""

    def __init__(self, keys: Iterable[bytes]):
        self._aeads = {index_key_id(k): AESGCM(k) for k in keys}

    @property
    def kids(self) -> frozenset[str]:
        """The ids of the keys held."""
        return frozenset(self._aeads)

    def open(self, sealed: Sealed, *, lineage: str, lineage_version: int) -> bytes:
        """The plaintext of ``sealed``, if it was sealed for ``lineage`` at
        ``lineage_version`` with a key held.

        Raises CannotOpen (``unknown_kid`` or ``tampered``).
        """
        aead = self._aeads.get(sealed.kid)
        if aead is None:
            raise CannotOpen("unknown_kid", sealed.kid)
        if len(sealed.nonce) != NONCE_BYTES:
            raise CannotOpen("tampered", sealed.kid)
        ad = associated_data(sealed.kid, lineage, lineage_version)
        try:
            return aead.decrypt(sealed.nonce, sealed.ciphertext, ad)
        except InvalidTag:
            raise CannotOpen("tampered", sealed.kid) from None

    def __repr__(self) -> str:
        return f"IndexKeys(kids={sorted(self._aeads)!r})"
