"""Licence files (电子证照文件) verified by the seal service: beside the seal verdicts, the
licence's current status from a verifier group's index, so that a revoked licence's
file says REVOKED although its seal is intact (docs/holder.md).

The file's GB/T 36903 metadata (:mod:`certseal.licencefile`) names the licence and
carries its licence code; the status is the verdict a verifier group gives that code
(:class:`LicenceVerifier`, the seal service calling as ``service:seal`` on behalf of
whoever gave it the file, :func:`asked_by`: the verifier's usage record names that
party, so every check of a licence file or an annotated copy shows in the holder's
usage record under who made it, atk39holder). It also picks
the official seal the issuer seals a licence file with
(:meth:`LicenceFiles.official_seal_for`). An OFD licence file carries the same
elements as ``CustomData`` of its ``OFD.xml`` ``DocInfo/CustomDatas``
(:func:`ofd_licence_metadata`, read within the bounds of
:mod:`services.seal.ofd_package`). A file without
the metadata gets no status; a verifier that cannot be reached gives a status with no
verdict and the reason, never an error for the seal verdicts already made.

Metadata is only a claim, so a verdict is given only to a file that (1) carries a
VALID seal of the department its metadata names as issuer, which signed that same
metadata (not changed in a later incremental update), and (2) whose metadata names
the licence the code is of (the verifier's identifier): else a forged or unsealed PDF
carrying a genuine licence code would borrow that licence's status.
Such a file gets a status with no verdict and the reason. An annotated copy (加注件,
docs/holder.md) is the one other file that gets a verdict: the platform (``[platform]
code``, the ``copier``) seals it in the issuer's stead, so a VALID seal of the
platform that signed the same metadata counts as the issuer's, and the status says
the file is a copy. Only the seals licence files are sealed with count
(:func:`seals_licence_files`): an official seal, and of the platform one that only
:data:`COPY_SEALER` may use; else whoever may use a contract seal of the issuer, or
any seal of the platform, could seal a page of their own making carrying a genuine
licence's metadata and have it verify with that licence's status (atk17c).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from certseal.audit import AuditEntry
from certseal.errors import CertsealError, precondition
from certseal.licencefile import METADATA_KEYS, read_licence_metadata, signed_metadata
from certseal.rpc import Caller
from certseal.timestamps import Clock, utcnow
from services.seal.domain import SealVerdict
from services.seal.ofd_package import child, children, parse_xml, read_package
from services.seal.ofd_results import OfdSignatureResult
from services.seal.pdf_service import PdfSealResult
from services.seal.storage import SealStore
from services.seal.values import Seal

log = logging.getLogger(__name__)

#: the suites a licence file may be sealed with, by format: PAdES in PDF takes es256
#: and ed25519; OFD (GB/T 38540 SES_Signature) every suite, sm2 first of all
PDF_SUITES = ("es256", "ed25519")
OFD_SUITES = ("sm2", "es256", "ed25519")

#: what a refusal adds when the owner could not register the seal it lacks either
LACKS_SEAL_OWNER = ", and it lacks the seal_owner role that registering one needs"

#: the one identity that verifies on behalf of a counter it names
#: (``x-certseal-counter`` and ``x-certseal-clerk``), as it does at the verifier
CONSOLE = "service:console"
COUNTER_METADATA = "x-certseal-counter"
CLERK_METADATA = "x-certseal-clerk"

#: the one identity that seals annotated copies with the platform's official seal
#: (the issuer's Redemption, docs/holder.md)
COPY_SEALER = "service:issuer"


def seals_licence_files(row: Seal | None, owner: str, *, copier: str = "") -> bool:
    """Whether ``row`` (a registered seal) is one of ``owner``'s seals a licence file
    of ``owner`` is sealed with: its official seal; when ``owner`` is the platform
    ``copier`` (annotated copies), only one no identity but :data:`COPY_SEALER` may
    use, since whoever may use it could make a "copy" of any licence."""
    if row is None or not owner or row.owner_code != owner:
        return False
    if row.seal_type != "official":
        return False
    return owner != copier or set(row.signers) == {COPY_SEALER}


def ofd_licence_metadata(ofd: bytes) -> dict[str, str]:
    """The GB/T 36903 metadata of an OFD licence file: the ``CustomData`` elements of
    ``OFD.xml``'s first ``DocBody/DocInfo/CustomDatas`` whose ``Name`` is one of
    :data:`certseal.licencefile.METADATA_KEYS` (``{}`` when there are none or the
    package cannot be read within bounds: callers bound its size)."""
    try:
        package = read_package(ofd, "ofd", only={"OFD.xml"})
        data = package.get("OFD.xml")
        if data is None:
            return {}
        body = child(parse_xml(data, "OFD.xml"), "DocBody")
        info = child(body, "DocInfo") if body is not None else None
        customs = child(info, "CustomDatas") if info is not None else None
        if customs is None:
            return {}
        found: dict[str, str] = {}
        for item in children(customs, "CustomData"):
            name = item.get("Name", "")
            if name in METADATA_KEYS and name not in found:
                found[name] = (item.text or "").strip()
        return found
    except CertsealError:
        return {}


@dataclass(frozen=True)
class Asker:
    """Who asked for a licence file to be verified, as the verifier's usage record
    names them: ``counter`` an identity (``dept:<code>``, ``app:<name>`` ...) and,
    for a clerk at the counter console, ``clerk`` (the console account, as the
    console's ``x-certseal-clerk`` carries it: percent-encoded UTF-8)."""

    counter: str
    clerk: str = ""


def asked_by(caller: str, *, counter: str | None, clerk: str | None) -> Asker:
    """Who a Verify call of ``caller`` (``kind:name``) asks for: the counter and clerk
    the counter console names in its metadata (``counter``, ``clerk``: the values of
    ``x-certseal-counter`` and ``x-certseal-clerk``, None when absent); any other
    caller itself, whatever metadata it sends (only the console speaks for a counter;
    the verifier checks what the console named)."""
    if caller == CONSOLE and counter is not None and clerk is not None:
        return Asker(counter, clerk)
    return Asker(caller)


@dataclass(frozen=True)
class LicenceVerdict:
    """A verifier group's verdict on a licence code: its name (VALID, REVOKED, ...),
    the identifier of the licence the code is of ('' when unknown) and, for a verdict
    other than VALID, the failed check's detail (``revoked as a sanction (07)``)."""

    verdict: str
    identifier: str
    detail: str = ""


class LicenceVerifier(Protocol):
    """Verifies a licence code at a verifier group on behalf of ``asker`` (the usage
    record names them). Raises ``CertsealError`` when no verdict can be had; any
    other exception is taken alike (:meth:`LicenceFiles._status`)."""

    async def verdict(self, code: str, asker: Asker) -> LicenceVerdict: ...


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
        copier: str = "",
    ):
        self._verifier = verifier
        self._store = store
        self._clock = clock
        self._copier = copier

    async def official_seal_for(
        self, caller: Caller, owner_code: str, suites: tuple[str, ...] = PDF_SUITES
    ) -> str:
        """The id of ``owner_code``'s newest active official seal (latest
        ``valid_start``, then latest registered) that ``caller`` may use, of one of
        ``suites`` (:data:`PDF_SUITES` for PDFs, :data:`OFD_SUITES`
        for OFD, where an sm2 seal is preferred over a newer seal of another suite),
        valid now: e.g. the issuer sealing a licence file with the issuing
        department's seal. FAILED_PRECONDITION when there is none (audited)."""
        if self._store is None:  # wired by the app; never None when serving
            raise RuntimeError("no seal store")
        now = self._clock()
        usable = [
            row
            for row in await self._store.list(owner_code, after="", limit=500)
            if row.seal_type == "official"
            and row.status == "active"
            and row.suite in suites
            and str(caller) in row.signers
            and row.valid_start <= now <= row.valid_end
            and seals_licence_files(row, owner_code, copier=self._copier)
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
            only = " (only it: the platform's seal makes copies)"
            roles = await self._store.department_roles(owner_code) or ()
            # the issuer's CLI reads these words to give the role step first
            lacks = "" if "seal_owner" in roles else LACKS_SEAL_OWNER
            raise precondition(
                f"{owner_code} has no active official {' or '.join(suites)} seal "
                f"that {caller} may use{only if owner_code == self._copier else ''}"
                f"{lacks}",
                field="owner_code",
            )
        # valid_start has whole seconds (GB/T 38540): of seals starting in the same
        # second, the one registered last is the newest
        return max(
            usable,
            key=lambda row: (row.suite == "sm2", row.valid_start, row.created_at),
        ).seal_id

    async def status(
        self,
        pdf: bytes,
        seals: Sequence[PdfSealResult] = (),
        *,
        asker: Asker = Asker(""),
    ) -> LicenceFileStatus | None:
        """None when ``pdf`` carries no licence metadata; else the licence's status,
        a verdict only when ``seals`` (the PDF's verified seals) hold a VALID seal of
        the issuer the metadata names that signed this same metadata (see the module
        docstring), asked at the verifier on behalf of ``asker``."""
        meta = await asyncio.to_thread(read_licence_metadata, pdf)
        if not meta.get("identifier"):
            return None
        issuer = meta.get("issuer_code", "")
        for owners, note in ((issuer, ""), (self._copier, self._copy_note())):
            sealing = [
                result
                for result in seals
                if result.verdict is SealVerdict.VALID
                and seals_licence_files(result.seal, owners, copier=self._copier)
            ]
            if not sealing:
                continue
            sealed = await asyncio.to_thread(signed_metadata, pdf)
            if any(sealed.get(r.found.field_name) == meta for r in sealing):
                return await self._status(meta, asker, note)
            if owners == issuer:
                return _claimed(meta, _CHANGED)
        return _claimed(meta, _NOT_ISSUERS)

    def _copy_note(self) -> str:
        return f"an annotated copy (加注件) sealed by the platform {self._copier}"

    async def ofd_status(
        self,
        ofd: bytes,
        signatures: Sequence[OfdSignatureResult] = (),
        *,
        asker: Asker = Asker(""),
    ) -> LicenceFileStatus | None:
        """As :meth:`status`, for an OFD licence file (:func:`ofd_licence_metadata`):
        a verdict only when ``signatures`` (the OFD's verified signatures) hold a
        VALID signature by a seal of the issuer the metadata names whose references
        protect ``OFD.xml`` (where the metadata is) unchanged."""
        meta = await asyncio.to_thread(ofd_licence_metadata, ofd)
        if not meta.get("identifier"):
            return None
        issuer = meta.get("issuer_code", "")
        for result in signatures:
            if result.verification.verdict is not SealVerdict.VALID:
                continue
            row = (
                await self._store.get(result.verification.seal_id)
                if self._store
                else None
            )
            if not seals_licence_files(row, issuer, copier=self._copier):
                continue
            if any(
                r.file.lstrip("/") == "OFD.xml" and r.status == "ok"
                for r in result.references
            ):
                return await self._status(meta, asker)
        return _claimed(meta, _NOT_ISSUERS)

    async def _status(
        self, meta: dict[str, str], asker: Asker, note: str = ""
    ) -> LicenceFileStatus:
        """The verdict of the file's licence code, checked to be of the licence the
        metadata names; ``note`` (what the file is: a copy) leads its detail."""
        found = _claimed(meta, "")
        code = meta.get("licence_code", "")
        if not code:
            return _with(found, note, detail="the file carries no licence code")
        if self._verifier is None:
            return _with(found, note, detail="this seal service asks no verifier group")
        try:
            answer = await self._verifier.verdict(code, asker)
        except Exception as exc:  # never an error for the seal verdicts already made
            why = (
                exc.message
                if isinstance(exc, CertsealError)
                else f"the verifier group could not be asked ({type(exc).__name__})"
            )
            log.warning(
                "no verdict on the licence code of %s: %s",
                found.identifier,
                why,
                exc_info=not isinstance(exc, CertsealError),
            )
            return _with(found, note, detail=f"no verdict: {why}")
        if answer.identifier != found.identifier:
            return _with(
                found,
                note,
                detail="the licence code is of another licence than the metadata "
                f"names ({answer.identifier or 'unknown'})",
            )
        return _with(found, note, verdict=answer.verdict, detail=answer.detail)


def _with(
    status: LicenceFileStatus, note: str, *, verdict: str = "", detail: str = ""
) -> LicenceFileStatus:
    detail = "; ".join(part for part in (note, detail) if part)
    return LicenceFileStatus(
        status.identifier, status.type_code, status.issuer_code, verdict, detail
    )


_NOT_ISSUERS = (
    "no VALID seal of the issuer named in the metadata (nor of the platform, which "
    "seals the annotated ones, 加注件): the file is not that licence's file as it was "
    "sealed"
)
_CHANGED = (
    "the metadata was changed after the issuer's seal: the file is not that "
    "licence's file"
)


def _claimed(meta: dict[str, str], detail: str) -> LicenceFileStatus:
    """The licence the metadata claims, with no verdict and ``detail``."""
    return LicenceFileStatus(
        meta["identifier"],
        meta.get("type_code", ""),
        meta.get("issuer_code", ""),
        "",
        detail,
    )
