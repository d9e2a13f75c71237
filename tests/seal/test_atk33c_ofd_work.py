"""atk33c: an outside attack on "what is drawn must be told" (ofd_drawn, 03f10c8):
how much work the drawn files of a package within the bounds take.

drawn_files reads every location a file names in every reading a reader may make
(ofd_loc.readings: up to twelve spellings, each from every folder it may be read
from) and a resource's locations from each reading of its BaseLoc that is a folder
of the package. Each is resolved segment by segment. A location of many segments
(`` ../`` a thousand times: spaces give it several spellings) under a BaseLoc of
several readings, all folders of the package (`` a / b ``), costs about 0.9 s of
CPU a MiB of XML: one resource file of 13.7 MiB (a 0.14 MiB ZIP) took 15.5 s of
CPU; 256 MiB of XML (MAX_OFD_UNCOMPRESSED_BYTES, a ZIP of about 2.5 MiB) would take
about 5 minutes on a seal worker thread, past ``[seal] job_timeout_s`` (60 s): the
request gets INVALID_ARGUMENT, but the thread (which cannot be killed) runs on, and
eight such requests (``max_heavy_jobs``) hold every worker.

A user needs: a package within the bounds is read within the job's time bound (or
refused at once, naming what is too much), so that the time bound is the last line,
not the one an ordinary attack meets.

Plain resource XML (20,000 fonts of short locations) took 0.35 s a MiB here, also
over the 0.23 s a MiB that fits 256 MiB in 60 s, by less (not asserted: a faster
machine might pass it).
"""

import os
import time

import pytest

from certseal.errors import CertsealError, ErrorKind
from services.seal import ofd_drawn
from services.seal.config import SealConfig
from services.seal.ofd import open_document
from services.seal.ofd_drawn import MAX_LOCATION_WORK, drawn_files
from services.seal.ofd_package import MAX_OFD_UNCOMPRESSED_BYTES, read_package
from tests.seal.ofd_samples import make_ofd, unzip, zip_files

ROOT = "Doc_0/Document.xml"
BASE = " a / b "  # read as Doc_0/a/ b, Doc_0/ a/ b, Doc_0/a/b, a/ b, ...
FOLDERS = ["Doc_0/a/ b", "Doc_0/ a/ b", "Doc_0/a/b", "a/ b", " a/ b", "a/b"]


def _package(location: str, fonts: int, base: str) -> tuple[bytes, int]:
    """An OFD whose public resource file names ``fonts`` font files at
    ``location`` + a number, below ``base``; and its XML's bytes."""
    files = unzip(make_ofd())
    files[ROOT] = files[ROOT].replace(
        b"<ofd:CommonData>", b"<ofd:CommonData><ofd:PublicRes>R.xml</ofd:PublicRes>"
    )
    for folder in FOLDERS:
        files[folder + "/x"] = b"x"
    body = "".join(
        f"<ofd:Font ID='{i}'><ofd:FontFile>{location}{i} </ofd:FontFile></ofd:Font>"
        for i in range(fonts)
    ).encode()
    # a comment of random bytes keeps the file within MAX_OFD_RATIO
    pad = b"<!--" + os.urandom(len(body) // 150).hex().encode() + b"-->"
    files["Doc_0/R.xml"] = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<ofd:Res xmlns:ofd="http://www.ofdspec.org/2016" BaseLoc="'
        + base.encode()
        + b'"><ofd:Fonts>'
        + body
        + b"</ofd:Fonts>"
        + pad
        + b"</ofd:Res>"
    )
    return zip_files(files), len(files["Doc_0/R.xml"])


def cpu_per_mib(data: bytes, xml_bytes: int) -> float:
    """CPU seconds a MiB of ``xml_bytes`` that finding what the OFD ``data`` is
    drawn from takes; a refusal of the package (``ofd``) is an answer too."""
    start = time.process_time()
    try:
        drawn_files(open_document(read_package(data)))
    except CertsealError as refused:
        assert refused.field == "ofd"
    return (time.process_time() - start) / (xml_bytes / 2**20)


# what a MiB of XML may take for a package at the bound to be read within the job
# time bound
ALLOWED = SealConfig().job_timeout_s / (MAX_OFD_UNCOMPRESSED_BYTES / 2**20)


def test_control_the_package_is_within_every_bound_and_read():
    """The attack's package is no refused one: read, its resource file drawn."""
    data, _ = _package(" ../" * 1000, 300, BASE)
    drawn = drawn_files(open_document(read_package(data)))
    assert drawn["Doc_0/R.xml"] == {ROOT}


def test_a_package_of_too_much_location_work_is_refused_at_once():
    """Ten times the attack's locations (12 MiB of XML, about 460 million
    characters of reading, some 2 minutes of CPU before): refused once the request
    has read MAX_LOCATION_WORK characters, about 2 s of CPU, whatever the size."""
    data, xml_bytes = _package(" ../" * 1000, 3000, BASE)
    assert xml_bytes > 10_000_000 and len(data) < 1_000_000
    start = time.process_time()
    with pytest.raises(CertsealError) as refused:
        drawn_files(open_document(read_package(data)))
    taken = time.process_time() - start
    assert (refused.value.kind, refused.value.field) == (
        ErrorKind.INVALID_ARGUMENT,
        "ofd",
    )
    assert f"{MAX_LOCATION_WORK:,} characters of reading" in refused.value.message
    assert taken < ALLOWED * 256 / 4, f"{taken:.1f} s of CPU"  # a quarter of the job's


def test_a_package_of_too_many_locations_is_refused(monkeypatch):
    """Plain locations cost about 20 µs each with their element: past
    MAX_LOCATION_READINGS (lowered here) the package is refused, not read on."""
    data, _ = _package("f/font", 2000, "Res")
    assert "Doc_0/R.xml" in drawn_files(open_document(read_package(data)))
    monkeypatch.setattr(ofd_drawn, "MAX_LOCATION_READINGS", 1000)
    with pytest.raises(CertsealError) as refused:
        drawn_files(open_document(read_package(data)))
    assert refused.value.field == "ofd"
    assert "more than 1,000 readings" in refused.value.message
