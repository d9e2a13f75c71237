"""The Seal API's protobuf messages to and from the seal service's values.

Every ``certseal.v1.Seal`` request's defaults are applied here, so the servicer only
checks shape and calls; the service never sees protobuf.
"""

from __future__ import annotations

import datetime as dt

from certseal.crypto import Suite
from certseal.errors import invalid
from certseal.rpc import Caller
from certseal.timestamps import Clock, request_time, shifted, ts
from certseal.v1 import seal_pb2 as pb
from services.seal.domain import Seal, SealVerification
from services.seal.inspect import shown
from services.seal.licence_files import LicenceFileStatus
from services.seal.pdf import Placement
from services.seal.pdf_service import PdfSealResult, SealedPdf
from services.seal.republish import SealRepublishRun
from services.seal.service import RegisterSealInput, SealedDocument
from services.seal.ses import SESeal
from services.seal.ses_read import SealData, SignatureData

DEFAULT_VALIDITY = dt.timedelta(days=5 * 365)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# 14,400 PDF units (ISO 32000-1, annex C), in mm
MAX_PAGE_MM = 5080.0


def seal_info(row: Seal) -> pb.SealInfo:
    """The proto view of a seal, with the picture taken from its SESeal."""
    picture = SESeal.load(row.seal)["e_seal_info"]["picture"]["data"].native
    return pb.SealInfo(
        seal_id=row.seal_id,
        owner_code=row.owner_code,
        seal_type=row.seal_type,
        name=row.name,
        suite=row.suite,
        status=row.status,
        valid_start=ts(row.valid_start),
        valid_end=ts(row.valid_end),
        signers=list(row.signers),
        created_at=ts(row.created_at),
        revoked_at=ts(row.revoked_at),
        revocation_reason=row.revocation_reason,
        seal=row.seal,
        certificate=row.certificate,
        picture=picture,
    )


def register_input(
    request: pb.RegisterSealRequest, *, caller: Caller, clock: Clock
) -> RegisterSealInput:
    """The seal a ``RegisterSealRequest`` asks for, defaults applied.

    Defaults: the owner is the calling department; an official sm2 seal; valid from
    ``clock()`` for :data:`DEFAULT_VALIDITY` (five years); used by its owner only.
    Raises ``CertsealError`` INVALID_ARGUMENT when an operator names no owner or the
    suite is unknown.
    """
    owner = request.owner_code or (caller.name if caller.kind == "dept" else "")
    if not owner:
        raise invalid("owner_code", "is required when an operator registers")
    start = request_time(request, "valid_start") or clock()
    end = request_time(request, "valid_end") or shifted(
        start, DEFAULT_VALIDITY, "valid_start"
    )
    return RegisterSealInput(
        owner_code=owner,
        seal_type=request.seal_type or "official",
        name=request.name,
        suite=Suite.parse(request.suite or "sm2"),
        valid_start=start,
        valid_end=end,
        signers=tuple(request.signers) or (f"dept:{owner}",),
        picture_png=request.picture,
    )


def document_content(
    request: pb.SealDocumentRequest | pb.VerifySealedDocumentRequest,
) -> tuple[bytes | None, bytes | None]:
    """The ``content`` oneof as (document, digest): exactly one is not None.

    Raises ``CertsealError`` INVALID_ARGUMENT (field ``document``) when neither is set.
    """
    which = request.WhichOneof("content")
    if which == "document":
        return request.document, None
    if which == "document_digest":
        return None, request.document_digest
    raise invalid("document", "give the document or its digest")


def sealed_document(sealed: SealedDocument) -> pb.SealDocumentResponse:
    """The signature, its hex digest and the signing time."""
    return pb.SealDocumentResponse(
        signature=sealed.signature,
        document_digest=sealed.document_hash.hex(),
        signed_at=ts(sealed.signed_at),
    )


def verification(result: SealVerification) -> pb.VerifySealedDocumentResponse:
    """The verdict, every check that ran, and what the signature says."""
    return pb.VerifySealedDocumentResponse(
        verdict=result.verdict.value,
        checks=[
            pb.SealCheck(name=c.name, passed=c.passed, detail=c.detail)
            for c in result.checks
        ],
        seal_id=result.seal_id,
        seal_name=result.seal_name,
        signer=result.signer,
        signed_at=ts(result.signed_at),
        current_status=result.current_status,
        revoked_at=ts(result.revoked_at),
    )


def placement(request: pb.SealPdfRequest) -> Placement:
    """Where the stamp goes: the page (the first unless set), and its lower-left
    corner from the visible page's lower left, each 20 mm unless set (0 is the
    page's edge: the fields have presence).

    INVALID_ARGUMENT when a corner lies outside 0 to :data:`MAX_PAGE_MM` (the largest
    page a PDF may have) or is not a number, or a place is given with ``field_name``
    (the named field's widget places the stamp).
    """
    if request.field_name:
        refuse_placed(request, "field_name", "the signature field whose widget")
    x_mm, y_mm = corner_mm(request)
    return Placement(page=request.page, x_mm=x_mm, y_mm=y_mm)


def refuse_placed(
    request: pb.SealPdfRequest | pb.SealOfdRequest, instead: str, what: str
) -> None:
    """INVALID_ARGUMENT (``instead``) when ``request`` sets ``page``, ``x_mm`` or
    ``y_mm`` beside ``instead``, which places the stamp itself (``what`` does)."""
    given = [name for name in _PLACE if request.HasField(name)]
    if given:
        raise invalid(
            instead,
            f"names {what} places the stamp; give no {', '.join(given)} with it",
        )


def corner_mm(request: pb.SealPdfRequest | pb.SealOfdRequest) -> tuple[float, float]:
    """``x_mm`` and ``y_mm`` of ``request``, each :data:`DEFAULT_CORNER_MM` unless
    set. INVALID_ARGUMENT naming the field for a value outside 0 to
    :data:`MAX_PAGE_MM` or not a number."""
    corner = []
    for name in ("x_mm", "y_mm"):
        value = getattr(request, name)
        if not 0 <= value <= MAX_PAGE_MM:  # False for NaN too
            raise invalid(name, f"{value} is outside 0 to {MAX_PAGE_MM} mm")
        corner.append(value if request.HasField(name) else DEFAULT_CORNER_MM)
    return corner[0], corner[1]


_PLACE = ("page", "x_mm", "y_mm")
DEFAULT_CORNER_MM = 20.0
"""Each coordinate of the stamp's corner when a request does not set it (mm)."""


def sealed_pdf(sealed: SealedPdf) -> pb.SealPdfResponse:
    """The sealed PDF, its hex SHA-256 and the signing time."""
    return pb.SealPdfResponse(
        pdf=sealed.pdf,
        pdf_digest=sealed.pdf_digest.hex(),
        signed_at=ts(sealed.signed_at),
    )


def pdf_seals(results: list[PdfSealResult]) -> pb.VerifyPdfResponse:
    """Every seal found on a PDF with its verdict (registry fields empty if unknown)."""
    return pb.VerifyPdfResponse(
        seals=[
            pb.PdfSealResult(
                field_name=r.found.field_name,
                seal_id=r.seal.seal_id if r.seal else "",
                seal_name=r.seal.name if r.seal else "",
                verdict=r.verdict.value,
                intact=r.found.intact,
                trusted=r.found.trusted,
                modified=r.found.modified,
                signed_at=ts(r.found.signed_at),
                current_status=r.seal.status if r.seal else "",
                # VALID only when sealed before it (pdf_service checks)
                revoked_at=ts(r.seal.revoked_at) if r.seal else None,
                detail=r.found.detail,
            )
            for r in results
        ]
    )


def republish_message(run: SealRepublishRun) -> pb.RepublishSealsResponse:
    """Where a republishing run of the seal registry stands."""
    return pb.RepublishSealsResponse(
        run_id=run.run_id,
        published=run.published,
        done=run.finished_at is not None,
        resumed=run.resumed,
        after_seal_id=run.after_seal_id,
    )


def inspection(
    found: SealData | SignatureData, lines: list[str]
) -> pb.InspectSesResponse:
    """The proto view of an inspected SESeal or SES_Signature (strings escaped).

    INVALID_ARGUMENT ``data`` when an INTEGER the reply carries is beyond its proto
    type: ``property.type`` (int64 ``seal_type``; DER INTEGERs have no bound, X.690
    8.3). The version is 1 or 4 by then (:mod:`services.seal.ses_read`).
    """
    seal = found.seal if isinstance(found, SignatureData) else found
    if not INT64_MIN <= seal.seal_type <= INT64_MAX:
        raise invalid(
            "data",
            f"property.type is {seal.seal_type}: beyond the int64 InspectSesResponse."
            "seal_type holds (certseal seal inspect lists it)",
        )
    return pb.InspectSesResponse(
        structure="SES_Signature" if isinstance(found, SignatureData) else "SESeal",
        version=found.version,
        es_id=shown(seal.es_id),
        seal_name=shown(seal.name),
        seal_type=seal.seal_type,
        vendor_id=shown(seal.vendor_id),
        lines=lines,
    )


def licence_file_status(status: LicenceFileStatus) -> pb.LicenceDocumentStatus:
    """A licence file's licence status as VerifyPdf reports it."""
    return pb.LicenceDocumentStatus(
        identifier=status.identifier,
        type_code=status.type_code,
        issuer_code=status.issuer_code,
        verdict=status.verdict,
        detail=status.detail,
    )
