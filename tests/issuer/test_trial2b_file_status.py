"""trial2b 3: ``holder file`` (and ``licence document``) of a suspended or revoked
licence wrote the sealed file with exit 0 and no word, where ``licence code`` warns.
Such files are by design (docs/holder.md: a verifier reads the licence's status now),
but the user is told: GetLicenceDocument answers the licence's status with the file,
and every status but valid warns on stderr the same way; the exit status stays 0."""

import argparse

import pytest

from certseal.v1 import issuer_pb2 as pb
from services.issuer.document_cli import licence_document

ID = "1.2.156.3005.2.91350100M000100Y43001.91350100M000100Y43.C90MHI5MLZCUICOG.001.1"


class _Stub:
    def __init__(self, status: int, current: str = ""):
        self.status, self.current = status, current

    def GetLicenceDocument(self, request):
        assert request.identifier == ID
        return pb.GetLicenceDocumentResponse(
            document=b"%PDF-1.7 sealed",
            media_type="application/pdf",
            seal_id="seal-1",
            document_digest="ab" * 32,
            status=self.status,
            current_identifier=self.current,
        )


def _run(capsys, tmp_path, stub):
    out = tmp_path / "file.pdf"
    args = argparse.Namespace(identifier=ID, format="pdf", out=str(out))
    code = licence_document(args, lambda _args, call, **_: call(stub))
    captured = capsys.readouterr()
    assert out.read_bytes() == b"%PDF-1.7 sealed"  # written whatever the status
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (2, "suspended (02)"),
        (3, "revoked (03)"),
        (5, "expired (05)"),
        (7, "revoked as a sanction (07)"),
    ],
)
def test_the_file_of_a_licence_not_valid_warns_with_its_status(
    capsys, tmp_path, status, words
):
    code, out, err = _run(capsys, tmp_path, _Stub(status))
    assert code == 0 and "PDF written to" in out
    assert err == (
        f"warning: {ID} is {words}: the file is sealed, and verifying it says "
        "the licence is not valid\n"
    )


def test_the_file_of_a_valid_licence_says_nothing_more(capsys, tmp_path):
    code, _, err = _run(capsys, tmp_path, _Stub(1))
    assert code == 0 and err == ""


def test_the_file_of_a_superseded_version_names_the_current_one(capsys, tmp_path):
    """trial45: the file of an amended licence's old version was written with no word,
    where ``licence code`` of it warns."""
    current = ID.replace(".001.1", ".002.X")
    code, out, err = _run(capsys, tmp_path, _Stub(1, current))
    assert code == 0 and "PDF written to" in out
    assert err == (
        f"warning: {ID} was superseded; its current version is {current}, and this "
        "file verifies as superseded\n"
    )
