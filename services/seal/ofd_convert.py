"""The Seal API's OFD messages to and from the OFD use cases' values."""

from __future__ import annotations

import base64

from certseal.errors import invalid
from certseal.timestamps import ts
from certseal.v1 import seal_pb2 as pb
from services.seal.convert import corner_mm, refuse_placed
from services.seal.ofd_results import OfdFileResult
from services.seal.ofd_service import SealedOfd
from services.seal.ofd_sign import StampPlace

MAX_KEYWORD_CHARS = 100


def stamp_place(request: pb.SealOfdRequest) -> StampPlace:
    """Where the stamp goes: over the keyword, or on the page (the first unless set)
    with its top-left corner from the page's top left, each 20 mm unless set (0 is
    the page's edge: the fields have presence). INVALID_ARGUMENT (``x_mm``, ``y_mm``,
    ``keyword``) for a corner outside 0 to :data:`~services.seal.convert.MAX_PAGE_MM`
    or not a number, a keyword with a page or corner beside it, or a keyword that is
    blank, over :data:`MAX_KEYWORD_CHARS` characters or has control characters."""
    x_mm, y_mm = corner_mm(request)
    keyword = request.keyword
    if keyword:
        refuse_placed(request, "keyword", "the text whose first showing")
        if not keyword.strip() or len(keyword) > MAX_KEYWORD_CHARS:
            raise invalid(
                "keyword", f"must have 1 to {MAX_KEYWORD_CHARS} visible characters"
            )
        if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in keyword):
            raise invalid("keyword", "has control characters")
    return StampPlace(page=request.page, x_mm=x_mm, y_mm=y_mm, keyword=keyword)


def sealed_ofd(sealed: SealedOfd) -> pb.SealOfdResponse:
    """The sealed OFD, its hex SHA-256, the signing time and the new signature."""
    return pb.SealOfdResponse(
        ofd=sealed.ofd,
        ofd_digest=sealed.ofd_digest.hex(),
        signed_at=ts(sealed.signed_at),
        signature_id=sealed.signature_id,
        signature_path="/" + sealed.signature_path,
        page=sealed.page,
    )


def _b64(value: bytes | None) -> str:
    return base64.b64encode(value).decode() if value is not None else ""


def ofd_signatures(found: OfdFileResult) -> pb.VerifyOfdResponse:
    """Every signature of an OFD with its document, verdict, checks and reference
    digests; each document's verdict and the file's."""
    return pb.VerifyOfdResponse(
        verdict=found.verdict,
        detail=found.detail,
        documents=[
            pb.OfdDocumentResult(
                document=d.index,
                document_root="/" + d.doc_root if d.doc_root else "",
                verdict=d.verdict,
            )
            for d in found.documents
        ],
        signatures=[
            pb.OfdSignatureResult(
                signature_id=r.entry.signature_id,
                signature_path="/" + r.entry.path,
                type=r.entry.kind,
                verdict=r.verification.verdict.value,
                checks=[
                    pb.SealCheck(name=c.name, passed=c.passed, detail=c.detail)
                    for c in r.verification.checks
                ],
                seal_id=r.verification.seal_id,
                seal_name=r.verification.seal_name,
                signer=r.verification.signer,
                signed_at=ts(r.verification.signed_at),
                current_status=r.verification.current_status,
                revoked_at=ts(r.verification.revoked_at),
                intact=r.intact,
                check_method=r.check_method,
                references=[
                    pb.OfdReference(
                        file="/" + ref.file,
                        expected=_b64(ref.expected),
                        actual=_b64(ref.actual),
                        status=ref.status,
                    )
                    for ref in r.references
                ],
                stamp_pages=list(r.stamp_pages),
                document=r.document,
            )
            for r in found.signatures
        ],
    )
