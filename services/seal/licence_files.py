"""Licence files (电子证照文件) verified by the seal service: beside the seal verdicts, the
licence's current status from a verifier group's index, so that a revoked licence's
file says REVOKED although its seal is intact (docs/holder.md).

The file's GB/T 36903 metadata (:mod:`certseal.licencefile`) names the licence and
carries its licence code; the status is the verdict a verifier group gives that code
(:class:`LicenceVerifier`, the seal service calling as ``service:seal``). It also picks
the official seal the issuer seals a licence file with
(:meth:`LicenceFiles.official_seal_for`). A PDF without
the metadata gets no status; a verifier that cannot be reached gives a status with no
verdict and the reason, never an error for the seal verdicts already made.

Metadata is only a claim, so a verdict is given only to a file that (1) carries a
VALID seal of the department its metadata names as issuer, which signed that same
metadata (not changed in a later incremental update), and (2) whose metadata names
the licence the code is of (the verifier's identifier): else a forged or unsealed PDF
carrying a genuine licence code would borrow that licence's status.
Such a file gets a status with no verdict and the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from certseal.audit import AuditEntry
from certseal.errors import CertsealError, precondition
from certseal.licencefile import read_licence_metadata, signed_metadata
from certseal.rpc import Caller
from certseal.timestamps import Clock, utcnow
from services.seal.domain import SealVerdict
from services.seal.pdf_service import PdfSealResult
from services.seal.storage import SealStore


@dataclass(frozen=True)
class LicenceVerdict:
    """A verifier group's verdict on a licence code: its name (VALID, REVOKED, ...)
    and the identifier of the licence the code is of ('' when unknown)."""

    verdict: str
    identifier: str


class LicenceVerifier(Protocol):
    """Verifies a licence code at a verifier group. Raises ``CertsealError`` when no
    verdict can be had."""

    async def verdict(self, code: str) -> LicenceVerdict: ...


@dataclass(frozen=True)
class LicenceFileStatus:
    """The licence a licence file names and its current verdict ('' with ``detail``
    when none could be had)."""

    identifier: str
    type_code: str
    issuer_code: str
    verdict: str
    detail: str = ""


class LicenceFiles:
    """The status of the licence a PDF is the file of, and the official seal a
    licence file is sealed with."""

    def __init__(
        self,
        *,
        verifier: LicenceVerifier | None,
        store: SealStore | None = None,
        clock: Clock = utcnow,
    ):
        self._verifier = verifier
        self._store = store
        self._clock = clock

    async def official_seal_for(self, caller: Caller, owner_code: str) -> str:
        """The id of ``owner_code``'s newest active official seal that ``caller`` may
        use for PDFs (es256 or ed25519, valid now): e.g. the issuer sealing a licence
        file with the issuing department's seal. FAILED_PRECONDITION when there is
        none (audited)."""
        if self._store is None:  # wired by the app; never None when serving
            raise RuntimeError("no seal store")
        now = self._clock()
        usable = [
            row
            for row in await self._store.list(owner_code, after="", limit=500)
            if row.seal_type == "official"
            and row.status == "active"
            and row.suite in ("es256", "ed25519")
            and str(caller) in row.signers
            and row.valid_start <= now <= row.valid_end
        ]
        if not usable:
            await self._store.audit(
                [
                    AuditEntry(
                        now,
                        str(caller),
                        "seal.use",
                        owner_code,
                        "denied",
                        {"why": "no usable official seal"},
                    )
                ]
            )
            raise precondition(
                f"{owner_code} has no active official es256 or ed25519 seal that "
                f"{caller} may use",
                field="owner_code",
            )
        return max(usable, key=lambda row: row.valid_start).seal_id

    async def status(
        self, pdf: bytes, seals: Sequence[PdfSealResult] = ()
    ) -> LicenceFileStatus | None:
        """None when ``pdf`` carries no licence metadata; else the licence's status,
        a verdict only when ``seals`` (the PDF's verified seals) hold a VALID seal of
        the issuer the metadata names (see the module docstring)."""
        meta = await asyncio.to_thread(read_licence_metadata, pdf)
        if not meta.get("identifier"):
            return None
        found = LicenceFileStatus(
            meta["identifier"],
            meta.get("type_code", ""),
            meta.get("issuer_code", ""),
            "",
        )
        code = meta.get("licence_code", "")
        if not code:
            return _with(found, detail="the file carries no licence code")
        issuer_seals = [
            result
            for result in seals
            if result.verdict is SealVerdict.VALID
            and result.seal is not None
            and result.seal.owner_code == found.issuer_code
        ]
        if not issuer_seals:
            return _with(
                found,
                detail=f"no VALID seal of the issuer {found.issuer_code or '(none)'} "
                "named in the metadata: the file is not that licence's file",
            )
        sealed = await asyncio.to_thread(signed_metadata, pdf)
        if not any(sealed.get(r.found.field_name) == meta for r in issuer_seals):
            return _with(
                found,
                detail="the metadata was changed after the issuer's seal: "
                "the file is not that licence's file",
            )
        if self._verifier is None:
            return _with(found, detail="this seal service asks no verifier group")
        try:
            answer = await self._verifier.verdict(code)
        except CertsealError as exc:
            return _with(found, detail=f"no verdict: {exc.message}")
        if answer.identifier != found.identifier:
            return _with(
                found,
                detail="the licence code is of another licence than the metadata "
                f"names ({answer.identifier or 'unknown'})",
            )
        return _with(found, verdict=answer.verdict)


def _with(
    status: LicenceFileStatus, *, verdict: str = "", detail: str = ""
) -> LicenceFileStatus:
    return LicenceFileStatus(
        status.identifier, status.type_code, status.issuer_code, verdict, detail
    )
