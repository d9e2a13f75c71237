"""atk15c: today's PDF verification fixes attacked from outside. Each finding is an
xfail(strict=True) test until it is fixed."""

from __future__ import annotations

import io
from typing import Any

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from certseal.der import _header
from certseal.v1 import seal_pb2 as pb
from tests.conftest import seal_owner
from tests.seal.test_atk15_pdf import sealed_pdf, signed_visibly_by_stranger


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


async def test_a_later_signature_in_ber_leaves_the_seal_verifiable(seal_stub, operator):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal_id, sealed = await sealed_pdf(stub)
    # invisible: a stranger's visible signature would make the seal MODIFIED (atk16
    # F5, tests/seal/test_atk16_pdf.py); here only its BER is in question
    stranger = await signed_visibly_by_stranger(sealed, box=(0, 0, 0, 0))
    pdf = _last_signature_in_ber(stranger)
    assert b"/Contents <308006" in pdf  # the later signature's CMS, in BER
    found = (await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=pdf))).seals
    ours, theirs = found
    assert (ours.seal_id, ours.verdict) == (seal_id, "VALID"), ours.detail
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


async def test_a_document_timestamp_after_a_seal_is_no_bad_signature(
    seal_stub, operator
):
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    _, sealed = await sealed_pdf(stub)
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


def _last_contents_replaced(pdf: bytes, contents: bytes) -> bytes:
    """``pdf`` with its last signature's /Contents replaced by ``contents`` (zero
    padded; the signed byte ranges untouched)."""
    signature = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures[-1]
    _, gap_at, after, _ = signature.byte_range
    hex_at, hex_end = gap_at + 1, after - 1
    data = contents.hex().encode()
    assert len(data) <= hex_end - hex_at
    return pdf[:hex_at] + data.ljust(hex_end - hex_at, b"0") + pdf[hex_end:]


#: later signatures' /Contents that are no CMS within the bounds, or no CMS at all
_JUNK = {
    "indefinite_never_closed": b"\x30\x80\x30\x80\x02\x01\x05",
    "long_tag_number": b"\x30\x0a\x1f" + b"\x81" * 6 + b"\x01\x00\x00",
    "indefinite_primitive": b"\x30\x80\x04\x80\x00\x00\x00\x00",
    "too_deep": b"\x30\x80" * 40 + b"\x00\x00" * 40,
    "eoc_past_its_parent": b"\x30\x05\x30\x80\x02\x01\x05\x00\x00",
    "not_a_cms": b"\x30\x03\x02\x01\x05",
    "ber_not_a_cms": b"\x30\x80\x02\x01\x05\x00\x00",
    "garbage_after": b"\x30\x80\x02\x01\x05\x00\x00\x01",
}


@pytest.mark.parametrize("junk", sorted(_JUNK))
@pytest.mark.parametrize("visible", [False, True])
async def test_a_later_junk_signature_is_its_own_failure(
    seal_stub, operator, junk, visible
):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal_id, sealed = await sealed_pdf(stub)
    box = (300, 300, 400, 400) if visible else (0, 0, 0, 0)
    pdf = _last_contents_replaced(
        await signed_visibly_by_stranger(sealed, box=box), _JUNK[junk]
    )
    found = (await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=pdf))).seals
    ours, theirs = found
    # a visible junk signature shows a stamp nobody vouches for: a change after the
    # seal; an invisible one changes nothing shown and the seal stays VALID
    expected = "MODIFIED" if visible else "VALID"
    assert (ours.seal_id, ours.verdict) == (seal_id, expected), ours.detail
    assert (theirs.field_name, theirs.verdict) == ("Stranger", "BAD_SIGNATURE")
    assert not theirs.intact and theirs.modified and theirs.detail


async def _sealed_then_stamped(stub) -> tuple[str, bytes, Any]:
    """A certseal-sealed PDF with a document timestamp after the seal, and the TSA."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    seal_id, sealed = await sealed_pdf(stub)
    tsa = _rsa_tsa()
    writer = IncrementalPdfFileWriter(io.BytesIO(sealed), strict=False)
    stamped = await signers.PdfTimeStamper(tsa).async_timestamp_pdf(writer, "sha256")
    return seal_id, stamped.getvalue(), tsa


def _flipped_near_end(pdf: bytes) -> bytes:
    """``pdf`` with a byte of its last signature's CMS (its signature value, at the
    end of the SignerInfo) flipped."""
    signature = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures[-1]
    contents = bytes(signature.pkcs7_content)
    cms = bytearray(contents[: _header(contents, 0, len(contents))[2]])
    cms[-5] ^= 0x01
    return _last_contents_replaced(pdf, bytes(cms))


@pytest.mark.parametrize(
    ("change", "trusted", "verdict", "modified"),
    [
        ("none", True, "DOCUMENT_TIMESTAMP", False),
        ("none", False, "UNTRUSTED_TIMESTAMP", False),
        ("ber", True, "DOCUMENT_TIMESTAMP", False),
        ("flipped", True, "BAD_TIMESTAMP", False),
        ("repainted_after", True, "MODIFIED", True),
    ],
)
async def test_a_document_timestamp_is_reported_as_a_timestamp(
    seal_stub, operator, seal_app, change, trusted, verdict, modified
):
    from tests.seal.test_atk15_pdf import field_repainted

    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal_id, pdf, tsa = await _sealed_then_stamped(stub)
    if change == "ber":
        pdf = _last_signature_in_ber(pdf)
    elif change == "flipped":
        pdf = _flipped_near_end(pdf)
    elif change == "repainted_after":
        pdf = field_repainted(pdf, seal_id and _seal_field(pdf))
    kept = seal_app.pdfs._tsa_roots
    if trusted:
        seal_app.pdfs._tsa_roots = (*kept, tsa.tsa_cert.dump())
    try:
        ours, stamp = (await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=pdf))).seals
    finally:
        seal_app.pdfs._tsa_roots = kept
    assert (stamp.verdict, stamp.modified) == (verdict, modified), stamp.detail
    assert stamp.seal_id == "" and "document timestamp" in stamp.detail
    assert stamp.signed_at.seconds > 0 or verdict == "BAD_TIMESTAMP"
    expected = "MODIFIED" if change == "repainted_after" else "VALID"
    assert (ours.seal_id, ours.verdict) == (seal_id, expected), ours.detail


def _seal_field(pdf: bytes) -> str:
    """The first signature's field name."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    return str(reader.embedded_signatures[0].field_name)
