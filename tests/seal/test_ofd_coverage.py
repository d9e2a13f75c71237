"""What an OFD seal's References must cover and how they are read (atk15 F1, F2, F3,
F11, more cases of each kind).

The pure cases seal with :func:`prepare_seal` (the references are what SealOfd writes;
no signature is needed to check them) and edit the package or Signature.xml after.
"""

from __future__ import annotations

import re

import pytest

from certseal.crypto import Suite
from certseal.errors import CertsealError, ErrorKind
from certseal.v1 import seal_pb2 as pb
from services.seal import ofd
from services.seal.ofd_package import OfdPackage, read_package
from services.seal.ofd_sign import StampPlace, prepare_seal
from tests.conftest import seal_owner
from tests.seal.ofd_samples import HEAD, NS, make_ofd, page_xml, unzip, zip_files
from tests.seal.test_atk15_ofd import VECTORS, _resigned, _sealed, _verify

SIGN = "Doc_0/Signs/Sign_0/"


def _prepared(files: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """``files`` (make_ofd()'s by default) with a seal's files, as SealOfd writes
    them before signing."""
    prepared = prepare_seal(
        zip_files(files if files is not None else unzip(make_ofd())),
        seal=b"\x30\x00",
        suite=Suite.SM2,
        stamp_mm=(40.0, 40.0),
        place=StampPlace(),
        signed_at_text="2026-12-02 08:00:00",
    )
    return dict(prepared.files)


def _not_holding(files: dict[str, bytes]) -> list[tuple[str, str]]:
    package = read_package(zip_files(files))
    document = ofd.signatures_document(package)
    entries, _ = ofd.signature_entries(document)
    signature = ofd.read_signature_file(package, entries[0].path)
    results = ofd.check_references(document, signature, entries[0])
    return [(r.file, r.status) for r in results if not r.holds]


def _without_reference(files: dict[str, bytes], path: str) -> None:
    """Drop the Reference to ``path`` from Sign_0's Signature.xml."""
    xml = files[SIGN + "Signature.xml"]
    pattern = rb'<ofd:Reference FileRef="/' + re.escape(path.encode()) + rb'">.*?'
    kept = re.sub(pattern + rb"</ofd:Reference>", b"", xml)
    assert kept != xml, path
    files[SIGN + "Signature.xml"] = kept


def _with_public_res(res: str) -> dict[str, bytes]:
    """make_ofd() whose Document.xml names Doc_0/PublicRes.xml holding ``res``."""
    files = unzip(make_ofd())
    files["Doc_0/Document.xml"] = files["Doc_0/Document.xml"].replace(
        b"<ofd:CommonData>",
        b"<ofd:CommonData><ofd:PublicRes>PublicRes.xml</ofd:PublicRes>",
    )
    if res:
        files["Doc_0/PublicRes.xml"] = (
            f'{HEAD}<ofd:Res {NS} BaseLoc="Res">{res}</ofd:Res>'.encode()
        )
    return files


def test_a_freshly_prepared_seal_covers_everything_it_shows():
    assert _not_holding(_prepared()) == []
    assert _not_holding(_prepared(_with_public_res(""))) == []


# F1: files that signed XML names, absent when sealed, added after


@pytest.mark.parametrize(
    "font",
    [
        '<ofd:Font ID="3" FontName="宋体"><ofd:FontFile>font_3.ttf</ofd:FontFile>'
        "</ofd:Font>",
        '<ofd:Font ID="3" FontName="宋体" FontFile="font_3.ttf"/>',
    ],
)
def test_a_font_file_named_by_a_signed_resource_and_added_later_is_unsigned(font):
    files = _prepared(_with_public_res(f"<ofd:Fonts>{font}</ofd:Fonts>"))
    assert _not_holding(files) == []
    files["Doc_0/Res/font_3.ttf"] = b"a font whose glyphs say something else"
    assert _not_holding(files) == [("Doc_0/Res/font_3.ttf", "unsigned")]


@pytest.mark.parametrize(
    "added",
    [
        "Doc_0/PublicRes.xml",  # from Document.xml's folder, as GB/T 33190 reads it
        "PublicRes.xml",  # from the root, where a lenient reader might look
    ],
)
def test_a_resource_named_by_the_signed_document_and_added_later_is_unsigned(added):
    files = _prepared(_with_public_res(""))
    files[added] = f"{HEAD}<ofd:Res {NS}/>".encode()
    assert _not_holding(files) == [(added, "unsigned")]


def test_page_resources_and_annotations_named_by_signed_files_are_covered():
    files = unzip(make_ofd())
    page = "Doc_0/Pages/Page_0/Content.xml"
    files[page] = files[page].replace(
        b"<ofd:Content>", b"<ofd:PageRes>Res.xml</ofd:PageRes><ofd:Content>"
    )
    files["Doc_0/Document.xml"] = files["Doc_0/Document.xml"].replace(
        b"</ofd:Pages>",
        b"</ofd:Pages><ofd:Annotations>Annots/Annotations.xml</ofd:Annotations>",
    )
    files["Doc_0/Annots/Annotations.xml"] = (
        f'{HEAD}<ofd:Annotations {NS}><ofd:Page PageID="1">'
        "<ofd:FileLoc>Page_0/Annotation.xml</ofd:FileLoc></ofd:Page></ofd:Annotations>"
    ).encode()
    files = _prepared(files)
    assert _not_holding(files) == []
    files["Doc_0/Pages/Page_0/Res.xml"] = f"{HEAD}<ofd:Res {NS}/>".encode()
    files["Doc_0/Annots/Page_0/Annotation.xml"] = (
        f"{HEAD}<ofd:PageAnnot {NS}/>".encode()
    )
    assert sorted(_not_holding(files)) == [
        ("Doc_0/Annots/Page_0/Annotation.xml", "unsigned"),
        ("Doc_0/Pages/Page_0/Res.xml", "unsigned"),
    ]


# F2: a signature must cover the document root, the pages and what they draw from,
# and the entry point unless it draws nothing but the root (test_ofd_entry_unsigned)


@pytest.mark.parametrize(
    "left_out",
    [
        "Doc_0/Document.xml",
        "Doc_0/Pages/Page_0/Content.xml",  # the stamped page
        "Doc_0/Pages/Page_1/Content.xml",
        "Doc_0/PublicRes.xml",
    ],
)
def test_a_signature_leaving_out_what_the_document_shows_does_not_hold(left_out):
    files = _prepared(
        _with_public_res('<ofd:Fonts><ofd:Font ID="3" FontName="宋体"/></ofd:Fonts>')
    )
    _without_reference(files, left_out)
    assert _not_holding(files) == [(left_out, "unsigned")]


def test_a_damaged_document_root_still_fails_its_reference():
    files = _prepared()
    files["Doc_0/Document.xml"] = b"<not xml"
    assert ("Doc_0/Document.xml", "changed") in _not_holding(files)


# F3: a FileRef is read one way, whatever files the package holds


@pytest.mark.parametrize(
    ("loc", "read"),
    [
        ("/OFD.xml", "OFD.xml"),
        ("OFD.xml", "OFD.xml"),  # GB/T 33190: FileRef is absolute, slash or not
        ("Doc_0/Document.xml", "Doc_0/Document.xml"),
        ("./Seal.esl", SIGN + "Seal.esl"),  # explicitly relative: from the folder
        ("../../../OFD.xml", "OFD.xml"),
    ],
)
def test_a_file_ref_is_read_one_way_whatever_the_package_holds(loc, read):
    files = _prepared()
    xml = files[SIGN + "Signature.xml"].replace(
        b'FileRef="/OFD.xml"', f'FileRef="{loc}"'.encode()
    )
    files[SIGN + "Signature.xml"] = xml
    plain = ofd.read_signature_file(OfdPackage(files), SIGN + "Signature.xml")
    # a copy at the other reading changes nothing
    for decoy in (SIGN + loc.lstrip("./"), loc.lstrip("./")):
        files.setdefault(decoy, b"decoy")
    decoyed = ofd.read_signature_file(OfdPackage(files), SIGN + "Signature.xml")
    assert read in [r.file for r in plain.references]
    assert plain.references == decoyed.references


def test_a_signed_value_location_naming_two_files_is_ambiguous():
    files = _prepared()
    xml = files[SIGN + "Signature.xml"]
    files[SIGN + "Signature.xml"] = xml.replace(
        f"<ofd:SignedValue>/{SIGN}SignedValue.dat".encode(),
        b"<ofd:SignedValue>SignedValue.dat",
    )
    files[SIGN + "SignedValue.dat"] = b"the signature"
    package = OfdPackage(files)
    found = ofd.read_signature_file(package, SIGN + "Signature.xml")
    assert found.signed_value_path == SIGN + "SignedValue.dat"
    files["SignedValue.dat"] = b"another"
    with pytest.raises(CertsealError) as err:
        ofd.read_signature_file(OfdPackage(files), SIGN + "Signature.xml")
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert "ambiguous" in err.value.message


# F2 and F3 through the RPC


async def test_a_seal_covering_only_other_pages_is_modified_when_its_page_changes(
    seal_stub, operator
):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal_id, files = await _sealed(stub)
    xml = files[SIGN + "Signature.xml"]
    kept = re.sub(
        rb'<ofd:Reference FileRef="/Doc_0/Pages/Page_0/Content.xml">.*?</ofd:Reference>',
        b"",
        xml,
    )
    await _resigned(stub, seal_id, files, kept)
    files["Doc_0/Pages/Page_0/Content.xml"] = page_xml("不予许可决定书").encode()
    [result] = await _verify(stub, zip_files(files))
    assert result.verdict == "MODIFIED", result.checks
    failed = [c for c in result.checks if not c.passed]
    assert [c.name for c in failed] == ["references"]
    assert "/Doc_0/Pages/Page_0/Content.xml unsigned" in failed[0].detail
    assert not result.intact


# F11: Signatures.xml grows only by seals that hold


def _add_entry(files: dict[str, bytes], later: str, kind: str = "Seal") -> None:
    files["Doc_0/Signs/Signatures.xml"] = files["Doc_0/Signs/Signatures.xml"].replace(
        b"<ofd:MaxSignId>",
        f'<ofd:Signature ID="s900" Type="{kind}" BaseLoc="/{later}Signature.xml"/>'.encode()
        + b"<ofd:MaxSignId>",
    )


async def test_two_seals_both_verify_and_the_list_grew(seal_stub, operator):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal_id, files = await _sealed(stub)
    twice = await stub.SealOfd(pb.SealOfdRequest(seal_id=seal_id, ofd=zip_files(files)))
    first, second = await _verify(stub, twice.ofd)
    assert (first.verdict, second.verdict) == ("VALID", "VALID")
    assert ("/Doc_0/Signs/Signatures.xml", "list grown") in [
        (r.file, r.status) for r in first.references
    ]


async def test_a_later_signature_this_service_cannot_verify_leaves_the_seal_modified(
    seal_stub, operator
):
    """A Type="Sign" entry whose references all hold (anyone can compute them) but
    whose signed value is nothing: not a signature that vouches for anything."""
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    _seal_id, files = await _sealed(stub)
    later = "Doc_0/Signs/Sign_1/"
    _add_entry(files, later, kind="Sign")
    files[later + "Signature.xml"] = files[SIGN + "Signature.xml"].replace(
        SIGN.encode(), later.encode()
    )
    files[later + "SignedValue.dat"] = b"no signature"
    first, added = await _verify(stub, zip_files(files))
    assert added.verdict == "MALFORMED"
    assert first.verdict == "MODIFIED", first.checks
    detail = next(c.detail for c in first.checks if c.name == "references")
    assert "s900 (MALFORMED: its signature does not verify)" in detail
    assert ("/Doc_0/Signs/Signatures.xml", "changed") in [
        (r.file, r.status) for r in first.references
    ]
    assert not first.intact


async def test_a_later_real_seal_over_another_document_leaves_the_seal_modified(
    seal_stub, operator
):
    """ofdrw's seal of V4RideRight, copied in as a later entry: a readable, signed
    SES_Signature whose dataHash matches its Signature.xml, but whose references are
    another document's (and whose maker is not trusted here)."""
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    _seal_id, files = await _sealed(stub)
    later = "Doc_0/Signs/Sign_1/"
    _add_entry(files, later)
    files[later + "Signature.xml"] = (
        VECTORS / "V4RideRight.Signature.xml"
    ).read_bytes()
    files[later + "SignedValue.dat"] = (
        VECTORS / "V4RideRight.SignedValue.dat"
    ).read_bytes()
    first, added = await _verify(stub, zip_files(files))
    assert added.verdict != "VALID"
    assert first.verdict == "MODIFIED", first.checks
    assert not first.intact


def test_a_version_named_by_the_signed_entry_point_and_added_later_is_unsigned():
    files = unzip(make_ofd())
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"</ofd:DocRoot>",
        b'</ofd:DocRoot><ofd:Versions><ofd:Version ID="1" Index="1" Current="true" '
        b'BaseLoc="Doc_0/Versions/Version_1/DocVersion.xml"/></ofd:Versions>',
    )
    files = _prepared(files)
    assert _not_holding(files) == []
    version = "Doc_0/Versions/Version_1/DocVersion.xml"
    files[version] = (
        f'{HEAD}<ofd:DocVersion {NS} ID="1"><ofd:FileList><ofd:File ID="1">'
        "Page_0.xml</ofd:File></ofd:FileList></ofd:DocVersion>"
    ).encode()
    files["Doc_0/Versions/Version_1/Page_0.xml"] = page_xml("不予许可决定书").encode()
    assert _not_holding(files) == [(version, "unsigned")]


def _without_signatures_xml(files: dict[str, bytes]) -> bytes:
    """Sign_0's Signature.xml without its reference to Signatures.xml (as ofdrw's
    ContinueSign mode writes it)."""
    xml = files[SIGN + "Signature.xml"]
    kept = re.sub(
        rb'<ofd:Reference FileRef="/Doc_0/Signs/Signatures.xml">.*?</ofd:Reference>',
        b"",
        xml,
    )
    assert kept != xml
    return kept


def _junk_entry(files: dict[str, bytes], later: str) -> None:
    files[later + "SignedValue.dat"] = b"not an SES_Signature"
    files[later + "Signature.xml"] = (
        f"<ofd:Signature {NS}><ofd:SignedInfo>"
        '<ofd:StampAnnot ID="s901" PageRef="1" Boundary="0 0 210 297"/>'
        '<ofd:References CheckMethod="SM3"/></ofd:SignedInfo>'
        f"<ofd:SignedValue>/{later}SignedValue.dat</ofd:SignedValue></ofd:Signature>"
    ).encode()


@pytest.mark.parametrize("where", ["after", "before"])
async def test_an_entry_added_to_a_list_the_seal_does_not_cover_is_not_valid(
    seal_stub, operator, where
):
    """A seal that leaves Signatures.xml out of its references (so that later seals
    need not change it) still sees every other entry of the list: one it did not
    cover and that is no VALID seal (its stamp paints the page) makes it MODIFIED."""
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal_id, files = await _sealed(stub)
    await _resigned(stub, seal_id, files, _without_signatures_xml(files))
    [alone] = await _verify(stub, zip_files(files))
    assert alone.verdict == "VALID", alone.checks
    later = "Doc_0/Signs/Sign_1/"
    _junk_entry(files, later)
    entry = f'<ofd:Signature ID="s900" Type="Seal" BaseLoc="/{later}Signature.xml"/>'
    listing = files["Doc_0/Signs/Signatures.xml"]
    if where == "after":
        listing = listing.replace(
            b"<ofd:MaxSignId>", entry.encode() + b"<ofd:MaxSignId>"
        )
    else:
        listing = re.sub(
            rb"(<ofd:Signature )", entry.encode() + rb"\1", listing, count=1
        )
    files["Doc_0/Signs/Signatures.xml"] = listing
    results = await _verify(stub, zip_files(files))
    [seal] = [r for r in results if r.signature_id != "s900"]
    [junk] = [r for r in results if r.signature_id == "s900"]
    assert junk.verdict == "MALFORMED"
    assert seal.verdict == "MODIFIED", seal.checks
    assert ("/Doc_0/Signs/Signatures.xml", "unsigned") in [
        (r.file, r.status) for r in seal.references
    ]
    detail = next(c.detail for c in seal.checks if c.name == "references")
    assert "s900 (MALFORMED: its signature does not verify)" in detail


def _found(sid: str, path: str, verdict: str, references, *, holds: bool = True):
    from services.seal.domain import SealCheck, SealVerdict, SealVerification
    from services.seal.ofd import SignatureEntry
    from services.seal.ofd_results import Found

    passed = [SealCheck("decode", True, ""), SealCheck("signature", True, "")]
    if verdict != "VALID":
        passed.append(SealCheck("seal", False, "not trusted here"))
    else:
        passed.append(SealCheck("data hash", True, ""))
    return Found(
        SignatureEntry(sid, "Seal", path, ()),
        SealVerification(SealVerdict(verdict), tuple(passed)),
        tuple(references),
        "SM3",
        ("1",),
        holds,
        "Doc_0/Signs/Signatures.xml",
    )


def _ref(path: str, status: str = "ok"):
    return ofd.ReferenceResult(path, b"x", b"x", status)


def test_a_list_grown_by_a_seal_not_valid_here_is_modified_but_intact():
    """A later seal whose files hold but whose maker is not trusted here: nothing was
    changed but by a real seal (intact), yet no one trusted vouches for its stamp."""
    from services.seal.ofd_results import list_growth_checked

    first = _found(
        "s1",
        "Doc_0/Signs/Sign_0/Signature.xml",
        "VALID",
        [_ref("OFD.xml"), _ref("Doc_0/Signs/Signatures.xml", "list grown")],
    )
    later = "Doc_0/Signs/Sign_1/Signature.xml"
    refs = [_ref("OFD.xml"), _ref("Doc_0/Signs/Signatures.xml")]
    for verdict, holds, expected, named in [
        ("VALID", True, ("VALID", True), ""),
        ("UNTRUSTED_SEAL", True, ("MODIFIED", True), "s2 (UNTRUSTED_SEAL)"),
        # its dataHash is wrong
        ("UNTRUSTED_SEAL", False, ("MODIFIED", False), "s2 (UNTRUSTED_SEAL: its files"),
        ("MALFORMED", False, ("MODIFIED", False), "s2 (MALFORMED: its files"),
        # a verdict and intact that disagree (atk-docs F4): why, never "(VALID)"
        ("VALID", False, ("MODIFIED", False), "s2 (its files are not as it signed"),
    ]:
        results = list_growth_checked(
            [first, _found("s2", later, verdict, refs, holds=holds)]
        )
        got = (results[0].verification.verdict.value, results[0].intact)
        assert got == expected, (verdict, holds, results[0].verification.checks)
        if expected[0] == "MODIFIED":
            detail = next(
                c.detail
                for c in results[0].verification.checks
                if c.name == "references"
            )
            assert named in detail
            assert "(VALID)" not in detail
        # a later seal's Signature.xml the first one covered was there when it sealed
        seen = _found("s1", first.entry.path, "VALID", [*first.references, _ref(later)])
        [again, _] = list_growth_checked(
            [seen, _found("s2", later, verdict, refs, holds=holds)]
        )
        assert again.verification.verdict.value == "VALID"


def test_names_of_absent_files_cost_nothing_per_signature():
    """A page naming 50,000 resources that are not in the package: the files drawn
    from are only those the package holds (each signature goes through them)."""
    from services.seal.ofd_drawn import drawn_files

    files = unzip(make_ofd())
    page = "Doc_0/Pages/Page_0/Content.xml"
    names = "".join(f"<ofd:PageRes>r{i}.xml</ofd:PageRes>" for i in range(50_000))
    files[page] = files[page].replace(
        b"<ofd:Content>", names.encode() + b"<ofd:Content>"
    )
    # and a resource naming itself and the page: read once each, no loop
    files["Doc_0/Pages/Page_0/r7.xml"] = (
        f'{HEAD}<ofd:Res {NS} BaseLoc="."><ofd:Fonts><ofd:Font ID="1" '
        'FontFile="r7.xml"/></ofd:Fonts></ofd:Res>'
    ).encode()
    document = ofd.signatures_document(read_package(zip_files(files)))
    drawn = drawn_files(document)
    assert set(drawn) == set(files)
    assert drawn["Doc_0/Pages/Page_0/r7.xml"] == {page, "Doc_0/Pages/Page_0/r7.xml"}
