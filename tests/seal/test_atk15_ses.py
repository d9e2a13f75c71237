"""atk15: VerifySealedDocument and InspectSes attacked with hostile SES DER built on
ofdrw's real structures. Each finding is an xfail(strict=True) test until it is fixed."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
from asn1crypto import core

from certseal.v1 import seal_pb2 as pb
from services.seal.ses import SESeal, SESSignature

VECTORS = Path(__file__).parent / "data" / "ofdrw"


def with_time_stamp(signature: bytes, token: bytes) -> bytes:
    """``signature`` (an SES_Signature without a token) with ``timeStamp [0] EXPLICIT
    BIT STRING`` holding ``token``: outside toSign, so anyone may add one to a
    signature whose own checks hold."""
    assert SESSignature.load(signature)["time_stamp"].native is None
    bits = core.OctetBitString(token).dump()
    explicit = b"\xa0\x83" + len(bits).to_bytes(3, "big") + bits
    contents = SESSignature.load(signature).contents + explicit
    return b"\x30\x83" + len(contents).to_bytes(3, "big") + contents


async def test_a_time_stamp_token_is_held_to_the_der_bounds(seal_stub):
    tag = b"\x1f" + b"\x81" * 62_000 + b"\x01\x00"
    token = b"\x30\x83" + len(tag).to_bytes(3, "big") + tag
    signature = with_time_stamp((VECTORS / "SignedValueV4.dat").read_bytes(), token)
    started = time.monotonic()
    reply = await seal_stub("app:archive").VerifySealedDocument(
        pb.VerifySealedDocumentRequest(signature=signature, document=b"any")
    )
    took = time.monotonic() - started
    # ofdrw's signer signature holds; the token is checked next
    assert [c.name for c in reply.checks] == ["decode", "signature", "timestamp"]
    assert reply.verdict == "BAD_TIMESTAMP"
    detail = reply.checks[-1].detail
    assert "tag number" in detail and "4300 digits" not in detail, detail
    assert took < 2.0, took  # read at once, not digit by digit (CI's load: 0.66 s)


@pytest.mark.parametrize("seal_type", [2**63, -(2**63) - 1, 2**70])
async def test_inspect_of_a_seal_type_beyond_int64_is_not_internal(
    seal_stub, seal_type
):
    seal = SESeal.load((VECTORS / "UserV4.esl").read_bytes())
    seal["e_seal_info"]["property"]["type"] = seal_type
    data = seal.dump(force=True)
    try:
        reply = await seal_stub("app:archive").InspectSes(
            pb.InspectSesRequest(data=data)
        )
    except grpc.aio.AioRpcError as err:
        assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, err.details()
        field = dict(err.trailing_metadata()).get("certseal-error-field")
        assert field == "data"
        return
    assert str(seal_type) in "\n".join(reply.lines)


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + b"\x83" + len(body).to_bytes(3, "big") + body


async def test_a_long_tag_nested_in_a_tokens_tst_info_is_refused_at_once(seal_stub):
    """atk15 F5, the same kind: the long tag number inside the OCTET STRING that
    holds the TSTInfo, which the header walk of the token does not enter."""
    inner = b"\x30\x83" + (60_003).to_bytes(3, "big")
    inner += b"\x1f" + b"\x81" * 60_000 + b"\x01\x00"
    encap = _tlv(
        0x30,
        bytes.fromhex("060b2a864886f70d0109100104") + _tlv(0xA0, _tlv(0x04, inner)),
    )
    sha256 = _tlv(0x30, bytes.fromhex("0609608648016503040201"))
    signed_data = _tlv(
        0x30, bytes.fromhex("020103") + _tlv(0x31, sha256) + encap + _tlv(0x31, b"")
    )
    token = _tlv(
        0x30, bytes.fromhex("06092a864886f70d010702") + _tlv(0xA0, signed_data)
    )
    signature = with_time_stamp((VECTORS / "SignedValueV4.dat").read_bytes(), token)
    started = time.monotonic()
    reply = await seal_stub("app:archive").VerifySealedDocument(
        pb.VerifySealedDocumentRequest(signature=signature, document=b"any")
    )
    assert time.monotonic() - started < 2.0  # at once, as the PDF tests bound it
    assert reply.verdict == "BAD_TIMESTAMP"
    assert "tag number" in reply.checks[-1].detail, reply.checks[-1].detail


async def test_inspect_of_a_signatures_seal_type_beyond_int64_names_data(seal_stub):
    """atk15 F8, the same kind: the seal inside an SES_Signature."""
    signature = SESSignature.load((VECTORS / "SignedValueV4.dat").read_bytes())
    signature["to_sign"]["eseal"]["e_seal_info"]["property"]["type"] = 2**64
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await seal_stub("app:archive").InspectSes(
            pb.InspectSesRequest(data=signature.dump(force=True))
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert dict(err.value.trailing_metadata()).get("certseal-error-field") == "data"
    assert "property.type" in (err.value.details() or "")


def test_a_long_tag_in_a_certificate_extension_is_refused_at_once():
    """atk15 F5, the same kind: a certificate in an SES (or a token) whose extension
    value, DER nested in an OCTET STRING, holds a long tag number; validating a path
    parses every extension (asn1crypto's critical_extensions)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    from services.seal.certificates import read_certificate
    from services.seal.trust import TrustStore, validate_path

    tag = b"\x1f" + b"\x81" * 200_000 + b"\x01\x00"
    value = b"\x30\x83" + len(tag).to_bytes(3, "big") + tag
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "long tag")])
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(at)
        .not_valid_after(at + dt.timedelta(days=1))
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.19"), value),
            critical=True,
        )
        .sign(key, hashes.SHA256())
        .public_bytes(Encoding.DER)
    )
    started = time.monotonic()
    result = validate_path(cert, TrustStore(), at)
    with pytest.raises(ValueError, match="tag number"):
        read_certificate(cert)
    assert time.monotonic() - started < 2.0  # at once, as the PDF tests bound it
    assert not result.ok and "tag number" in result.detail, result.detail


def test_a_certificate_with_a_zoneless_validity_is_refused_by_name():
    """atk15 F12, the same kind in SES: a GeneralizedTime without Z in a
    certificate's validity (RFC 5280 4.1.2.5 wants Z) is read by asn1crypto as a
    naive datetime; it is refused by name, never compared with an aware time."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    from certseal.der import tlv
    from services.seal.certificates import read_certificate
    from services.seal.trust import TrustStore, validate_path

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "zoneless")])
    at = dt.datetime(2051, 1, 1, tzinfo=dt.UTC)  # GeneralizedTime from 2050
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(at)
        .not_valid_after(at + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
        .public_bytes(Encoding.DER)
    )

    def children(data: bytes) -> list[bytes]:
        """The DER elements inside the SEQUENCE ``data`` (definite lengths)."""

        def end_of(at: int) -> tuple[int, int]:  # (start of contents, end)
            size, at = data[at + 1], at + 2
            if size & 0x80:
                count = size & 0x7F
                size, at = int.from_bytes(data[at : at + count], "big"), at + count
            return at, at + size

        out, (at, end) = [], end_of(0)
        while at < end:
            out.append(data[at : end_of(at)[1]])
            at = end_of(at)[1]
        return out

    cert_parts = children(cert)
    tbs = [
        tlv(0x30, tlv(0x18, b"20510101000000") + tlv(0x18, b"20510102000000"))
        if b"20510101000000Z" in part
        else part
        for part in children(cert_parts[0])
    ]
    zoneless = tlv(0x30, tlv(0x30, b"".join(tbs)) + b"".join(cert_parts[1:]))
    result = validate_path(zoneless, TrustStore(), at)
    assert not result.ok and "no zone" in result.detail, result.detail
    with pytest.raises(ValueError, match="no zone"):
        read_certificate(zoneless)
