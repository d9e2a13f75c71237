"""The seal service's verification use cases: VerifySealedDocument and InspectSes
(split from :mod:`services.seal.service` by size; :class:`SealService` inherits them).

A verification needs no key and takes anyone's input: the SES_Signature is read and
checked off the event loop (:mod:`services.seal.offload`), with the seal's status from
the registry (:meth:`services.seal.storage.SealStore.statuses`, the reads of
concurrent calls together: :mod:`services.seal.statusreads`). What the bytes alone
show (:func:`services.seal.domain.seal_facts`) is kept per signature and document
(:class:`KeptVerifications`); the registry's status is asked and applied at every
call (:func:`services.seal.domain.seal_verdict`).
"""

from __future__ import annotations

import functools
import hashlib

from certseal.kept import KeptValues
from certseal.timestamps import Clock
from services.seal.domain import (
    SealFacts,
    SealStatus,
    SealVerification,
    seal_facts,
    seal_verdict,
)
from services.seal.inspect import inspect as inspect_ses
from services.seal.offload import LIGHT_BYTES, SealOffload
from services.seal.ses import check_ses_size
from services.seal.ses_read import SealData, SignatureData
from services.seal.statusreads import StatusReads
from services.seal.storage import SealStore
from services.seal.trust import TrustStore

_INSTALLED: list[tuple[TrustStore, TrustStore]] = []
"""In a light verification process: the seal service's trust stores (seal CAs, TSA
roots), installed once at its start (:func:`install_trust`)."""


def install_trust(trust: TrustStore, tsa_trust: TrustStore) -> None:
    """A light verification process's start: the trust stores every job reads (a
    function of the seal process's configuration, which does not change while it
    runs), so that a job carries its signature and document alone."""
    _INSTALLED[:] = [(trust, tsa_trust)]


def installed_seal_facts(
    signature: bytes, *, document: bytes | None, document_hash: bytes | None
) -> SealFacts:
    """:func:`~services.seal.domain.seal_facts` with the installed trust stores (in a
    light verification process)."""
    trust, tsa_trust = _INSTALLED[0]
    return seal_facts(
        signature,
        document=document,
        document_hash=document_hash,
        trust=trust,
        tsa_trust=tsa_trust,
    )


KEPT_INPUT_BYTES = 64 * 1024
"""Facts are kept only for a signature and document (or hash) of at most this many
bytes together: the key is a SHA-256 over them, taken on the event loop (about 5 µs
for 4 KiB, 90 µs for 64 KiB); a larger request's verification costs far more."""
KEPT_FACTS_BYTES = 16 * 1024 * 1024
"""What the kept facts may take together, estimated by :func:`_cost`."""


def _cost(facts: SealFacts) -> int:
    """A bound on what ``facts`` hold in memory: a fixed part, and four bytes a
    character for every string in them (a str holds at most four)."""
    decided = facts.decided
    shown = decided if decided is not None else facts
    strings = [shown.seal_id, shown.seal_name, shown.signer, facts.after_error or ""]
    for check in (*facts.before, *facts.after, *(decided.checks if decided else ())):
        strings += (check.name, check.detail)
    return 1024 + 4 * sum(len(s) for s in strings)


class KeptVerifications:
    """:class:`SealFacts` of the last verifications, keyed by a SHA-256 over the
    signature and the document (or its hash): a function of those bytes and the
    process's trust stores, which do not change while it runs. At most ``entries``
    of them and :data:`KEPT_FACTS_BYTES` together, the oldest used going first;
    ``entries`` = 0 keeps none. Used on the event loop only."""

    def __init__(self, entries: int):
        self.entries = max(0, entries)
        self._facts: KeptValues[bytes, SealFacts] = KeptValues(
            entries=self.entries,
            max_bytes=KEPT_FACTS_BYTES,
            max_one=KEPT_FACTS_BYTES // 64,
        )
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._facts)

    @property
    def kept_bytes(self) -> int:
        """What the kept facts cost together (at most :data:`KEPT_FACTS_BYTES`)."""
        return self._facts.bytes

    def key(
        self, signature: bytes, document: bytes | None, document_hash: bytes | None
    ) -> bytes | None:
        """The key of these inputs; None when they are not kept (too large, or
        nothing is kept)."""
        content = document if document is not None else document_hash
        if not self.entries or len(signature) + len(content or b"") > KEPT_INPUT_BYTES:
            return None
        kind = b"d" if document is not None else b"h" if content is not None else b"-"
        h = hashlib.sha256(len(signature).to_bytes(8, "big"))
        h.update(signature)
        h.update(kind)
        h.update(content or b"")
        return h.digest()

    def get(self, key: bytes | None) -> SealFacts | None:
        """The facts kept for ``key``, or None."""
        if key is None:
            return None
        found = self._facts.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: bytes | None, facts: SealFacts) -> None:
        """Keep ``facts`` for ``key`` (not when ``key`` is None, when a check raised
        on the way (``SealFacts.kept_safely``: a passing fault is not the bytes'
        verdict), or when they alone would take more than a sixty-fourth of the
        bound)."""
        if key is not None and facts.kept_safely:
            self._facts.put(key, facts, _cost(facts))


class SealVerifying:
    """VerifySealedDocument and InspectSes over the seal store and the trust stores
    (the attributes below are :class:`services.seal.service.SealService`'s)."""

    offload: SealOffload
    tsa_trust: TrustStore
    kept_verifications: KeptVerifications
    status_reads: StatusReads
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
            kept = self.kept_verifications
            key = kept.key(signature, document, document_hash)
            facts = kept.get(key)
            if facts is None:
                # one job reads the signature once and runs every check the bytes
                # decide (in a light verification process, when there is one: its
                # trust stores installed there); the registry is asked after it,
                # for the seal it found
                light = self.offload.light if size <= LIGHT_BYTES else None
                if light is not None:
                    facts = await light.run(
                        "signature",
                        installed_seal_facts,
                        signature,
                        document=document,
                        document_hash=document_hash,
                    )
                else:
                    facts = await self.offload.verify(
                        "signature",
                        seal_facts,
                        signature,
                        document=document,
                        document_hash=document_hash,
                        trust=self.trust,
                        tsa_trust=self.tsa_trust,
                    )
                kept.put(key, facts)
            status = (
                await self.status_reads.status(facts.seal_id)
                if facts.needs_status
                else None
            )
            return seal_verdict(facts, SealStatus(*status) if status else None)

    async def start_light_processes(self) -> None:
        """Start the offload's light verification processes (``[seal]
        light_verify_processes``; none: the light thread verifies) with this
        service's trust stores installed (:func:`install_trust`)."""
        await self.offload.start_light(install_trust, self.trust, self.tsa_trust)

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
