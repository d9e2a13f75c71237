"""What the holder side needs from the seal service: a sealer of licence files (PDF
through ``SealPdf``, OFD through ``SealOfd``), and the sealed file it returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from certseal.errors import CertsealError, ErrorKind
from services.issuer.domain import Status

#: how an operator gives the platform the seal annotated copies are sealed with
PLATFORM_SEAL_COMMAND = (
    "certseal seal register --owner {code} --type official --name 平台专用章 "
    "--suite es256 --signer service:issuer"
)


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
    status: Status | None = None  # the licence's status now, when the file is its
    current_identifier: str = ""  # the lineage's current version, when superseded


def platform_setup_error(exc: CertsealError, platform_code: str) -> CertsealError:
    """The seal service's refusal to seal an annotated copy with the platform's seal
    (``exc``) as what it is: a set-up step of the platform missing, not a fault of the
    redeemer's request. FAILED_PRECONDITION, field ``setup``, saying what an operator
    does; any other kind (UNAVAILABLE: the seal service did not answer) unchanged."""
    if exc.kind is not ErrorKind.FAILED_PRECONDITION:
        return exc
    return CertsealError(
        ErrorKind.FAILED_PRECONDITION,
        f"the platform cannot seal annotated copies ({exc.message}); an operator "
        f"registers its seal: {PLATFORM_SEAL_COMMAND.format(code=platform_code)} "
        "(docs/holder.md; make run does it)",
        field="setup",
    )
