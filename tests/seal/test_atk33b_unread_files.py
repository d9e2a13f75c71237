"""atk33b: an outside attack on the newest OFD rules (bd8df34, 12b11fe, 6e39d89).

The rule (docs/architecture.md; ``ofd.check_references``): no VALID signature over
a document the verifier did not read, since what a reader draws from it cannot be
told. It is kept for ``OFD.xml`` (an unread ``OFD.xml`` sealed unchanged refuses the
package: tried here with Big5, an empty DTD subset, nesting past the limit, a BOM,
a processing instruction, ``xml:base``, other prefixes: none VALID). It is not
kept for the files ``OFD.xml`` leads to:

F1 a document root (``Document.xml``) the verifier cannot read but a reader reads
(dom4j, ofdrw's parser, reads an empty or comment-only internal DTD subset, Big5,
and nesting deeper than 64), sealed unchanged by a seal that leaves the pages out:
"damage tolerated" gives the document no pages and names nothing drawn, so the
seal is VALID while every page was changed after sealing.

F1b the same for a page (``Content.xml``): what it names (its ``PageRes``) is not
drawn, so a resource file the seal leaves out is changed and the seal stays VALID.

F2 a ``DocRoot`` naming a file the package does not hold (6e39d89 names it "not in
the package", "the verdict stays UNSEALED, never VALID"): sealed, the document and
the file are VALID, though nothing of the document can be shown.

A user needs: a file the verifier cannot read, held unchanged, never hides what a
reader draws from it: the package refused (INVALID_ARGUMENT ``ofd`` naming the
file and why), or the seal not VALID; a document with no root is never VALID.
"""

from __future__ import annotations

import grpc
import pytest

from certseal.v1 import seal_pb2 as pb
from tests.seal.ofd_samples import make_ofd, unzip, zip_files
from tests.seal.test_ofd_documents import sealed, two_documents
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401

ROOT = "Doc_0/Document.xml"
PAGE = "Doc_0/Pages/Page_0/Content.xml"
RES = "Doc_0/Pages/Page_0/PageRes.xml"


def _unreadable(data: bytes, how: str, root: str) -> bytes:
    """``data`` (an XML file of the sample) as a reader still reads it, but in a
    form this verifier refuses; ``bare``: the control it reads."""
    if how == "bare":
        return data.replace(b"?>\n", f"?>\n<!DOCTYPE {root}>\n".encode(), 1)
    if how == "empty-subset":
        return data.replace(b"?>\n", f"?>\n<!DOCTYPE {root} []>\n".encode(), 1)
    if how == "comment-subset":
        return data.replace(b"?>\n", f"?>\n<!DOCTYPE {root} [<!-- -->]>\n".encode(), 1)
    if how == "big5":  # (Java reads Big5) simplified characters as references
        text = data.decode().replace('encoding="UTF-8"', 'encoding="Big5"')
        return text.encode("big5", errors="xmlcharrefreplace")
    if how == "deep":  # an unknown element nested 100 deep, ignored by readers
        nested = b"<ofd:X>" * 100 + b"</ofd:X>" * 100
        tag = f"</{root}>".encode()
        return data.replace(tag, nested + tag)
    raise AssertionError(how)


UNREAD = ["empty-subset", "comment-subset", "big5", "deep"]


async def _verify(stack, app, files):  # type: ignore[no-untyped-def]
    stub = stub_for(stack, app, "app:archive")
    return await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=zip_files(files)))


async def _not_valid(stack, app, files, name: str) -> pb.VerifyOfdResponse | None:  # type: ignore[no-untyped-def]
    """The reply, asserted not VALID; None when the package is refused naming
    ``name`` (as the rule refuses an unread OFD.xml sealed unchanged)."""
    try:
        reply = await _verify(stack, app, files)
    except grpc.aio.AioRpcError as exc:
        assert exc.code() is grpc.StatusCode.INVALID_ARGUMENT, exc.details()
        assert name in (exc.details() or ""), exc.details()
        return None
    shown = [
        (s.verdict, [(r.file, r.status) for r in s.references])
        for s in reply.signatures
    ]
    assert reply.verdict != "VALID", shown
    return reply


def _root_then_pages_changed(how: str) -> dict[str, bytes]:
    """A seal covering OFD.xml and the document root (not the pages), the root
    in form ``how``; then the first page's text changed."""
    files = unzip(make_ofd())
    files[ROOT] = _unreadable(files[ROOT], how, "ofd:Document")
    pages = frozenset(n for n in files if n.startswith("Doc_0/Pages/"))
    files = sealed(files, 0, leave_out=pages)
    files[PAGE] = files[PAGE].replace("行政许可决定书".encode(), "伪造".encode())
    return files


def _page_then_resource_changed(how: str) -> dict[str, bytes]:
    """A page naming a resource file (an image) in form ``how``; a seal covering
    everything but that resource file, which is then changed to name another
    image."""
    files = unzip(make_ofd())
    files[PAGE] = _unreadable(
        files[PAGE].replace(
            b"<ofd:Content>", b"<ofd:PageRes>PageRes.xml</ofd:PageRes><ofd:Content>"
        ),
        how,
        "ofd:Page",
    )
    files[RES] = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<ofd:Res xmlns:ofd="http://www.ofdspec.org/2016" BaseLoc="Res">'
        b'<ofd:MultiMedias><ofd:MultiMedia ID="30" Type="Image">'
        b"<ofd:MediaFile>a.png</ofd:MediaFile></ofd:MultiMedia></ofd:MultiMedias>"
        b"</ofd:Res>"
    )
    files = sealed(files, 0, leave_out=frozenset([RES]))
    files[RES] = files[RES].replace(b"a.png", b"b.png")
    return files


# what is unread, and what it draws that the seal left out: the pages of a document
# root, the resources of a page
CASES = {
    "root": (_root_then_pages_changed, ROOT, "/" + PAGE),
    "page": (_page_then_resource_changed, PAGE, "/" + RES),
}


@pytest.mark.parametrize("how", UNREAD)
@pytest.mark.parametrize("case", list(CASES))
async def test_an_unread_drawn_file_does_not_uncover_what_it_draws(
    stack,
    trusting_app,  # noqa: F811
    case,
    how,
):
    made, unread, _ = CASES[case]
    await _not_valid(stack, trusting_app, made(how), unread)


@pytest.mark.parametrize("case", list(CASES))
async def test_control_a_bare_doctype_reports_what_the_seal_left_out(
    stack,
    trusting_app,  # noqa: F811
    case,
):
    made, unread, left_out = CASES[case]
    reply = await _not_valid(stack, trusting_app, made("bare"), unread)
    assert reply is not None and reply.verdict == "MODIFIED"
    [seal] = reply.signatures
    assert {r.file: r.status for r in seal.references}[left_out] == "unsigned"


@pytest.mark.parametrize("documents", [1, 2])
async def test_a_document_whose_root_is_not_in_the_package_is_never_valid(
    stack,
    trusting_app,  # noqa: F811
    documents,
):
    if documents == 1:
        files = unzip(make_ofd())
        files["OFD.xml"] = files["OFD.xml"].replace(
            b"<ofd:DocRoot>Doc_0/Document.xml<", b"<ofd:DocRoot>Doc_0/Doc.xml<"
        )
        files = sealed(files, 0)
    else:
        files = two_documents(signed=(True, True))
        files["OFD.xml"] = files["OFD.xml"].replace(
            b"<ofd:DocRoot>Doc_1/Document.xml<", b"<ofd:DocRoot>Doc_1/Doc.xml<"
        )
        files = sealed(sealed(files, 0), 1)
    reply = await _not_valid(stack, trusting_app, files, "Doc.xml")
    if reply is not None:  # the report says what is wrong with that document
        root = f"/Doc_{documents - 1}/Doc.xml"
        assert f"{root}, not in the package" in reply.detail, reply.detail


@pytest.mark.parametrize(
    "head",
    [
        "<!DOCTYPE ofd:OFD []>",
        '<!DOCTYPE ofd:OFD SYSTEM "ofd.dtd">',
        '<!DOCTYPE ofd:OFD [<!ENTITY e "x">]>',
    ],
    ids=["empty-subset", "system-id", "entity"],
)
def test_a_refused_declaration_is_said_in_words(head):
    """atk33b: the refusal quoted defusedxml's object (``DTDForbidden(name=...)``)
    and said "a DTD", though a bare ``<!DOCTYPE name>`` is read since 12b11fe."""
    from certseal.errors import CertsealError
    from services.seal.ofd_xml import parse_xml

    data = f'<?xml version="1.0"?>{head}<ofd:OFD xmlns:ofd="x"/>'.encode()
    with pytest.raises(CertsealError) as refused:
        parse_xml(data, "OFD.xml")
    assert refused.value.message == (
        "OFD.xml has a document type declaration (DTD) with a subset or an external id "
        "(entities, attribute defaults), which OFD never needs"
    )
    assert (
        parse_xml(b'<!DOCTYPE ofd:OFD><ofd:OFD xmlns:ofd="x"/>', "OFD.xml") is not None
    )
