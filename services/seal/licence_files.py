"""Licence files (电子证照文件) verified by the seal service: beside the seal verdicts, the
licence's current status from a verifier group's index, so that a revoked licence's
file says REVOKED although its seal is intact (docs/holder.md).

The file's GB/T 36903 metadata (:mod:`certseal.licencefile`) names the licence and
carries its licence code; the status is the verdict a verifier group gives that code
(:class:`LicenceVerifier`, the seal service calling as ``service:seal``). A PDF without
the metadata gets no status; a verifier that cannot be reached gives a status with no
verdict and the reason, never an error for the seal verdicts already made.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from certseal.errors import CertsealError
from certseal.licencefile import read_licence_metadata


class LicenceVerifier(Protocol):
    """Verifies a licence code at a verifier group: the verdict's name (VALID,
    REVOKED, ...). Raises ``CertsealError`` when no verdict can be had."""

    async def verdict(self, code: str) -> str: ...


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
    """The status of the licence a PDF is the file of."""

    def __init__(self, *, verifier: LicenceVerifier | None):
        self._verifier = verifier

    async def status(self, pdf: bytes) -> LicenceFileStatus | None:
        """None when ``pdf`` carries no licence metadata; else the licence's status
        (see the module docstring)."""
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
        if self._verifier is None:
            return _with(found, detail="this seal service asks no verifier group")
        try:
            return _with(found, verdict=await self._verifier.verdict(code))
        except CertsealError as exc:
            return _with(found, detail=f"no verdict: {exc.message}")


def _with(
    status: LicenceFileStatus, *, verdict: str = "", detail: str = ""
) -> LicenceFileStatus:
    return LicenceFileStatus(
        status.identifier, status.type_code, status.issuer_code, verdict, detail
    )
