"""trial38 finding 4: ``certseal seal verify-ofd`` of an OFD whose second seal was
MODIFIED said ``file        UNTRUSTED_SEAL: … s001 …``, the first seal's verdict,
as if nothing in it had changed. The file's and each document's verdict is now the
most serious of their seals' (a changed document, a signature that does not hold,
over an untrusted signer), and its detail names the most serious first (pure)."""

from __future__ import annotations

import pytest

from certseal.v1 import seal_pb2 as pb
from services.seal.cli_ofd import ofd_file_lines
from services.seal.ofd import SignatureEntry
from services.seal.ofd_results import (
    UNSEALED,
    OfdDocumentResult,
    OfdFileResult,
    OfdSignatureResult,
)
from services.seal.values import SEVERITY, SealVerdict, SealVerification, most_serious

V = SealVerdict


def _signature(n: int, verdict: SealVerdict) -> OfdSignatureResult:
    entry = SignatureEntry(
        f"s{n:03}", "Seal", f"Doc_0/Signs/Sign_{n}/Signature.xml", ()
    )
    return OfdSignatureResult(entry, SealVerification(verdict, ()), ())


def _file(*documents: tuple[SealVerdict, ...]) -> OfdFileResult:
    return OfdFileResult(
        tuple(
            OfdDocumentResult(
                i,
                f"Doc_{i}/Document.xml",
                tuple(_signature(n, v) for n, v in enumerate(verdicts, 1)),
            )
            for i, verdicts in enumerate(documents)
        )
    )


def test_every_verdict_but_valid_has_its_place() -> None:
    assert sorted(SEVERITY, key=lambda v: v.value) == sorted(
        set(SealVerdict) - {V.VALID}, key=lambda v: v.value
    )
    assert most_serious([]) is V.VALID
    assert most_serious([V.VALID, V.VALID]) is V.VALID


@pytest.mark.parametrize(
    ("verdicts", "said"),
    [
        ((V.UNTRUSTED_SEAL, V.MODIFIED), V.MODIFIED),
        ((V.UNKNOWN_SEAL, V.BAD_SIGNATURE), V.BAD_SIGNATURE),
        ((V.UNTRUSTED_SEAL, V.VALID, V.SEAL_NOT_VALID), V.SEAL_NOT_VALID),
        ((V.BAD_SIGNATURE, V.MODIFIED), V.MODIFIED),
        ((V.VALID, V.UNTRUSTED_SEAL), V.UNTRUSTED_SEAL),
    ],
)
def test_the_file_says_its_most_serious_verdict(verdicts, said) -> None:
    found = _file(verdicts)
    assert found.verdict == said.value
    assert found.documents[0].verdict == said.value
    assert found.detail.startswith("document 0 (/Doc_0/Document.xml): s00")
    assert found.detail.split("; ")[0].endswith(f" {said.value}")


def test_the_trial_s_file_line_names_the_modified_seal() -> None:
    found = _file((V.UNTRUSTED_SEAL, V.MODIFIED))
    reply = pb.VerifyOfdResponse(
        signatures=[pb.OfdSignatureResult(signature_id="s001")] * 2,
        documents=[pb.OfdDocumentResult(document_root="/Doc_0/Document.xml")],
        verdict=found.verdict,
        detail=found.detail,
    )
    assert ofd_file_lines(reply)[-1] == (
        "file        MODIFIED: document 0 (/Doc_0/Document.xml): s002 "
        "/Doc_0/Signs/Sign_2/Signature.xml MODIFIED; document 0 "
        "(/Doc_0/Document.xml): s001 /Doc_0/Signs/Sign_1/Signature.xml UNTRUSTED_SEAL"
    )


def test_a_seal_at_fault_says_more_than_a_document_without_one() -> None:
    assert _file((V.UNTRUSTED_SEAL,), ()).verdict == V.UNTRUSTED_SEAL.value
    assert _file((V.VALID,), ()).verdict == UNSEALED
    assert _file((V.VALID,), (V.VALID,)).verdict == V.VALID.value
    assert _file().verdict == UNSEALED
