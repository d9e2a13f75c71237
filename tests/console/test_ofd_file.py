"""The counter's answer for an OFD carries the file's verdict and each document's
(an OFD may hold several, GB/T 33190 §7.4), so a table of VALID seals is never the
whole answer for a file with an unsealed or forged document."""

from certseal.v1 import seal_pb2
from services.console.convert import ofd_file_of
from services.console.wording import FILE_VERDICTS

WORDS = ("tone", "title_zh", "title_en", "reason_zh", "reason_en")


def test_an_unsealed_document_is_in_the_answer() -> None:
    reply = seal_pb2.VerifyOfdResponse(
        signatures=[seal_pb2.OfdSignatureResult(verdict="VALID")],
        documents=[
            seal_pb2.OfdDocumentResult(
                document=0, document_root="/Doc_0/Document.xml", verdict="VALID"
            ),
            seal_pb2.OfdDocumentResult(
                document=1, document_root="/Doc_1/Document.xml", verdict="UNSEALED"
            ),
        ],
        verdict="UNSEALED",
        detail="document 1 (/Doc_1/Document.xml) holds no seal or signature",
    )
    assert ofd_file_of(reply) == {
        "verdict": "UNSEALED",
        **{k: getattr(FILE_VERDICTS["UNSEALED"], k) for k in WORDS},
        "detail": "document 1 (/Doc_1/Document.xml) holds no seal or signature",
        "documents": [
            {"document": 0, "document_root": "/Doc_0/Document.xml", "verdict": "VALID"},
            {
                "document": 1,
                "document_root": "/Doc_1/Document.xml",
                "verdict": "UNSEALED",
            },
        ],
    }


def test_the_file_verdict_is_said_in_words_as_the_seals_rows_are() -> None:
    """The page's whole-file line said ``UNTRUSTED_SEAL document 0 (/Doc_0/...)``:
    the raw verdict and internal paths, in English only."""
    reply = seal_pb2.VerifyOfdResponse(verdict="UNTRUSTED_SEAL", detail="document 0")
    said = ofd_file_of(reply)
    assert (said["title_zh"], said["title_en"]) == ("印章不可信", "Untrusted seal")
    assert said["tone"] == "bad" and said["reason_zh"] and said["reason_en"]
