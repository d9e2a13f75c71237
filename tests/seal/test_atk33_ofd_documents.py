"""atk33 (a): an outside attack on VerifyOfd's verdict for an OFD of several
documents (docs/architecture.md, "Several documents in one file").

A1: a document made to "hold" another document's seal after sealing. The rule is
that the file is VALID only when every document holds a seal of its own: a reader
lists each document's signatures with it, so a document holding none is shown
unsealed. A platform seals the first document of a two-document file (its seal
covers every file then present, ``OFD.xml`` too); ``OFD.xml`` names a signature
list for the second document (``/Doc_1/Signs/Signatures.xml``) that is not yet
there, since nobody signed that document. Anyone may then add that list with one
entry whose ``BaseLoc`` is the first document's ``Signature.xml``: no key, no
changed byte of anything signed. VerifyOfd verifies that entry as the second
document's seal, VALID (its references all hold), and the file goes from not
VALID to VALID. A reader now lists the seal under the second document as well and
paints its stamp there (its ``PageRef`` names a page ID the copy shares): the file
shows both documents sealed, while the only signer sealed one.

A user needs a document's seal to be its own: a list entry naming another
document's ``Signature.xml`` (or any signature whose stamps and list are another
document's) is not a seal of this document, so the document is not VALID and
neither is the file.
"""

from __future__ import annotations

import pytest

from certseal.v1 import seal_pb2 as pb
from tests.seal.ofd_samples import zip_files
from tests.seal.test_ofd_documents import sealed, two_documents
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401

NS = 'xmlns:ofd="http://www.ofdspec.org/2016"'


def _list(*base_locs: str) -> bytes:
    entries = "".join(
        f'<ofd:Signature ID="{i + 1}" Type="Seal" BaseLoc="{loc}"/>'
        for i, loc in enumerate(base_locs)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><ofd:Signatures {NS}>'
        f"<ofd:MaxSignId>{len(base_locs)}</ofd:MaxSignId>{entries}</ofd:Signatures>"
    ).encode()


def _doc0_sealed_doc1_list_unwritten() -> dict[str, bytes]:
    """Two documents, OFD.xml naming each one's signature list; only Doc_0 sealed
    (its seal covering every file present: OFD.xml, both documents' pages)."""
    files = sealed(two_documents(signed=(True, True)), 0)
    assert "Doc_1/Signs/Signatures.xml" not in files
    return files


async def _verify(stack, app, files):  # type: ignore[no-untyped-def]
    stub = stub_for(stack, app, "app:archive")
    return await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=zip_files(files)))


@pytest.mark.xfail(
    strict=True,
    reason="atk33 A1: a list added after sealing makes document 1 hold document "
    "0's seal, and the file, not VALID before, is VALID",
)
async def test_another_documents_seal_listed_later_does_not_seal_a_document(
    stack,
    trusting_app,  # noqa: F811
):
    files = _doc0_sealed_doc1_list_unwritten()
    files["Doc_1/Signs/Signatures.xml"] = _list("/Doc_0/Signs/Sign_0/Signature.xml")
    reply = await _verify(stack, trusting_app, files)
    verdicts = [(d.document, d.verdict) for d in reply.documents]
    # a user needs: document 1 is not sealed by a list nobody signed
    assert verdicts[0] == (0, "VALID")
    assert verdicts[1][1] != "VALID", (verdicts, reply.detail)
    assert reply.verdict != "VALID", reply.detail


async def test_control_an_empty_list_added_later_leaves_document_1_unsealed(
    stack,
    trusting_app,  # noqa: F811
):
    files = _doc0_sealed_doc1_list_unwritten()
    files["Doc_1/Signs/Signatures.xml"] = _list()
    reply = await _verify(stack, trusting_app, files)
    assert [(d.document, d.verdict) for d in reply.documents] == [
        (0, "VALID"),
        (1, "UNSEALED"),
    ]
    assert reply.verdict == "UNSEALED"
