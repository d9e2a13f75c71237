"""Symmetric protection of data at rest, each key derived from one secret file by
HKDF-SHA256 (RFC 5869): holders' personal data and pseudonyms
(:class:`PersonalDataProtector`, ``[secrets] data_key_file``) and the answers kept
for idempotency keys (:class:`AnswerProtector`, ``[secrets] answers_key_file``).
AES-256-GCM (NIST SP 800-38D) with a random 96-bit nonce; HMAC-SHA256 (RFC 2104).
"""

from __future__ import annotations

import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from certseal.errors import CertsealError, ErrorKind


class PersonalDataProtector:
    """Keyed pseudonyms and encryption for holders' personal data.

    Two independent keys are derived from one data key file: one for the HMAC that lets a
    holder be looked up (and is the only form of identity in events), one for AES-GCM.
    """

    def __init__(self, data_key: bytes):
        self._hmac_key = _derive(data_key, b"certseal holder pseudonym v1")
        self._aead = AESGCM(_derive(data_key, b"certseal personal data v1"))

    def pseudonym(self, id_type: str, id_number: str) -> str:
        """HMAC-SHA256 of the normalised identity document, in hex."""
        message = f"{id_type.strip().upper()}:{id_number.strip().upper()}".encode()
        # the one-shot C path: the same digest as hmac.new(...).hexdigest() without
        # building an HMAC object per licence (2 % of the issuer's CPU in the profile)
        return hmac.digest(self._hmac_key, message, "sha256").hex()

    def encrypt(self, plaintext: bytes, context: bytes) -> bytes:
        """nonce || AES-256-GCM(plaintext), bound to ``context``."""
        return _sealed(self._aead, plaintext, context)

    def decrypt(self, blob: bytes, context: bytes) -> bytes:
        """Reverse :meth:`encrypt`; INTERNAL when the data key is wrong."""
        failure = "personal data does not decrypt under the data key"
        return _opened(self._aead, blob, context, failure)

    def __repr__(self) -> str:
        return "PersonalDataProtector(<key>)"


class AnswerProtector:
    """What a service keeps of an idempotent request (certseal/idempotency.py):
    its answer sealed with AES-256-GCM and its fingerprint keyed with HMAC-SHA256,
    two keys derived (HKDF-SHA256, RFC 5869) from the ``[secrets] answers_key_file``.

    An answer may carry a holder's name, number and personal fields (an issued
    licence), shared fields (a redemption) or a sealed document; a fingerprint is a
    SHA-256 of the request, which may hold the same or a password. Kept in clear for
    the key's retention, a backup of the database would hold them readable, or
    guessable at one SHA-256 a try (atk-pii F1, F4).
    """

    def __init__(self, key: bytes):
        self._hmac_key = _derive(key, b"certseal idempotent fingerprint v1")
        self._aead = AESGCM(_derive(key, b"certseal idempotent answer v1"))

    def fingerprint(self, digest: bytes) -> bytes:
        """HMAC-SHA256 of a request's fingerprint ``digest`` (32 bytes)."""
        return hmac.digest(self._hmac_key, digest, "sha256")

    def seal(self, answer: bytes, context: bytes) -> bytes:
        """nonce || AES-256-GCM(``answer``), bound to ``context`` (the caller, the
        key and the method: a sealed answer moved to another row does not open)."""
        return _sealed(self._aead, answer, context)

    def open(self, blob: bytes, context: bytes) -> bytes:
        """Reverse :meth:`seal`; INTERNAL when the key is another or the row was
        changed."""
        failure = "a kept answer does not open under [secrets] answers_key_file"
        return _opened(self._aead, blob, context, failure)

    def __repr__(self) -> str:
        return "AnswerProtector(<key>)"


def _sealed(aead: AESGCM, data: bytes, context: bytes) -> bytes:
    """nonce (96 random bits) || AES-256-GCM(``data``), bound to ``context``."""
    nonce = os.urandom(12)
    return nonce + aead.encrypt(nonce, data, context)


def _opened(aead: AESGCM, blob: bytes, context: bytes, failure: str) -> bytes:
    """Reverse :func:`_sealed`; INTERNAL saying ``failure`` when it does not open."""
    try:
        return aead.decrypt(blob[:12], blob[12:], context)
    except InvalidTag:
        raise CertsealError(ErrorKind.INTERNAL, failure) from None


def _derive(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)
