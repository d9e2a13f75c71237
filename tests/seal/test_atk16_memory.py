"""atk16 F2: what a VerifyOfd request holds is the parsed trees of its XML, which the
admission does not count.

An OFD request is admitted for its compressed bytes plus what its entries declare
they inflate to (atk15 F15), and ``read_package`` holds it to that. But every XML
file verifying reads is parsed into an ElementTree, and the trees of ``OFD.xml``, the
document root, ``Signatures.xml`` and every ``Signature.xml`` are kept for the whole
request (``OfdPackage.parsed``). An element costs the tree about 300 bytes (with its
attribute dictionary) against 9 bytes of XML (``<a b=""/>``): 16 MiB of such XML, the
bound of one file, is a 600 MB tree (measured: maxrss grew 599 MB for one, 1.8 GB for
three), and one request (always admitted alone) may list 15 such files in its 256 MiB:
about 9 GB in the seal process, for a package of about 1.3 MB (each file deflates
200:1, the ratio bound). Verifying runs on the seal process's threads, so the time
bound does not free it either.
"""

from __future__ import annotations

import tracemalloc
import zipfile

import grpc
import pytest

from certseal.crypto import Suite
from certseal.errors import CertsealError, ErrorKind
from certseal.v1 import seal_pb2 as pb
from services.seal import ofd
from services.seal.ofd_drawn import drawn_files
from services.seal.ofd_service import _held, _open
from services.seal.ofd_sign import StampPlace, prepare_seal
from services.seal.ofd_xml import XML_TREE_ALLOWANCE, XmlTooLarge
from tests.seal.ofd_samples import HEAD, NS, make_ofd, unzip, zip_files
from tests.seal.test_atk15_ofd import VECTORS

SIGNS = 3
ELEMENTS = 64 * 1024  # about 0.6 MiB of XML per Signature.xml


def _package() -> bytes:
    files = unzip(make_ofd())
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"</ofd:DocRoot>",
        b"</ofd:DocRoot><ofd:Signatures>Doc_0/Signs/Signatures.xml</ofd:Signatures>",
    )
    listed = "".join(
        f'<ofd:Signature ID="{i}" Type="Seal" BaseLoc="Sign_{i}/Signature.xml"/>'
        for i in range(SIGNS)
    )
    files["Doc_0/Signs/Signatures.xml"] = (
        f"{HEAD}<ofd:Signatures {NS}>{listed}</ofd:Signatures>"
    ).encode()
    filler = b'<a b=""/>' * ELEMENTS
    for i in range(SIGNS):
        files[f"Doc_0/Signs/Sign_{i}/Signature.xml"] = (
            f"{HEAD}<ofd:Signature {NS}><ofd:SignedInfo>".encode()
            + filler
            + b"</ofd:SignedInfo><ofd:SignedValue>v</ofd:SignedValue></ofd:Signature>"
        )
    return zip_files(files)


def test_verifying_an_ofd_holds_about_what_it_was_admitted_for():
    package = _package()
    admitted = _held(package)
    tracemalloc.start()
    try:
        [(document, entries)] = _open(package)
        for entry in entries:
            try:
                signature = ofd.read_signature_file(document.package, entry.path)
            except CertsealError:
                continue
            ofd.check_references(document, signature, entry)
        _, peak = tracemalloc.get_traced_memory()
    except CertsealError as exc:  # refused as too much to hold: fixed too
        assert exc.field == "ofd", exc
        return
    finally:
        tracemalloc.stop()
    assert peak <= 4 * admitted, (peak, admitted)


# the same kind: any XML a request parses, kept or dropped after use, is charged to
# a budget derived from its admission while it is built, and refused past it


def _with_page(filler: bytes) -> bytes:
    files = unzip(make_ofd())
    page = "Doc_0/Pages/Page_0/Content.xml"
    files[page] = files[page].replace(b"<ofd:Content>", filler + b"<ofd:Content>")
    return zip_files(files, zipfile.ZIP_STORED)  # within the ratio bound


def test_a_page_of_empty_elements_is_refused_while_it_is_parsed_not_after():
    """One page of ~4 MiB of ``<a b=""/>`` (read for what it draws, then dropped)
    would be a 150 MB tree: refused when its estimate passes twice the admission,
    naming the page, and what it took is given back and freed at once."""
    package = _with_page(b'<a b=""/>' * (450 * 1024))
    admitted = _held(package)
    [(document, entries)] = _open(package)
    assert entries == []
    tracemalloc.start()
    try:
        with pytest.raises(XmlTooLarge) as refused:
            drawn_files(document)
        _, peak = tracemalloc.get_traced_memory()
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.kind is ErrorKind.INVALID_ARGUMENT
    assert refused.value.field == "ofd"
    assert "Doc_0/Pages/Page_0/Content.xml is too large to parse" in str(refused.value)
    assert peak <= 3 * admitted, (peak, admitted)
    assert current <= admitted // 4, (current, admitted)  # the partial tree is gone
    assert document.package.budget.held < XML_TREE_ALLOWANCE  # given back


def test_sealing_reads_each_page_within_the_budget():
    """Sealing reads every page for its size (and for a keyword): the same bound."""
    package = _with_page(b"<b/>" * (1024 * 1024))
    with pytest.raises(CertsealError) as refused:
        prepare_seal(
            package,
            seal=b"\x30\x00",
            suite=Suite.SM2,
            stamp_mm=(40.0, 40.0),
            place=StampPlace(page=1, x_mm=30.0, y_mm=30.0),
            signed_at_text="2026-12-02 12:00:00",
        )
    assert refused.value.kind is ErrorKind.INVALID_ARGUMENT
    assert "Content.xml is too large to parse" in refused.value.message


def test_real_documents_stay_well_within_the_budget():
    """ofdrw's sealed OFDs and a licence-shaped one: verified with every tree they
    need, at most half the budget (ofdrw's test OFDs: at most 0.46)."""
    packages = [make_ofd()] + [
        (VECTORS / name).read_bytes()
        for name in ("V4RideRight.ofd", "SESV4SignDoc.ofd")
    ]
    for package in packages:
        [(document, entries)] = _open(package)
        for entry in entries:
            signature = ofd.read_signature_file(document.package, entry.path)
            ofd.check_references(document, signature, entry)
        drawn_files(document)
        budget = document.package.budget
        assert budget.peak <= budget.limit // 2, (budget.peak, budget.limit)


async def test_verify_ofd_refuses_a_document_too_large_to_parse(seal_stub):
    package = _package()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await seal_stub("app:archive").VerifyOfd(pb.VerifyOfdRequest(ofd=package))
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "Signature.xml is too large to parse" in refused.value.details()
