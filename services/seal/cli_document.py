"""``certseal seal document``: a document of any size the CLI can read is sealed by
its digest, computed here while the file is read in chunks; ``seal verify`` sends a
document over the CLI's read bound by its digest too (:func:`verify_request`).

A new user's trial sealed a 60.01 MiB file: the CLI sent the whole document, the seal
service refused it over ``[seal] max_document_bytes`` with "send its digest instead",
and ``seal document`` had no way to. SealDocument signs the same digest either way
(the service digests a document it is sent by the seal's suite, and signs a digest
it is sent as it is), so the CLI always sends the digest: the SES_Signature verifies
with ``seal verify`` as before, only the 32 bytes cross the network, and the CLI
holds one chunk of the file at a time (:class:`certseal.files.InputFile`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from certseal.bounds import MAX_DOCUMENT_FILE_BYTES
from certseal.files import InputFile
from services.seal.cli_inputs import check_signed, read_document


def document_digest(chunks: Iterable[bytes], suite: str) -> bytes:
    """The digest SealDocument takes of a document for a seal of ``suite``: SM3 for
    sm2, SHA-256 otherwise (the seal service's rule, :func:`certseal.crypto.digest`),
    of the document's ``chunks``."""
    from cryptography.hazmat.primitives import hashes

    algorithm: hashes.HashAlgorithm = (
        hashes.SM3() if suite == "sm2" else hashes.SHA256()
    )
    hashed = hashes.Hash(algorithm)
    for chunk in chunks:
        hashed.update(chunk)
    return hashed.finalize()


async def seal_document(
    stub: Any, seal_id: str, document: InputFile, property_info: str
) -> Any:
    """GetSeal for the seal's suite, then SealDocument of ``document``'s digest by
    it (read in a thread: a large file does not hold up the channel)."""
    from certseal.v1 import seal_pb2 as pb

    seal = (await stub.GetSeal(pb.GetSealRequest(seal_id=seal_id))).seal
    digest = await asyncio.to_thread(document_digest, document.chunks(), seal.suite)
    request = pb.SealDocumentRequest(
        seal_id=seal_id, document_digest=digest, property_info=property_info
    )
    return await stub.SealDocument(request)


def verify_request(signature_name: str, document_name: str) -> Any:
    """``seal verify``'s VerifySealedDocument request: the document itself within the
    CLI's read bound (:data:`~certseal.bounds.MAX_DOCUMENT_FILE_BYTES`), as before (a
    v1 signature's timestamp over the document may need it); a larger one by its
    digest, by the signature's suite (:func:`signature_suite`), computed while it
    is read in chunks (words39: a file over 64 MiB was refused by the bound, while
    ``seal document`` sealed it)."""
    from certseal.v1 import seal_pb2 as pb

    signature = read_document(signature_name, "signature")
    with InputFile(document_name, "file") as document:
        if document.size > MAX_DOCUMENT_FILE_BYTES:
            check_signed(signature, signature_name, document.head)
            digest = document_digest(document.chunks(), signature_suite(signature))
            return pb.VerifySealedDocumentRequest(
                signature=signature, document_digest=digest
            )
    whole = read_document(document_name, "file")
    check_signed(signature, signature_name, whole)
    return pb.VerifySealedDocumentRequest(signature=signature, document=whole)


def signature_suite(signature: bytes) -> str:
    """The suite of an SES_Signature's signing algorithm (sm2, es256, ed25519): the
    digest of the document the seal service compares with the sealed one is its
    (:func:`document_digest`). es256 for a signature that cannot be read or names
    no suite: the service's verdict on it (MALFORMED, BAD_SIGNATURE) needs no
    digest."""
    from services.seal.ses import SUITE_BY_OID
    from services.seal.ses_read import SesFormatError, read_signature

    try:
        suite = SUITE_BY_OID.get(read_signature(signature).algorithm)
    except (SesFormatError, ValueError):
        suite = None
    return suite.value if suite is not None else "es256"
