"""`certseal seal verify-pdf` prints what VerifyPdf answers, the licence part too (pure)."""

from __future__ import annotations

from certseal.v1 import seal_pb2 as pb
from services.seal.cli import pdf_report_lines


def test_licence_file_status_is_printed_beside_the_seals() -> None:
    reply = pb.VerifyPdfResponse(
        seals=[pb.PdfSealResult(field_name="Seal-1", verdict="VALID", seal_name="章")],
        licence=pb.LicenceDocumentStatus(
            identifier="ID1", type_code="T1", issuer_code="D1", verdict="REVOKED"
        ),
    )
    lines = pdf_report_lines(reply)
    assert lines[0].startswith("Seal-1: VALID 章")
    assert lines[1] == "1 seal(s)"
    assert lines[2] == "licence     ID1 (type T1, issuer D1): REVOKED"


def test_licence_without_verdict_shows_why() -> None:
    reply = pb.VerifyPdfResponse(
        licence=pb.LicenceDocumentStatus(
            identifier="ID1", detail="verifier unreachable"
        )
    )
    assert pdf_report_lines(reply)[-1].endswith(": unknown (verifier unreachable)")


def test_plain_pdf_has_no_licence_line() -> None:
    reply = pb.VerifyPdfResponse(seals=[pb.PdfSealResult(verdict="VALID")])
    assert pdf_report_lines(reply) == [": VALID  ", "1 seal(s)"]


def test_a_password_error_names_the_cli_option() -> None:
    from certseal.errors import CertsealError, ErrorKind
    from services.seal.cli import password_hint

    refused = CertsealError(
        ErrorKind.FAILED_PRECONDITION,
        "the PDF is encrypted (…) and opens only with a password",
        field="password",
    )
    hinted = password_hint(refused)
    assert hinted.kind is ErrorKind.INVALID_ARGUMENT
    assert str(hinted).startswith("password-file: the PDF is encrypted")
    assert "--password-file FILE" in str(hinted)
    other = CertsealError(ErrorKind.INVALID_ARGUMENT, "no field X", field="field_name")
    assert password_hint(other) is other
