"""One reading of an OFD's ZIP (atk15 F14, F10): every ZIP reader must see the same
files, or the package is refused (INVALID_ARGUMENT ``ofd``). Readers of the central
directory (Python's zipfile, Java's ZipFile) and readers of the local headers in order
(commons-compress's ZipArchiveInputStream, which ofdrw-reader unzips with) must not be
able to open two different documents from the same bytes."""

from __future__ import annotations

import io
import itertools
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from certseal.errors import CertsealError, ErrorKind
from services.seal import ofd_zip
from services.seal.ofd_package import read_package
from services.seal.ofd_zip import declared_size
from tests.seal.ofd_samples import make_ofd, unzip, zip_files

VECTORS = Path(__file__).parent / "data" / "ofdrw"
PAGE = "Doc_0/Pages/Page_0/Content.xml"


def refused(data: bytes) -> str:
    with pytest.raises(CertsealError) as err:
        read_package(data)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert err.value.field == "ofd"
    return err.value.message


def _central(data: bytes) -> list[int]:
    """Offsets of the central directory headers."""
    found, at = [], data.find(b"PK\x01\x02")
    while at != -1:
        found.append(at)
        at = data.find(b"PK\x01\x02", at + 4)
    return found


def _eocd(data: bytes) -> int:
    return data.rindex(b"PK\x05\x06")


def _patched(data: bytes, at: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, value)
    return bytes(out)


def _shift_directory(data: bytes, inserted: bytes, where: int) -> bytes:
    """``data`` with ``inserted`` at ``where`` (before the directory), the directory's
    offsets after it moved so that a central-directory reader still reads it."""
    eocd = _eocd(data)
    start = int.from_bytes(data[eocd + 16 : eocd + 20], "little")
    out = bytearray(data[:where] + inserted + data[where:])
    shift = len(inserted)
    for at in _central(bytes(out)):
        offset = int.from_bytes(out[at + 42 : at + 46], "little")
        if offset >= where:
            struct.pack_into("<L", out, at + 42, offset + shift)
    eocd += shift
    struct.pack_into("<L", out, eocd + 16, start + shift)
    return bytes(out)


def _stored_entry(name: str, data: bytes) -> bytes:
    encoded = name.encode()
    return (
        b"PK\x03\x04"
        + struct.pack(
            "<HHHHHIIIHH",
            20,
            0,
            0,
            0,
            0,
            zlib.crc32(data),
            len(data),
            len(data),
            len(encoded),
            0,
        )
        + encoded
        + data
    )


def test_the_ofdrw_vectors_and_certseals_own_packages_are_read():
    for name in ("V4RideRight.ofd", "SESV4SignDoc.ofd"):
        data = (VECTORS / name).read_bytes()
        assert read_package(data).files.keys() == {
            i.filename.rstrip("/")
            for i in zipfile.ZipFile(io.BytesIO(data)).infolist()
            if not i.is_dir()
        }
        assert declared_size(data) == sum(
            i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist()
        )
    files = unzip(make_ofd())
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        assert dict(read_package(zip_files(files, method)).files) == files


def test_entries_with_data_descriptors_are_read():
    """zipfile writes data descriptors (flag bit 3) to a stream it cannot seek,
    as streaming producers do."""

    class Unseekable(io.RawIOBase):
        def __init__(self) -> None:
            self.out = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b) -> int:  # type: ignore[override]
            self.out += b
            return len(b)

    files = unzip(make_ofd())
    sink = Unseekable()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            with archive.open(name, "w") as stream:
                stream.write(data)
    data = bytes(sink.out)
    assert zipfile.ZipFile(io.BytesIO(data)).infolist()[0].flag_bits & 0x08
    assert dict(read_package(data).files) == files


def test_a_large_resource_is_inflated_when_read_not_held():
    big = bytes(range(256)) * 4096  # 1 MiB, over HELD_BYTES
    files = unzip(make_ofd()) | {"Doc_0/Res/image.bin": big}
    package = read_package(zip_files(files))
    assert "Doc_0/Res/image.bin" in package.files
    assert package.files["Doc_0/Res/image.bin"] == big
    assert package.get("Doc_0/Res/none.bin") is None
    assert len(package.files) == len(files)


def test_an_unlisted_entry_before_the_directory_is_refused():
    data = zip_files(unzip(make_ofd()), zipfile.ZIP_STORED)
    eocd = _eocd(data)
    start = int.from_bytes(data[eocd + 16 : eocd + 20], "little")
    forged = _shift_directory(data, _stored_entry(PAGE, b"<forged/>"), start)
    assert zipfile.ZipFile(io.BytesIO(forged)).read(PAGE) == unzip(data)[PAGE]
    assert "listed by no entry" in refused(forged)


@pytest.mark.parametrize("index", [0, 1, 3])
def test_an_unlisted_entry_between_or_before_entries_is_refused(index):
    data = zip_files(unzip(make_ofd()), zipfile.ZIP_STORED)
    where = int.from_bytes(data[_central(data)[index] + 42 :][:4], "little")
    forged = _shift_directory(data, _stored_entry(PAGE, b"<forged/>"), where)
    zipfile.ZipFile(io.BytesIO(forged)).testzip()  # zipfile reads it happily
    assert "previous entry" in refused(forged)


def test_bytes_before_the_zip_are_refused():
    data = make_ofd()
    # zipfile finds a ZIP after a prefix (a self-extracting archive) by itself
    forged = b"MZ" + bytes(100) + data
    assert zipfile.ZipFile(io.BytesIO(forged)).read("OFD.xml")
    assert "central directory" in refused(forged)


def test_bytes_after_the_end_record_or_a_second_end_record_are_refused():
    data = make_ofd()
    assert "end of central directory" in refused(data + b"trailing bytes")
    eocd = _eocd(data)
    for comment in (data[eocd:] + b" ", b"a comment " + data[eocd:-2] + b"\0\0 "):
        commented = _patched(data, eocd + 20, "<H", len(comment)) + comment
        assert "second end" in refused(commented)
    # a second end record as the comment, ending the file: two directories to take
    second = data[eocd:]
    refused(_patched(data, eocd + 20, "<H", len(second)) + second)


def test_a_directory_in_another_order_than_its_entries_is_read():
    """ofdrw-sign's signedFile.ofd and others list entries in another order than the
    file holds them (atk15c F1); two directory headers at one entry are refused."""
    data = zip_files(unzip(make_ofd()), zipfile.ZIP_STORED)
    eocd = _eocd(data)
    start = int.from_bytes(data[eocd + 16 : eocd + 20], "little")
    headers = [*_central(data), eocd]
    records = [data[a:b] for a, b in itertools.pairwise(headers)]
    for order in (records[1:2] + records[0:1] + records[2:], records[::-1]):
        moved = data[:start] + b"".join(order) + data[eocd:]
        assert dict(read_package(moved).files) == unzip(data)
    # the second header names the first entry's offset: one entry read twice
    twice = bytearray(records[1])
    twice[42:46] = records[0][42:46]
    forged = data[:start] + records[0] + bytes(twice) + b"".join(records[2:])
    assert "previous entry" in refused(forged + data[eocd:])


@pytest.mark.parametrize(
    ("at", "fmt", "value", "what"),
    [
        (14, "<L", 0x12345678, "CRC"),
        (18, "<L", 1, "compressed size"),
        (22, "<L", 1, "size"),
        (6, "<H", 0x0800 | 0x0002, "flags"),
        (8, "<H", 0, "method"),
    ],
)
def test_a_local_header_that_differs_from_the_directory_is_refused(
    at, fmt, value, what
):
    data = make_ofd()
    offset = int.from_bytes(data[_central(data)[1] + 42 :][:4], "little")
    assert "differ" in refused(_patched(data, offset + at, fmt, value)), what


def test_a_local_name_that_differs_from_the_directory_is_refused():
    data = make_ofd()
    name = zipfile.ZipFile(io.BytesIO(data)).infolist()[1].filename.encode()
    offset = int.from_bytes(data[_central(data)[1] + 42 :][:4], "little")
    other = name[:-1] + (b"X" if name[-1:] != b"X" else b"Y")
    forged = data[: offset + 30] + other + data[offset + 30 + len(other) :]
    assert "differ" in refused(forged)


def test_a_deflate_stream_ending_before_its_data_is_refused():
    content = b"".join(f"line {i % 37} of {i % 11}\n".encode() for i in range(400))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("OFD.xml", b"<OFD/>")
        archive.writestr("x.bin", content)
    data = out.getvalue()
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo("x.bin")
    stream = zlib.compressobj(9, zlib.DEFLATED, -15)
    short = stream.compress(content) + stream.flush()
    assert len(short) < info.compress_size
    # a reader that stops at the stream's end reads the same file; the rest is hidden
    padded = short + b"\0" * (info.compress_size - len(short))
    start = info.header_offset + 30 + len(b"x.bin")
    forged = data[:start] + padded + data[start + info.compress_size :]
    assert "deflate data does not end" in refused(forged)


@pytest.mark.parametrize(
    "names",
    [
        ("Doc_0/Pages/Page_0/Content.xml", "doc_0/pages/page_0/content.xml"),
        ("OFD.xml", "ofd.XML"),
        ("Doc_0/Res", "Doc_0/Res/image.png"),
        ("Doc_0/page", "doc_0/PAGE/x.xml"),
    ],
)
def test_names_equal_ignoring_case_or_a_file_also_a_folder_are_refused(names):
    files = {"OFD.xml": b"<OFD/>"} | {name: b"<x/>" for name in names}
    message = refused(zip_files(files))
    assert "ignoring case" in message or "folder" in message


def _with_unicode_path(name: str, alias: str) -> bytes:
    extra = (
        struct.pack("<HHB", 0x7075, 5 + len(alias.encode()), 1)
        + zlib.crc32(name.encode()).to_bytes(4, "little")
        + alias.encode()
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("OFD.xml", b"<OFD/>")
        info = zipfile.ZipInfo(name)
        info.extra = extra
        archive.writestr(info, b"<x/>")
    return out.getvalue()


def test_a_unicode_path_field_naming_another_file_is_refused():
    assert "Unicode Path" in refused(_with_unicode_path("a.xml", PAGE))


def test_a_unicode_path_field_of_the_same_name_is_read():
    assert "a.xml" in read_package(_with_unicode_path("a.xml", "a.xml")).files


def test_a_name_neither_utf8_nor_flagged_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("OFD.xml", b"<OFD/>")
        archive.writestr("Doc_0/GBKNAME.xml", b"<x/>")
    gbk = "示例.xml".encode("gbk")
    data = out.getvalue().replace(b"GBKNAME.xml", gbk.ljust(len(b"GBKNAME.xml"), b"_"))
    assert "not ASCII and not flagged UTF-8" in refused(data)


@pytest.mark.parametrize("version", [64, 100])
def test_an_entry_needing_a_later_zip_version_is_refused(version):
    data = make_ofd()
    forged = _patched(data, _central(data)[0] + 6, "<H", version)
    assert "needs ZIP version" in refused(forged)


def test_encrypted_entries_and_other_methods_are_refused():
    data = make_ofd()
    central = _central(data)[0]
    offset = int.from_bytes(data[central + 42 :][:4], "little")
    flags = int.from_bytes(data[central + 8 : central + 10], "little") | 1
    forged = _patched(_patched(data, central + 8, "<H", flags), offset + 6, "<H", flags)
    assert "encrypted" in refused(forged)
    bz = io.BytesIO()
    with zipfile.ZipFile(bz, "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("OFD.xml", b"<OFD/>")
    assert "compression method 12" in refused(bz.getvalue())


def test_zip64_that_agrees_is_read_and_zip64_that_defers_to_nothing_refused():
    data = make_ofd()
    message = refused(_patched(data, _central(data)[0] + 20, "<L", 0xFFFFFFFF))
    assert "ZIP64" in message
    out = io.BytesIO()
    with (
        zipfile.ZipFile(out, "w", allowZip64=True) as archive,
        archive.open("OFD.xml", "w", force_zip64=True) as stream,
    ):
        stream.write(b"<OFD/>")
    assert read_package(out.getvalue()).files["OFD.xml"] == b"<OFD/>"


def test_every_refusal_of_a_damaged_directory_names_ofd():
    """Cut or overwrite the directory anywhere: INVALID_ARGUMENT ``ofd``, never
    another exception."""
    data = make_ofd()
    start = _central(data)[0]
    for at in range(start, len(data), 3):
        for forged in (data[:at], data[:at] + b"\xff" + data[at + 1 :]):
            try:
                read_package(forged)
            except CertsealError as exc:
                assert exc.kind is ErrorKind.INVALID_ARGUMENT and exc.field == "ofd"
    assert ofd_zip.MAX_ZIP_VERSION == 63


@pytest.mark.parametrize("kept", [30, 200, 0.5, 0.9])
def test_an_ofd_cut_short_is_said_to_be_cut_short(kept):
    """trial49: the first 5,000 bytes of a sealed OFD were refused as "bytes after
    the ZIP?", the opposite guess; a PDF cut short is told to be got whole again."""
    data = make_ofd()
    cut = data[: kept if isinstance(kept, int) else int(len(data) * kept)]
    said = refused(cut)
    assert "without its end: it looks cut short" in said, said
    assert "get the whole file again" in said, said
    # bytes after a whole ZIP are still said as such
    assert "bytes after the ZIP?" in refused(data + b"trailing bytes")
