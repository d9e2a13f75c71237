"""atk40ofd: a seal taken out of its list, and files viewers read where the verifier
does not (GB/T 33190 §18).

L1. A document sealed by A, then A's entry taken out of ``Signatures.xml`` and a
    seal B added over the list without it: B signed that list, so its digest holds
    (``ok``) and the file was VALID, "sealed by B", with no word of A, while A's
    ``Signature.xml`` (a real signature over a list that held it) was still in the
    package. What the package shows of a removed seal is now said: a signature in
    the package that no list names, whose signature verifies over its
    ``Signature.xml`` and which signed this document (its list or its root), is
    reported as that document's, ``MODIFIED``, its first check ``listed`` naming
    the list it was taken out of. A removal whose files went too leaves nothing to
    tell by: that is not detectable (docs/architecture.md).

L2. Readers that open other files for a signature than the verifier verifies:

    a. ofdrw's ``OFDReader.getStampAnnots`` changes directory to the
       ``SignedValue``'s folder and opens the location again from there:
       ``v/SignedValue.dat`` in ``Doc_0/Signs/Sign_0`` is read from
       ``Doc_0/Signs/Sign_0/v/v/SignedValue.dat``, whose seal picture it paints.
    b. ofd.js (``ofd_parser.getSignature``) reads every signature location from the
       package root under the document's first folder (``doc``, from ``DocRoot``):
       ``OFD.xml``'s ``Signatures`` with ``doc/`` prefixed when it does not hold
       ``doc``; a ``Signature``'s ``BaseLoc`` with ``Signs/`` prefixed when it does
       not hold ``Signs``, then ``doc/``; a ``SignedValue`` with its first ``/``
       removed, from the root, else from the signature's folder
       (``getSignatureData``); and a document's pages, templates and lists with
       ``doc/`` prefixed (``parsePage``, ``getDocumentRes``, ``getDocument``).
    c. ofdrw's ``OFDDir.obtainDocDefault()`` is ``Doc_0`` in versions before it
       read ``OFD.xml``, and in later ones when ``OFD.xml`` is missing or names no
       ``DocBody`` in its namespace: ``Doc_0/Document.xml`` (the page area) and
       ``Doc_0/PublicRes.xml`` are opened beside a document root of another folder.
"""

from __future__ import annotations

import base64
import re

import grpc
import pytest

from certseal.crypto import Suite, digest
from certseal.v1 import seal_pb2 as pb
from tests.seal.ofd_samples import make_ofd, page_xml, unzip, zip_files
from tests.seal.ses_platforms import SignedValueMaker, seal_files, v4_seal_maker
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401

SIGNS = "Doc_0/Signs/Signatures.xml"
SIGN0 = "Doc_0/Signs/Sign_0/"


async def _verify(stack, app, files: dict[str, bytes]) -> pb.VerifyOfdResponse:  # type: ignore[no-untyped-def]
    stub = stub_for(stack, app, "app:archive")
    return await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=zip_files(files)))


async def _refused(stack, app, files: dict[str, bytes]) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _verify(stack, app, files)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, err.value
    return err.value.details() or ""


def _failed(result: pb.OfdSignatureResult) -> str:
    return " ".join(f"{c.name}: {c.detail}" for c in result.checks if not c.passed)


def _sealed(doc: str = "Doc_0", files: dict[str, bytes] | None = None):  # type: ignore[no-untyped-def]
    maker, seal = v4_seal_maker()
    files = unzip(make_ofd()) if files is None else files
    return seal_files(files, signed_value=maker, seal=seal, doc=doc), maker


def _resealed(
    files: dict[str, bytes], maker: SignedValueMaker, signature: str, value_at: str
) -> None:
    """``signature`` (a Signature.xml of ``files``) signed again by the same trusted
    seal, every reference's digest taken of the file as it is now, its signed value
    written at ``value_at``: what a producer laying the package out so writes."""
    xml = files[signature].decode()

    def digest_of(found: re.Match[str]) -> str:
        name = found.group(1).lstrip("/")
        value = base64.b64encode(digest(Suite.SM2, files[name])).decode()
        return f'FileRef="{found.group(1)}"><ofd:CheckValue>{value}<'

    xml = re.sub(r'FileRef="([^"]+)"><ofd:CheckValue>[^<]*<', digest_of, xml)
    files[signature] = xml.encode()
    files[value_at] = maker(files[signature], "/" + signature)


def _moved(files: dict[str, bytes], old: str, new: str) -> dict[str, bytes]:
    """``files`` with every name and every XML text holding ``old`` holding ``new``."""
    return {
        name.replace(old, new): (
            data.replace(old.encode(), new.encode()) if name.endswith(".xml") else data
        )
        for name, data in files.items()
    }


# --- L1: a seal taken out of the list -------------------------------------------


def _taken_out(files: dict[str, bytes], entry: int = 0) -> dict[str, bytes]:
    """``files`` with the list's ``entry``-th signature taken out (no key)."""
    listing = files[SIGNS].decode()
    found = re.findall(r"<ofd:Signature [^>]*/>", listing)
    return {**files, SIGNS: listing.replace(found[entry], "").encode()}


def _unlisted(reply: pb.VerifyOfdResponse, path: str) -> pb.OfdSignatureResult:
    [found] = [s for s in reply.signatures if s.signature_path == path]
    return found


async def test_a_seal_taken_out_under_a_new_seal_is_reported(
    stack,
    trusting_app,  # noqa: F811
):
    files, _maker = _sealed()
    control = await _verify(stack, trusting_app, files)
    assert control.verdict == "VALID", control.detail
    maker_b, seal_b = v4_seal_maker()
    files = seal_files(_taken_out(files), signed_value=maker_b, seal=seal_b)
    reply = await _verify(stack, trusting_app, files)
    later = _unlisted(reply, "/Doc_0/Signs/Sign_1/Signature.xml")
    assert later.verdict == "VALID", later.checks  # it signed the list as it is
    # a user needs: the document's first seal was taken out, not "sealed by B"
    removed = _unlisted(reply, "/" + SIGN0 + "Signature.xml")
    assert removed.verdict == "MODIFIED", removed.checks
    assert removed.checks[0].name == "listed"
    assert not removed.checks[0].passed
    assert "/" + SIGNS in removed.checks[0].detail
    assert "taken out" in removed.checks[0].detail
    assert not removed.intact
    assert reply.verdict == "MODIFIED"
    assert "Sign_0/Signature.xml" in reply.detail
    assert "taken out" in reply.detail
    assert [d.verdict for d in reply.documents] == ["MODIFIED"]


async def test_a_seal_taken_out_that_the_new_seal_leaves_out_is_reported(
    stack,
    trusting_app,  # noqa: F811
):
    """L1's kind: B's references leave A's files out (they are no drawn files)."""
    files, _maker = _sealed()
    maker_b, seal_b = v4_seal_maker()
    left = frozenset(name for name in files if name.startswith(SIGN0))
    files = seal_files(
        _taken_out(files), signed_value=maker_b, seal=seal_b, leave_out=left
    )
    reply = await _verify(stack, trusting_app, files)
    removed = _unlisted(reply, "/" + SIGN0 + "Signature.xml")
    assert removed.verdict == "MODIFIED", removed.checks
    assert reply.verdict == "MODIFIED"


async def test_a_seal_taken_out_leaving_no_seal_is_reported(
    stack,
    trusting_app,  # noqa: F811
):
    """L1's kind without B: the document is not merely unsealed, its seal was taken
    out."""
    files, _maker = _sealed()
    reply = await _verify(stack, trusting_app, _taken_out(files))
    removed = _unlisted(reply, "/" + SIGN0 + "Signature.xml")
    assert removed.verdict == "MODIFIED", removed.checks
    assert reply.verdict == "MODIFIED"


async def test_an_earlier_of_two_seals_taken_out_is_reported_by_itself(
    stack,
    trusting_app,  # noqa: F811
):
    """With two seals, the later one's list changed (atk39ofd F2), and the removed
    one is reported too."""
    files, _maker = _sealed()
    maker_b, seal_b = v4_seal_maker()
    files = seal_files(files, signed_value=maker_b, seal=seal_b, page_ref="2")
    reply = await _verify(stack, trusting_app, _taken_out(files))
    removed = _unlisted(reply, "/" + SIGN0 + "Signature.xml")
    assert removed.verdict == "MODIFIED", removed.checks
    assert reply.verdict == "MODIFIED"


async def test_control_a_seal_taken_out_with_its_files_is_not_detectable(
    stack,
    trusting_app,  # noqa: F811
):
    """Nothing in the file shows A existed: B's seal is VALID (documented)."""
    files, _maker = _sealed()
    files = {k: v for k, v in _taken_out(files).items() if not k.startswith(SIGN0)}
    maker_b, seal_b = v4_seal_maker()
    files = seal_files(files, signed_value=maker_b, seal=seal_b)
    reply = await _verify(stack, trusting_app, files)
    assert [s.verdict for s in reply.signatures] == ["VALID"]
    assert reply.verdict == "VALID"


@pytest.mark.parametrize(
    "stray",
    [
        "copy",  # the listed Signature.xml again: the same signature, listed
        "garbage",  # no signature at all
        "unsigned",  # a Signature.xml whose signed value does not verify over it
    ],
)
async def test_control_an_unlisted_file_that_is_no_removed_seal_changes_nothing(
    stack,
    trusting_app,  # noqa: F811
    stray,
):
    files, _maker = _sealed()
    signature = files[SIGN0 + "Signature.xml"]
    files["Doc_0/Signs/Sign_9/Signature.xml"] = {
        "copy": signature,
        "garbage": b"not xml",
        "unsigned": signature.replace(b"2021-06-01", b"2021-06-02"),
    }[stray]
    reply = await _verify(stack, trusting_app, files)
    assert [s.verdict for s in reply.signatures] == ["VALID"], reply.signatures
    assert reply.verdict == "VALID"


async def test_unlisted_signatures_count_toward_the_cap(
    stack,
    trusting_app,  # noqa: F811
):
    files, _maker = _sealed()
    for n in range(1, 101):
        files[f"Doc_0/Signs/Sign_{n}/Signature.xml"] = b"<x/>"
    detail = await _refused(stack, trusting_app, files)
    assert "Signature.xml" in detail
    assert "limit is 100" in detail


# --- L2a: ofdrw reads a SignedValue from its folder twice ------------------------


def _value_in_a_folder() -> tuple[dict[str, bytes], SignedValueMaker]:
    """Sign_0's SignedValue at ``v/SignedValue.dat`` (relative, with a folder)."""
    files, maker = _sealed()
    sig = SIGN0 + "Signature.xml"
    files[sig] = files[sig].replace(
        f"<ofd:SignedValue>/{SIGN0}SignedValue.dat<".encode(),
        b"<ofd:SignedValue>v/SignedValue.dat<",
    )
    del files[SIGN0 + "SignedValue.dat"]
    _resealed(files, maker, sig, SIGN0 + "v/SignedValue.dat")
    return files, maker


async def test_control_a_signed_value_in_a_folder_is_valid(
    stack,
    trusting_app,  # noqa: F811
):
    files, _maker = _value_in_a_folder()
    reply = await _verify(stack, trusting_app, files)
    assert reply.verdict == "VALID", reply.signatures


@pytest.mark.parametrize(
    "shown",
    [
        SIGN0 + "v/v/SignedValue.dat",  # ofdrw: the folder twice
        "vSignedValue.dat",  # ofd.js: its first slash removed, from the root
        SIGN0 + "vSignedValue.dat",  # ofd.js: so, from the signature's folder
    ],
)
async def test_a_signed_value_a_viewer_reads_elsewhere_is_not_valid(
    stack,
    trusting_app,  # noqa: F811
    shown,
):
    files, _maker = _value_in_a_folder()
    other, _seal = v4_seal_maker()
    files[shown] = other(files[SIGN0 + "Signature.xml"], "/x")  # another picture
    reply = await _verify(stack, trusting_app, files)
    [result] = reply.signatures
    assert result.verdict == "MALFORMED", result.checks
    assert "SignedValue" in _failed(result)
    assert "ambiguous" in _failed(result)


# --- L2b: ofd.js reads signature locations under the document's folder -----------


def _list_in_another_folder() -> tuple[dict[str, bytes], SignedValueMaker]:
    """The list at ``Doc_0/Sigs/Signatures.xml``, its entry ``Sign_0/Signature.xml``
    (relative to the list's folder, GB/T 33190 §7.2)."""
    files, maker = _sealed()
    files = _moved(files, "Doc_0/Signs/", "Doc_0/Sigs/")
    listing = "Doc_0/Sigs/Signatures.xml"
    files[listing] = files[listing].replace(
        b'BaseLoc="/Doc_0/Sigs/Sign_0/Signature.xml"', b'BaseLoc="Sign_0/Signature.xml"'
    )
    sig = "Doc_0/Sigs/Sign_0/Signature.xml"
    _resealed(files, maker, sig, "Doc_0/Sigs/Sign_0/SignedValue.dat")
    return files, maker


async def test_control_a_list_in_another_folder_is_valid(
    stack,
    trusting_app,  # noqa: F811
):
    files, _maker = _list_in_another_folder()
    reply = await _verify(stack, trusting_app, files)
    assert reply.verdict == "VALID", reply.signatures


async def test_a_signature_ofd_js_reads_under_signs_is_not_valid(
    stack,
    trusting_app,  # noqa: F811
):
    files, _maker = _list_in_another_folder()
    forged = files["Doc_0/Sigs/Sign_0/Signature.xml"].replace(
        b'PageRef="1"', b'PageRef="2"'
    )
    files[SIGN0 + "Signature.xml"] = forged  # what ofd.js shows
    reply = await _verify(stack, trusting_app, files)
    [result] = reply.signatures
    assert result.verdict == "MALFORMED", result.checks
    assert "BaseLoc" in _failed(result)
    assert "ambiguous" in _failed(result)


async def test_a_list_ofd_js_reads_under_the_document_folder_is_refused(
    stack,
    trusting_app,  # noqa: F811
):
    files, _maker = _sealed(doc="Sigs")  # OFD.xml: /Sigs/Signs/Signatures.xml
    control = await _verify(stack, trusting_app, files)
    assert control.verdict == "VALID", control.signatures
    files["Doc_0/Sigs/Signs/Signatures.xml"] = files["Sigs/Signs/Signatures.xml"]
    detail = await _refused(stack, trusting_app, files)
    assert "Signatures" in detail
    assert "ambiguous" in detail


def _root_in_a_subfolder() -> dict[str, bytes]:
    """An unsealed OFD whose document root is ``Doc_0/sub/Document.xml``."""
    files = _moved(unzip(make_ofd()), "Doc_0/", "Doc_0/sub/")
    return files


async def test_a_page_ofd_js_reads_under_the_document_folder_must_be_covered(
    stack,
    trusting_app,  # noqa: F811
):
    files, _maker = _sealed(files=_root_in_a_subfolder())
    control = await _verify(stack, trusting_app, files)
    assert control.verdict == "VALID", control.signatures
    forged = "Doc_0/Pages/Page_0/Content.xml"  # ofd.js: Doc_0 + Pages/Page_0/...
    files[forged] = page_xml("伪造的决定书").encode()
    reply = await _verify(stack, trusting_app, files)
    [result] = reply.signatures
    assert result.verdict == "MODIFIED", result.checks
    statuses = {r.file: r.status for r in result.references}
    assert statuses["/" + forged] == "unsigned", statuses


# --- L2c: ofdrw's default document folder is Doc_0 -------------------------------


@pytest.mark.parametrize("name", ["Document.xml", "PublicRes.xml"])
async def test_a_fixed_name_in_doc_0_beside_another_root_must_be_covered(
    stack,
    trusting_app,  # noqa: F811
    name,
):
    files, _maker = _sealed(
        doc="Doc_1", files=_moved(unzip(make_ofd()), "Doc_0/", "Doc_1/")
    )
    control = await _verify(stack, trusting_app, files)
    assert control.verdict == "VALID", control.signatures
    files["Doc_0/" + name] = files["Doc_1/Document.xml"]  # another page area
    reply = await _verify(stack, trusting_app, files)
    [result] = reply.signatures
    assert result.verdict == "MODIFIED", result.checks
    statuses = {r.file: r.status for r in result.references}
    assert statuses["/Doc_0/" + name] == "unsigned", statuses
    assert "fixed name" in _failed(result)


async def test_control_without_ofd_xml_nothing_is_valid(
    stack,
    trusting_app,  # noqa: F811
):
    """ofdrw reads Doc_0 when OFD.xml is missing; the verifier reads no document
    root then, so no seal holds."""
    files, _maker = _sealed()
    del files["OFD.xml"]
    reply = await _verify(stack, trusting_app, files)
    assert reply.verdict != "VALID"
    assert all(s.verdict != "VALID" for s in reply.signatures)


def test_the_cli_heading_says_a_signature_was_taken_out():
    from services.seal.cli_ofd import signature_heading

    removed = pb.OfdSignatureResult(
        signature_path="/" + SIGN0 + "Signature.xml",
        type="Seal",
        checks=[pb.SealCheck(name="listed", passed=False, detail="not listed")],
    )
    assert signature_heading(removed, 1) == (
        "signature   /Doc_0/Signs/Sign_0/Signature.xml "
        "(Seal, in no list: taken out, or added)"
    )
    listed = pb.OfdSignatureResult(signature_id="s1", signature_path="/x", type="Seal")
    assert signature_heading(listed, 1) == "signature   s1 /x (Seal)"


# --- dom4j's getTextTrim: runs of white space read as one space -------------------


def test_a_location_is_also_read_with_its_white_space_runs_as_one_space():
    from services.seal.ofd_loc import readings

    found = readings(["Pages/Con \t tent.xml"], ("Doc_0",))
    assert "Doc_0/Pages/Con tent.xml" in found  # ofdrw's ST_Loc.getInstance
    assert found[0] == "Doc_0/Pages/Con \t tent.xml"  # the verifier's own first


async def test_a_page_ofdrw_reads_with_one_space_must_be_covered(
    stack,
    trusting_app,  # noqa: F811
):
    files = unzip(make_ofd())
    spaced = "Doc_0/Pages/Page_0/Con  tent.xml"
    files[spaced] = files.pop("Doc_0/Pages/Page_0/Content.xml")
    root = "Doc_0/Document.xml"
    files[root] = files[root].replace(b"Page_0/Content.xml", b"Page_0/Con  tent.xml")
    files, _maker = _sealed(files=files)
    control = await _verify(stack, trusting_app, files)
    assert control.verdict == "VALID", control.signatures
    forged = "Doc_0/Pages/Page_0/Con tent.xml"  # what ofdrw opens
    files[forged] = page_xml("伪造的决定书").encode()
    reply = await _verify(stack, trusting_app, files)
    [result] = reply.signatures
    # the seal's own FileRef names both files now: which it digested is ambiguous
    assert result.verdict == "MALFORMED", result.checks
    assert "FileRef" in _failed(result)
    assert "ambiguous" in _failed(result)
    assert reply.verdict == "MALFORMED"
