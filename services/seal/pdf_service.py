"""The seal service's PDF use cases: seal a PDF (PAdES) and verify a PDF's seals.

Sealing a PDF (an es256 or ed25519 seal; sm2 seals seal a PDF's bytes with
``SealDocument`` instead):
1. check the caller is one of the seal's signers and the seal may be used now
   (:meth:`SealService.usable`; a refusal is audited);
2. off the event loop, within the admission bound and the time bound
   (:mod:`services.seal.offload`), add one PAdES signature (B-T: with a signature
   timestamp from the configured TSA, UNAVAILABLE when it does not answer) with the
   seal's picture as the visible stamp (:func:`services.seal.pdf.seal_pdf`);
3. refuse the sealed PDF when it is over ``max_document_bytes`` (VerifyPdf would
   refuse it: :mod:`services.seal.limits`), recording nothing;
4. store the ``document.sealed`` event (the sealed PDF's SHA-256, never the PDF) and the
   audit row in one transaction.

Verifying a PDF reads and validates its signatures off the event loop in the same way,
then judges every signature in it with the registry's record of its seal
(:func:`services.seal.domain.pdf_seal_verdict`), and last makes MODIFIED each one
after which a signature that is not VALID here shows on a page
(:func:`_painted_over_checked`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from certseal.audit import AuditEntry
from certseal.bounds import MAX_DOCUMENT_BYTES
from certseal.identifiers import mint_serial
from certseal.rpc import Caller
from certseal.text import shown_name
from services.seal.domain import Seal, SealStatus, SealVerdict, pdf_seal_verdict
from services.seal.events import document_sealed
from services.seal.limits import check_document_size, check_sealed_size
from services.seal.pdf import Placement, seal_pdf
from services.seal.pdf_verify import PdfSeal, painted_over, read_pdf_seals
from services.seal.service import SealCa, SealService
from services.seal.ses import SESeal
from services.seal.storage import SealStore
from services.seal.tsa import Timestamper


@dataclass(frozen=True)
class SealedPdf:
    """A sealed PDF and its digest."""

    pdf: bytes
    pdf_digest: bytes  # SHA-256 of ``pdf``
    signed_at: dt.datetime  # whole seconds


@dataclass(frozen=True)
class PdfSealResult:
    """One seal found on a PDF, its registry entry and the verdict."""

    found: PdfSeal
    seal: Seal | None  # None: the signer is not a seal registered here
    verdict: SealVerdict


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class PdfSealService:
    """Sealing and verifying PDFs with the seals of :class:`SealService`."""

    def __init__(
        self,
        *,
        seals: SealService,
        store: SealStore,
        seal_ca: SealCa,
        max_document_bytes: int = MAX_DOCUMENT_BYTES,
        timestamper: Timestamper | None = None,
        tsa_roots: Sequence[bytes] = (),
    ):
        self._timestamper = timestamper
        self._tsa_roots = tuple(tsa_roots)
        self._seals = seals
        self._store = store
        self._ca = seal_ca
        self.max_document_bytes = max_document_bytes

    async def seal_pdf(
        self,
        caller: Caller,
        seal_id: str,
        *,
        pdf: bytes,
        placement: Placement,
        reason: str,
        password: str = "",
        field_name: str = "",
    ) -> SealedPdf:
        """The PDF sealed (PAdES) with the seal's picture as the visible stamp, in a
        new field at ``placement`` or in the empty signature field ``field_name``; an
        encrypted PDF opens with ``password``.

        Raises ``CertsealError``: NOT_FOUND, PERMISSION_DENIED, FAILED_PRECONDITION
        (the seal is not usable now, or is an sm2 seal; the PDF's encryption,
        permissions or certification forbid sealing: :mod:`services.seal.pdf_open`)
        or INVALID_ARGUMENT (``pdf`` over ``max_document_bytes`` or unreadable, or
        the sealed PDF over it: :func:`services.seal.limits.check_sealed_size`; ``page`` not in the PDF, ``x_mm``/``y_mm`` off the visible page, a wrong
        ``password``, no empty signature field ``field_name``).
        """
        row, now = await self._seals.usable(caller, seal_id)
        check_document_size("pdf", len(pdf), self.max_document_bytes)
        picture = SESeal.load(row.seal)["e_seal_info"]["picture"]["data"].native
        offload = self._seals.offload
        async with offload.admit("SealPdf", len(pdf)):
            sealed = await offload.run_async(
                "pdf",
                seal_pdf,
                pdf,
                signer=self._seals.signer(row),
                cert=row.certificate,
                ca=self._ca.cert,
                picture_png=picture,
                placement=placement,
                new_field_name=f"Seal-{mint_serial(8)}",
                into_field=field_name,
                password=password,
                reason=reason,
                # signed on a worker thread's own loop: a client of that loop
                timestamper=(
                    self._timestamper.fresh_client() if self._timestamper else None
                ),
            )
            # what VerifyPdf would refuse is not given out (nor recorded as sealed)
            check_sealed_size(
                "pdf", "PDF", len(pdf), len(sealed), self.max_document_bytes
            )
            data_hash = await offload.run("pdf", _sha256, sealed)
        event = document_sealed(
            row,
            actor=str(caller),
            at=self._seals.now(),
            document_digest=data_hash,
            digest_algorithm="sha256",
            signed_at=now,
        )
        audit = AuditEntry(
            now,
            str(caller),
            "seal.use",
            seal_id,
            details={"pdf_digest": data_hash.hex()},
        )
        await self._store.record([event], [audit])
        return SealedPdf(sealed, data_hash, now.replace(microsecond=0))

    async def verify_pdf(
        self, pdf: bytes, *, password: str = ""
    ) -> list[PdfSealResult]:
        """Every seal on a PDF, judged with the registry's status of its seal; an
        encrypted PDF opens with ``password`` (or the empty user password).

        Raises ``CertsealError`` INVALID_ARGUMENT when ``pdf`` is over
        ``max_document_bytes`` or not a readable PDF (see
        :data:`services.seal.pdf.PDF_DECODE_LIMITS` for what reading it may inflate)
        or ``password`` is wrong; FAILED_PRECONDITION when its encryption cannot be
        opened here or needs a password.
        """
        check_document_size("pdf", len(pdf), self.max_document_bytes)
        offload = self._seals.offload
        async with offload.admit("VerifyPdf", len(pdf)):
            seals = await offload.verify_async(
                "pdf",
                read_pdf_seals,
                pdf,
                ca=self._ca.cert,
                password=password,
                tsa_roots=self._tsa_roots,
            )
        results = []
        for found in seals:
            row = None
            if found.signer.startswith("seal:") and not found.document_timestamp:
                row = await self._store.get(found.signer.removeprefix("seal:"))
            if row is None and found.trusted and not found.document_timestamp:
                found = _unregistered(found)
            results.append(PdfSealResult(found, row, _verdict(found, row)))
        return _painted_over_checked(results)


def _unregistered(found: PdfSeal) -> PdfSeal:
    """``found``, whose certificate the platform's seal CA issued, with who signed
    it and that no seal of that name is registered here first in its detail (last,
    after what changed, when it changed: words39, a signature of no seal showed no
    name and no reason); an untrusted one says so already
    (:func:`services.seal.pdf_after.untrusted_note`)."""
    note = f"signed by {shown_name(found.signer[:80])}: no seal registered here"
    said = (found.detail, note) if found.modified else (note, found.detail)
    return dataclasses.replace(found, detail=", ".join(said))


def _verdict(found: PdfSeal, row: Seal | None) -> SealVerdict:
    """One signature's verdict: a document timestamp's (:func:`_stamp_verdict`), or
    a seal's with the registry's ``row`` of it (None: not registered here), a failed
    signature timestamp overriding."""
    if found.document_timestamp:
        return _stamp_verdict(found)
    verdict = pdf_seal_verdict(
        intact=found.intact,
        modified=found.modified,
        trusted=found.trusted,
        signed_at=found.timestamped_at or found.signed_at,
        seal_valid=(row.valid_start, row.valid_end) if row else None,
        status=SealStatus(row.status, row.revoked_at) if row else None,
    )
    if found.timestamped_at is not None and verdict in _STAMP_DECIDES:
        if not found.timestamp_intact:  # PAdES B-T: the token must hold
            verdict = SealVerdict.BAD_TIMESTAMP
        elif not found.timestamp_trusted:
            verdict = SealVerdict.UNTRUSTED_TIMESTAMP
    return verdict


def _painted_over_checked(results: list[PdfSealResult]) -> list[PdfSealResult]:
    """The results, each signature after which a later signature that is not VALID
    here shows on a page made MODIFIED (atk16 F5, :func:`painted_over`): only a seal
    VALID here answers for what its appearance paints; a stranger's (self-signed,
    untrusted, revoked, unknown) may cover the sealed page. An invisible later
    signature, or a VALID one, leaves it as it was ("later signatures only").

    The later signatures are judged by their verdicts as found on their own: one
    made MODIFIED here only by a signature after it that shows, which also came after
    this one and makes it MODIFIED directly, so the order does not matter."""
    verdicts: dict[str, list[SealVerdict]] = {}
    for r in results:
        verdicts.setdefault(r.found.field_name, []).append(r.verdict)
    checked = []
    for r in results:
        unvouched = [
            (name, "/".join(v.value for v in verdicts.get(name, [])) or "not listed")
            for name in r.found.shown_after
            if any(v is not SealVerdict.VALID for v in verdicts.get(name, [None]))
        ]
        if unvouched:
            found = painted_over(r.found, unvouched)
            r = PdfSealResult(found, r.seal, _verdict(found, r.seal))
        checked.append(r)
    return checked


#: verdicts a failed signature timestamp overrides (a broken signature stays broken)
_STAMP_DECIDES = frozenset(
    {SealVerdict.VALID, SealVerdict.SEAL_NOT_VALID, SealVerdict.UNKNOWN_SEAL}
)


def _stamp_verdict(found: PdfSeal) -> SealVerdict:
    """A document timestamp's verdict (it is no seal, so never VALID): BAD_TIMESTAMP
    (its imprint or signature fails), MODIFIED (changed after it beyond further
    signatures), UNTRUSTED_TIMESTAMP (no chain to a configured TSA root), else
    DOCUMENT_TIMESTAMP."""
    if not found.intact:
        return SealVerdict.BAD_TIMESTAMP
    if found.modified:
        return SealVerdict.MODIFIED
    if not found.trusted:
        return SealVerdict.UNTRUSTED_TIMESTAMP
    return SealVerdict.DOCUMENT_TIMESTAMP
