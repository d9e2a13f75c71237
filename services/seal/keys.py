"""Where the seal service's private keys are made and used: seals' own keys and the
platform's seal makers, KEK-wrapped in the database or, for the suites the
``[pkcs11]`` token holds, generated and kept in the token (certseal/hsm.py)."""

from __future__ import annotations

from certseal.crypto import (
    KeyWrapper,
    Signer,
    Suite,
    generate_key,
    is_token_reference,
)
from certseal.errors import precondition
from certseal.hsm import Pkcs11Token
from services.seal.certificates import read_certificate

SIGNER_CACHE = 4096
"""Seals' signers kept in this process (:meth:`SealKeys.seal_signer`)."""


class SealKeys:
    """New key pairs and the signers of stored ones, software or token."""

    def __init__(self, wrapper: KeyWrapper, token: Pkcs11Token | None = None):
        self._wrapper = wrapper
        self._token = token
        self._signers: dict[tuple[str, bytes, bytes], Signer] = {}

    def seal_signer(
        self, seal_id: str, suite: Suite, certificate: bytes, stored: bytes
    ) -> Signer:
        """Seal ``seal_id``'s signer (:meth:`signer`), kept in this process's memory
        (as the seal makers are) by the seal, its stored key and its certificate
        (read for its public key only when the signer is made), at
        most :data:`SIGNER_CACHE`, the one used longest ago dropped first (atk35 B2):
        unwrapping and loading the key per document cost about 4 % of SealDocument's
        CPU (bench/seal_bench.py, BENCH_PROFILE=1), making an SM2 key's signing
        context about 3 ms. FAILED_PRECONDITION when the stored key is not the
        certificate's (a restored or edited seal row: atk35 B1)."""
        key = (seal_id, stored, certificate)
        signer = self._signers.pop(key, None)
        if signer is None:
            public_key_der = read_certificate(certificate).public_key_der
            try:
                signer = self.signer(suite, public_key_der, stored)
            except ValueError:  # a kept signer is checked when made
                raise precondition(
                    f"seal {seal_id} cannot sign: its stored key is not the key of "
                    "its certificate (a restored or edited seal row); register the "
                    "seal again",
                    field="seal_id",
                ) from None
            if len(self._signers) >= SIGNER_CACHE:
                del self._signers[next(iter(self._signers))]  # used longest ago
        self._signers[key] = signer  # the most recently used last
        return signer

    async def new(self, suite: Suite) -> tuple[str, bytes, bytes]:
        """A new key pair of ``suite``: (kid, SubjectPublicKeyInfo DER, what to store:
        the wrapped private key, or the token object's reference)."""
        if self._token is not None and self._token.holds(suite):
            public, reference = await self._token.generate(suite)
            return self._token.signer(suite, public, reference).kid, public, reference
        key = generate_key(suite)
        return (
            key.kid,
            key.public_key_der,
            self._wrapper.wrap(key.kid, key.private_bytes),
        )

    def signer(self, suite: Suite, public_key_der: bytes, stored: bytes) -> Signer:
        """The signer of a stored key; FAILED_PRECONDITION for a token key when this
        process has no ``[pkcs11]`` token. Every caller keeps the signer for many
        signatures (the seal makers, :meth:`seal_signer`'s cache), so a
        software SM2 key signs through GmSSL's signing context
        (:class:`certseal.sm2sign.Sm2SignContext`: about 85 instead of 250 µs a
        signature here, about 17 KiB held per key)."""
        if is_token_reference(stored):
            if self._token is None:
                raise precondition(
                    "this seal's key lives in a PKCS#11 token and the seal service "
                    "has no [pkcs11] module configured",
                    field="seal_id",
                )
            return self._token.signer(suite, public_key_der, stored)
        return self._wrapper.unwrap_signer(suite, public_key_der, stored, kept=True)
