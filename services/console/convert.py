"""What the verifier, the seal service and the issuer's Redemption returned, as the
console's views.

Protobuf in, :mod:`services.console.domain` views out: exactly the fields the service
returned, nothing added from elsewhere.
"""

from __future__ import annotations

import base64
import datetime as dt

from certseal.timestamps import from_ts, rfc3339
from certseal.v1 import issuer_pb2, licence_pb2, seal_pb2, verifier_pb2
from services.console.domain import LicenceView, PdfSealView
from services.console.wording import FILE_VERDICTS, wording


def licence_view(
    result: verifier_pb2.VerificationResult,
    *,
    verified_at: dt.datetime,
    purpose: str,
    counter: str,
    clerk: str = "",
) -> LicenceView:
    """The page's view of a verification: exactly what the verifier returned.

    The verdict loses its ``VERDICT_`` prefix (``VERDICT_VALID`` is ``VALID``);
    ``verified_at`` is this console's time, ``counter`` and ``clerk`` the signed-in
    account's counter (``dept:<code>``) and name.
    """
    freshness = result.freshness
    return LicenceView(
        verdict=verifier_pb2.Verdict.Name(result.verdict).removeprefix("VERDICT_"),
        checks=[
            {"name": c.name, "passed": c.passed, "detail": c.detail}
            for c in result.checks
        ],
        identifier=result.identifier,
        type_code=result.type_code,
        issuer_code=result.issuer_code,
        holder_display_name=result.holder_display_name,
        fields=dict(result.fields),
        valid_from=from_ts(result.valid_from),
        valid_until=from_ts(result.valid_until),
        code_kind=result.code_kind,
        index_time=from_ts(freshness.last_event_time),
        index_lag_events=freshness.lag_events,
        index_lag_unknown=freshness.lag_unknown,
        index_lag_measured_at=from_ts(freshness.lag_measured_at),
        verified_at=verified_at,
        purpose=purpose,
        counter=counter,
        clerk=clerk,
        status=f"{result.status:02d}" if result.status else "",
        type_name=result.type_name,
        issuer_name=result.issuer_name,
        field_titles=dict(result.field_titles),
        group=result.group,
    )


def pdf_seal_view(seal: seal_pb2.PdfSealResult) -> PdfSealView:
    """The page's view of one seal found in a PDF."""
    return PdfSealView(
        field_name=seal.field_name,
        seal_id=seal.seal_id,
        seal_name=seal.seal_name,
        verdict=seal.verdict,
        intact=seal.intact,
        trusted=seal.trusted,
        modified=seal.modified,
        signed_at=from_ts(seal.signed_at),
        current_status=seal.current_status,
        detail=seal.detail,
    )


def ofd_seal_view(seal: seal_pb2.OfdSignatureResult) -> PdfSealView:
    """The page's view of one signature of an OFD, in a sealed PDF's shape: the
    signature's path as its name, the first failed check as the detail."""
    failed = next((c for c in seal.checks if not c.passed), None)
    return PdfSealView(
        field_name=seal.signature_path,
        seal_id=seal.seal_id,
        seal_name=seal.seal_name,
        verdict=seal.verdict,
        intact=seal.intact,
        trusted=seal.verdict not in ("UNTRUSTED_SEAL", "MALFORMED", "BAD_SIGNATURE"),
        modified=seal.verdict == "MODIFIED",
        signed_at=from_ts(seal.signed_at),
        current_status=seal.current_status,
        detail=f"{failed.name}: {failed.detail}" if failed else "",
    )


def ofd_file_of(reply: seal_pb2.VerifyOfdResponse) -> dict[str, object]:
    """An OFD's verdict as a whole and each document's (an OFD may hold several,
    GB/T 33190 §7.4): VALID only when every document holds a seal and every seal
    is VALID, so a page of VALID seals is never all the answer."""
    return {
        **wording(FILE_VERDICTS, reply.verdict),  # in words, as the seals' rows
        "detail": reply.detail,
        "documents": [
            {
                "document": d.document,
                "document_root": d.document_root,
                "verdict": d.verdict,
            }
            for d in reply.documents
        ],
    }


def licence_file_of(
    reply: seal_pb2.VerifyPdfResponse | seal_pb2.VerifyOfdResponse,
) -> dict[str, str] | None:
    """The licence status of a VerifyPdf or VerifyOfd reply, or None for a file that
    is no licence file."""
    return licence_file_view(reply.licence) if reply.HasField("licence") else None


def licence_file_view(status: seal_pb2.LicenceDocumentStatus) -> dict[str, str]:
    """A licence file's licence and its status now (REVOKED although the seal is
    intact, for a revoked licence)."""
    return {
        "identifier": status.identifier,
        "type_code": status.type_code,
        "issuer_code": status.issuer_code,
        "verdict": status.verdict,
        "detail": status.detail,
    }


def _field_text(value: licence_pb2.FieldValue) -> str:
    kind = value.WhichOneof("value")
    return "" if kind is None else str(getattr(value, kind))


def redemption_view(
    reply: issuer_pb2.RedeemAuthorisationResponse, *, redeemed_at: dt.datetime
) -> dict[str, object]:
    """A redeemed authorisation as the page shows it: who may use it for what, the
    licence type and the holder's masked name, the shared fields with their titles,
    and the annotated copy (base64 PDF) with what it says: the version it is of
    (``copy_identifier``; ``identifier`` is the version authorised, superseded
    after a renewal), the moment it is valid before and its statement and purpose
    line in its own words, which the page shows (atk41h)."""
    auth = reply.authorisation
    until = reply.copy_valid_until
    return {
        "authorisation_id": auth.authorisation_id,
        "identifier": auth.identifier,
        "copy_identifier": reply.copy_identifier,
        "copy_valid_until": (
            rfc3339(until.ToDatetime(dt.UTC))
            if reply.HasField("copy_valid_until")
            else None
        ),
        "copy_statement": reply.copy_statement,
        "copy_purpose_line": reply.copy_purpose_line,
        "department": auth.department_name or auth.department_code,
        "department_name": auth.department_name,
        "purpose": auth.purpose,
        "expires_at": rfc3339(auth.expires_at.ToDatetime(dt.UTC)),
        "type_code": reply.type_code,
        "type_name": reply.type_name,
        "holder_display_name": reply.holder_display_name,
        "fields": {k: _field_text(v) for k, v in sorted(reply.fields.items())},
        "field_titles": dict(sorted(reply.field_titles.items())),
        "annotated_copy": base64.b64encode(reply.annotated_copy).decode("ascii"),
        "seal_id": reply.seal_id,
        "redeemed_at": rfc3339(redeemed_at),
    }
