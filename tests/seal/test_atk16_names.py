"""atk16 F1: names a file system maps to one file, beyond letter case.

read_package refuses two names differing only in case, and drawn_files looks names up
ignoring case, because a reader that unpacks the package to a case-insensitive file
system (ofdrw-reader does, on Windows and macOS) opens one file for both (atk15c F3).
The same file systems merge more than case: Windows drops trailing dots and spaces
from a name and takes ``name::$DATA`` as the file ``name`` itself (and ``PUBLIC~1.XML``
as ``PublicRes.xml``'s short name), and macOS (APFS, HFS+) takes canonically
equivalent Unicode names (NFC ``é`` and NFD ``e`` + U+0301, a CJK compatibility
ideograph and its unified one) as one. An entry added under such an alias of a signed
page is written over the page when the package is unpacked there, and the verifier,
which saw a second, unnamed file, said VALID. Fixed: names are keyed as such a
file system takes them (``ofd_package.file_key``: case, NFD, trailing dots and spaces;
a colon anywhere refused; a component shaped like an 8.3 short name refused), both
when the package is read and when drawn files are looked up.
"""

from __future__ import annotations

import grpc
import pytest

from certseal.crypto import Suite
from certseal.errors import CertsealError
from services.seal import ofd
from services.seal.ofd_package import read_package
from services.seal.ofd_sign import StampPlace, prepare_seal
from tests.seal.ofd_samples import HEAD, NS, make_ofd, unzip, zip_files
from tests.seal.test_atk15c_ofd import _ride_right_with, _verify
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401

FORGED_PAGE = (
    f'{HEAD}<ofd:Page {NS}><ofd:Content><ofd:Layer ID="2">'
    '<ofd:TextObject ID="3" Boundary="10 10 100 10" Font="4" Size="5">'
    '<ofd:TextCode X="0" Y="5">forged</ofd:TextCode></ofd:TextObject>'
    "</ofd:Layer></ofd:Content></ofd:Page>"
).encode()

PAGE = "Doc_0/Pages/Page_0/Content.xml"

WINDOWS_ALIASES = [
    PAGE + ".",  # Win32 drops a trailing dot
    PAGE + " ",  # and a trailing space
    PAGE + "::$DATA",  # the file's own data stream
    "Doc_0/Pages/Page_0./Content.xml",  # a folder's trailing dot
]


@pytest.mark.parametrize("alias", WINDOWS_ALIASES)
async def test_a_page_added_under_a_windows_alias_of_a_signed_page_is_not_valid(
    alias,
    stack,
    trusting_app,  # noqa: F811
):
    stub = stub_for(stack, trusting_app, "app:archive")
    package = _ride_right_with({alias: FORGED_PAGE})
    try:
        results = await _verify(stub, package)
    except grpc.aio.AioRpcError as exc:  # refused as a package: fixed too
        assert exc.code() is grpc.StatusCode.INVALID_ARGUMENT, exc
        return
    [result] = results
    assert result.verdict != "VALID", result.checks
    assert not result.intact


def _alias_pair(name: str, alias: str) -> bytes:
    files = unzip(make_ofd())
    files[f"Doc_0/{name}"] = b"<x/>"
    files[f"Doc_0/{alias}"] = b"<y/>"
    return zip_files(files)


@pytest.mark.parametrize(
    ("name", "alias"),
    [
        ("PublicRes.xml", "PublicRes.xml."),
        ("PublicRes.xml", "PublicRes.xml "),
        ("PublicRes.xml", "PublicRes.xml::$DATA"),
        ("Res/r\u00e9sum\u00e9.png", "Res/re\u0301sume\u0301.png"),  # NFC, NFD
        ("Attachs/\u4e0d\u52a8\u4ea7.pdf", "Attachs/\uf967\u52a8\u4ea7.pdf"),  # 不
    ],
)
def test_a_package_holding_one_file_under_two_aliases_is_refused(name, alias):
    with pytest.raises(CertsealError) as caught:
        read_package(_alias_pair(name, alias))
    assert caught.value.field == "ofd"


@pytest.mark.parametrize(
    "name", ["Doc_0/PUBLIC~1.XML", "Doc_0/Pages/PAGE_0~1/Content.xml", "SIGNAT~12"]
)
def test_a_name_shaped_like_a_windows_short_name_is_refused(name):
    files = unzip(make_ofd())
    files[name] = b"<x/>"
    with pytest.raises(CertsealError) as caught:
        read_package(zip_files(files))
    assert "short name" in caught.value.message


def test_a_name_with_trailing_dots_alone_is_found_as_the_file_it_is_on_windows():
    """A package holding only ``Doc_0/PublicRes.xml.``: Windows unpacks it as the
    ``PublicRes.xml`` the signed Document.xml names, so it is drawn (and unsigned)."""
    files = unzip(make_ofd())
    files["Doc_0/Document.xml"] = files["Doc_0/Document.xml"].replace(
        b"<ofd:CommonData>",
        b"<ofd:CommonData><ofd:PublicRes>PublicRes.xml</ofd:PublicRes>",
    )
    sealed = dict(
        prepare_seal(
            zip_files(files),
            seal=b"\x30\x00",
            suite=Suite.SM2,
            stamp_mm=(40.0, 40.0),
            place=StampPlace(),
            signed_at_text="2026-12-02 08:00:00",
        ).files
    )
    sealed["Doc_0/PublicRes.xml. "] = f'{HEAD}<ofd:Res {NS} BaseLoc="Res"/>'.encode()
    assert ("Doc_0/PublicRes.xml. ", "unsigned") in _unsigned(sealed)


def _unsigned(files: dict[str, bytes]) -> list[tuple[str, str]]:
    package = read_package(zip_files(files))
    document = ofd.signatures_document(package)
    entries, _ = ofd.signature_entries(document)
    signature = ofd.read_signature_file(package, entries[0].path)
    results = ofd.check_references(document, signature, entries[0])
    return [(r.file, r.status) for r in results if not r.holds]


@pytest.mark.parametrize(
    ("named", "added"),
    [
        ("r\u00e9sum\u00e9.xml", "re\u0301sume\u0301.xml"),
        ("\u4e0d\u52a8\u4ea7.xml", "\uf967\u52a8\u4ea7.xml"),
    ],
)
def test_a_resource_added_under_an_equivalent_unicode_name_is_unsigned(named, added):
    files = unzip(make_ofd())
    files["Doc_0/Document.xml"] = files["Doc_0/Document.xml"].replace(
        b"<ofd:CommonData>",
        f"<ofd:CommonData><ofd:PublicRes>{named}</ofd:PublicRes>".encode(),
    )
    sealed = dict(
        prepare_seal(
            zip_files(files),
            seal=b"\x30\x00",
            suite=Suite.SM2,
            stamp_mm=(40.0, 40.0),
            place=StampPlace(),
            signed_at_text="2026-12-02 08:00:00",
        ).files
    )
    assert _unsigned(sealed) == []
    sealed["Doc_0/" + added] = f'{HEAD}<ofd:Res {NS} BaseLoc="Res"/>'.encode()
    try:
        found = _unsigned(sealed)
    except CertsealError:  # refused as a package: fixed too
        return
    assert ("Doc_0/" + added, "unsigned") in found
