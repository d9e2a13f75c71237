"""``certseal seal document``: a document of any size the CLI can read is sealed by
its digest, computed here while the file is read in chunks.

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

from certseal.files import InputFile


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
