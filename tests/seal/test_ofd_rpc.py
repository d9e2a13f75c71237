"""SealOfd and VerifyOfd end to end: sealed OFDs re-verify, several seals, tampering,
the ofdrw samples, hostile packages and errors naming their field."""

import base64
import datetime as dt
from pathlib import Path

import grpc
import pytest

from certseal.timestamps import ts
from certseal.v1 import seal_pb2 as pb
from services.seal.licence_files import LACKS_SEAL_OWNER
from services.seal.ofd_package import parse_xml
from services.seal.ses import SESSignature
from tests.conftest import blank_pdf, fresh_uscc, seal_owner
from tests.seal.ofd_samples import changed, flip_last_byte, make_ofd, unzip, zip_files
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401

VECTORS = Path(__file__).parent / "data" / "ofdrw"
CHECK_ORDER = [
    "decode",
    "signature",
    "signer",
    "seal",
    "signer certificate",
    "data hash",
    "references",
    "seal status",
]
# signatures made here carry the dev TSA's RFC 3161 token, checked after the signature
STAMPED_ORDER = [*CHECK_ORDER[:2], "timestamp", *CHECK_ORDER[2:]]


def field_of(err) -> str:
    return dict(err.value.trailing_metadata()).get("certseal-error-field", "")


async def _seal(stub, suite: str, name: str = "示例市市场监督管理局"):
    return (
        await stub.RegisterSeal(
            pb.RegisterSealRequest(seal_type="official", name=name, suite=suite)
        )
    ).seal


async def _verify(stub, ofd: bytes) -> list[pb.OfdSignatureResult]:
    return list((await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=ofd))).signatures)


@pytest.mark.parametrize("suite", ["sm2", "es256"])
async def test_a_sealed_ofd_verifies_with_every_reference(seal_stub, operator, suite):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal = await _seal(stub, suite)
    sealed = await stub.SealOfd(
        pb.SealOfdRequest(seal_id=seal.seal_id, ofd=make_ofd(), page=1, x_mm=30)
    )
    assert sealed.signature_path == "/Doc_0/Signs/Sign_0/Signature.xml"
    assert sealed.page == 1
    files = unzip(sealed.ofd)
    assert {
        "Doc_0/Signs/Signatures.xml",
        "Doc_0/Signs/Sign_0/Seal.esl",
        "Doc_0/Signs/Sign_0/SignedValue.dat",
    } <= set(files)
    assert files["Doc_0/Signs/Sign_0/Seal.esl"] == seal.seal
    signature_xml = parse_xml(files["Doc_0/Signs/Sign_0/Signature.xml"], "s")
    assert signature_xml.tag == "{http://www.ofdspec.org/2016}Signature"
    [result] = await _verify(seal_stub("app:archive"), sealed.ofd)
    assert result.verdict == "VALID", result.checks
    assert [c.name for c in result.checks] == STAMPED_ORDER
    assert result.seal_id == seal.seal_id and result.current_status == "active"
    assert result.intact and result.type == "Seal"
    assert result.check_method == ("SM3" if suite == "sm2" else "SHA256")
    assert list(result.stamp_pages) == ["2"]
    names = {r.file for r in result.references}
    assert {
        "/OFD.xml",
        "/Doc_0/Document.xml",
        "/Doc_0/Pages/Page_1/Content.xml",
    } <= names
    assert "/Doc_0/Signs/Sign_0/Signature.xml" not in names
    assert all(r.status == "ok" and r.actual == r.expected for r in result.references)


async def test_several_seals_on_one_ofd_each_verify(seal_stub, operator):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    sm2, es256 = await _seal(stub, "sm2"), await _seal(stub, "es256", "示例公司")
    once = await stub.SealOfd(pb.SealOfdRequest(seal_id=sm2.seal_id, ofd=make_ofd()))
    twice = await stub.SealOfd(
        pb.SealOfdRequest(seal_id=es256.seal_id, ofd=once.ofd, keyword="盖章")
    )
    thrice = await stub.SealOfd(
        pb.SealOfdRequest(seal_id=sm2.seal_id, ofd=twice.ofd, page=0, x_mm=100)
    )
    assert twice.signature_path == "/Doc_0/Signs/Sign_1/Signature.xml"
    assert twice.page == 1
    results = await _verify(stub, thrice.ofd)
    assert [r.verdict for r in results] == ["VALID"] * 3
    assert [r.seal_id for r in results] == [sm2.seal_id, es256.seal_id, sm2.seal_id]
    assert len({r.signature_id for r in results}) == 3
    statuses = [{r.file: r.status for r in s.references} for s in results]
    # the list of signatures grew after the first two: accepted, and said so
    assert statuses[0]["/Doc_0/Signs/Signatures.xml"] == "list grown"
    assert statuses[1]["/Doc_0/Signs/Signatures.xml"] == "list grown"
    assert statuses[2]["/Doc_0/Signs/Signatures.xml"] == "ok"
    # the later seals protect the earlier seals' files
    assert statuses[2]["/Doc_0/Signs/Sign_0/SignedValue.dat"] == "ok"


def _flip_signature(data: bytes) -> bytes:
    value = SESSignature.load(data)["signature"].native
    return data.replace(value, flip_last_byte(value))


async def test_tampered_ofds_are_not_valid(seal_stub, operator):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal = await _seal(stub, "sm2")
    ofd = (
        await stub.SealOfd(pb.SealOfdRequest(seal_id=seal.seal_id, ofd=make_ofd()))
    ).ofd
    sign = "Doc_0/Signs/Sign_0/"
    cases = {
        # one changed byte in a referenced file: that reference fails
        "Doc_0/Pages/Page_0/Content.xml": ("MODIFIED", "references"),
        "Doc_0/Document.xml": ("MODIFIED", "references"),
        "OFD.xml": ("MODIFIED", "references"),
        sign + "Seal.esl": ("MODIFIED", "references"),
        # Signature.xml itself is what the SES_Signature's dataHash covers
        sign + "Signature.xml": ("MODIFIED", "data hash"),
        # the signature value's last byte is in its timeStamp token
        sign + "SignedValue.dat": ("BAD_TIMESTAMP", "timestamp"),
    }
    for name, (verdict, check) in cases.items():
        [result] = await _verify(stub, changed(ofd, name, flip_last_byte))
        assert result.verdict == verdict, name
        failed = [c.name for c in result.checks if not c.passed]
        assert failed == [check], (name, result.checks)
        # intact: the protected files (a bad signature leaves them unchanged)
        assert result.intact is (verdict == "BAD_TIMESTAMP"), name
    # a bit of the signature itself
    [bits] = await _verify(
        stub, changed(ofd, sign + "SignedValue.dat", _flip_signature)
    )
    assert bits.verdict == "BAD_SIGNATURE"
    assert [c.name for c in bits.checks if not c.passed] == ["signature"]
    assert bits.intact
    [gone] = await _verify(
        stub, changed(ofd, "Doc_0/Pages/Page_1/Content.xml", lambda d: None)
    )
    assert gone.verdict == "MODIFIED"
    assert {r.file: r.status for r in gone.references}[
        "/Doc_0/Pages/Page_1/Content.xml"
    ] == "missing"

    # a byte inside the seal the signature carries (its picture): the signer's
    # signature over toSign no longer holds
    def middle(data: bytes) -> bytes:
        i = len(data) // 2
        return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]

    [inner] = await _verify(stub, changed(ofd, sign + "SignedValue.dat", middle))
    assert inner.verdict == "BAD_SIGNATURE", inner.checks
    # the signed value of another sealing of the same document by the same seal
    other = (
        await stub.SealOfd(
            pb.SealOfdRequest(seal_id=seal.seal_id, ofd=make_ofd(), x_mm=50)
        )
    ).ofd
    swapped = changed(
        ofd, sign + "SignedValue.dat", lambda d: unzip(other)[sign + "SignedValue.dat"]
    )
    [replayed] = await _verify(stub, swapped)
    assert replayed.verdict == "MODIFIED"
    assert [c.name for c in replayed.checks if not c.passed] == ["data hash"]
    [garbage] = await _verify(
        stub, changed(ofd, sign + "SignedValue.dat", lambda d: d[:40])
    )
    assert garbage.verdict == "MALFORMED"
    # the reference digest changed inside Signature.xml too: then the data hash fails
    [rewritten] = await _verify(
        stub,
        changed(
            changed(ofd, "Doc_0/Document.xml", flip_last_byte),
            sign + "Signature.xml",
            lambda d: d.replace(b"<ofd:CheckValue>", b"<ofd:CheckValue>AAAA", 1),
        ),
    )
    assert rewritten.verdict == "MODIFIED"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SealOfd(pb.SealOfdRequest(seal_id=seal.seal_id, ofd=b"x"))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def _sample(name: str) -> bytes:
    return (VECTORS / name).read_bytes()


async def test_the_ofdrw_samples(seal_stub):
    stub = seal_stub("app:archive")
    [ride] = await _verify(stub, _sample("V4RideRight.ofd"))
    # ofdrw's root is not a trust anchor of this seal service: at best UNTRUSTED_SEAL
    assert ride.verdict == "UNTRUSTED_SEAL", ride.checks
    assert [c.name for c in ride.checks][:4] == [
        "decode",
        "signature",
        "signer",
        "seal",
    ]
    assert ride.intact and ride.check_method == "SM3"
    assert len(ride.references) == 9
    assert all(r.status == "ok" for r in ride.references)
    assert list(ride.stamp_pages) == ["1", "21", "43", "63", "83"]
    [expired] = await _verify(stub, _sample("SESV4SignDoc.ofd"))
    assert expired.verdict != "VALID"
    [tampered] = await _verify(
        stub,
        changed(
            _sample("V4RideRight.ofd"), "Doc_0/Pages/Page_2/Content.xml", flip_last_byte
        ),
    )
    assert tampered.verdict != "VALID" and not tampered.intact
    assert {r.file: r.status for r in tampered.references}[
        "/Doc_0/Pages/Page_2/Content.xml"
    ] == "changed"


async def test_the_ofdrw_samples_get_the_readmes_verdicts_with_its_root_trusted(
    stack,
    trusting_app,  # noqa: F811
):
    stub = stub_for(stack, trusting_app, "app:archive")
    [ride] = await _verify(stub, _sample("V4RideRight.ofd"))
    assert ride.verdict == "VALID", ride.checks
    assert [c.name for c in ride.checks] == CHECK_ORDER
    assert ride.intact and ride.signed_at.ToDatetime().date().isoformat() == (
        "2021-05-19"
    )
    [expired] = await _verify(stub, _sample("SESV4SignDoc.ofd"))
    assert expired.verdict == "SEAL_NOT_VALID"
    assert [c.name for c in expired.checks if not c.passed] == ["seal"]
    assert expired.intact  # unchanged, only sealed with an expired seal
    # one changed byte in a referenced file of ofdrw's document: MODIFIED
    for name in ("Doc_0/Pages/Page_2/Content.xml", "Doc_0/Document.xml", "OFD.xml"):
        [tampered] = await _verify(
            stub, changed(_sample("V4RideRight.ofd"), name, flip_last_byte)
        )
        assert tampered.verdict == "MODIFIED", (name, tampered.checks)
        assert [c.name for c in tampered.checks if not c.passed] == ["references"]
    [tampered] = await _verify(
        stub,
        changed(
            _sample("V4RideRight.ofd"),
            "Doc_0/Signs/Sign_0/Signature.xml",
            lambda d: d.replace(b"2021-05-19", b"2021-05-20"),
        ),
    )
    assert tampered.verdict == "MODIFIED"
    assert [c.name for c in tampered.checks if not c.passed] == ["data hash"]


async def test_an_ofdrw_document_takes_a_further_seal(seal_stub, operator):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal = await _seal(stub, "sm2")
    sealed = await stub.SealOfd(
        pb.SealOfdRequest(seal_id=seal.seal_id, ofd=_sample("V4RideRight.ofd"), page=4)
    )
    assert sealed.signature_path == "/Doc_0/Signs/Sign_1/Signature.xml"
    ride, ours = await _verify(stub, sealed.ofd)
    assert ours.verdict == "VALID" and ours.signature_id == "s007"
    assert ride.intact  # ofdrw's signature keeps holding: only the list grew


async def test_errors_name_their_field(seal_stub, operator):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal = await _seal(stub, "sm2")
    bomb = zip_files({"OFD.xml": b"<a/>", "Doc_0/big.xml": b"\0" * (20 << 20)})
    deep = zip_files({"OFD.xml": b"<a>" * 5000 + b"</a>" * 5000})
    traversal = zip_files({"OFD.xml": b"<a/>", "../../etc/cron.d/x": b"x"})
    for request, field in (
        (pb.SealOfdRequest(seal_id=seal.seal_id), "ofd"),
        (pb.SealOfdRequest(seal_id=seal.seal_id, ofd=b"PK\x03\x04junk"), "ofd"),
        (pb.SealOfdRequest(seal_id=seal.seal_id, ofd=bomb), "ofd"),
        (pb.SealOfdRequest(seal_id=seal.seal_id, ofd=deep), "ofd"),
        (pb.SealOfdRequest(seal_id=seal.seal_id, ofd=traversal), "ofd"),
        (pb.SealOfdRequest(seal_id=seal.seal_id, ofd=make_ofd(), page=7), "page"),
        (pb.SealOfdRequest(seal_id=seal.seal_id, ofd=make_ofd(), x_mm=-1), "x_mm"),
        (
            pb.SealOfdRequest(seal_id=seal.seal_id, ofd=make_ofd(), y_mm=float("nan")),
            "y_mm",
        ),
        (
            pb.SealOfdRequest(seal_id=seal.seal_id, ofd=make_ofd(), keyword="无此字"),
            "keyword",
        ),
        (
            pb.SealOfdRequest(seal_id=seal.seal_id, ofd=make_ofd(), keyword="a\x00"),
            "keyword",
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.SealOfd(request)
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, request
        assert field_of(err) == field
    for ofd in (b"", b"not a zip", bomb, deep, traversal):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=ofd))
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert field_of(err) == "ofd"
    stranger = seal_stub(f"dept:{fresh_uscc()}")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stranger.SealOfd(pb.SealOfdRequest(seal_id=seal.seal_id, ofd=make_ofd()))
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert await _verify(stub, make_ofd()) == []  # unsigned: no signatures


async def test_a_signature_that_is_not_a_seal_is_reported_not_raised(
    seal_stub, operator
):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal = await _seal(stub, "es256")
    ofd = (
        await stub.SealOfd(pb.SealOfdRequest(seal_id=seal.seal_id, ofd=make_ofd()))
    ).ofd
    as_sign = changed(
        ofd,
        "Doc_0/Signs/Signatures.xml",
        lambda d: d.replace(b'Type="Seal"', b'Type="Sign"'),
    )
    [result] = await _verify(stub, as_sign)
    assert result.verdict == "MALFORMED" and result.type == "Sign"
    bad_xml = changed(ofd, "Doc_0/Signs/Sign_0/Signature.xml", lambda d: d[:-5])
    [broken] = await _verify(stub, bad_xml)
    # unreadable, yet its SignedValue.dat shows it was changed after signing
    assert broken.verdict == "MODIFIED" and not broken.intact
    assert base64.b64decode(result.references[0].expected)


async def test_seal_ofd_by_owner_code_picks_the_official_sm2_seal(seal_stub, operator):
    """Without seal_id, SealOfd takes owner_code's newest active official seal the
    caller may use, an sm2 one before a newer seal of another suite (the issuer
    sealing OFD licence files); none usable is FAILED_PRECONDITION on owner_code,
    neither given is INVALID_ARGUMENT on seal_id. An unsealed OFD with no licence
    metadata gets no licence status."""
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SealOfd(pb.SealOfdRequest(owner_code=owner, ofd=make_ofd()))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert field_of(err) == "owner_code"
    assert "sm2 or es256 or ed25519" in err.value.details()
    assert "seal_owner" not in err.value.details()  # it may register one
    with pytest.raises(grpc.aio.AioRpcError) as err:  # one never onboarded may not
        await stub.SealOfd(
            pb.SealOfdRequest(owner_code="91350100M000199Y99", ofd=make_ofd())
        )
    assert err.value.details().endswith(LACKS_SEAL_OWNER), err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SealOfd(pb.SealOfdRequest(ofd=make_ofd()))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_of(err) == "seal_id"
    sm2 = await _seal(stub, "sm2")
    await _seal(stub, "es256")  # newer, but OFD prefers sm2
    sealed = await stub.SealOfd(pb.SealOfdRequest(owner_code=owner, ofd=make_ofd()))
    assert sealed.seal_id == sm2.seal_id
    reply = await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=sealed.ofd))
    assert [(s.seal_id, s.verdict) for s in reply.signatures] == [
        (sm2.seal_id, "VALID")
    ]
    assert not reply.HasField("licence")
    # a PDF is never sealed with the sm2 seal: the owner's es256 seal is picked
    pdf = await stub.SealPdf(pb.SealPdfRequest(owner_code=owner, pdf=blank_pdf()))
    assert pdf.seal_id != sm2.seal_id


async def test_of_seals_starting_in_one_second_the_last_registered_is_the_newest(
    seal_stub, operator
):
    """valid_start has whole seconds (GB/T 38540), so seals registered within one
    second start at the same instant: the newest is the last registered, not the one
    whose random serial sorts last (tests/e2e/test_holder_documents.py failed CI on
    it when its platform seal and another module's shared a second)."""
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    start = ts(dt.datetime.now(dt.UTC).replace(microsecond=0))
    seals = [
        (
            await stub.RegisterSeal(
                pb.RegisterSealRequest(
                    seal_type="official",
                    name="示例市市场监督管理局",
                    suite="es256",
                    valid_start=start,
                )
            )
        ).seal
        for _ in range(6)
    ]
    assert len({s.valid_start.seconds for s in seals}) == 1
    sealed = await stub.SealPdf(pb.SealPdfRequest(owner_code=owner, pdf=blank_pdf()))
    assert sealed.seal_id == seals[-1].seal_id


async def test_the_readme_walk_through_seals_another_platforms_sealed_ofd(
    seal_stub, operator
):
    """The README's step: an es256 seal on ofdrw's sealed V4RideRight.ofd at page 0,
    30 mm, 40 mm. The new seal is VALID; ofdrw's, whose platform is not trusted here,
    UNTRUSTED_SEAL, and its document still intact."""
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal = await _seal(stub, "es256")
    sealed = await stub.SealOfd(
        pb.SealOfdRequest(
            seal_id=seal.seal_id,
            ofd=(VECTORS / "V4RideRight.ofd").read_bytes(),
            page=0,
            x_mm=30,
            y_mm=40,
        )
    )
    theirs, ours = await _verify(stub, sealed.ofd)
    assert ours.verdict == "VALID", [(c.name, c.detail) for c in ours.checks]
    assert theirs.verdict == "UNTRUSTED_SEAL" and theirs.intact
