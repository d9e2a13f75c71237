"""OFD packages from outside: the ZIP and XML bounds and path rules (pure)."""

import io
import struct
import zipfile
from pathlib import Path

import pytest

from certseal.errors import CertsealError, ErrorKind
from services.seal import ofd_package, ofd_xml, ofd_zip_end
from services.seal.ofd import check_digest, find_keyword, open_document
from services.seal.ofd_package import parse_xml, read_package
from services.seal.ofd_sign import StampPlace, prepare_seal
from services.seal.ofd_zip import normalise
from tests.seal.ofd_samples import HEAD, NS, make_ofd, unzip, zip_files

VECTORS = Path(__file__).parent / "data" / "ofdrw"


def refused(call, *args, field="ofd", **kwargs) -> str:
    with pytest.raises(CertsealError) as err:
        call(*args, **kwargs)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert err.value.field == field
    return err.value.message


def test_a_well_formed_ofd_is_read():
    document = open_document(read_package(make_ofd()))
    assert document.doc_root == "Doc_0/Document.xml"
    assert document.signatures_path is None
    assert [p.page_id for p in document.pages] == ["1", "2"]
    assert (document.pages[0].width_mm, document.pages[0].height_mm) == (210, 297)


def test_a_zip_bomb_is_refused_before_it_inflates():
    bomb = zip_files({"OFD.xml": b"<a/>", "Doc_0/big.xml": b"\0" * (20 << 20)})
    assert len(bomb) < 100_000
    assert "ZIP bomb" in refused(read_package, bomb)


def test_too_many_entries_and_too_much_in_all(monkeypatch):
    monkeypatch.setattr(ofd_zip_end, "MAX_OFD_ENTRIES", 5)
    many = zip_files({f"f{i}.xml": b"<a/>" for i in range(6)})
    assert "6 entries" in refused(read_package, many)
    monkeypatch.setattr(ofd_package, "MAX_OFD_UNCOMPRESSED_BYTES", 1000)
    big = zip_files({"a": b"x" * 600, "b": b"y" * 600})
    assert "in all" in refused(read_package, big)
    monkeypatch.setattr(ofd_package, "MAX_OFD_ENTRY_BYTES", 500)
    assert "inflates to 600" in refused(read_package, big)


def test_a_lying_size_in_the_central_directory_is_refused():
    data = bytearray(zip_files({"OFD.xml": b"<a>" + b"x" * 5000 + b"</a>"}))
    at = data.index(b"PK\x01\x02")
    data[at + 24 : at + 28] = struct.pack("<I", 100)  # uncompressed size: 100
    refused(read_package, bytes(data))


@pytest.mark.parametrize(
    "name",
    ["../evil.xml", "Doc_0/../../evil.xml", "/etc/passwd", "C:/x.xml", "a\\..\\b"],
)
def test_entry_names_leaving_the_package_are_refused(name):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(zipfile.ZipInfo("OFD.xml"), b"<a/>")
        archive.writestr(zipfile.ZipInfo(name), b"<a/>")
    message = refused(read_package, out.getvalue())
    assert any(word in message for word in ("package", "drive", "absolute"))


def test_names_are_normalised_and_duplicates_refused():
    assert normalise("/Doc_0/./Pages/../Document.xml", "ofd") == "Doc_0/Document.xml"
    assert normalise("Pages/P.xml", "ofd", base="Doc_0") == "Doc_0/Pages/P.xml"
    assert "leaves" in refused(normalise, "../../x", "ofd", base="Doc_0")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("Doc_0/a.xml", b"<a/>")
        archive.writestr("Doc_0/./a.xml", b"<b/>")
    assert "twice" in refused(read_package, out.getvalue())


def test_deep_xml_is_refused_while_parsing():
    deep = b"<a>" * 100_000 + b"</a>" * 100_000
    assert "deeper than 64" in refused(
        parse_xml, deep, "Doc_0/Pages/Page_0/Content.xml"
    )
    fine = b"<a>" * 64 + b"</a>" * 64
    assert parse_xml(fine, "x").tag == "a"


@pytest.mark.parametrize(
    "xml",
    [
        b'<!DOCTYPE a [<!ENTITY x "xx"><!ENTITY y "&x;&x;">]><a>&y;</a>',
        b'<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>',
        b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>',
    ],
)
def test_dtds_and_entities_are_refused(xml):
    assert "DTD" in refused(parse_xml, xml, "OFD.xml")


@pytest.mark.parametrize(
    "xml",
    [
        # an internal subset may declare attribute defaults, which readers apply
        # or not: what a location says would depend on the reader
        b'<!DOCTYPE a [<!ATTLIST a BaseLoc CDATA "x.xml">]><a/>',
        b"<!DOCTYPE a [<!ELEMENT a ANY>]><a/>",
        b'<!DOCTYPE a PUBLIC "-//x//DTD x//EN" "x.dtd"><a/>',
    ],
)
def test_a_doctype_that_could_change_what_is_read_is_refused(xml):
    assert "DTD" in refused(parse_xml, xml, "OFD.xml")


def test_a_bare_doctype_is_read_as_readers_read_it():
    # atk33 A2: a name and nothing else declares nothing; dom4j (ofdrw), libxml2
    # and every XML parser read the document as without it
    xml = b'<?xml version="1.0"?>\n<!DOCTYPE ofd:OFD>\n<ofd:OFD xmlns:ofd="u"><b/></ofd:OFD>'
    root = parse_xml(xml, "OFD.xml")
    assert root.tag == "{u}OFD" and [e.tag for e in root] == ["b"]


def test_oversized_or_broken_xml(monkeypatch):
    assert "not well-formed" in refused(parse_xml, b"<a><b></a>", "OFD.xml")
    monkeypatch.setattr(ofd_xml, "MAX_OFD_XML_BYTES", 10)
    assert "limit" in refused(parse_xml, b"<a>0123456789</a>", "OFD.xml")


def test_not_a_zip_and_not_an_ofd():
    assert "ZIP" in refused(read_package, b"%PDF-1.7 nope")
    assert "OFD.xml" in refused(open_document, read_package(zip_files({"a": b"x"})))
    no_pages = zip_files(
        {
            "OFD.xml": (
                f"{HEAD}<ofd:OFD {NS}><ofd:DocBody><ofd:DocRoot>D.xml</ofd:DocRoot>"
                "</ofd:DocBody></ofd:OFD>"
            ).encode(),
            "D.xml": f"<ofd:Document {NS}/>".encode(),
        }
    )
    assert "no pages" in refused(open_document, read_package(no_pages))


def test_keyword_placement_and_errors():
    document = open_document(read_package(make_ofd()))
    assert find_keyword(document, "盖章") == (1, 130.0, 155.0)
    refused(find_keyword, document, "不存在", field="keyword")
    prepared = prepare_seal(
        make_ofd(),
        seal=b"\x30\x00",
        suite=__import__("certseal.crypto").crypto.Suite.SM2,
        stamp_mm=(40.0, 40.0),
        place=StampPlace(keyword="盖章"),
        signed_at_text="2026-11-30 12:00:00",
    )
    assert prepared.page == 1
    assert b'Boundary="110 135 40 40"' in prepared.signature_xml
    assert b'PageRef="2"' in prepared.signature_xml
    with pytest.raises(CertsealError) as err:
        prepare_seal(
            make_ofd(),
            seal=b"\x30\x00",
            suite=__import__("certseal.crypto").crypto.Suite.SM2,
            stamp_mm=(40.0, 40.0),
            place=StampPlace(page=5),
            signed_at_text="2026-11-30 12:00:00",
        )
    assert err.value.field == "page"


def test_the_first_seal_declares_signatures_in_ofd_xml():
    from certseal.crypto import Suite

    prepared = prepare_seal(
        make_ofd(),
        seal=b"\x30\x00",
        suite=Suite.ES256,
        stamp_mm=(42.0, 42.0),
        place=StampPlace(page=0, x_mm=168, y_mm=10),
        signed_at_text="2026-11-30 12:00:00",
    )
    ofd_xml = prepared.files["OFD.xml"]
    assert (
        b"<ofd:Signatures>/Doc_0/Signs/Signatures.xml</ofd:Signatures></ofd:DocBody>"
        in ofd_xml
    )
    assert parse_xml(ofd_xml, "OFD.xml") is not None
    assert prepared.signature_path == "Doc_0/Signs/Sign_0/Signature.xml"
    # at the page's right edge: 210 - 42 = 168
    assert b'Boundary="168 10 42 42"' in prepared.signature_xml
    assert b'CheckMethod="SHA256"' in prepared.signature_xml
    assert "Doc_0/Signs/Sign_0/SignedValue.dat" not in prepared.files


def test_check_methods():
    assert len(check_digest("SM3", b"abc")) == 32
    assert check_digest("1.2.156.10197.1.401", b"abc") == check_digest("sm3", b"abc")
    assert check_digest("SHA-256", b"") == check_digest("2.16.840.1.101.3.4.2.1", b"")
    assert check_digest("SHA1", b"abc") is None
    assert check_digest("MD5", b"abc") is None


def test_the_ofdrw_samples_are_read_within_the_bounds():
    for name in ("V4RideRight.ofd", "SESV4SignDoc.ofd"):
        with open(f"{VECTORS}/{name}", "rb") as f:
            files = unzip(f.read())
        assert "Doc_0/Signs/Sign_0/SignedValue.dat" in files


def test_each_file_is_digested_once_per_method(monkeypatch):
    from services.seal import ofd
    from services.seal.ofd import signatures_document

    calls = []
    real = ofd.check_digest
    monkeypatch.setattr(ofd, "check_digest", lambda m, d: calls.append(m) or real(m, d))
    document = signatures_document(read_package(make_ofd()))
    first = document.digest_of("SM3", "OFD.xml")
    assert [document.digest_of(m, "OFD.xml") for m in ("SM3", "sm3 ")] == [first] * 2
    assert document.digest_of("SHA256", "OFD.xml") != first
    assert calls == ["SM3", "SHA256"]


def test_more_signatures_than_the_bound_are_refused(monkeypatch):
    from services.seal import ofd, ofd_service

    files = unzip(make_ofd())
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"</ofd:DocBody>",
        b"<ofd:Signatures>/Doc_0/Signs/Signatures.xml</ofd:Signatures></ofd:DocBody>",
    )
    files["Doc_0/Signs/Signatures.xml"] = (
        f'<ofd:Signatures {NS}><ofd:Signature ID="1" BaseLoc="Sign_0/Signature.xml"/>'
        '<ofd:Signature ID="2" BaseLoc="Sign_1/Signature.xml"/></ofd:Signatures>'
    ).encode()
    monkeypatch.setattr(ofd, "MAX_OFD_SIGNATURES", 1)
    assert "2 signatures" in refused(ofd_service._open, zip_files(files))
    monkeypatch.setattr(ofd, "MAX_OFD_SIGNATURES", 2)
    [(_, entries)] = ofd_service._open(zip_files(files))  # one document
    assert [e.path for e in entries] == [
        "Doc_0/Signs/Sign_0/Signature.xml",
        "Doc_0/Signs/Sign_1/Signature.xml",
    ]


def test_locations_in_a_signature_resolve_from_its_folder_or_the_root():
    from certseal.crypto import Suite
    from services.seal.ofd import read_signature_file
    from services.seal.ofd_package import OfdPackage

    prepared = prepare_seal(
        make_ofd(),
        seal=b"\x30\x00",
        suite=Suite.SM2,
        stamp_mm=(40.0, 40.0),
        place=StampPlace(),
        signed_at_text="2026-11-30 12:00:00",
    )
    files = dict(prepared.files)
    path = prepared.signature_path
    files[path] = (
        files[path]
        .replace(b'FileRef="/Doc_0/Document.xml"', b'FileRef="Doc_0/Document.xml"')
        .replace(b'FileRef="/OFD.xml"', b'FileRef="../../../OFD.xml"')
        .replace(b"/Doc_0/Signs/Sign_0/Seal.esl", b"Seal.esl")
    )
    signature = read_signature_file(OfdPackage(files), path)
    names = [r.file for r in signature.references]
    assert "Doc_0/Document.xml" in names and "OFD.xml" in names
    assert signature.seal_path == "Doc_0/Signs/Sign_0/Seal.esl"
    files[path] = files[path].replace(
        b'FileRef="Doc_0/Document.xml"', b'FileRef="../../../../x"'
    )
    assert "leaves" in refused(read_signature_file, OfdPackage(files), path)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"x_mm": float("inf")}, "x_mm"),
        ({"y_mm": float("-inf")}, "y_mm"),
        ({"x_mm": float("nan")}, "x_mm"),
        ({"y_mm": 5081.0}, "y_mm"),
        ({"keyword": "   "}, "keyword"),
        ({"keyword": "字" * 101}, "keyword"),
        ({"keyword": "盖\u0085章"}, "keyword"),
    ],
)
def test_stamp_places_out_of_range_name_their_field(changes, field):
    from certseal.v1 import seal_pb2 as pb
    from services.seal.ofd_convert import stamp_place

    refused(stamp_place, pb.SealOfdRequest(**changes), field=field)


def test_stamp_place_defaults():
    from certseal.v1 import seal_pb2 as pb
    from services.seal.ofd_convert import stamp_place

    assert stamp_place(pb.SealOfdRequest()) == StampPlace(0, 20.0, 20.0, "")
    assert stamp_place(pb.SealOfdRequest(keyword="盖章")).keyword == "盖章"


@pytest.mark.parametrize(
    ("place", "field"),
    [
        (StampPlace(page=0, x_mm=168.5, y_mm=10), "x_mm"),
        (StampPlace(page=0, x_mm=1000, y_mm=4000), "x_mm"),
        (StampPlace(page=0, x_mm=10, y_mm=255.5), "y_mm"),
    ],
)
def test_a_stamp_asked_for_off_the_page_is_refused_as_for_a_pdf(place, field):
    """A new user's `seal ofd --x-mm 1000 --y-mm 4000` was moved onto the page in
    silence, where `seal pdf` refuses the same; a stamp centred on a keyword is
    still kept inside the page (test above)."""
    from certseal.crypto import Suite

    with pytest.raises(CertsealError) as err:
        prepare_seal(
            make_ofd(),
            seal=b"\x30\x00",
            suite=Suite.ES256,
            stamp_mm=(42.0, 42.0),
            place=place,
            signed_at_text="2026-11-30 12:00:00",
        )
    assert err.value.field == field
    assert "beyond page 0, which is 210.0 × 297.0 mm" in err.value.message
