"""atk15c: today's OFD seal-verification fixes attacked from outside.

Each finding is an xfail(strict=True) test until it is fixed.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import grpc
import pytest

from certseal.v1 import seal_pb2 as pb
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401

VECTORS = Path(__file__).parent / "data" / "ofdrw"
NS = 'xmlns:ofd="http://www.ofdspec.org/2016"'


async def _verify(stub, package: bytes) -> list[pb.OfdSignatureResult]:
    return list((await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=package))).signatures)


def _ride_right_with(added: dict[str, bytes]) -> bytes:
    src = zipfile.ZipFile(VECTORS / "V4RideRight.ofd")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            z.writestr(info, src.read(info))
        for name, data in added.items():
            z.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("res", "font"),
    [
        ("Doc_0/publicres.xml", "Doc_0/Res/evil.ttf"),
        ("DOC_0/PUBLICRES.XML", "doc_0/res/EVIL.TTF"),
        ("doc_0/PublicRes.xml", "Doc_0/RES/evil.ttf"),
    ],
)
async def test_a_file_added_under_another_case_of_a_signed_name_is_modified(
    res,
    font,
    stack,
    trusting_app,  # noqa: F811
):
    stub = stub_for(stack, trusting_app, "app:archive")
    # ofdrw's signed Document.xml names PublicRes.xml, which its package lacks
    package = _ride_right_with(
        {
            res: (
                f'<ofd:Res {NS} BaseLoc="Res"><ofd:Fonts><ofd:Font ID="2" '
                'FontName="Evil" FontFile="evil.ttf"/></ofd:Fonts></ofd:Res>'
            ).encode(),
            font: b"a font that draws other glyphs",
        }
    )
    [result] = await _verify(stub, package)
    assert result.verdict != "VALID", result.checks
    assert not result.intact


def _build_zip(
    files: dict[str, bytes],
    *,
    local_utf8_flag: bool = False,
    local_zip64: bool = False,
    directory_reversed: bool = False,
) -> bytes:
    """A ZIP of ``files`` (deflated) as some real producers write it: the UTF-8 flag
    on the local headers only (names are ASCII); commons-compress's seekable output
    (local sizes 0xFFFFFFFF with a ZIP64 extra field of the real sizes, version 4.5,
    the directory plain); a central directory in another order than the entries."""
    out = bytearray()
    directory = []
    for name, data in files.items():
        raw = name.encode()
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)
        packed = packer.compress(data) + packer.flush()
        crc = zlib.crc32(data)
        flags = 0x800 if local_utf8_flag else 0
        extra = b""
        sizes = (len(packed), len(data))
        needed = 20
        if local_zip64:
            extra = struct.pack("<2H2Q", 1, 16, len(data), len(packed))
            sizes = (0xFFFFFFFF, 0xFFFFFFFF)
            needed = 45
        offset = len(out)
        out += struct.pack(
            "<4s5H3L2H",
            b"PK\x03\x04",
            needed,
            flags,
            8,
            0,
            0x21,
            crc,
            *sizes,
            len(raw),
            len(extra),
        )
        out += raw + extra + packed
        directory.append(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                0,
                8,
                0,
                0x21,
                crc,
                len(packed),
                len(data),
                len(raw),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + raw
        )
    if directory_reversed:
        directory.reverse()
    start = len(out)
    out += b"".join(directory)
    out += struct.pack(
        "<4s4H2LH",
        b"PK\x05\x06",
        0,
        0,
        len(directory),
        len(directory),
        len(out) - start,
        start,
        0,
    )
    return bytes(out)


@pytest.mark.parametrize(
    "shape", ["directory_reversed", "local_utf8_flag", "local_zip64"]
)
async def test_an_ofd_zipped_as_real_producers_do_is_verified(
    shape,
    stack,
    trusting_app,  # noqa: F811
):
    stub = stub_for(stack, trusting_app, "app:archive")
    src = zipfile.ZipFile(VECTORS / "V4RideRight.ofd")
    files = {i.filename: src.read(i) for i in src.infolist() if not i.is_dir()}
    package = _build_zip(files, **{shape: True})
    assert {n: zipfile.ZipFile(io.BytesIO(package)).read(n) for n in files} == files
    [result] = await _verify(stub, package)
    assert result.verdict == "VALID", result.checks


def _zip_raw(entries: list[tuple[bytes, bytes, int, bytes]]) -> bytes:
    """A ZIP of (raw name, data, flags, extra) entries, deflated, in this order."""
    out = bytearray()
    directory = bytearray()
    for raw, data, flags, extra in entries:
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)
        packed = packer.compress(data) + packer.flush()
        crc = zlib.crc32(data)
        offset = len(out)
        out += struct.pack(
            "<4s5H3L2H",
            b"PK\x03\x04",
            20,
            flags,
            8,
            0,
            0x21,
            crc,
            len(packed),
            len(data),
            len(raw),
            len(extra),
        )
        out += raw + extra + packed
        directory += struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            20,
            20,
            flags,
            8,
            0,
            0x21,
            crc,
            len(packed),
            len(data),
            len(raw),
            len(extra),
            0,
            0,
            0,
            0,
            offset,
        )
        directory += raw + extra
    start = len(out)
    out += directory
    out += struct.pack(
        "<4s4H2LH",
        b"PK\x05\x06",
        0,
        0,
        len(entries),
        len(entries),
        len(directory),
        start,
        0,
    )
    return bytes(out)


async def test_a_unicode_path_field_cannot_alias_a_signed_files_name(
    seal_stub, operator
):
    from tests.conftest import seal_owner
    from tests.seal.ofd_samples import make_ofd, page_xml, unzip, zip_files

    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    files = unzip(make_ofd())
    page = "Doc_0/Pages/第1页/Content.xml"
    files[page] = files.pop("Doc_0/Pages/Page_0/Content.xml")
    files["Doc_0/Document.xml"] = files["Doc_0/Document.xml"].replace(
        b"Pages/Page_0/Content.xml", "Pages/第1页/Content.xml".encode()
    )
    seal = (
        await stub.RegisterSeal(
            pb.RegisterSealRequest(seal_type="official", name="示例局", suite="sm2")
        )
    ).seal
    sealed = await stub.SealOfd(
        pb.SealOfdRequest(seal_id=seal.seal_id, ofd=zip_files(files))
    )
    [before] = await _verify(stub, sealed.ofd)
    assert before.verdict == "VALID", before.checks
    entries = [
        (name.encode(), data, 0 if name.isascii() else 0x800, b"")
        for name, data in unzip(sealed.ofd).items()
    ]
    raw = page.encode()  # the signed page's name, as its bytes
    alias = b"\x01" + struct.pack("<L", zlib.crc32(raw)) + b"Doc_0/unused.xml"
    entries.append(
        (
            raw,
            page_xml("不予许可决定书").encode(),
            0,  # not flagged UTF-8
            struct.pack("<2H", 0x7075, len(alias)) + alias,
        )
    )
    forged = _zip_raw(entries)
    # java.util.zip (ZipInputStream and ZipFile) lists the page twice, and a reader
    # that unpacks in order (ofdrw's ZipUtil) keeps the later, forged one; Python's
    # zipfile reads the name as cp437, a third name
    await _refused_or_not_valid(stub, forged)


async def _refused_or_not_valid(stub, package: bytes) -> str:
    """Either the request's INVALID_ARGUMENT naming ``ofd`` (its details returned),
    or a seal that is not VALID."""
    try:
        [result] = await _verify(stub, package)
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, exc
        assert exc.details().startswith("ofd: "), exc.details()
        return exc.details()
    assert result.verdict != "VALID", result.checks
    return result.verdict


def _deep_names(entries: int) -> bytes:
    """A stored ZIP of ``entries`` empty files, each named by 1,000 characters of
    500 nested folders, each name in a folder of its own."""
    listed = []
    for i in range(entries):
        name = (f"{i:05d}/" + "a/" * 500 + "x.bin").encode()
        listed.append((name, b"", 0, b""))
    out = bytearray()
    directory = bytearray()
    for raw, _data, flags, _extra in listed:
        offset = len(out)
        out += struct.pack(
            "<4s5H3L2H", b"PK\x03\x04", 10, flags, 0, 0, 0, 0, 0, 0, len(raw), 0
        )
        out += raw
        directory += struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            10,
            10,
            flags,
            0,
            0,
            0,
            0,
            0,
            0,
            len(raw),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        directory += raw
    start = len(out)
    out += directory
    out += struct.pack(
        "<4s4H2LH",
        b"PK\x05\x06",
        0,
        0,
        len(listed),
        len(listed),
        len(directory),
        start,
        0,
    )
    return bytes(out)


def test_deep_entry_names_cost_memory_linear_in_the_request():
    import tracemalloc

    from certseal.errors import CertsealError
    from services.seal.ofd_package import read_package

    package = _deep_names(300)
    tracemalloc.start()
    try:
        read_package(package)
    except CertsealError:
        pass  # refused is fine: what matters is what reading it held
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 16 * len(package), (peak, len(package))


async def test_an_ofd_declared_gb2312_holding_gbk_characters_is_sealed(
    seal_stub, operator
):
    from tests.conftest import seal_owner
    from tests.seal.ofd_samples import make_ofd, unzip, zip_files

    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    files = unzip(make_ofd())
    text = files["OFD.xml"].decode()
    text = text.replace('encoding="UTF-8"', 'encoding="GB2312"', 1).replace(
        "</ofd:DocID>", "</ofd:DocID><ofd:Author>王喆</ofd:Author>", 1
    )
    assert 'encoding="GB2312"' in text
    files["OFD.xml"] = text.encode("gbk")
    seal = (
        await stub.RegisterSeal(
            pb.RegisterSealRequest(seal_type="official", name="示例局", suite="sm2")
        )
    ).seal
    sealed = await stub.SealOfd(
        pb.SealOfdRequest(seal_id=seal.seal_id, ofd=zip_files(files))
    )
    [result] = await _verify(stub, sealed.ofd)
    assert result.verdict == "VALID", result.checks


def test_names_deeper_than_the_limit_are_refused_and_clashes_found_linearly():
    from certseal.errors import CertsealError
    from services.seal.ofd_package import MAX_OFD_NAME_DEPTH, read_package
    from tests.seal.ofd_samples import make_ofd, unzip, zip_files

    files = unzip(make_ofd())
    deep = "Doc_0/" + "a/" * MAX_OFD_NAME_DEPTH + "x.bin"
    with pytest.raises(CertsealError) as err:
        read_package(zip_files(files | {deep: b"x"}))
    assert f"more than {MAX_OFD_NAME_DEPTH} folders deep" in err.value.message
    just = "Doc_0/" + "a/" * (MAX_OFD_NAME_DEPTH - 1) + "x.bin"
    assert just in read_package(zip_files(files | {just: b"x"})).files
    # a file that is a folder of a name far below it, "/" sorting after "-" and "."
    for names in (("Doc_0/a", "Doc_0/a-b", "Doc_0/a.c", "Doc_0/a/b/c/d/e.xml"),):
        with pytest.raises(CertsealError) as err:
            read_package(zip_files(files | dict.fromkeys(names, b"x")))
        assert "both as a file and as a folder" in err.value.message
    siblings = ("Doc_0/a", "Doc_0/a-b/c.xml", "Doc_0/a.c/d.xml", "Doc_0/ab/e.xml")
    assert read_package(zip_files(files | dict.fromkeys(siblings, b"x")))


def test_many_names_just_within_the_depth_limit_cost_memory_linear():
    import tracemalloc

    from services.seal.ofd_package import MAX_OFD_NAME_DEPTH, read_package

    names = [
        f"{i:05d}/" + "abcdefghijklmno/" * (MAX_OFD_NAME_DEPTH - 2) + "x.bin"
        for i in range(300)
    ]
    package = _zip_raw([(name.encode(), b"", 0, b"") for name in names])
    tracemalloc.start()
    try:
        read_package(package)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 16 * len(package), (peak, len(package))


@pytest.mark.parametrize("label", ["GB2312", "gb2312", "GBK", "CP936", "GB18030"])
def test_xml_declared_in_a_gb_encoding_is_read_as_gb18030(label):
    from services.seal.ofd_package import parse_xml

    text = f'<?xml version="1.0" encoding="{label}"?><a>王喆 朱镕基 €</a>'
    root = parse_xml(text.encode("gb18030"), "OFD.xml")
    assert root.text == "王喆 朱镕基 €"


def _unicode_path(raw: bytes, name: bytes) -> bytes:
    field = b"\x01" + struct.pack("<L", zlib.crc32(raw)) + name
    return struct.pack("<2H", 0x7075, len(field)) + field


@pytest.mark.parametrize(
    ("raw", "flags", "extra", "refusal"),
    [
        ("第1页.xml".encode("gbk"), 0, b"", "not flagged UTF-8"),
        ("第1页.xml".encode(), 0, b"", "not flagged UTF-8"),
        ("第1页.xml".encode(), 0, "第1页.xml".encode(), "not flagged UTF-8"),
        ("第1页.xml".encode("gbk"), 0, "第1页.xml".encode(), "not flagged UTF-8"),
        ("第1页.xml".encode(), 0x800, b"unused.xml", "Unicode Path"),
        (b"page.xml", 0, b"unused.xml", "Unicode Path"),
        (b"page.xml", 0x800, "第1页.xml".encode(), "Unicode Path"),
        ("第1页.xml".encode(), 0x800, "第1页.xml".encode(), None),
        (b"page.xml", 0, b"page.xml", None),
    ],
)
def test_a_name_is_read_one_way_or_refused(raw, flags, extra, refusal):
    from certseal.errors import CertsealError
    from services.seal.ofd_package import read_package

    field = _unicode_path(raw, extra) if extra else b""
    package = _zip_raw([(b"OFD.xml", b"<OFD/>", 0, b""), (raw, b"<x/>", flags, field)])
    if refusal is None:
        assert raw.decode() in read_package(package).files
        return
    with pytest.raises(CertsealError) as err:
        read_package(package)
    assert refusal in err.value.message
