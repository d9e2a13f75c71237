"""An OFD of several documents (GB/T 33190 §7.4: ``OFD.xml`` holds one ``DocBody`` per
document, each with its own ``DocRoot`` and ``Signatures``). A reader (ofdrw, 数科,
福昕) shows every document, so VerifyOfd verifies every document's signatures, says
which document each is in, and gives the file a verdict: VALID only when every
document holds a signature and every signature is VALID. ``OFD.xml``'s
``DocInfo/Cover`` (a cover picture) is drawn, so a seal covering ``OFD.xml`` must
cover it. SealOfd seals a one-document OFD only: it refuses to seal one of several
documents while its answer would speak for the file.

No multi-document OFD is among ofdrw's test files (every one of its 57 ``.ofd`` test
resources has one ``DocBody``), so the files are made here from
:func:`tests.seal.ofd_samples.make_ofd`, sealed with ofdrw's test keys
(:mod:`tests.seal.ses_platforms`).
"""

from __future__ import annotations

import pytest

from certseal.crypto import Suite
from certseal.errors import CertsealError, ErrorKind
from certseal.v1 import seal_pb2 as pb
from services.seal.cli import verify_status
from services.seal.cli_ofd import ofd_file_lines, signature_heading
from services.seal.ofd import MAX_OFD_DOCUMENTS
from services.seal.ofd_sign import StampPlace, prepare_seal
from tests.seal.ofd_samples import make_ofd, unzip, zip_files
from tests.seal.ses_platforms import seal_files, v4_seal_maker
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401

SIGNED_VALUE, SEAL = v4_seal_maker()
DOC_0_SEAL = "/Doc_0/Signs/Sign_0/Signature.xml"
DOC_1_SEAL = "/Doc_1/Signs/Sign_0/Signature.xml"


def _body(doc: int, signed: bool) -> str:
    signatures = (
        f"<ofd:Signatures>/Doc_{doc}/Signs/Signatures.xml</ofd:Signatures>"
        if signed
        else ""
    )
    return (
        f"<ofd:DocBody><ofd:DocInfo><ofd:DocID>{doc:032d}</ofd:DocID></ofd:DocInfo>"
        f"<ofd:DocRoot>Doc_{doc}/Document.xml</ofd:DocRoot>{signatures}</ofd:DocBody>"
    )


def two_documents(*, signed: tuple[bool, bool] = (True, True)) -> dict[str, bytes]:
    """An unsigned OFD of two documents, ``OFD.xml`` naming the signature list of
    each document in ``signed`` (so sealing one changes no other's files)."""
    files = unzip(make_ofd())
    for name, data in list(files.items()):
        if name.startswith("Doc_0/"):
            files["Doc_1/" + name[len("Doc_0/") :]] = data.replace(
                "行政许可决定书".encode(), "送达回证".encode()
            )
    head, _, rest = files["OFD.xml"].partition(b"<ofd:DocBody>")
    tail = rest.partition(b"</ofd:DocBody>")[2]
    bodies = _body(0, signed[0]) + _body(1, signed[1])
    files["OFD.xml"] = head + bodies.encode() + tail
    return files


def sealed(files: dict[str, bytes], doc: int, **options) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    return seal_files(
        files, signed_value=SIGNED_VALUE, seal=SEAL, doc=f"Doc_{doc}", **options
    )


async def _verify(stack, app, files: dict[str, bytes]) -> pb.VerifyOfdResponse:  # type: ignore[no-untyped-def]
    stub = stub_for(stack, app, "app:archive")
    return await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=zip_files(files)))


def _seals(reply: pb.VerifyOfdResponse) -> list[tuple[int, str, str]]:
    return [(s.document, s.signature_path, s.verdict) for s in reply.signatures]


def _documents(reply: pb.VerifyOfdResponse) -> list[tuple[int, str, str]]:
    return [(d.document, d.document_root, d.verdict) for d in reply.documents]


async def test_every_document_sealed_and_unchanged_is_a_valid_file(
    stack,
    trusting_app,  # noqa: F811
):
    reply = await _verify(stack, trusting_app, sealed(sealed(two_documents(), 0), 1))
    assert _seals(reply) == [(0, DOC_0_SEAL, "VALID"), (1, DOC_1_SEAL, "VALID")]
    assert _documents(reply) == [
        (0, "/Doc_0/Document.xml", "VALID"),
        (1, "/Doc_1/Document.xml", "VALID"),
    ]
    assert reply.verdict == "VALID", reply.detail


async def test_a_later_documents_tampered_seal_is_verified_and_the_file_not_valid(
    stack,
    trusting_app,  # noqa: F811
):
    """(b) Doc_1's seal moved after sealing (its Signature.xml changed): the file
    was VALID, Doc_1's seal never looked at."""
    files = sealed(sealed(two_documents(), 0), 1)
    signature = DOC_1_SEAL.lstrip("/")
    files[signature] = files[signature].replace(b"50 50 40 40", b"120 200 40 40")
    reply = await _verify(stack, trusting_app, files)
    assert _seals(reply) == [(0, DOC_0_SEAL, "VALID"), (1, DOC_1_SEAL, "MODIFIED")]
    assert _documents(reply)[1] == (1, "/Doc_1/Document.xml", "MODIFIED")
    assert reply.verdict == "MODIFIED"
    assert "document 1" in reply.detail and DOC_1_SEAL in reply.detail, reply.detail
    # `certseal seal verify-ofd`: each seal with its document, the file's verdict
    # and exit status 1 (it was 0: Doc_0's seal alone)
    assert signature_heading(reply.signatures[1], 2) == (
        f"signature   1 {DOC_1_SEAL} (Seal, document 1)"
    )
    assert ofd_file_lines(reply)[-1].startswith("file        MODIFIED: document 1")
    assert verify_status([reply.verdict], reply) == 1


async def test_a_document_without_a_seal_is_named_and_the_file_not_valid(
    stack,
    trusting_app,  # noqa: F811
):
    """(a) Doc_0 sealed (its seal covering every file, Doc_1's too), Doc_1 with no
    signature list: the answer was Doc_0's VALID seal, Doc_1 not mentioned."""
    files = sealed(two_documents(signed=(True, False)), 0)
    reply = await _verify(stack, trusting_app, files)
    assert _seals(reply) == [(0, DOC_0_SEAL, "VALID")]
    assert _documents(reply) == [
        (0, "/Doc_0/Document.xml", "VALID"),
        (1, "/Doc_1/Document.xml", "UNSEALED"),
    ]
    assert reply.verdict == "UNSEALED"
    assert "document 1 (/Doc_1/Document.xml) holds no seal" in reply.detail
    assert ofd_file_lines(reply) == [
        "document    0 /Doc_0/Document.xml: VALID",
        "document    1 /Doc_1/Document.xml: UNSEALED",
        "1 signature(s)",
        "file        UNSEALED: document 1 (/Doc_1/Document.xml) holds no seal or "
        "signature",
    ]
    assert verify_status([reply.verdict], reply) == 1


@pytest.mark.parametrize(
    ("root", "named", "shown"),
    [
        # trial33: "document    1 : UNSEALED" and "document 1 holds no seal"
        ("", "document 1 (no DocRoot read)", "(no DocRoot read)"),
        (
            "<ofd:DocRoot>Doc_9/Document.xml</ofd:DocRoot>",
            "document 1 (/Doc_9/Document.xml, not in the package)",
            "/Doc_9/Document.xml",
        ),
    ],
    ids=["no-docroot", "docroot-not-held"],
)
async def test_a_document_with_no_root_read_is_named_so(
    stack,
    trusting_app,  # noqa: F811
    root,
    named,
    shown,
):
    """A second DocBody with no DocRoot, or one naming a file the package does not
    hold, was reported as if the document were there ("document 1 (/Doc_9/…)
    holds no seal"); the report now says what is missing. Never VALID."""
    files = two_documents(signed=(True, False))
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"<ofd:DocRoot>Doc_1/Document.xml</ofd:DocRoot>", root.encode()
    )
    reply = await _verify(stack, trusting_app, sealed(files, 0))
    assert reply.verdict == "UNSEALED", reply.detail
    assert f"{named} holds no seal or signature" in reply.detail
    assert f"document    1 {shown}: UNSEALED" in ofd_file_lines(reply)
    assert verify_status([reply.verdict], reply) == 1


def test_a_one_document_file_reads_as_before_with_the_files_verdict() -> None:
    valid = pb.VerifyOfdResponse(
        signatures=[pb.OfdSignatureResult(signature_id="s1", verdict="VALID")],
        documents=[pb.OfdDocumentResult(document_root="/Doc_0/Document.xml")],
        verdict="VALID",
    )
    assert signature_heading(valid.signatures[0], 1) == "signature   s1  ()"
    assert ofd_file_lines(valid) == ["1 signature(s)", "file        VALID"]
    assert verify_status([valid.verdict], valid) == 0
    unsealed = pb.VerifyOfdResponse(
        documents=[
            pb.OfdDocumentResult(
                document_root="/Doc_0/Document.xml", verdict="UNSEALED"
            )
        ],
        verdict="UNSEALED",
        detail="document 0 (/Doc_0/Document.xml) holds no seal or signature",
    )
    assert ofd_file_lines(unsealed)[0] == "document    0 /Doc_0/Document.xml: UNSEALED"
    assert verify_status([unsealed.verdict], unsealed) == 1


async def test_another_documents_content_changed_after_a_seal_is_modified(
    stack,
    trusting_app,  # noqa: F811
):
    """(c) Doc_0's seal covers every file of the package, Doc_1's pages too: a
    changed page of Doc_1 is a changed reference of Doc_0's seal. A seal that left
    Doc_1 out is MODIFIED already, since the OFD.xml it covers draws Doc_1."""
    files = sealed(two_documents(signed=(True, False)), 0)
    files["Doc_1/Pages/Page_0/Content.xml"] = files[
        "Doc_1/Pages/Page_0/Content.xml"
    ].replace("送达回证".encode(), "伪造的回证".encode())
    reply = await _verify(stack, trusting_app, files)
    assert _seals(reply) == [(0, DOC_0_SEAL, "MODIFIED")]
    [seal] = reply.signatures
    statuses = {r.file: r.status for r in seal.references}
    assert statuses["/Doc_1/Pages/Page_0/Content.xml"] == "changed"
    assert reply.verdict == "MODIFIED"
    doc_1 = frozenset(n for n in files if n.startswith("Doc_1/"))
    reply = await _verify(
        stack,
        trusting_app,
        sealed(two_documents(signed=(True, False)), 0, leave_out=doc_1),
    )
    [seal] = reply.signatures
    statuses = {r.file: r.status for r in seal.references}
    assert statuses["/Doc_1/Document.xml"] == "unsigned", statuses
    assert reply.verdict == "MODIFIED"


async def test_an_ofd_of_more_documents_than_the_cap_is_refused(
    stack,
    trusting_app,  # noqa: F811
):
    files = sealed(two_documents(signed=(True, False)), 0)
    body = _body(1, False).encode()
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"</ofd:OFD>", body * MAX_OFD_DOCUMENTS + b"</ofd:OFD>"
    )
    stub = stub_for(stack, trusting_app, "app:archive")
    with pytest.raises(Exception) as err:
        await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=zip_files(files)))
    assert err.value.code().name == "INVALID_ARGUMENT"  # type: ignore[attr-defined]
    assert (
        f"OFD.xml has {MAX_OFD_DOCUMENTS + 2} documents (DocBody); the limit is "
        f"{MAX_OFD_DOCUMENTS}"
    ) in err.value.details()  # type: ignore[attr-defined]


def test_sealing_one_of_several_documents_is_refused() -> None:
    """SealOfd sealed the first document in silence, its answer speaking for the
    file; it seals a one-document OFD only."""
    with pytest.raises(CertsealError) as err:
        prepare_seal(
            zip_files(two_documents(signed=(False, False))),
            seal=SEAL,
            suite=Suite.SM2,
            stamp_mm=(40.0, 40.0),
            place=StampPlace(page=0),
            signed_at_text="2021-06-01 08:00:00",
        )
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT and err.value.field == "ofd"
    assert "2 documents (DocBody)" in err.value.message
    assert "seals an OFD of one document" in err.value.message


def test_documents_may_not_multiply_the_signatures_verified() -> None:
    """The signature cap is the file's: documents whose lists hold more than
    MAX_OFD_SIGNATURES in all are refused before any is verified."""
    from services.seal.ofd import MAX_OFD_SIGNATURES
    from services.seal.ofd_service import _open

    files = two_documents()
    half = MAX_OFD_SIGNATURES // 2 + 1
    for doc in (0, 1):
        entries = "".join(
            f'<ofd:Signature ID="{i}" BaseLoc="Sign_{i}/Signature.xml"/>'
            for i in range(half)
        )
        files[f"Doc_{doc}/Signs/Signatures.xml"] = (
            '<ofd:Signatures xmlns:ofd="http://www.ofdspec.org/2016">'
            f"{entries}</ofd:Signatures>"
        ).encode()
    with pytest.raises(CertsealError) as err:
        _open(zip_files(files))
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT and err.value.field == "ofd"
    assert f"signatures in all; the limit is {MAX_OFD_SIGNATURES}" in err.value.message
    files["Doc_1/Signs/Signatures.xml"] = files["Doc_0/Signs/Signatures.xml"].replace(
        b'<ofd:Signature ID="0" BaseLoc="Sign_0/Signature.xml"/>', b""
    )
    files["Doc_0/Signs/Signatures.xml"] = files["Doc_1/Signs/Signatures.xml"]
    assert [len(entries) for _, entries in _open(zip_files(files))] == [50, 50]
