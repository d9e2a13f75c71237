"""The counter's answer for an OFD carries the file's verdict and each document's
(an OFD may hold several, GB/T 33190 §7.4), so a table of VALID seals is never the
whole answer for a file with an unsealed or forged document."""

from certseal.v1 import seal_pb2
from services.console.convert import ofd_file_of


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
