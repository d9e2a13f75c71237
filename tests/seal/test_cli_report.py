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


def test_a_verdict_with_a_detail_shows_both() -> None:
    reply = pb.VerifyPdfResponse(
        licence=pb.LicenceDocumentStatus(
            identifier="ID1", verdict="VALID", detail="an annotated copy (加注件)"
        )
    )
    assert pdf_report_lines(reply)[-1].endswith(": VALID (an annotated copy (加注件))")


def test_plain_pdf_has_no_licence_line() -> None:
    reply = pb.VerifyPdfResponse(seals=[pb.PdfSealResult(verdict="VALID")])
    assert pdf_report_lines(reply) == [": VALID  ", "1 seal(s)"]


def test_a_pdf_without_a_seal_says_so() -> None:
    """A new user's unsealed PDF printed only '0 seal(s)' (exit 1)."""
    assert pdf_report_lines(pb.VerifyPdfResponse()) == [
        "0 seal(s): the PDF holds no signature or seal to verify"
    ]


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


def test_a_wrong_password_is_said_as_the_one_in_the_file() -> None:
    """words39: 'password-file: does not open this PDF' read as if the file failed to
    open the PDF; it is the password in FILE that is not the PDF's."""
    from certseal.errors import CertsealError, ErrorKind
    from services.seal.cli import password_hint

    wrong = CertsealError(
        ErrorKind.INVALID_ARGUMENT, "does not open this PDF", field="password"
    )
    hinted = password_hint(wrong, "my pw.txt")
    assert hinted.kind is ErrorKind.INVALID_ARGUMENT
    assert str(hinted) == (
        "password-file: the password in my pw.txt is not this PDF's password: check "
        "it with whoever sent the PDF (its user or owner password), put it on the "
        "file's first line and try again"
    )
    assert "does not open" not in str(hinted)
    # the name is shown as the user typed it, escaped when it does not print
    assert "'pw\\nerror: x'" in str(password_hint(wrong, "pw\nerror: x"))
    long = CertsealError(
        ErrorKind.INVALID_ARGUMENT,
        "is longer than 127 bytes of UTF-8",
        field="password",
    )
    assert str(password_hint(long, "pw")) == (
        "password-file: the password in pw is longer than 127 bytes of UTF-8"
    )


def _pdf(verdicts: list[str], licence: str | None) -> pb.VerifyPdfResponse:
    reply = pb.VerifyPdfResponse(
        seals=[
            pb.PdfSealResult(field_name=f"S{i}", verdict=v)
            for i, v in enumerate(verdicts)
        ]
    )
    if licence is not None:
        reply.licence.CopyFrom(
            pb.LicenceDocumentStatus(identifier="ID1", verdict=licence)
        )
    return reply


def test_a_licence_files_own_verdict_counts_in_the_exit_status() -> None:
    """verify-pdf and verify-ofd exit 0 only when every seal and, in a licence file,
    the licence itself is VALID (fixnu-b 8: NOT_YET_VALID exited 0)."""
    from services.seal.cli import verify_status

    for verdicts, licence, status in (
        (["VALID"], None, 0),
        (["VALID"], "VALID", 0),
        (["VALID"], "NOT_YET_VALID", 1),
        (["VALID"], "REVOKED", 1),
        (["VALID"], "", 1),  # its status could not be read
        (["VALID", "MODIFIED"], "VALID", 1),
        ([], None, 1),
    ):
        reply = _pdf(verdicts, licence)
        assert verify_status([s.verdict for s in reply.seals], reply) == status, (
            verdicts,
            licence,
        )
    ofd = pb.VerifyOfdResponse(signatures=[pb.OfdSignatureResult(verdict="VALID")])
    assert verify_status(["VALID"], ofd) == 0
    ofd.licence.CopyFrom(pb.LicenceDocumentStatus(verdict="NOT_YET_VALID"))
    assert verify_status(["VALID"], ofd) == 1


def test_a_signature_that_is_no_signature_prints_no_blank_lines() -> None:
    """``seal verify`` on a file that is no SES: no ``seal`` or ``signed - by`` line
    with nothing in it, only what is known."""
    from services.seal.cli import _signer_lines

    malformed = pb.VerifySealedDocumentResponse(verdict="MALFORMED")
    assert _signer_lines(malformed) == []
    unknown = pb.VerifySealedDocumentResponse(
        verdict="UNTRUSTED_SEAL", seal_id="S1", signer="dept:X"
    )
    assert _signer_lines(unknown) == ["seal        S1", "signed      by dept:X"]
    # words39: a changed document's answer carries the seal's status as VALID's does
    modified = pb.VerifySealedDocumentResponse(
        verdict="MODIFIED", seal_id="S1", seal_name="章", current_status="active"
    )
    assert _signer_lines(modified) == ["seal        S1 章 (active)"]
    full = pb.VerifySealedDocumentResponse(
        seal_id="S1", seal_name="章", current_status="active", signer="dept:X"
    )
    full.signed_at.FromSeconds(1_700_000_000)
    assert _signer_lines(full) == [
        "seal        S1 章 (active)",
        "signed      2023-11-14T22:13:20+00:00 by dept:X",
    ]


def test_a_seals_status_now_is_printed_beside_its_verdict() -> None:
    """A new user revoked a seal and `seal verify-pdf` still printed only VALID,
    where `seal verify` says "(revoked)"."""
    reply = pb.VerifyPdfResponse(
        seals=[
            pb.PdfSealResult(
                field_name="Seal-1",
                verdict="VALID",
                seal_name="章",
                current_status="revoked",
                detail="signed before the revocation",
            )
        ]
    )
    reply.seals[0].revoked_at.FromSeconds(1_700_000_000)
    assert pdf_report_lines(reply)[0] == (
        "Seal-1: VALID: sealed before the seal was revoked "
        "(2023-11-14T22:13:20+00:00) 章 (revoked) signed before the revocation"
    )


def test_an_ofd_licence_line_has_the_pdf_line_s_shape() -> None:
    """trial33: verify-ofd printed ``licence ID REVOKED`` where verify-pdf printed
    ``licence ID (type T, issuer D): REVOKED``, and neither said which revocation."""
    from services.seal.cli import _licence_lines

    licence = pb.LicenceDocumentStatus(
        identifier="ID1",
        type_code="T1",
        issuer_code="D1",
        verdict="REVOKED",
        detail="revoked as a sanction (07)",
    )
    said = "licence     ID1 (type T1, issuer D1): REVOKED (revoked as a sanction (07))"
    assert _licence_lines(pb.VerifyOfdResponse(licence=licence)) == [said]
    assert pdf_report_lines(pb.VerifyPdfResponse(licence=licence))[-1] == said
    assert _licence_lines(pb.VerifyOfdResponse()) == []
