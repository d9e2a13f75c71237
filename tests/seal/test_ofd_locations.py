"""OFD locations read as readers read them (services/seal/ofd_loc.py; atk-ofd2 F2,
F4 and further inputs of their kind).

Readers differ on a location's text: dom4j (ofdrw) joins an element's text pieces
and keeps Unicode spaces in a file name, ofdrw trims folder names, Windows reads a
backslash as a slash, dom4j reads ``ofd:BaseLoc`` as ``BaseLoc``. A file any reading
names is drawn (a seal must cover it); a location the verifier follows whose readings
name two files is ambiguous: the signature is not VALID, or for ``OFD.xml``'s own
locations the package is refused.
"""

from __future__ import annotations

import grpc
import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.v1 import seal_pb2 as pb
from services.seal import ofd
from services.seal.ofd_loc import attribute_values, own_texts, readings, spellings
from services.seal.ofd_package import OfdPackage, parse_xml
from tests.seal.ofd_samples import NS, make_ofd, page_xml, unzip, zip_files
from tests.seal.ses_platforms import SignedValueMaker, seal_files, v4_seal_maker
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401

SIGN = "Doc_0/Signs/Sign_0/"
ROOT = "Doc_0/Document.xml"
PAGE = "Doc_0/Pages/Page_0/Content.xml"


# --- the readings ---------------------------------------------------------------


def test_a_location_is_read_in_each_way_readers_read_it():
    element = parse_xml(
        f'<ofd:X {NS} ofd:BaseLoc="a"><ofd:Y/>_</ofd:X>'.encode().replace(
            b"<ofd:Y/>", b"Doc_0/Document.xml<ofd:Y/>"
        ),
        "x.xml",
        "ofd",
    )
    assert own_texts(element) == ("Doc_0/Document.xml_", "Doc_0/Document.xml")
    assert attribute_values(element, "BaseLoc") == ("a",)
    found = readings(["Doc_0\\ Pages\\Page_0/Content.xml\u3000"], ("",))
    assert "Doc_0/Pages/Page_0/Content.xml" in found  # backslashes, trimmed folder
    assert "Doc_0/Pages/Page_0/Content.xml\u3000" in found  # Java keeps U+3000


@pytest.mark.parametrize(
    "loc",
    [" \u3000a \\ b\u00a0/ c \\d\n/e\u3000 " * 50, "\\" * 500, " / " * 300],
    ids=["spaces-and-backslashes", "backslashes", "slashes"],
)
def test_the_readings_of_any_location_are_a_few(loc):
    assert len(spellings(loc)) <= 24  # twelve, and so dom4j-trimmed (atk40ofd)
    assert len(readings([loc, loc[:-1]], ("Doc_0", "Doc_0/Res"))) <= 2 * 24 * 3


# --- locations the verifier follows -----------------------------------------------


def _ofd_xml(files: dict[str, bytes], old: bytes, new: bytes) -> OfdPackage:
    files = dict(files)
    assert old in files["OFD.xml"]
    files["OFD.xml"] = files["OFD.xml"].replace(old, new)
    return OfdPackage(files)


@pytest.mark.parametrize(
    "loc",
    ["Doc_0/Document.xml\u3000", " Doc_0/Document.xml", "Doc_0\\Document.xml\u00a0"],
    ids=["ideographic-space", "leading-space", "backslash-nbsp"],
)
def test_a_docroot_naming_two_files_is_refused_naming_it(loc):
    files = unzip(make_ofd())
    files["Doc_0/Document.xml\u3000"] = files[ROOT]
    files[" Doc_0/Document.xml"] = files[ROOT]
    files["Doc_0/Document.xml\u00a0"] = files[ROOT]
    package = _ofd_xml(
        files,
        b"<ofd:DocRoot>Doc_0/Document.xml<",
        f"<ofd:DocRoot>{loc}<".encode(),
    )
    for read in (ofd.open_document, ofd.signatures_document):
        with pytest.raises(CertsealError) as err:
            read(package, "ofd")
        assert err.value.kind is ErrorKind.INVALID_ARGUMENT
        assert err.value.field == "ofd"
        assert "DocRoot" in err.value.message
        assert "ambiguous" in err.value.message


def test_a_docroot_naming_one_file_in_every_reading_is_that_file():
    package = _ofd_xml(
        unzip(make_ofd()),
        b"<ofd:DocRoot>Doc_0/Document.xml<",
        b"<ofd:DocRoot>Doc_0\\Document.xml\xe3\x80\x80<",  # \ and U+3000
    )
    assert ofd.open_document(package).doc_root == ROOT


def _sealed_files() -> tuple[dict[str, bytes], SignedValueMaker]:
    maker, seal = v4_seal_maker()
    return seal_files(unzip(make_ofd()), signed_value=maker, seal=seal), maker


def _resigned(
    files: dict[str, bytes], maker: SignedValueMaker, old: bytes, new: bytes
) -> None:
    """Sign_0's Signature.xml with ``old`` replaced by ``new``, signed again by the
    same trusted seal (what another producer's software writes)."""
    xml = files[SIGN + "Signature.xml"]
    assert old in xml
    xml = xml.replace(old, new)
    files[SIGN + "Signature.xml"] = xml
    files[SIGN + "SignedValue.dat"] = maker(xml, f"/{SIGN}Signature.xml")


async def _results(stack, app, files) -> list[pb.OfdSignatureResult]:  # type: ignore[no-untyped-def]
    stub = stub_for(stack, app, "app:archive")
    reply = await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=zip_files(files)))
    return list(reply.signatures)


def _decode_detail(result: pb.OfdSignatureResult) -> str:
    return " ".join(c.detail for c in result.checks if not c.passed)


async def test_an_unchanged_resigned_seal_is_valid(stack, trusting_app):  # noqa: F811
    # the control of the tests below: re-signing alone changes no verdict
    files, maker = _sealed_files()
    _resigned(files, maker, b"<ofd:SignedInfo>", b"<ofd:SignedInfo>")
    [result] = await _results(stack, trusting_app, files)
    assert result.verdict == "VALID", result.checks


@pytest.mark.parametrize(
    ("written", "second"),
    [
        ("Seal.esl<ofd:Note/>_", "Seal.esl_"),
        ("Seal.esl<!-- a comment -->\u3000", "Seal.esl\u3000"),
        ("Seal.esl\u00a0", "Seal.esl\u00a0"),
    ],
    ids=["split-by-an-element", "split-by-a-comment", "nbsp"],
)
async def test_a_seal_location_naming_two_files_is_not_valid(
    stack,
    trusting_app,  # noqa: F811
    written,
    second,
):
    files, maker = _sealed_files()
    _resigned(
        files,
        maker,
        f"<ofd:BaseLoc>/{SIGN}Seal.esl</ofd:BaseLoc>".encode(),
        f"<ofd:BaseLoc>/{SIGN}{written}</ofd:BaseLoc>".encode(),
    )
    files[SIGN + second] = b"another seal a reader may show"
    [result] = await _results(stack, trusting_app, files)
    assert result.verdict == "MALFORMED", result.checks
    assert "Seal BaseLoc" in _decode_detail(result)
    assert "ambiguous" in _decode_detail(result)


async def test_a_seal_location_split_by_a_comment_naming_one_file_is_valid(
    stack,
    trusting_app,  # noqa: F811
):
    files, maker = _sealed_files()
    _resigned(
        files,
        maker,
        f"<ofd:BaseLoc>/{SIGN}Seal.esl</ofd:BaseLoc>".encode(),
        f"<ofd:BaseLoc>/{SIGN}Seal<!-- x -->.esl</ofd:BaseLoc>".encode(),
    )
    [result] = await _results(stack, trusting_app, files)
    assert result.verdict == "VALID", result.checks


async def test_a_reference_naming_a_second_file_by_a_trailing_space_is_not_valid(
    stack,
    trusting_app,  # noqa: F811
):
    # a reader keeps U+3000 in the file name and digests the other file
    files, maker = _sealed_files()
    _resigned(
        files,
        maker,
        f'FileRef="/{PAGE}"'.encode(),
        f'FileRef="/{PAGE}\u3000"'.encode(),
    )
    files[PAGE + "\u3000"] = page_xml("伪造的决定书").encode()
    [result] = await _results(stack, trusting_app, files)
    assert result.verdict == "MALFORMED", result.checks
    assert "FileRef" in _decode_detail(result)
    assert "ambiguous" in _decode_detail(result)


async def test_a_signature_entry_naming_two_files_is_not_valid(
    stack,
    trusting_app,  # noqa: F811
):
    files, _maker = _sealed_files()
    listing = "Doc_0/Signs/Signatures.xml"
    files[listing] = files[listing].replace(
        b'Signature.xml"/>', 'Signature.xml\u3000"/>'.encode()
    )
    files[SIGN + "Signature.xml\u3000"] = files[SIGN + "Signature.xml"]
    [result] = await _results(stack, trusting_app, files)
    assert result.verdict == "MALFORMED", result.checks
    assert "ambiguous" in _decode_detail(result)


# --- files drawn by a name readers read -------------------------------------------


def _with_common(files: dict[str, bytes], common: bytes) -> dict[str, bytes]:
    files = dict(files)
    files[ROOT] = files[ROOT].replace(
        b"</ofd:CommonData>", common + b"</ofd:CommonData>"
    )
    return files


_FONT_RES = (
    f'<ofd:Res {NS} BaseLoc="Res"><ofd:Fonts><ofd:Font ID="2" FontName="Evil">'
    "<ofd:FontFile>evil.ttf</ofd:FontFile></ofd:Font></ofd:Fonts></ofd:Res>"
)


@pytest.mark.parametrize(
    ("common", "extra", "forged"),
    [
        (
            b'<ofd:TemplatePage ID="5" ofd:BaseLoc="Tpls/Tpl_0/Content.xml"/>',
            {},
            "Doc_0/Tpls/Tpl_0/Content.xml",
        ),
        (
            b'<ofd:TemplatePage ID="5" BaseLoc="Tpls\\Tpl_0\\Content.xml"/>',
            {},
            "Doc_0/Tpls/Tpl_0/Content.xml",
        ),
        (
            b"<ofd:PublicRes>PublicRes.xml</ofd:PublicRes>",
            {"Doc_0/PublicRes.xml": _FONT_RES.replace(" BaseLoc", " ofd:BaseLoc")},
            "Doc_0/Res/evil.ttf",
        ),
        (
            b"<ofd:PublicRes>PublicRes.xml</ofd:PublicRes>",
            {
                "Doc_0/PublicRes.xml": _FONT_RES.replace(
                    "<ofd:FontFile>evil.ttf</ofd:FontFile>", ""
                ).replace('FontName="Evil"', 'FontName="Evil" ofd:FontFile="evil.ttf"')
            },
            "Doc_0/Res/evil.ttf",
        ),
        (
            b"<ofd:PublicRes>PublicRes.xml<ofd:Note/>_</ofd:PublicRes>",
            {"Doc_0/PublicRes.xml_": _FONT_RES, "Doc_0/PublicRes.xml": _FONT_RES},
            "Doc_0/PublicRes.xml_",
        ),
    ],
    ids=[
        "namespaced-template",
        "backslashed-template",
        "namespaced-res-baseloc",
        "namespaced-font-attribute",
        "res-split-by-an-element",
    ],
)
async def test_a_file_named_as_readers_read_it_must_be_covered(
    stack,
    trusting_app,  # noqa: F811
    common,
    extra,
    forged,
):
    files = _with_common(unzip(make_ofd()), common)
    files.update({k: v.encode() for k, v in extra.items()})
    files[forged] = page_xml("伪造的模板").encode()
    maker, seal = v4_seal_maker()
    files = seal_files(
        files, signed_value=maker, seal=seal, leave_out=frozenset({forged})
    )
    [result] = await _results(stack, trusting_app, files)
    assert result.verdict == "MODIFIED", result.checks
    statuses = {r.file: r.status for r in result.references}
    assert statuses["/" + forged] == "unsigned", statuses


async def test_a_package_whose_signature_list_is_ambiguous_is_refused(
    stack,
    trusting_app,  # noqa: F811
):
    files, _maker = _sealed_files()
    listing = "Doc_0/Signs/Signatures.xml"
    files[listing + "\u3000"] = files[listing]
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"Signatures.xml</ofd:Signatures>",
        "Signatures.xml\u3000</ofd:Signatures>".encode(),
    )
    stub = stub_for(stack, trusting_app, "app:archive")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=zip_files(files)))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "Signatures" in (err.value.details() or "")
    assert "ambiguous" in (err.value.details() or "")


def test_a_signature_list_location_outside_the_package_is_refused():
    # not read as a damaged OFD.xml (atk33 A3: that dropped every other document):
    # the document's signatures cannot be told, and the refusal names it
    files, _maker = _sealed_files()
    package = _ofd_xml(
        files,
        b"<ofd:Signatures>/Doc_0/Signs/Signatures.xml<",
        b"<ofd:Signatures>../Signatures.xml<",
    )
    with pytest.raises(CertsealError) as err:
        ofd.signatures_document(package)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert str(err.value) == (
        "ofd: document 0: OFD.xml's Signatures '../Signatures.xml' leaves the package"
    )
