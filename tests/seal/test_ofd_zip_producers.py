"""ZIPs as real producers write them are read one way (atk15c F1, F2): ZIP64 records
for small files (commons-compress, Python's force_zip64, ``zip -fz``), stored entries
with data descriptors (Go's archive/zip, streaming writers), the UTF-8 flag on one
header only for an ASCII name; and what would give two readings is still refused."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zipfile
import zlib

import pytest

from services.seal.ofd_package import read_package
from services.seal.ofd_zip import declared_size
from tests.seal.ofd_samples import make_ofd, unzip
from tests.seal.test_ofd_zip_reading import refused

FILES = unzip(make_ofd())


def build(
    files: dict[str, bytes],
    *,
    local64: bool = False,
    central64: int = 0,
    end64: bool = False,
    descriptor: bool = False,
    descriptor64: bool = False,
    stored: bool = False,
    local_flags: int = 0,
    central_flags: int = 0,
    tamper=None,
) -> bytes:
    """A ZIP of ``files``: ``local64`` local sizes 0xFFFFFFFF and a ZIP64 field;
    ``central64`` the first n of (size, compressed size, offset) deferred to a ZIP64
    field in the directory; ``end64`` a ZIP64 end record and locator; ``descriptor``
    data descriptors (ZIP64-sized when ``descriptor64``). ``tamper(kind, values)``
    may change a header's values before it is packed."""
    tamper = tamper or (lambda kind, values: values)
    out = bytearray()
    directory = bytearray()
    for name, data in files.items():
        raw = name.encode()
        if stored:
            packed, method = data, 0
        else:
            packer = zlib.compressobj(6, zlib.DEFLATED, -15)
            packed, method = packer.compress(data) + packer.flush(), 8
        crc = zlib.crc32(data)
        flags = 0x08 if descriptor else 0
        utf8 = 0 if raw.isascii() else 0x800
        offset = len(out)
        lcrc, lcsize, lusize = (
            (0, 0, 0) if descriptor else (crc, len(packed), len(data))
        )
        lextra = b""
        if local64:
            lextra = struct.pack("<2H2Q", 1, 16, lusize, lcsize)
            lcsize = lusize = 0xFFFFFFFF
        needed = 45 if local64 else 20
        local_values = [needed, flags | utf8 | local_flags, method, lcrc, lcsize]
        local = tamper("local", [*local_values, lusize, lextra])
        out += struct.pack(
            "<4s5H3L2H",
            b"PK\x03\x04",
            local[0],
            local[1],
            local[2],
            0,
            0x21,
            *local[3:6],
            len(raw),
            len(local[6]),
        )
        out += raw + local[6] + packed
        if descriptor:
            form = "<4sL2Q" if descriptor64 else "<4s3L"
            out += struct.pack(form, b"PK\x07\x08", crc, len(packed), len(data))
        values = [len(data), len(packed), offset]
        cextra = struct.pack(f"<2H{central64}Q", 1, 8 * central64, *values[:central64])
        values[:central64] = [0xFFFFFFFF] * central64
        central = tamper(
            "central", [flags | utf8 | central_flags, crc, *values, cextra]
        )
        directory += struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            45 if central64 else 20,
            45 if central64 else 20,
            central[0],
            method,
            0,
            0x21,
            central[1],
            central[3],
            central[2],
            len(raw),
            len(central[5]) if central64 else 0,
            0,
            0,
            0,
            0,
            central[4],
        )
        directory += raw + (central[5] if central64 else b"")
    start = len(out)
    out += directory
    count, size = len(files), len(directory)
    end = [count, count, size, start]
    if end64:
        record = len(out)
        z64 = tamper("end64", [count, count, size, start])
        out += struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, *z64)
        out += struct.pack("<4sLQL", b"PK\x06\x07", 0, record, 1)
        end = [0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF]
    out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, *end, 0)
    return bytes(out)


@pytest.mark.parametrize(
    "shape",
    [
        {"local64": True},  # commons-compress (999.ofd), Python's force_zip64
        {"central64": 1, "end64": True},  # zip -fz
        {"local64": True, "central64": 3, "end64": True},
        {"central64": 2},
        {"end64": True},
        {"descriptor": True},
        {"descriptor": True, "stored": True},  # Go's archive/zip
        {"descriptor": True, "local64": True, "descriptor64": True},
        {"local_flags": 0x800},  # ofdrw's testImageNotFound.ofd: local only
        {"central_flags": 0x800},
    ],
)
def test_zips_real_producers_write_are_read(shape):
    data = build(FILES, **shape)
    assert {
        i.filename: zipfile.ZipFile(io.BytesIO(data)).read(i)
        for i in zipfile.ZipFile(io.BytesIO(data)).infolist()
    } == FILES
    assert dict(read_package(data).files) == FILES
    assert declared_size(data) == sum(len(v) for v in FILES.values())


def test_a_non_ascii_name_flagged_utf8_is_read():
    files = FILES | {"Doc_0/Res/印章.png": b"image"}
    assert dict(read_package(build(files, local64=True)).files) == files


@pytest.mark.skipif(shutil.which("zip") is None, reason="no Info-ZIP zip here")
def test_info_zips_forced_zip64_is_read(tmp_path):
    for name, data in FILES.items():
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / name).write_bytes(data)
    subprocess.run(
        ["zip", "-q", "-fz", "-r", str(tmp_path / "out.zip"), "."],
        cwd=tmp_path / "in",
        check=True,
    )
    data = (tmp_path / "out.zip").read_bytes()
    assert b"PK\x06\x06" in data
    assert dict(read_package(data).files) == FILES


def _set(kind: str, index: int, value):
    def tamper(k, values):
        if k == kind:
            values = list(values)
            values[index] = value
        return values

    return tamper


@pytest.mark.parametrize(
    ("shape", "tamper", "message"),
    [
        # a ZIP64 end record placing the directory elsewhere
        ({"end64": True}, _set("end64", 3, 2), "central directory does not end"),
        # local sizes deferred, the ZIP64 field giving other sizes
        (
            {"local64": True},
            _set("local", 6, struct.pack("<2H2Q", 1, 16, 5, 5)),
            "differ",
        ),
        # local sizes deferred to no ZIP64 field
        ({"local64": True}, _set("local", 6, b""), "differ"),
        # only one local size deferred
        ({"local64": True}, _set("local", 4, 7), "differ"),
        # a directory header deferring its compressed size but not its size
        ({"central64": 2}, _set("central", 2, 6), "ZIP64"),
        # a directory ZIP64 field longer than what its header defers
        (
            {"central64": 1},
            _set("central", 5, struct.pack("<2H2Q", 1, 16, 6, 6)),
            "ZIP64",
        ),
        # a data descriptor giving another CRC than the directory
        ({"descriptor": True}, _set("central", 1, 1), "descriptor"),
        # the UTF-8 flag differing for a name that is not ASCII
        ({}, None, "not flagged UTF-8"),
    ],
)
def test_zips_read_two_ways_are_still_refused(shape, tamper, message):
    files = FILES
    if tamper is None:  # the non-ASCII name flagged in the directory only
        files = FILES | {"Doc_0/Res/印章.png": b"image"}

        def tamper(kind, values):
            if kind == "local" and values[1] & 0x800:
                values = [values[0], values[1] & ~0x800, *values[2:]]
            return values

    assert message in refused(build(files, tamper=tamper, **shape))


def test_a_stored_entry_with_a_descriptor_holding_a_signature_is_refused():
    """A streaming reader finds a stored entry's end by scanning for the next
    signature: data holding one would be cut there (and the rest read as entries)."""
    files = FILES | {"Doc_0/Res/x.bin": b"data PK\x03\x04 more"}
    assert "ZIP signature" in refused(build(files, descriptor=True, stored=True))
    assert "Doc_0/Res/x.bin" in read_package(build(files, stored=True)).files


def test_an_end_record_disagreeing_with_its_zip64_end_record_is_refused():
    data = bytearray(build(FILES, end64=True))
    eocd = data.rindex(b"PK\x05\x06")
    struct.pack_into("<2H", data, eocd + 8, 2, 2)  # two entries, not the ZIP64 count
    assert "differ" in refused(bytes(data))
    # a locator pointing elsewhere than right before itself
    data = bytearray(build(FILES, end64=True))
    locator = data.rindex(b"PK\x06\x07")
    struct.pack_into("<Q", data, locator + 8, 0)
    assert "ZIP64 end record" in refused(bytes(data))


@pytest.mark.parametrize("offset", [2**40, 2**64 - 1])
def test_a_zip64_offset_beyond_the_package_is_refused(offset):
    tamper = _set("central", 5, struct.pack("<2H3Q", 1, 24, 6, 6, offset))
    assert "previous entry" in refused(build(FILES, central64=3, tamper=tamper))
