"""VerifyOfd's work and reply bounded by the package, not by what it repeats (atk15 F6,
F7, F15): each XML file parsed once per request, References and signatures counted,
a CheckValue no longer than a digest, the reply bounded, admission by what the
package declares it inflates to."""

from __future__ import annotations

import base64

import grpc
import pytest

from certseal.crypto import Suite
from certseal.errors import CertsealError, ErrorKind
from certseal.v1 import seal_pb2 as pb
from services.seal import ofd, ofd_package, ofd_service, ofd_signature
from services.seal.ofd_package import read_package
from services.seal.ofd_sign import StampPlace, finish_seal, prepare_seal
from services.seal.ofd_xml import XML_TREE_FACTOR
from services.seal.ofd_zip import declared_size
from tests.seal.ofd_samples import make_ofd, unzip, zip_files
from tests.seal.test_atk15_ofd import (
    SIGN,
    _signature_xml,
    _signatures_xml,
    _unsigned_package,
)

SIGNATURES = "Doc_0/Signs/Signatures.xml"


def _refused(call, *args) -> str:
    with pytest.raises(CertsealError) as err:
        call(*args)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert err.value.field == "ofd"
    return err.value.message


def _sealed_twice() -> bytes:
    package = make_ofd()
    for _ in range(2):
        prepared = prepare_seal(
            package,
            seal=b"\x30\x00",
            suite=Suite.SM2,
            stamp_mm=(40.0, 40.0),
            place=StampPlace(),
            signed_at_text="2026-12-02 08:00:00",
        )
        package = finish_seal(prepared, b"\x30\x00")
    return package


def test_each_xml_file_is_parsed_once_however_many_signatures_name_it(monkeypatch):
    parsed: list[str] = []
    real = ofd_package.parse_xml

    def counting(data, name, field="ofd", **kw):
        parsed.append(name)
        return real(data, name, field, **kw)

    sealed = _sealed_twice()
    monkeypatch.setattr(ofd_package, "parse_xml", counting)
    package = read_package(sealed)
    document = ofd.open_document(package)
    entries, _ = ofd.signature_entries(document)
    assert len(entries) == 2
    first: list[str] = []
    for _ in range(3):  # as many times as a request could ask
        for entry in entries:
            signature = ofd.read_signature_file(package, entry.path)
            results = ofd.check_references(document, signature, entry)
            assert all(r.holds for r in results), results
        ofd.signature_entries(document)
        first = first or list(parsed)
    assert parsed == first, parsed  # nothing parsed again for another signature
    # a page is read for its size, then for what it draws, and not kept between
    # (a request does not hold every page's tree: atk16 F2); every other file once
    assert all(
        parsed.count(name) <= (2 if "/Pages/" in name else 1) for name in parsed
    ), parsed


def test_a_refused_xml_file_is_refused_again_without_parsing_again(monkeypatch):
    calls: list[str] = []
    real = ofd_package.parse_xml

    def counting(data, name, field="ofd", **kw):
        calls.append(name)
        return real(data, name, field, **kw)

    monkeypatch.setattr(ofd_package, "parse_xml", counting)
    package = read_package(
        _unsigned_package(_signature_xml(b""), b"<ofd:Signatures><not closed")
    )
    document = ofd.signatures_document(package)
    for _ in range(3):
        assert "not well-formed" in _refused(ofd.signature_entries, document)
    assert calls.count(SIGNATURES) == 1


def _reference(value: bytes, file: str = "/OFD.xml") -> bytes:
    return (
        f'<ofd:Reference FileRef="{file}"><ofd:CheckValue>'.encode()
        + base64.b64encode(value)
        + b"</ofd:CheckValue></ofd:Reference>"
    )


@pytest.mark.parametrize("size", [65, 256 * 1024])
def test_a_check_value_longer_than_any_digest_is_refused(size):
    package = read_package(
        _unsigned_package(_signature_xml(_reference(bytes(size))), _signatures_xml(1))
    )
    message = _refused(ofd.read_signature_file, package, SIGN + "Signature.xml")
    assert "CheckValue" in message and "no digest" in message


def test_a_check_value_of_a_digests_length_is_read():
    for size in (20, 32, 48, 64):
        package = read_package(
            _unsigned_package(
                _signature_xml(_reference(bytes(size))), _signatures_xml(1)
            )
        )
        signature = ofd.read_signature_file(package, SIGN + "Signature.xml")
        assert signature.references[0].check_value == bytes(size)


def test_references_and_signatures_are_counted_before_they_are_read(monkeypatch):
    monkeypatch.setattr(ofd_signature, "MAX_OFD_REFERENCES", 3)
    package = read_package(
        _unsigned_package(
            _signature_xml(_reference(bytes(32)) * 4), _signatures_xml(101)
        )
    )
    message = _refused(ofd.read_signature_file, package, SIGN + "Signature.xml")
    assert "4 References" in message and "limit is 3" in message
    document = ofd.signatures_document(package)
    message = _refused(ofd.signature_entries, document)
    assert "101 signatures" in message and SIGNATURES in message


def test_admission_counts_what_the_package_declares_it_inflates_to():
    files = unzip(make_ofd()) | {"Doc_0/Res/blank.bin": bytes(50 * 2**20)}
    package = zip_files(files)
    assert len(package) < 2**20
    assert declared_size(package) == sum(len(d) for d in files.values())
    # and what parsing its XML may take, by its largest XML file (atk16 F2)
    largest_xml = max(len(d) for name, d in files.items() if name.endswith(".xml"))
    assert ofd_service._held(package) == (
        len(package) + declared_size(package) + XML_TREE_FACTOR * largest_xml
    )
    assert "end of central directory" in _refused(declared_size, b"not a zip")


async def test_a_reply_over_its_bound_is_refused_naming_ofd(seal_stub, monkeypatch):
    package = _unsigned_package(
        _signature_xml(_reference(bytes(32)) * 40), _signatures_xml(20)
    )
    stub = seal_stub("app:archive")
    reply = await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=package))
    assert len(reply.signatures) == 20
    monkeypatch.setattr(ofd_service, "MAX_OFD_REPLY_BYTES", reply.ByteSize() // 2)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=package))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert dict(err.value.trailing_metadata()).get("certseal-error-field") == "ofd"
    assert "report would be over" in (err.value.details() or "")
