"""atk15c: today's PDF verification fixes attacked from outside. Each finding is an
xfail(strict=True) test until it is fixed."""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from certseal.der import _header
from certseal.v1 import seal_pb2 as pb
from tests.conftest import blank_pdf, seal_owner
from tests.seal.test_atk15_pdf import signed_visibly_by_stranger


def _indefinite(cms: bytes) -> bytes:
    """The same CMS ContentInfo in BER as BouncyCastle's CMSSignedDataGenerator (and
    most signing tools) write it: ContentInfo, its [0] and the SignedData with
    indefinite lengths; the SignedData's contents, signature included, unchanged."""
    start, _, end = _header(cms, 0, len(cms))
    oid_end = _header(cms, start, end)[2]
    wrapped, _, _ = _header(cms, oid_end, end)
    body, _, body_end = _header(cms, wrapped, end)
    return (
        b"\x30\x80"
        + cms[start:oid_end]
        + b"\xa0\x80\x30\x80"
        + cms[body:body_end]
        + b"\x00" * 6
    )


def _last_signature_in_ber(pdf: bytes) -> bytes:
    """``pdf`` with its last signature's /Contents re-encoded by :func:`_indefinite`
    (the signed byte ranges are untouched: /Contents lies between them)."""
    signature = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures[-1]
    _, gap_at, after, _ = signature.byte_range
    hex_at, hex_end = gap_at + 1, after - 1  # inside < >
    contents = bytes(signature.pkcs7_content)
    cms = contents[: _header(contents, 0, len(contents))[2]]  # without the padding
    ber = _indefinite(cms).hex().encode()
    assert len(ber) <= hex_end - hex_at
    return pdf[:hex_at] + ber.ljust(hex_end - hex_at, b"0") + pdf[hex_end:]


@pytest.mark.xfail(
    strict=True,
    reason="atk15c: certseal.der.check (run on every /Contents before pyHanko) refuses "
    "indefinite lengths, but CMS is BER (RFC 5652) and most signing tools write "
    "SignedData with indefinite lengths (BouncyCastle's CMSSignedDataGenerator; "
    "61% of 39 real signed PDFs in pdf_oxide#1383): one such later signature makes "
    "VerifyPdf INVALID_ARGUMENT for the whole PDF, certseal's own seal unverified",
)
async def test_a_later_signature_in_ber_leaves_the_seal_verifiable(seal_stub, operator):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal = (
        await stub.RegisterSeal(
            pb.RegisterSealRequest(seal_type="official", name="示例公司", suite="es256")
        )
    ).seal
    sealed = (
        await stub.SealPdf(pb.SealPdfRequest(seal_id=seal.seal_id, pdf=blank_pdf()))
    ).pdf
    pdf = _last_signature_in_ber(await signed_visibly_by_stranger(sealed))
    assert b"/Contents <308006" in pdf  # the later signature's CMS, in BER
    found = (await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=pdf))).seals
    ours, theirs = found
    assert (ours.seal_id, ours.verdict) == (seal.seal_id, "VALID"), ours.detail
    assert theirs.intact, theirs.detail


def _rsa_tsa():
    """A self-made RSA TSA (pyHanko's DummyTimeStamper is RSA-only)."""
    import datetime as dt

    from asn1crypto import keys, x509
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, "a TSA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        cx509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(cx509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            cx509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    return DummyTimeStamper(
        tsa_cert=x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        tsa_key=keys.PrivateKeyInfo.load(
            key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        ),
    )


@pytest.mark.xfail(
    strict=True,
    reason="atk15c (older than today's fixes): a PAdES document timestamp "
    "(/DocTimeStamp, B-LTA, what archiving tools add after a seal) is validated as a "
    "signature: pyHanko refuses it ('Signature object type must be /Sig') and "
    "VerifyPdf lists it as BAD_SIGNATURE, modified, beside the seal it protects",
)
async def test_a_document_timestamp_after_a_seal_is_no_bad_signature(
    seal_stub, operator
):
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal = (
        await stub.RegisterSeal(
            pb.RegisterSealRequest(seal_type="official", name="示例公司", suite="es256")
        )
    ).seal
    sealed = (
        await stub.SealPdf(pb.SealPdfRequest(seal_id=seal.seal_id, pdf=blank_pdf()))
    ).pdf
    writer = IncrementalPdfFileWriter(io.BytesIO(sealed), strict=False)
    stamped = await signers.PdfTimeStamper(_rsa_tsa()).async_timestamp_pdf(
        writer, "sha256"
    )
    ours, stamp = (
        await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=stamped.getvalue()))
    ).seals
    assert (ours.verdict, ours.modified) == ("VALID", False), ours.detail
    assert stamp.verdict != "BAD_SIGNATURE", stamp.detail
    assert not stamp.modified and stamp.intact, stamp.detail
