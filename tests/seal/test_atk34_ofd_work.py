"""atk34 (a): an outside attack on the OFD location work bound (ofd_drawn
``LocationWork``, 08fdc33, and the one segment walker ``ofd_loc._walked``, 93bd963).

``readings`` charges each spelling of a location ``len(spelling) * (1 + folders)``
characters before it is read, but a location that climbs (``../f``) is resolved
from each folder by walking the folder's own segments too (``_walked`` splits
``folder + "/" + loc``): the folders' length is never charged. A resource file's
folders are every reading of its ``BaseLoc`` that is a folder of the package: three
``BaseLoc`` attributes (plain, ``ofd:``, another namespace's: dom4j reads all as
``BaseLoc``), each written with spaces so that it has several spellings, each 58
segments deep, make about twenty folders of ~115 characters. Then a font file
``../f`` (4 characters, charged 76) costs ~150 µs of CPU: 20,000 of them, 1.3 MB
of XML in a 70 KB ZIP, take ~3 s of CPU (2.4 s a MiB of XML, ten times what fits
MAX_OFD_UNCOMPRESSED_BYTES in ``job_timeout_s``); MAX_LOCATION_READINGS (500,000)
of them, a 32 MB resource file, some 75 s (extrapolated), past the job's 60 s,
the work counted 38 million characters, under MAX_LOCATION_WORK.

A location that does not climb (``f``) is joined to each folder and looked up
(``file_key`` of the whole path), also uncharged: ~105 µs a reading, 2.1 s for the
20,000, 500,000 some 53 s.

A user needs: a package read within the job's time bound or refused at once, the
work bound counting what reading a location costs (its folders too).
"""

import os
import time

import pytest

from certseal.errors import CertsealError
from services.seal.ofd import open_document
from services.seal.ofd_drawn import drawn_files
from services.seal.ofd_loc import spellings
from services.seal.ofd_package import (
    file_key,
    read_package,
)
from tests.seal.ofd_samples import make_ofd, unzip, zip_files
from tests.seal.test_atk33c_ofd_work import cpu_per_mib

ROOT = "Doc_0/Document.xml"
FONTS = 20_000


def _package(
    spaced: bool, location: str = "../f", fonts: int = FONTS, deep: bool = True
) -> tuple[bytes, int]:
    """An OFD whose public resource file names FONTS font files ``location`` below three
    deep ``BaseLoc`` attributes (``spaced``: each of several spellings), every
    reading of them a folder of the package (``deep`` False: the same attributes
    naming no folder of the package, so each location is read from the resource
    file's own folder alone: the same XML to parse); and the resource file's
    bytes."""
    files = unzip(make_ofd())
    files[ROOT] = files[ROOT].replace(
        b"<ofd:CommonData>", b"<ofd:CommonData><ofd:PublicRes>R.xml</ofd:PublicRes>"
    )
    attrs = []
    for k, name in enumerate(("BaseLoc", "ofd:BaseLoc", "x:BaseLoc")):
        deep = "/".join([str(k)] + ["a"] * 56)
        text = f" {deep} / b " if spaced else f"{deep}/b"
        attrs.append(f'{name}="{text}"')
        for spelling in spellings(text) if deep else ():
            for base in ("Doc_0/", ""):
                held = f"{base}{spelling.strip('/')}/x"
                if all(file_key(held) != file_key(other) for other in files):
                    files[held] = b"x"
    body = "".join(
        f"<ofd:Font ID='{i}'><ofd:FontFile>{location.format(i=i)}</ofd:FontFile></ofd:Font>"
        for i in range(fonts)
    ).encode()
    # a comment of random bytes keeps the file within MAX_OFD_RATIO
    pad = b"<!--" + os.urandom(len(body) // 150).hex().encode() + b"-->"
    files["Doc_0/R.xml"] = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<ofd:Res xmlns:ofd="http://www.ofdspec.org/2016" xmlns:x="urn:x" '
        + " ".join(attrs).encode()
        + b"><ofd:Fonts>"
        + body
        + b"</ofd:Fonts>"
        + pad
        + b"</ofd:Res>"
    )
    return zip_files(files), len(files["Doc_0/R.xml"])


def test_control_the_package_is_within_every_bound_and_read():
    data, _ = _package(spaced=True)
    assert len(data) < 100_000
    assert drawn_files(open_document(read_package(data)))["Doc_0/R.xml"] == {ROOT}


@pytest.mark.parametrize("location", ["../f", "f"], ids=["climbing", "plain"])
def test_short_locations_below_deep_base_folders_are_read_in_bound(location):
    """Against the same XML whose BaseLoc names no folder of the package, measured in
    the same run (a ratio, not a time: this machine's speed varies by a fifth from
    run to run): reading each location from its twenty deep folders once cost ten
    times that; now about as much (parsing dense XML is most of both, and a package
    at the size bound is refused or read within the job's time bound:
    docs/architecture.md, "The seal service's process model")."""
    data, xml_bytes = _package(spaced=True, location=location)
    flat, flat_bytes = _package(spaced=True, location=location, deep=False)
    assert drawn_files(open_document(read_package(flat)))["Doc_0/R.xml"] == {ROOT}
    taken = min(cpu_per_mib(data, xml_bytes) for _ in range(3))
    reference = min(cpu_per_mib(flat, flat_bytes) for _ in range(3))
    assert taken < 2 * reference, f"{taken:.3f} against {reference:.3f} s a MiB"


@pytest.mark.parametrize("location", ["../f{i}", "f{i}"], ids=["climbing", "plain"])
def test_distinct_short_locations_below_deep_base_folders_are_bounded(location):
    """The kind of O1 with every location another (nothing read once for many): what
    reading each costs below every folder is charged (its folders' characters too),
    so the package is refused once MAX_LOCATION_WORK is spent, in seconds of CPU
    (measured 2.4 to 2.7 s for 60,000 fonts, 1.3 to 1.5 s for 20,000 read whole),
    not the job's minute."""
    data, _ = _package(spaced=True, location=location, fonts=60_000)
    start = time.process_time()
    with pytest.raises(CertsealError) as refused:
        drawn_files(open_document(read_package(data)))
    assert refused.value.field == "ofd"
    assert "characters of reading" in refused.value.message
    assert time.process_time() - start < 10.0
