"""``certseal seal verify`` (and ``verify-pdf``, ``verify-ofd``) of a seal revoked after
it sealed: VALID by design (the document was sealed while the seal was valid, and is
unchanged), so exit 0, and the verdict line says plainly that the seal was revoked since,
and when. It printed a bare ``verdict VALID`` while README's exit-code table listed
REVOKED (no seal verdict) under exit 1 (pure: the CLI's printers over the replies)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from certseal.timestamps import ts
from certseal.v1 import seal_pb2 as pb
from services.seal import cli

REVOKED = dt.datetime(2026, 3, 1, 8, 30, tzinfo=dt.UTC)
SAID = "VALID: sealed before the seal was revoked (2026-03-01T08:30:00+00:00)"


def test_seal_verify_says_the_seal_was_revoked_after_signing(capsys):
    reply = pb.VerifySealedDocumentResponse(
        verdict="VALID", seal_id="S1", current_status="revoked", revoked_at=ts(REVOKED)
    )
    assert cli._print_checks(reply) == 0  # VALID: signed before, by design
    verdict = capsys.readouterr().out.splitlines()[0]
    assert verdict.startswith(f"verdict     {SAID}"), verdict


def test_a_seal_still_active_says_valid_alone(capsys):
    reply = pb.VerifySealedDocumentResponse(verdict="VALID", current_status="active")
    assert cli._print_checks(reply) == 0
    assert capsys.readouterr().out == "verdict     VALID\n"


def test_a_seal_revoked_before_signing_is_not_valid(capsys):
    reply = pb.VerifySealedDocumentResponse(
        verdict="SEAL_NOT_VALID", current_status="", revoked_at=ts(REVOKED)
    )
    assert cli._print_checks(reply) == 1
    assert capsys.readouterr().out == "verdict     SEAL_NOT_VALID\n"


def test_verify_pdf_says_it_on_the_seals_line():
    reply = pb.VerifyPdfResponse(
        seals=[
            pb.PdfSealResult(
                field_name="Seal-1",
                verdict="VALID",
                seal_name="章",
                current_status="revoked",
                revoked_at=ts(REVOKED),
            )
        ]
    )
    assert cli.pdf_report_lines(reply)[0].startswith(f"Seal-1: {SAID} 章")


def test_verify_ofd_says_it_on_its_verdict_line():
    one = pb.OfdSignatureResult(
        verdict="VALID", current_status="revoked", revoked_at=ts(REVOKED)
    )
    assert cli.verdict_shown(one).startswith(SAID)


def test_the_readme_exit_table_lists_seal_verdicts_that_exist():
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    row = next(
        line for line in readme.splitlines() if line.startswith("| `seal verify SIG")
    )
    assert "REVOKED" not in row.split("|")[3], row  # no seal verdict is REVOKED
    assert "revoked after" in row.split("|")[2], row
