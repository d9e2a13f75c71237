"""The seal service's values: a registered seal, its status, and what verifying a
sealed document finds (the verdict and every check, GB/T 38540's SES structures read by
:mod:`services.seal.domain`). Pure: no I/O."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass


class SealVerdict(enum.Enum):
    """What is true about a sealed document."""

    VALID = "VALID"  # sealed by a seal that was valid then, and unchanged since
    MALFORMED = "MALFORMED"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    SIGNER_NOT_AUTHORISED = "SIGNER_NOT_AUTHORISED"
    UNTRUSTED_SEAL = "UNTRUSTED_SEAL"
    SEAL_NOT_VALID = "SEAL_NOT_VALID"  # expired, not yet valid or revoked at signing
    CERTIFICATE_NOT_VALID = "CERTIFICATE_NOT_VALID"
    MODIFIED = "MODIFIED"
    UNKNOWN_SEAL = "UNKNOWN_SEAL"
    BAD_TIMESTAMP = "BAD_TIMESTAMP"  # the token is not over this signature, or broken
    UNTRUSTED_TIMESTAMP = "UNTRUSTED_TIMESTAMP"  # its TSA leads to no trusted TSA root
    #: a PDF's document timestamp (no seal) that holds, unchanged after, trusted TSA
    DOCUMENT_TIMESTAMP = "DOCUMENT_TIMESTAMP"


#: the verdicts that are not VALID, the most serious first: what was signed changed or
#: the signature does not hold; then a seal not valid for it; then one not known to
#: be trusted (trial38: a file with a MODIFIED seal was summed up by an earlier
#: seal's UNTRUSTED_SEAL, the first not VALID, as if nothing had changed)
SEVERITY = (
    SealVerdict.MODIFIED,
    SealVerdict.BAD_SIGNATURE,
    SealVerdict.MALFORMED,
    SealVerdict.SIGNER_NOT_AUTHORISED,
    SealVerdict.SEAL_NOT_VALID,
    SealVerdict.CERTIFICATE_NOT_VALID,
    SealVerdict.BAD_TIMESTAMP,
    SealVerdict.UNKNOWN_SEAL,
    SealVerdict.UNTRUSTED_SEAL,
    SealVerdict.UNTRUSTED_TIMESTAMP,
    SealVerdict.DOCUMENT_TIMESTAMP,
)


def most_serious(verdicts: Iterable[SealVerdict]) -> SealVerdict:
    """The most serious of ``verdicts`` (:data:`SEVERITY`); VALID when each is VALID
    (or there is none)."""
    return min(verdicts, key=_rank, default=SealVerdict.VALID)


def _rank(verdict: SealVerdict) -> int:
    return SEVERITY.index(verdict) if verdict in SEVERITY else len(SEVERITY)


@dataclass(frozen=True, slots=True)
class SealStatus:
    """A seal as the registry knows it now."""

    status: str  # active | revoked
    revoked_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Seal:
    """A registered seal (its wrapped key stays opaque).

    Times are UTC; ``valid_start`` and ``valid_end`` are whole seconds, as the SES
    structures and the certificate carry them (GB/T 38540).
    """

    seal_id: str  # the owner's USCC and a serial
    owner_code: str
    seal_type: str  # official | contract | finance | invoice | personal | other
    name: str
    suite: str  # sm2 | es256 | ed25519
    status: str  # active | revoked
    valid_start: dt.datetime
    valid_end: dt.datetime
    signers: tuple[str, ...]  # the identities that may use it, e.g. dept:<code>
    kid: str
    wrapped_key: bytes  # the seal's private key, wrapped by the KEK
    certificate: bytes  # DER, issued by the seal CA, CN ``seal:<seal_id>``
    seal: bytes  # DER SESeal, signed by the platform's seal maker
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    revocation_reason: str
    seal_version: int  # grows with every change: events are applied if newer

    def __repr__(self) -> str:
        return f"Seal(seal_id={self.seal_id}, status={self.status})"


@dataclass(frozen=True, slots=True)
class SealCheck:
    """One check and what it found."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class SealVerification:
    """The verdict, the checks, and what the signature says."""

    verdict: SealVerdict
    checks: tuple[SealCheck, ...]
    seal_id: str = ""
    seal_name: str = ""
    signer: str = ""
    signed_at: dt.datetime | None = None
    current_status: str = ""
    #: when the seal was revoked (after it sealed: the verdict is VALID), else None
    revoked_at: dt.datetime | None = None


def no_such_page(page: int, count: int, document: str) -> str:
    """Why ``page`` (0-based, as ``--page`` and the requests count) is not a page of
    ``document`` (``the PDF``, ``the OFD``) of ``count`` pages: the pages it has, in
    the same count (a 5-page OFD's ``--page 5``: ``is 5; the OFD has pages 0 to
    4``; a one-page PDF's ``--page 1``: ``is 1; the PDF has one page, page 0``), so the number a user would fix it to is plain."""
    if count <= 0:
        return f"is {page}; {document} has no pages"
    have = "one page, page 0" if count == 1 else f"pages 0 to {count - 1}"
    return f"is {page}; {document} has {have}"
