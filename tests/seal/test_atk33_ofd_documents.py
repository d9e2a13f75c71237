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

import grpc
import pytest

from certseal.v1 import seal_pb2 as pb
from tests.seal.ofd_samples import make_ofd, unzip, zip_files
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


async def test_a_copy_of_another_documents_seal_does_not_seal_a_document(
    stack,
    trusting_app,  # noqa: F811
):
    # the same kind: Doc_0's seal files copied under Doc_1 and listed there (the
    # copy's Signature.xml is byte for byte the one signed, so it verifies)
    files = _doc0_sealed_doc1_list_unwritten()
    for name in [n for n in files if n.startswith("Doc_0/Signs/Sign_0/")]:
        files["Doc_1/" + name.removeprefix("Doc_0/")] = files[name]
    files["Doc_1/Signs/Signatures.xml"] = _list("/Doc_1/Signs/Sign_0/Signature.xml")
    reply = await _verify(stack, trusting_app, files)
    assert [(d.document, d.verdict) for d in reply.documents] == [
        (0, "VALID"),
        (1, "MALFORMED"),
    ], reply.detail
    assert reply.verdict != "VALID"
    [_, copy] = reply.signatures
    [check] = [c for c in copy.checks if not c.passed]
    assert check.name == "document"
    assert "document 0's /Doc_0/Signs/Sign_0/Signature.xml" in check.detail


async def test_a_seal_listed_by_two_documents_signing_neither_list_seals_neither(
    stack,
    trusting_app,  # noqa: F811
):
    # which document it seals cannot be told: neither holds it
    doc_0 = frozenset(["Doc_0/Signs/Signatures.xml"])
    files = sealed(two_documents(signed=(True, True)), 0, leave_out=doc_0)
    files["Doc_1/Signs/Signatures.xml"] = _list("/Doc_0/Signs/Sign_0/Signature.xml")
    reply = await _verify(stack, trusting_app, files)
    assert [(d.document, d.verdict) for d in reply.documents] == [
        (0, "MALFORMED"),
        (1, "MALFORMED"),
    ], reply.detail


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


# -- A2: an OFD.xml the verifier cannot parse, signed as it is --------------------
#
# VerifyOfd reads an OFD.xml it cannot parse as a damaged, so changed, file and
# falls back to the package's one ``Signs/Signatures.xml`` (``ofd._conventional``),
# a document with no root: nothing is drawn then but OFD.xml. That holds only when
# OFD.xml changed after sealing. A sealer may sign an OFD.xml that every reader
# reads and the verifier refuses: a document type declaration (``<!DOCTYPE
# ofd:OFD>``, no entity, no external subset: dom4j (ofdrw), libxml2 and every XML
# 1.0 parser read it; defusedxml is set to refuse any DTD). OFD.xml then holds
# (its digest is the signed one), the seal covers nothing else, and it is VALID:
# (a) a seal covering only OFD.xml and its own files, every page changed after
# sealing; (b) a second document, unsealed, not even listed.
#
# A user needs an OFD.xml that holds but cannot be read taken as what it is: what
# the document is drawn from cannot be told, so no seal is VALID over it (or the
# package is refused, INVALID_ARGUMENT ``ofd`` naming the DTD); never VALID.

DOCTYPE = b"?>\n<!DOCTYPE ofd:OFD>\n"


def _with_doctype(files: dict[str, bytes]) -> dict[str, bytes]:
    files = dict(files)
    assert b"?>\n" in files["OFD.xml"]
    files["OFD.xml"] = files["OFD.xml"].replace(b"?>\n", DOCTYPE, 1)
    return files


async def test_a_doctype_in_a_signed_ofd_xml_does_not_uncover_the_pages(
    stack,
    trusting_app,  # noqa: F811
):
    files = _with_doctype(unzip(make_ofd()))
    doc_0 = frozenset(n for n in files if n.startswith("Doc_0/"))
    files = sealed(files, 0, leave_out=doc_0)  # OFD.xml and the seal's own files
    page = "Doc_0/Pages/Page_0/Content.xml"
    files[page] = files[page].replace("行政许可决定书".encode(), "伪造".encode())
    reply = await _verify(stack, trusting_app, files)
    [seal] = reply.signatures
    # a user needs: a seal that covers no page, its pages changed, is not VALID
    assert seal.verdict != "VALID", [(r.file, r.status) for r in seal.references]
    assert reply.verdict != "VALID"
    # a bare DOCTYPE is read as readers read it: as the file without it
    assert seal.verdict == "MODIFIED"
    assert {r.file: r.status for r in seal.references}["/Doc_0/Document.xml"] == (
        "unsigned"
    )


async def test_a_doctype_in_a_signed_ofd_xml_does_not_hide_a_document(
    stack,
    trusting_app,  # noqa: F811
):
    files = sealed(_with_doctype(two_documents(signed=(True, False))), 0)
    reply = await _verify(stack, trusting_app, files)
    # a user needs: the second document (a reader shows it, unsealed) keeps the
    # file from being VALID
    assert reply.verdict != "VALID", [
        (d.document_root, d.verdict) for d in reply.documents
    ]
    assert [(d.document, d.verdict) for d in reply.documents] == [
        (0, "VALID"),
        (1, "UNSEALED"),
    ]


async def test_control_without_the_doctype_the_uncovered_pages_are_modified(
    stack,
    trusting_app,  # noqa: F811
):
    files = unzip(make_ofd())
    doc_0 = frozenset(n for n in files if n.startswith("Doc_0/"))
    reply = await _verify(stack, trusting_app, sealed(files, 0, leave_out=doc_0))
    assert [s.verdict for s in reply.signatures] == ["MODIFIED"]


# -- A3: one DocBody's location refused sends the whole file to the fallback -----
#
# A ``Signatures`` location whose own reading climbs above the package root
# (``../Doc_1/Signs/Signatures.xml``) is refused as a location; verifying catches
# that refusal for any DocBody and reads the whole file as the package's one
# ``Signs/Signatures.xml`` (``ofd.signatures_documents`` -> ``_conventional``). So a
# two-document file, Doc_0 sealed (its seal covering every file, OFD.xml too), Doc_1
# naming its list so, reads as one document: file VALID. A reader (ofdrw keeps
# ``..`` at the root) shows Doc_1 with no seal (its list is not there).
#
# A user needs Doc_1 counted: the file not VALID (UNSEALED, or the package refused
# naming Doc_1's Signatures), never Doc_1 dropped from the verdict.


async def test_a_refused_signatures_location_does_not_drop_a_document(
    stack,
    trusting_app,  # noqa: F811
):
    files = two_documents(signed=(True, False))
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"<ofd:DocRoot>Doc_1/Document.xml</ofd:DocRoot>",
        b"<ofd:DocRoot>Doc_1/Document.xml</ofd:DocRoot>"
        b"<ofd:Signatures>../Doc_1/Signs/Signatures.xml</ofd:Signatures>",
    )
    files = sealed(files, 0)
    try:
        reply = await _verify(stack, trusting_app, files)
    except grpc.aio.AioRpcError as exc:  # refused, naming the location: fine
        assert exc.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "Signatures" in (exc.details() or "")
        return
    assert reply.verdict != "VALID", [
        (d.document_root, d.verdict) for d in reply.documents
    ]


# -- the rule behind A2 and A3: no VALID over a document the verifier did not read --
#
# An OFD.xml that stays unreadable (a DTD with an internal subset: refused, as
# any DTD that can change what a reader reads) but that a seal covers unchanged is
# no changed file to report MODIFIED: the package is refused, naming OFD.xml and
# why it was not read. A document whose root the verifier does not read is drawn
# from what cannot be told: none of its signatures is VALID.

SUBSET = b"?>\n<!DOCTYPE ofd:OFD [<!ELEMENT ofd:OFD ANY>]>\n"


def _with_subset(files: dict[str, bytes]) -> dict[str, bytes]:
    files = dict(files)
    files["OFD.xml"] = files["OFD.xml"].replace(b"?>\n", SUBSET, 1)
    return files


@pytest.mark.parametrize("documents", [1, 2])
async def test_an_unread_ofd_xml_sealed_unchanged_refuses_the_package(
    stack,
    trusting_app,  # noqa: F811
    documents,
):
    if documents == 1:
        files = _with_subset(unzip(make_ofd()))
        doc_0 = frozenset(n for n in files if n.startswith("Doc_0/"))
        files = sealed(files, 0, leave_out=doc_0)
    else:
        files = sealed(_with_subset(two_documents(signed=(True, False))), 0)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _verify(stack, trusting_app, files)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    details = err.value.details() or ""
    assert "OFD.xml cannot be read" in details and "DTD" in details, details


async def test_an_unread_ofd_xml_changed_after_sealing_stays_modified(
    stack,
    trusting_app,  # noqa: F811
):
    files = sealed(unzip(make_ofd()), 0)
    files = _with_subset(files)  # the signed OFD.xml changed, and unreadable
    reply = await _verify(stack, trusting_app, files)
    [seal] = reply.signatures
    assert seal.verdict == "MODIFIED"
    assert {r.file: r.status for r in seal.references}["/OFD.xml"] == "changed"


async def test_a_document_root_the_verifier_does_not_read_is_never_valid(
    stack,
    trusting_app,  # noqa: F811
):
    files = unzip(make_ofd())
    assert b"<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot>" in files["OFD.xml"]
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot>",
        b"<ofd:DocRoot>../Doc_0/Document.xml</ofd:DocRoot>",
    )
    reply = await _verify(stack, trusting_app, sealed(files, 0))
    [seal] = reply.signatures
    assert seal.verdict != "VALID", [(r.file, r.status) for r in seal.references]
    assert reply.verdict != "VALID"
