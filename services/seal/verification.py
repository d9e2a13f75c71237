"""The seal service's verification use cases: VerifySealedDocument and InspectSes
(split from :mod:`services.seal.service` by size; :class:`SealService` inherits them).

A verification needs no key and takes anyone's input: the SES_Signature is read and
checked off the event loop (:mod:`services.seal.offload`), with the seal's status from
the registry (:meth:`services.seal.storage.SealStore.status`).
"""

from __future__ import annotations

import functools

from certseal.timestamps import Clock
from services.seal.domain import SealStatus, SealVerification, verify_sealed_document
from services.seal.inspect import inspect as inspect_ses
from services.seal.offload import SealOffload
from services.seal.ses import check_ses_size
from services.seal.ses_read import (
    SealData,
    SignatureData,
    read_signature,
    seal_id_hint,
)
from services.seal.storage import SealStore
from services.seal.trust import TrustStore


def _read_or_none(signature: bytes) -> SignatureData | None:
    """The SES_Signature read; None when it cannot be read (the verification then
    reports it as MALFORMED, naming why)."""
    try:
        return read_signature(signature)
    except Exception:
        return None


class SealVerifying:
    """VerifySealedDocument and InspectSes over the seal store and the trust stores
    (the attributes below are :class:`services.seal.service.SealService`'s)."""

    offload: SealOffload
    tsa_trust: TrustStore
    _store: SealStore
    _clock: Clock
    _trust: TrustStore

    @property
    def own_cas(self) -> tuple[bytes, ...]:
        """The DER certificates of the platform's own seal CAs."""
        raise NotImplementedError

    async def verify(
        self,
        signature: bytes,
        *,
        document: bytes | None = None,
        document_hash: bytes | None = None,
    ) -> SealVerification:
        """Verify a sealed document, with the seal's status from the registry.

        Raises INVALID_ARGUMENT (``signature``) over ``ses.MAX_SES_BYTES``.
        """
        check_ses_size(signature, "signature")
        size = len(signature) + len(document or b"")
        async with self.offload.admit("VerifySealedDocument", size):
            # the seal id found by walking five DER headers: the registry is asked
            # first, then one job reads and verifies the signature. One hop to a
            # worker instead of two (each about 45 µs of CPU and a loop round).
            hint = seal_id_hint(signature)
            if hint is not None:
                status = await self._store.status(hint)
                found = await self.offload.verify(
                    "signature",
                    verify_sealed_document,
                    signature,
                    document=document,
                    document_hash=document_hash,
                    trust=self.trust,
                    seal_status=SealStatus(*status) if status else None,
                    now=self._clock(),
                    tsa_trust=self.tsa_trust,
                )
                # the full reading found the same seal (or none: not readable, the
                # registry plays no part): the status asked was the right one
                if found.seal_id in (hint, ""):
                    return found
            # read once: the seal id for the registry, and the values verified
            parsed = await self.offload.verify("signature", _read_or_none, signature)
            status = await self._store.status(parsed.seal.es_id) if parsed else None
            return await self.offload.verify(
                "signature",
                verify_sealed_document,
                signature,
                parsed=parsed,
                document=document,
                document_hash=document_hash,
                trust=self.trust,
                seal_status=SealStatus(*status) if status else None,
                now=self._clock(),
                tsa_trust=self.tsa_trust,
            )

    async def inspect(self, data: bytes) -> tuple[SealData | SignatureData, list[str]]:
        """An SESeal or SES_Signature (v4 or v1) and its listing, read by the
        verifier's reader off the event loop; INVALID_ARGUMENT (``data``) naming what
        is wrong, or RESOURCE_EXHAUSTED when the service is busy."""
        check_ses_size(data, "data")
        async with self.offload.admit("InspectSes", len(data)):
            return await self.offload.verify("data", inspect_ses, data, "data")

    @functools.cached_property
    def trust(self) -> TrustStore:
        """The trusted seal CAs: the platform's own (P-256 and, if configured, SM2)
        and the configured ones of other seal platforms."""
        store = self._trust
        for cert in self.own_cas:
            store = store.with_own(cert)
        return store
