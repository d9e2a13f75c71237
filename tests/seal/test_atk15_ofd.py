"""atk15: VerifyOfd attacked from outside with changed and hostile OFD packages.

A verifier must never say VALID for a document that shows other content than was
sealed, and a small request must not cost unbounded CPU or memory. Each finding is an
xfail(strict=True) test until it is fixed.

Several tests need a seal whose Signature.xml was written differently from certseal's
own (as another producer writes it): the package is sealed with SealOfd, its
Signature.xml is edited, and SealDocument signs the edited bytes with the same seal,
which is exactly the SES_Signature another platform's sealing software would make.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import random
import re
import struct
import zipfile
import zlib
from pathlib import Path

import grpc
import pytest

from certseal.v1 import seal_pb2 as pb
from services.seal import ofd, ofd_package
from services.seal.ofd_package import read_package
from tests.conftest import seal_owner
from tests.seal.ofd_samples import make_ofd, page_xml, unzip, zip_files
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401

VECTORS = Path(__file__).parent / "data" / "ofdrw"
SIGN = "Doc_0/Signs/Sign_0/"
NS = 'xmlns:ofd="http://www.ofdspec.org/2016"'


def _failed(result: pb.OfdSignatureResult) -> list[str]:
    return [c.name for c in result.checks if not c.passed]


async def _verify(stub, package: bytes) -> list[pb.OfdSignatureResult]:
    return list((await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=package))).signatures)


async def _sealed(stub) -> tuple[str, dict[str, bytes]]:
    """A new sm2 seal and make_ofd() sealed with it, as files."""
    seal = (
        await stub.RegisterSeal(
            pb.RegisterSealRequest(seal_type="official", name="示例局", suite="sm2")
        )
    ).seal
    sealed = await stub.SealOfd(pb.SealOfdRequest(seal_id=seal.seal_id, ofd=make_ofd()))
    return seal.seal_id, unzip(sealed.ofd)


async def _resigned(stub, seal_id: str, files: dict[str, bytes], xml: bytes) -> None:
    """Replace Sign_0's Signature.xml by ``xml`` and its SignedValue.dat by the seal's
    SES_Signature over those bytes (what another producer's software makes)."""
    signed = await stub.SealDocument(
        pb.SealDocumentRequest(
            seal_id=seal_id, document=xml, property_info=f"/{SIGN}Signature.xml"
        )
    )
    files[SIGN + "Signature.xml"] = xml
    files[SIGN + "SignedValue.dat"] = signed.signature


async def test_a_public_res_added_to_ofdrws_sealed_document_is_modified(
    stack,
    trusting_app,  # noqa: F811
):
    stub = stub_for(stack, trusting_app, "app:archive")
    src = zipfile.ZipFile(VECTORS / "V4RideRight.ofd")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            z.writestr(info, src.read(info))
        # Document.xml (signed) names PublicRes.xml, which the package lacked
        z.writestr(
            "Doc_0/PublicRes.xml",
            f'<ofd:Res {NS} BaseLoc="Res"><ofd:Fonts><ofd:Font ID="2" '
            'FontName="Evil" FontFile="evil.ttf"/></ofd:Fonts></ofd:Res>',
        )
        z.writestr("Doc_0/Res/evil.ttf", b"a font that draws other glyphs")
    [result] = await _verify(stub, out.getvalue())
    assert result.verdict == "MODIFIED", result.checks
    assert _failed(result) == ["references"]
    assert ("/Doc_0/PublicRes.xml", "unsigned") in [
        (r.file, r.status) for r in result.references
    ]
    assert not result.intact


async def test_a_seal_whose_references_leave_its_stamped_page_unsigned_is_not_valid(
    seal_stub, operator
):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal_id, files = await _sealed(stub)
    xml = files[SIGN + "Signature.xml"]
    assert b'PageRef="1"' in xml  # the stamp is on the first page
    kept = re.sub(
        rb'<ofd:Reference FileRef="/(?!Doc_0/Signs/Sign_0/Seal\.esl)[^"]*">'
        rb".*?</ofd:Reference>",
        b"",
        xml,
    )
    assert kept.count(b"<ofd:Reference ") == 1
    await _resigned(stub, seal_id, files, kept)
    page = "Doc_0/Pages/Page_0/Content.xml"
    files[page] = page_xml("不予许可决定书").encode()
    [result] = await _verify(stub, zip_files(files))
    assert result.verdict != "VALID", result.checks
    assert "references" in _failed(result)
    assert not result.intact


async def test_an_added_file_cannot_redirect_a_relative_reference(seal_stub, operator):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal_id, files = await _sealed(stub)
    # OFD.xml written relative, as producers that take locations from the root do
    xml = files[SIGN + "Signature.xml"].replace(
        b'FileRef="/OFD.xml"', b'FileRef="OFD.xml"'
    )
    await _resigned(stub, seal_id, files, xml)
    [before] = await _verify(stub, zip_files(files))
    assert before.verdict == "VALID", before.checks
    assert "/OFD.xml" in [r.file for r in before.references]
    # the attack: the signed OFD.xml kept beside Signature.xml, the real one swapped
    # for one whose DocRoot is a document the seal never saw
    original = files["OFD.xml"]
    files[SIGN + "OFD.xml"] = original
    files["OFD.xml"] = original.replace(b"Doc_0/Document.xml", b"Doc_1/Document.xml")
    files["Doc_1/Document.xml"] = files["Doc_0/Document.xml"]
    files["Doc_1/Pages/Page_0/Content.xml"] = page_xml("不予许可决定书").encode()
    files["Doc_1/Pages/Page_1/Content.xml"] = page_xml("（盖章处）").encode()
    assert ofd.open_document(read_package(zip_files(files))).doc_root == (
        "Doc_1/Document.xml"
    )
    [after] = await _verify(stub, zip_files(files))
    assert after.verdict != "VALID", (after.checks, list(after.references))
    assert not after.intact


def _signatures_xml(entries: int, filler: bytes = b"") -> bytes:
    listed = "".join(
        f'<ofd:Signature ID="s{i}" Type="Seal" BaseLoc="Sign_0/Signature.xml"/>'
        for i in range(entries)
    ).encode()
    return (
        f"<ofd:Signatures {NS}>".encode()
        + listed
        + filler
        + f"<ofd:MaxSignId>{entries}</ofd:MaxSignId></ofd:Signatures>".encode()
    )


def _unsigned_package(signature_xml: bytes, signatures_xml: bytes) -> bytes:
    files = unzip(make_ofd())
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"</ofd:DocRoot>",
        b"</ofd:DocRoot><ofd:Signatures>Doc_0/Signs/Signatures.xml</ofd:Signatures>",
    )
    files["Doc_0/Signs/Signatures.xml"] = signatures_xml
    files[SIGN + "Signature.xml"] = signature_xml
    return zip_files(files)


def _signature_xml(references: bytes) -> bytes:
    return (
        f'<ofd:Signature {NS}><ofd:SignedInfo><ofd:References CheckMethod="SM3">'.encode()
        + references
        + b"</ofd:References></ofd:SignedInfo>"
        b"<ofd:SignedValue>SignedValue.dat</ofd:SignedValue></ofd:Signature>"
    )


async def test_a_small_ofd_cannot_make_a_huge_reply(seal_stub):
    value = base64.b64encode(bytes(256 * 1024))
    package = _unsigned_package(
        _signature_xml(
            b'<ofd:Reference FileRef="/OFD.xml"><ofd:CheckValue>'
            + value
            + b"</ofd:CheckValue></ofd:Reference>"
        ),
        _signatures_xml(100),
    )
    assert len(package) < 4096
    try:
        reply = await seal_stub("app:archive").VerifyOfd(
            pb.VerifyOfdRequest(ofd=package)
        )
    except grpc.aio.AioRpcError as err:  # refused, naming the CheckValue: fine
        assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, err
        assert "CheckValue" in (err.details() or "")
        return
    assert reply.ByteSize() < 1024 * 1024, reply.ByteSize()


def test_signatures_xml_is_parsed_once_however_many_references_name_it(monkeypatch):
    reference = (
        b'<ofd:Reference FileRef="/Doc_0/Signs/Signatures.xml">'
        b"<ofd:CheckValue>AAAA</ofd:CheckValue></ofd:Reference>"
    )
    # a later entry of its own Signature.xml: one naming the same file is a copy,
    # no growth (atk39ofd F2)
    listing = _signatures_xml(2).replace(
        b'"s1" Type="Seal" BaseLoc="Sign_0/', b'"s1" Type="Seal" BaseLoc="Sign_1/'
    )
    package = read_package(_unsigned_package(_signature_xml(reference * 200), listing))
    document = ofd.signatures_document(package)
    entries, _ = ofd.signature_entries(document)
    signature = ofd.read_signature_file(package, entries[0].path)
    parsed: list[str] = []
    real = ofd_package.parse_xml

    def counting(data, name, field="ofd", **kw):
        parsed.append(name)
        return real(data, name, field, **kw)

    monkeypatch.setattr(ofd_package, "parse_xml", counting)
    results = ofd.check_references(document, signature, entries[0])
    listed = [r for r in results if r.file == "Doc_0/Signs/Signatures.xml"]
    assert len(listed) == 200
    assert {r.status for r in listed} == {"list grown"}
    # and what the references leave out (F2): the entry point and the document root
    assert [(r.file, r.status) for r in results if r not in listed] == [
        ("Doc_0/Document.xml", "unsigned"),
        ("OFD.xml", "unsigned"),
    ]
    assert parsed.count("Doc_0/Signs/Signatures.xml") <= 1, len(parsed)


def _declared(encoding: bytes):
    def edit(data: bytes) -> bytes:
        end = data.index(b"?>") + 2 if data.startswith(b"<?xml") else 0
        return b'<?xml version="1.0" encoding="' + encoding + b'"?>' + data[end:]

    return edit


@pytest.mark.parametrize(
    "encoding", [b"GBK", b"GB18030", b"x-no-such-encoding", b"Shift_JIS", b"rot13"]
)
@pytest.mark.parametrize(
    "name", ["OFD.xml", "Doc_0/Signs/Signatures.xml", SIGN + "Signature.xml"]
)
async def test_an_xml_encoding_declaration_is_never_internal(
    seal_stub, operator, name, encoding
):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    _seal_id, files = await _sealed(stub)
    files[name] = _declared(encoding)(files[name])
    try:
        [result] = await _verify(stub, zip_files(files))
    except grpc.aio.AioRpcError as err:
        assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, err.details()
        assert dict(err.trailing_metadata()).get("certseal-error-field") == "ofd"
        assert name != SIGN + "Signature.xml", "a damaged Signature.xml is MODIFIED"
        return
    assert result.verdict == "MODIFIED", result.checks


def _encoded(files: dict[str, bytes], encoding: str) -> dict[str, bytes]:
    """Every XML file of ``files`` written in ``encoding`` (and declaring it), as
    Chinese producers write GBK and GB 18030."""
    return {
        name: (
            data.decode("utf-8")
            .replace('encoding="UTF-8"', f'encoding="{encoding}"')
            .encode(encoding)
            if name.endswith(".xml")
            else data
        )
        for name, data in files.items()
    }


@pytest.mark.parametrize("encoding", ["GBK", "GB18030", "GB2312"])
async def test_an_ofd_written_in_a_chinese_encoding_is_sealed_and_verified(
    seal_stub, operator, encoding
):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal_id, _files = await _sealed(stub)
    files = _encoded(unzip(make_ofd()), encoding)
    assert "行政许可决定书".encode(encoding) in files["Doc_0/Pages/Page_0/Content.xml"]
    sealed = await stub.SealOfd(
        pb.SealOfdRequest(seal_id=seal_id, ofd=zip_files(files), keyword="盖章处")
    )
    assert sealed.page == 1  # the keyword was found in the GBK/GB 18030 text
    [result] = await _verify(stub, sealed.ofd)
    assert result.verdict == "VALID", result.checks
    changed = unzip(sealed.ofd)
    page = "Doc_0/Pages/Page_0/Content.xml"
    changed[page] = changed[page].replace(
        "行政许可决定书".encode(encoding), "不予许可决定书".encode(encoding)
    )
    [result] = await _verify(stub, zip_files(changed))
    assert result.verdict == "MODIFIED", result.checks


@pytest.mark.parametrize(
    "encoding",
    [b"x-no-such-encoding", b"Shift_JIS", b"UTF-32", b"base64", b"HZ", b"ISO-2022-JP"],
)
async def test_sealing_an_ofd_of_an_unusable_encoding_names_ofd(
    seal_stub, operator, encoding
):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal_id, _files = await _sealed(stub)
    files = unzip(make_ofd())
    files["OFD.xml"] = _declared(encoding)(files["OFD.xml"])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SealOfd(pb.SealOfdRequest(seal_id=seal_id, ofd=zip_files(files)))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert dict(err.value.trailing_metadata()).get("certseal-error-field") == "ofd"
    assert "OFD.xml" in err.value.details()
    assert encoding.decode() in err.value.details()


def _needs_version(package: bytes, version: int) -> bytes:
    """``package`` with every central directory entry's 'version needed to extract'
    set to ``version`` (APPNOTE 4.4.3: 63 is the highest zipfile reads)."""
    out = bytearray(package)
    at = out.find(b"PK\x01\x02")
    while at != -1:
        out[at + 6 : at + 8] = version.to_bytes(2, "little")
        at = out.find(b"PK\x01\x02", at + 4)
    return bytes(out)


@pytest.mark.parametrize("rpc", ["VerifyOfd", "SealOfd"])
async def test_a_zip_needing_a_later_version_is_invalid_argument(
    seal_stub, operator, rpc
):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal_id, _files = await _sealed(stub)
    package = _needs_version(make_ofd(), 100)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        if rpc == "VerifyOfd":
            await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=package))
        else:
            await stub.SealOfd(pb.SealOfdRequest(seal_id=seal_id, ofd=package))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert dict(err.value.trailing_metadata()).get("certseal-error-field") == "ofd"


async def test_a_later_entry_that_is_no_signature_does_not_leave_the_seal_valid(
    seal_stub, operator
):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    _seal_id, files = await _sealed(stub)
    [before] = await _verify(stub, zip_files(files))
    assert before.verdict == "VALID"
    later = "Doc_0/Signs/Sign_1/"
    files["Doc_0/Signs/Signatures.xml"] = files["Doc_0/Signs/Signatures.xml"].replace(
        b"<ofd:MaxSignId>",
        b'<ofd:Signature ID="s900" Type="Seal" BaseLoc="Sign_1/Signature.xml"/>'
        b"<ofd:MaxSignId>",
    )
    files[later + "Seal.esl"] = (VECTORS / "UserV4.esl").read_bytes()
    files[later + "SignedValue.dat"] = b"not an SES_Signature"
    files[later + "Signature.xml"] = (
        f"<ofd:Signature {NS}><ofd:SignedInfo><ofd:Seal><ofd:BaseLoc>"
        f"/{later}Seal.esl</ofd:BaseLoc></ofd:Seal>"
        '<ofd:StampAnnot ID="s901" PageRef="1" Boundary="0 0 210 297"/>'
        '<ofd:References CheckMethod="SM3"/></ofd:SignedInfo>'
        f"<ofd:SignedValue>/{later}SignedValue.dat</ofd:SignedValue></ofd:Signature>"
    ).encode()
    first, added = await _verify(stub, zip_files(files))
    assert added.verdict == "MALFORMED"
    assert list(added.stamp_pages) == ["1"]
    assert first.verdict != "VALID", [(r.file, r.status) for r in first.references]


def _with_entry_outside_the_directory(package: bytes, name: str, data: bytes) -> bytes:
    """``package`` with one more stored entry ``name`` written between the last entry
    and the central directory, which does not list it (the EOCD's directory offset
    moved past it): readers of the central directory (Python's zipfile) never see it;
    readers of the local headers in order (commons-compress's ZipArchiveInputStream,
    which ofdrw-reader's ZipUtil unzips with) meet it last, over the listed one."""
    eocd = package.rindex(b"PK\x05\x06")
    size = int.from_bytes(package[eocd + 12 : eocd + 16], "little")
    start = int.from_bytes(package[eocd + 16 : eocd + 20], "little")
    encoded = name.encode()
    crc = zlib.crc32(data)
    local = (
        b"PK\x03\x04"
        + struct.pack(
            "<HHHHHIIIHH", 20, 0, 0, 0, 0, crc, len(data), len(data), len(encoded), 0
        )
        + encoded
    )
    inserted = local + data
    moved = start + len(inserted)
    tail = (
        package[eocd : eocd + 16] + moved.to_bytes(4, "little") + package[eocd + 20 :]
    )
    return (
        package[:start]
        + inserted
        + package[start : start + size]
        + package[start + size : eocd]
        + tail
    )


def _streamed(package: bytes) -> dict[str, bytes]:
    """The files as a reader of local headers in order sees them (stored entries and
    deflated ones whose sizes the local header gives), the last of a name winning."""
    files: dict[str, bytes] = {}
    at = 0
    while package[at : at + 4] == b"PK\x03\x04":
        (_v, flags, method, _t, _d, _crc, csize, _usize, nlen, xlen) = struct.unpack(
            "<HHHHHIIIHH", package[at + 4 : at + 30]
        )
        name = package[at + 30 : at + 30 + nlen].decode()
        body = at + 30 + nlen + xlen
        raw = package[body : body + csize]
        files[name] = raw if method == 0 else zlib.decompress(raw, -15)
        at = body + csize + (16 if flags & 0x08 else 0)
    return files


async def test_an_entry_outside_the_central_directory_is_not_valid(seal_stub, operator):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    _seal_id, files = await _sealed(stub)
    sealed = zip_files(files, zipfile.ZIP_STORED)
    page = "Doc_0/Pages/Page_0/Content.xml"
    forged = page_xml("不予许可决定书").encode()
    package = _with_entry_outside_the_directory(sealed, page, forged)
    # the two views of the same bytes
    assert unzip(package)[page] == files[page]
    assert _streamed(package)[page] == forged
    try:
        [result] = await _verify(stub, package)
    except grpc.aio.AioRpcError as err:  # refused, naming the package: fine
        assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, err.details()
        assert dict(err.trailing_metadata()).get("certseal-error-field") == "ofd"
        return
    assert result.verdict != "VALID", result.checks


def _incompressible_enough(seed: int, size: int) -> bytes:
    """Zeros with a random byte every 850: deflate shrinks it about 185 times, under
    read_package's ratio bound of 200."""
    rnd = random.Random(seed)
    data = bytearray(size)
    for i in range(0, size, 850):
        data[i] = rnd.randrange(256)
    return bytes(data)


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def test_concurrent_small_ofds_cannot_hold_gigabytes(seal_stub):
    files = unzip(make_ofd())
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"</ofd:DocRoot>",
        b"</ofd:DocRoot><ofd:Signatures>Doc_0/Signs/Signatures.xml</ofd:Signatures>",
    )
    # signatures to verify keep each request, and its package, alive a while
    files["Doc_0/Signs/Signatures.xml"] = _signatures_xml(100)
    files[SIGN + "Signature.xml"] = _signature_xml(
        b'<ofd:Reference FileRef="/OFD.xml"><ofd:CheckValue>AAAA</ofd:CheckValue>'
        b"</ofd:Reference>"
    )
    files[SIGN + "SignedValue.dat"] = b"not an SES_Signature"
    for n in range(3):  # unsigned resources nobody draws: read all the same
        files[f"Doc_0/Res/r{n}.bin"] = _incompressible_enough(n, 56 * 2**20)
    package = zip_files(files)
    del files
    assert len(package) < 2**20  # a light request
    stub = seal_stub("app:archive")
    baseline = peak = _rss_mib()
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss_mib())
            await asyncio.sleep(0.02)

    async def one() -> str:
        try:
            await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=package))
            return "OK"
        except grpc.aio.AioRpcError as err:  # a busy service may refuse: fine
            assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, err.details()
            return "RESOURCE_EXHAUSTED"

    watcher = asyncio.create_task(watch())
    try:
        answers = await asyncio.gather(*[one() for _ in range(12)])
    finally:
        done.set()
        await watcher
    assert "OK" in answers
    assert peak - baseline < 768, (peak - baseline, answers)
