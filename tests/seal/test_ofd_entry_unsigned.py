"""A seal whose references leave ``OFD.xml`` out, as e-invoice producers write them:
it holds when ``OFD.xml`` draws nothing but the covered document root, and the answer
says the package's metadata is not sealed; an ``OFD.xml`` that draws anything else
(another document root, a second document, versions) leaves the seal MODIFIED.

Inputs: ofdrw's ``999.ofd`` (tests/seal/data/ofdrw_field, README there) and seals made
with ofdrw's test keys (tests/seal/ses_platforms.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from certseal.v1 import seal_pb2 as pb
from tests.seal.ofd_samples import make_ofd, unzip, zip_files
from tests.seal.ses_platforms import seal_files, v4_seal_maker
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401

FIELD = Path(__file__).parent / "data" / "ofdrw_field"
ROOT = "Doc_0/Document.xml"


async def _verify(stack, app, files: dict[str, bytes]) -> pb.OfdSignatureResult:  # type: ignore[no-untyped-def]
    stub = stub_for(stack, app, "app:archive")
    reply = await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=zip_files(files)))
    # one seal (listed by each document of an OFD.xml given a second DocBody)
    assert len({result.signature_path for result in reply.signatures}) == 1
    return reply.signatures[0]


def _sealed(leave_out: frozenset[str] = frozenset({"OFD.xml"})) -> dict[str, bytes]:
    signed_value, seal = v4_seal_maker()
    return seal_files(
        unzip(make_ofd()), signed_value=signed_value, seal=seal, leave_out=leave_out
    )


def _statuses(result: pb.OfdSignatureResult) -> dict[str, str]:
    return {r.file: r.status for r in result.references}


def _check(result: pb.OfdSignatureResult, name: str) -> pb.SealCheck:
    [check] = [c for c in result.checks if c.name == name]
    return check


async def test_a_real_e_invoice_sealed_without_ofd_xml_is_intact(
    stack,
    trusting_app,  # noqa: F811
):
    # Chongqing's tax e-invoice: every file but OFD.xml covered, every one as signed
    stub = stub_for(stack, trusting_app, "app:archive")
    reply = await stub.VerifyOfd(
        pb.VerifyOfdRequest(ofd=(FIELD / "999.ofd").read_bytes())
    )
    [result] = reply.signatures
    statuses = _statuses(result)
    assert statuses.pop("/OFD.xml") == "entry unsigned"
    assert set(statuses.values()) == {"ok"}, statuses
    assert result.intact
    # its maker (the tax bureau's seal system) is not trusted here: not VALID, and
    # for that reason, not for its files
    assert result.verdict == "UNTRUSTED_SEAL", result.checks


async def test_a_seal_leaving_out_ofd_xml_is_valid_and_says_what_it_does_not_seal(
    stack,
    trusting_app,  # noqa: F811
):
    result = await _verify(stack, trusting_app, _sealed())
    assert result.verdict == "VALID", result.checks
    assert result.intact
    assert _statuses(result)["/OFD.xml"] == "entry unsigned"
    detail = _check(result, "references").detail
    assert "OFD.xml is not covered: its DocInfo is not sealed" in detail, detail


async def test_the_unsealed_docinfo_may_change_what_is_drawn_may_not(
    stack,
    trusting_app,  # noqa: F811
):
    files = _sealed()
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"</ofd:DocID>", b"</ofd:DocID><ofd:Title>another title</ofd:Title>"
    )
    result = await _verify(stack, trusting_app, files)
    assert result.verdict == "VALID", result.checks  # the metadata was never sealed
    files["Doc_0/Pages/Page_0/Content.xml"] += b" "
    result = await _verify(stack, trusting_app, files)
    assert result.verdict == "MODIFIED", result.checks
    assert not result.intact


def _second_document(files: dict[str, bytes]) -> dict[str, bytes]:
    files = dict(files)
    for name, data in list(files.items()):
        if name.startswith("Doc_0/") and "/Signs/" not in name:
            files["Doc_1/" + name[len("Doc_0/") :]] = data.replace(
                "行政许可决定书".encode(), "伪造的决定书".encode()
            )
    return files


def _root_moved(files: dict[str, bytes]) -> dict[str, bytes]:
    files = _second_document(files)
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"Doc_0/Document.xml", b"Doc_1/Document.xml"
    )
    return files


def _body_added(files: dict[str, bytes]) -> dict[str, bytes]:
    files = _second_document(files)
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"</ofd:DocBody>",
        b"</ofd:DocBody><ofd:DocBody><ofd:DocInfo><ofd:DocID>1</ofd:DocID>"
        b"</ofd:DocInfo><ofd:DocRoot>Doc_1/Document.xml</ofd:DocRoot></ofd:DocBody>",
        1,
    )
    return files


def _body_repeated(files: dict[str, bytes]) -> dict[str, bytes]:
    # a second DocBody naming the same root draws no new file, and is still not
    # the package that was sealed: a reader lists two documents
    files = dict(files)
    body = files["OFD.xml"].split(b"<ofd:DocBody>")[1].split(b"</ofd:DocBody>")[0]
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"</ofd:DocBody>", b"</ofd:DocBody><ofd:DocBody>" + body + b"</ofd:DocBody>", 1
    )
    return files


def _cover_added(files: dict[str, bytes]) -> dict[str, bytes]:
    # DocInfo's Cover is a location (the thumbnail some readers show): an unsealed
    # OFD.xml may name nothing a reader opens but the covered root
    files = dict(files)
    files["Doc_0/cover.png"] = b"a picture of another document"
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"</ofd:DocID>", b"</ofd:DocID><ofd:Cover>Doc_0/cover.png</ofd:Cover>", 1
    )
    return files


def _version_added(files: dict[str, bytes]) -> dict[str, bytes]:
    files = dict(files)
    files["Doc_0/Versions/Version_0.xml"] = (
        b'<ofd:DocVersion xmlns:ofd="http://www.ofdspec.org/2016" ID="v1">'
        b'<ofd:FileList><ofd:File ID="1">Pages/Page_9/Content.xml</ofd:File>'
        b"</ofd:FileList><ofd:DocRoot>Document.xml</ofd:DocRoot></ofd:DocVersion>"
    )
    files["Doc_0/Versions/Pages/Page_9/Content.xml"] = files[
        "Doc_0/Pages/Page_0/Content.xml"
    ].replace("行政许可决定书".encode(), "伪造的决定书".encode())
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"</ofd:DocRoot>",
        b'</ofd:DocRoot><ofd:Versions><ofd:Version ID="v1" Index="1" '
        b'Current="true" BaseLoc="Doc_0/Versions/Version_0.xml"/></ofd:Versions>',
        1,
    )
    return files


@pytest.mark.parametrize(
    "edit",
    [_root_moved, _body_added, _body_repeated, _cover_added, _version_added],
    ids=["another-root", "second-document", "second-body", "a-cover", "a-version"],
)
async def test_an_unsealed_ofd_xml_that_draws_more_than_the_root_is_modified(
    stack,
    trusting_app,  # noqa: F811
    edit,
):
    result = await _verify(stack, trusting_app, edit(_sealed()))
    assert result.verdict == "MODIFIED", result.checks
    assert not result.intact
    assert _statuses(result)["/OFD.xml"] == "unsigned"


async def test_a_seal_leaving_out_the_root_too_is_modified(
    stack,
    trusting_app,  # noqa: F811
):
    result = await _verify(stack, trusting_app, _sealed(frozenset({"OFD.xml", ROOT})))
    assert result.verdict == "MODIFIED", result.checks
    statuses = _statuses(result)
    assert (statuses["/OFD.xml"], statuses["/" + ROOT]) == ("unsigned", "unsigned")


async def test_a_cover_picture_a_covered_ofd_xml_names_is_drawn(
    stack,
    trusting_app,  # noqa: F811
):
    """OFD.xml covered, its DocInfo/Cover (GB/T 33190 §7.5: a location) naming a
    picture the references leave out, changed after sealing: it was VALID, though
    readers show the picture as the file's thumbnail."""
    files = unzip(make_ofd())
    files["Doc_0/cover.png"] = b"\x89PNG the first page in small"
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"</ofd:DocID>", b"</ofd:DocID><ofd:Cover>Doc_0/cover.png</ofd:Cover>", 1
    )
    signed_value, seal = v4_seal_maker()
    files = seal_files(
        files,
        signed_value=signed_value,
        seal=seal,
        leave_out=frozenset({"Doc_0/cover.png"}),
    )
    files["Doc_0/cover.png"] = b"\x89PNG another document's first page"
    result = await _verify(stack, trusting_app, files)
    assert result.verdict == "MODIFIED", result.checks
    assert _statuses(result)["/Doc_0/cover.png"] == "unsigned"
    detail = _check(result, "references").detail
    assert "/Doc_0/cover.png unsigned (named by /OFD.xml)" in detail, detail
