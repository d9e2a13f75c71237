"""Seals from other platforms through the Seal gRPC service: ofdrw's seals and
signatures parse (InspectSes), get the shared README's verdicts with ofdrw's root in
``[seal] trusted_ca_files`` and its seal maker in ``[seal] seal_makers``, and
UNTRUSTED_SEAL without them; the platform's own sm2 seals
chain to its SM2 seal CA."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import msgspec
import pytest
from asn1crypto import x509 as asn1_x509

from certseal.rpc import secure_channel
from certseal.v1 import seal_pb2 as pb
from certseal.v1 import seal_pb2_grpc
from services.seal.app import SealApp
from services.seal.config import SealMakerConfig
from services.seal.ses import SESeal
from services.seal.ses_read import read_seal
from tests.conftest import seal_owner

DATA = Path(__file__).parent / "data" / "ofdrw"


def vector(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.fixture(scope="module")
async def trusting_app(config) -> AsyncIterator[SealApp]:
    """A seal service that trusts ofdrw's SM2 root as well as its own CAs, and
    ofdrw's seal-making system as that platform's seal maker (atk15 F13)."""
    seal = msgspec.structs.replace(
        config.seal,
        trusted_ca_files=[str(DATA / "ofdrw_ROOT.cer")],
        seal_makers=[
            SealMakerConfig(
                platform="ofdrw", certificate_files=[str(DATA / "ofdrw_maker.cer")]
            )
        ],
    )
    app = SealApp(msgspec.structs.replace(config, seal=seal), listen="127.0.0.1:0")
    await app.start()
    yield app
    await app.stop(grace=1)


def stub_for(stack, app: SealApp, identity: str) -> seal_pb2_grpc.SealStub:
    ident = stack.ca.identity(identity)
    return seal_pb2_grpc.SealStub(
        secure_channel(
            f"localhost:{app.port}",
            str(stack.ca.ca_file),
            str(ident.cert_file),
            str(ident.key_file),
        )
    )


@pytest.mark.parametrize(
    ("name", "structure", "version", "seal_type"),
    [
        ("UserV4.esl", "SESeal", 4, 3),
        ("UserV1.esl", "SESeal", 1, 1),
        ("SignedValueV4.dat", "SES_Signature", 4, 3),
        ("V4RideRight.SignedValue.dat", "SES_Signature", 4, 3),
        ("SESV4SignDoc.SignedValue.dat", "SES_Signature", 4, 3),
    ],
)
async def test_every_ofdrw_structure_parses_through_the_rpc(
    seal_stub, name, structure, version, seal_type
):
    reply = await seal_stub("app:archive").InspectSes(
        pb.InspectSesRequest(data=vector(name))
    )
    assert (reply.structure, reply.version, reply.seal_type) == (
        structure,
        version,
        seal_type,
    )
    assert reply.vendor_id == "OFDR&WTest" and reply.seal_name
    assert reply.lines[0] == structure
    assert not any("finance" in line for line in reply.lines)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x30\x03\x02\x01\x01", "is not a seal or seal signature file"),
        (
            vector("UserV4.esl") + b"\x02\x01\x07",
            "is not a seal or seal signature file",
        ),
        (
            vector("UserV4.esl").replace(
                b"\x02\x01\x04\x16\x0aOFDR", b"\x02\x01\x05\x16\x0aOFDR"
            ),
            "the v5 form is not supported",
        ),
    ],
)
async def test_inspect_names_what_is_wrong(seal_stub, data, message):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await seal_stub("app:archive").InspectSes(pb.InspectSesRequest(data=data))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert message in (err.value.details() or "")
    assert dict(err.value.trailing_metadata())["certseal-error-field"] == "data"


async def test_ofdrw_signatures_get_the_readme_verdicts(stack, trusting_app, seal_stub):
    trusting = stub_for(stack, trusting_app, "app:archive")
    valid = await trusting.VerifySealedDocument(
        pb.VerifySealedDocumentRequest(
            signature=vector("V4RideRight.SignedValue.dat"),
            document=vector("V4RideRight.Signature.xml"),
        )
    )
    assert valid.verdict == "VALID", valid.checks
    assert valid.checks[-1].name == "seal status"
    expired = await trusting.VerifySealedDocument(
        pb.VerifySealedDocumentRequest(
            signature=vector("SESV4SignDoc.SignedValue.dat"),
            document=vector("SESV4SignDoc.Signature.xml"),
        )
    )
    assert expired.verdict == "SEAL_NOT_VALID"
    assert expired.checks[-1].name == "seal" and not expired.checks[-1].passed
    detached = await trusting.VerifySealedDocument(
        pb.VerifySealedDocumentRequest(
            signature=vector("SignedValueV4.dat"), document=b"another document"
        )
    )
    assert detached.verdict == "MODIFIED"
    assert [c.passed for c in detached.checks] == [True] * 5 + [False]
    # the session's seal service has no ofdrw root configured
    for name in ("V4RideRight", "SESV4SignDoc"):
        untrusted = await seal_stub("app:archive").VerifySealedDocument(
            pb.VerifySealedDocumentRequest(
                signature=vector(f"{name}.SignedValue.dat"),
                document=vector(f"{name}.Signature.xml"),
            )
        )
        assert untrusted.verdict == "UNTRUSTED_SEAL"
        assert untrusted.checks[-1].name == "seal"


async def test_a_seal_or_garbage_sent_as_a_signature_is_malformed(seal_stub):
    for data in (vector("UserV4.esl"), vector("ofdrw_ROOT.cer"), b"\x30\x80\x00\x00"):
        reply = await seal_stub("app:archive").VerifySealedDocument(
            pb.VerifySealedDocumentRequest(signature=data, document=b"x")
        )
        assert reply.verdict == "MALFORMED"


async def test_own_sm2_seals_chain_to_the_sm2_seal_ca(config, seal_stub, operator):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal = (
        await stub.RegisterSeal(
            pb.RegisterSealRequest(seal_type="personal", name="张三", suite="sm2")
        )
    ).seal
    parsed = SESeal.load(seal.seal)
    assert parsed["e_seal_info"]["property"]["type"].native == 2  # personal
    sm2_ca = asn1_x509.Certificate.load(_der(config.seal.sm2_ca_cert_file))
    for der in (
        parsed["cert"].native,  # the sm2 seal maker
        read_seal(seal.seal).certs[0],  # the seal's own key
    ):
        cert = asn1_x509.Certificate.load(der)
        assert cert["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
        assert cert.issuer == sm2_ca.subject
    sealed = await stub.SealDocument(
        pb.SealDocumentRequest(seal_id=seal.seal_id, document=b"doc", property_info="a")
    )
    result = await seal_stub("app:archive").VerifySealedDocument(
        pb.VerifySealedDocumentRequest(signature=sealed.signature, document=b"doc")
    )
    assert result.verdict == "VALID" and result.current_status == "active"


def _der(path: str) -> bytes:
    from asn1crypto import pem

    data = Path(path).read_bytes()
    return pem.unarmor(data)[2] if pem.detect(data) else data
