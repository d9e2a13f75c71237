"""What the holder side needs from the seal service: a sealer of licence files (PDF
through ``SealPdf``, OFD through ``SealOfd``), and the sealed file it returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class DocumentSealer(Protocol):
    """Seals a licence file with an owner's active official seal (seal service)."""

    async def seal_pdf(
        self, pdf: bytes, *, owner_code: str, reason: str
    ) -> tuple[bytes, str]:
        """The sealed PDF and the seal id used. Raises ``CertsealError``
        (FAILED_PRECONDITION when the owner has no usable official seal)."""
        ...

    async def seal_ofd(self, ofd: bytes, *, owner_code: str) -> tuple[bytes, str]:
        """The sealed OFD (GB/T 33190 §18, ``SealOfd``) and the seal id used; as
        :meth:`seal_pdf` (an sm2 official seal is preferred)."""
        ...


@dataclass(frozen=True)
class LicenceDocument:
    """A sealed licence file."""

    pdf: bytes  # the file: a PDF, or an OFD package when ``media_type`` says so
    seal_id: str
    digest: str  # SHA-256 hex
    media_type: str = "application/pdf"
