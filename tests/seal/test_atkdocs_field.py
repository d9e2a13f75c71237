"""atk-docs: real-world documents and seals of the kinds certseal claims to handle,
made by other producers and platforms, that it got wrong (F1 to F7, each failed on
main at 118d12c and was mended).

Beside each finding, a control shows the input is otherwise what the test says it is. Inputs: ofdrw's
test resources (tests/seal/data/ofdrw_field, README there) and seals built with ofdrw's
own test keys in the variants other platforms write (tests/seal/ses_platforms.py).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import pytest
from asn1crypto import core
from asn1crypto import x509 as asn1_x509

from certseal.crypto import Suite, signature_from_der, verify
from certseal.v1 import seal_pb2 as pb
from services.seal.domain import SealVerdict, verify_sealed_document
from services.seal.ofd_sign import StampPlace, prepare_seal
from services.seal.pdf import Placement, seal_pdf
from services.seal.pdf_verify import read_pdf_seals
from services.seal.ses_read import read_signature
from tests.seal.field_pdfs import Page, Tree, page_pdf
from tests.seal.ofd_samples import make_ofd, unzip, zip_files
from tests.seal.ses_platforms import (
    SIGNED_AT,
    TRUST,
    bits,
    raw_to_der,
    seal_files,
    seal_v4,
    seq,
    signature_v1,
    signature_v4,
    v1_seal_maker,
    v4_seal_maker,
)
from tests.seal.test_field_pdfs import keys, seal_ca, top_half_picture  # noqa: F401
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401

FIELD = Path(__file__).parent / "data" / "ofdrw_field"
NOW = dt.datetime(2026, 12, 4, tzinfo=dt.UTC)
DOCUMENT = b'<?xml version="1.0"?><ofd:Signature>sealed</ofd:Signature>'


def _verify(signature: bytes, document: bytes, **kwargs):  # type: ignore[no-untyped-def]
    return verify_sealed_document(
        signature, document=document, trust=TRUST, seal_status=None, now=NOW, **kwargs
    )


def _field(name: str) -> bytes:
    return (FIELD / name).read_bytes()


def _with_der_signature(signature: bytes) -> bytes:
    """A v4 SES_Signature whose r||s ``signature`` is written as DER instead: the
    signed bytes are unchanged, so the signature holds as before."""
    outer = core.Sequence.load(signature)
    parts = [outer[i].dump() for i in range(len(outer))]
    raw = core.OctetBitString.load(parts[3]).native
    parts[3] = bits(raw_to_der(raw))
    return seq(*parts)


# --- F1: an SM2 signature written as r||s is called forged -------------------------


def test_a_real_raw_r_s_signature_is_not_called_forged():
    # Shandong's seal platform (淄博市周村区自然资源局), ofdrw's keyword.ofd Sign_1:
    # its maker signature is DER, its signer signature the 64 bytes r||s
    signature = _field("keyword_Sign_1.SignedValue.dat")
    assert len(read_signature(signature).signature) == 64
    result = _verify(signature, _field("keyword_Sign_1.Signature.xml"))
    # GB/T 35276 writes SM2 signatures as DER: refusing the encoding is MALFORMED;
    # BAD_SIGNATURE says the signature does not hold, which is false
    assert result.verdict is not SealVerdict.BAD_SIGNATURE, result.checks
    # read as the DER control below reads it: only its platform's root is untrusted
    assert result.verdict is SealVerdict.UNTRUSTED_SEAL, result.checks


def test_the_same_real_signature_as_der_holds():
    """The control: only the encoding differs, the signature holds (its platform's
    root is not trusted here, so the first check to fail is the seal's)."""
    signature = _with_der_signature(_field("keyword_Sign_1.SignedValue.dat"))
    result = _verify(signature, _field("keyword_Sign_1.Signature.xml"))
    assert [c.name for c in result.checks if c.passed] == [
        "decode",
        "signature",
        "signer",
    ]
    assert result.verdict is SealVerdict.UNTRUSTED_SEAL


@pytest.mark.parametrize("make", [signature_v4, signature_v1], ids=["v4", "v1"])
def test_a_trusted_platforms_raw_r_s_signature_is_not_called_forged(make):
    signature = make(DOCUMENT, form="raw")
    result = _verify(signature, DOCUMENT)
    assert result.verdict in (SealVerdict.VALID, SealVerdict.MALFORMED), result.checks


# --- F2: a real seal certificate with a non-ASCII IA5String ------------------------


def test_the_yunnan_signature_holds_with_its_certificates_key():
    """The control: the signer certificate of 云南省住房和城乡建设厅's seal (YNCA,
    ofdrw's zsbk.ofd) carries an emailAddress IA5String holding UTF-8 ("电子邮箱");
    its key, read without decoding the names, verifies the signature."""
    sig = read_signature(_field("zsbk_Sign_0.SignedValue.dat"))
    cert = asn1_x509.Certificate.load(sig.signer_cert)
    key = cert["tbs_certificate"]["subject_public_key_info"].dump()
    verify(Suite.SM2, key, sig.signed, signature_from_der(Suite.SM2, sig.signature))


def test_a_certificate_name_that_cannot_be_decoded_is_no_bad_signature():
    result = _verify(
        _field("zsbk_Sign_0.SignedValue.dat"), _field("zsbk_Sign_0.Signature.xml")
    )
    # the signature holds (control above): whatever certseal makes of the name
    # (MALFORMED, CERTIFICATE_NOT_VALID, UNTRUSTED_SEAL), it is not a bad signature
    assert result.verdict is not SealVerdict.BAD_SIGNATURE, result.checks
    # the signature and the signer hold; only YNCA's platform is not trusted here
    assert result.verdict is SealVerdict.UNTRUSTED_SEAL, result.checks
    assert result.signer == "53011200000556"


# --- F3: a GB/T 20520 (SM2/SM3) time-stamp token --------------------------------


STAMPED_AT = SIGNED_AT + dt.timedelta(seconds=5)


def test_the_signature_without_its_token_is_valid():
    result = _verify(signature_v4(DOCUMENT), DOCUMENT)
    assert result.verdict is SealVerdict.VALID, result.checks


def test_a_p256_tsa_token_makes_the_signing_time(p256_tsa):
    """The control: the same signature stamped by a P-256 TSA (as certseal's own)."""
    signature = signature_v4(
        DOCUMENT, time_stamp=lambda value: p256_tsa.token(value, STAMPED_AT)
    )
    result = _verify(signature, DOCUMENT, tsa_trust=p256_tsa.trust)
    assert result.verdict is SealVerdict.VALID, result.checks
    assert result.signed_at == STAMPED_AT
    [stamp] = [c.detail for c in result.checks if c.name == "timestamp"]
    assert f"stamped the signature at {STAMPED_AT.isoformat()}" in stamp


def test_an_sm2_tsa_token_from_a_trusted_tsa_makes_the_signing_time(sm2_tsa):
    signature = signature_v4(
        DOCUMENT, time_stamp=lambda value: sm2_tsa.token(value, STAMPED_AT)
    )
    result = _verify(signature, DOCUMENT, tsa_trust=sm2_tsa.trust)
    assert result.verdict is SealVerdict.VALID, result.checks
    assert result.signed_at == STAMPED_AT


# --- F7: GM/T 0031 v1 timeInfo as ofdrw writes it, or a token ---------------------


def test_a_v1_signature_with_a_utc_time_is_valid():
    result = _verify(signature_v1(DOCUMENT), DOCUMENT)
    assert result.verdict is SealVerdict.VALID, result.checks


def test_ofdrws_v1_time_info_is_read():
    # ofdrw-sign SESV1Container: LocalDateTime.now() formatted "yyyy-MM-dd HH:mm:ss",
    # its UTF-8 bytes in the BIT STRING (ofdrw's own v1 verifier accepts it)
    signature = signature_v1(DOCUMENT, time_info=b"2021-06-01 16:00:00")
    result = _verify(signature, DOCUMENT)
    assert result.verdict is not SealVerdict.MALFORMED, result.checks


def test_a_v1_time_info_holding_a_token_is_read(p256_tsa):
    signature = signature_v1(DOCUMENT, time_info=p256_tsa.token(DOCUMENT, STAMPED_AT))
    result = _verify(signature, DOCUMENT, tsa_trust=p256_tsa.trust)
    assert result.verdict is not SealVerdict.MALFORMED, result.checks


# --- F4: GM/T 0031 v1 seals on OFDs are never intact -------------------------------


def _ofd_sealed(*makers) -> bytes:  # type: ignore[no-untyped-def]
    files = unzip(make_ofd())
    for make in makers:
        signed_value, seal = make()
        files = seal_files(files, signed_value=signed_value, seal=seal)
    return zip_files(files)


async def _verify_ofd(stack, app, package: bytes) -> list[pb.OfdSignatureResult]:  # type: ignore[no-untyped-def]
    stub = stub_for(stack, app, "app:archive")
    return list((await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=package))).signatures)


async def test_two_v4_seals_of_another_platform_are_both_valid_and_intact(
    stack,
    trusting_app,  # noqa: F811
):
    results = await _verify_ofd(
        stack, trusting_app, _ofd_sealed(v4_seal_maker, v4_seal_maker)
    )
    assert [(r.verdict, r.intact) for r in results] == [("VALID", True)] * 2


async def test_a_v1_sealed_ofd_is_intact(stack, trusting_app):  # noqa: F811
    [result] = await _verify_ofd(stack, trusting_app, _ofd_sealed(v1_seal_maker))
    assert result.verdict == "VALID", result.checks
    assert result.intact


async def test_a_v1_seal_after_a_v4_seal_leaves_it_valid(stack, trusting_app):  # noqa: F811
    results = await _verify_ofd(
        stack, trusting_app, _ofd_sealed(v4_seal_maker, v1_seal_maker)
    )
    assert [r.verdict for r in results] == ["VALID", "VALID"], [
        list(r.checks) for r in results
    ]


# --- F5: SealOfd gives a new seal an ID the document already uses ------------------


def _ids(package: bytes, pattern: str) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        text = b"".join(
            archive.read(n) for n in archive.namelist() if n.endswith(".xml")
        ).decode()
    return re.findall(pattern, text)


def test_sealing_ofdrws_h_ofd_gives_the_new_seal_an_unused_id():
    package = _field("h.ofd")
    before = _ids(package, r'<ofd:Signature ID="([^"]+)"')
    assert before == ["s001", "s007"]
    prepared = prepare_seal(
        package,
        seal=seal_v4(),
        suite=Suite.SM2,
        stamp_mm=(40.0, 40.0),
        place=StampPlace(),
        signed_at_text="2021-06-01 08:00:00",
    )
    # GB/T 33190 §18: a signature's ID is unique among the document's signatures
    assert prepared.signature_id not in before


# --- F6: a PDF whose page has /Annots null fails SealPdf with INTERNAL --------------


@pytest.mark.parametrize("annots", [b" /Annots null", b" /Annots 99 0 R"])
async def test_a_page_with_null_annots_is_sealed_or_refused(seal_ca, keys, annots):  # noqa: F811
    # ISO 32000-1 §7.3.9, §7.3.10: /Annots null (or a reference to a missing object)
    # is no /Annots, so the page is sealed as one without annotations
    pdf = page_pdf(Tree(pages=(Page(extra=annots),)))
    signer, cert = keys[Suite.ES256]
    sealed = await seal_pdf(
        pdf,
        signer=signer,
        cert=cert,
        ca=seal_ca.cert,
        picture_png=top_half_picture(),
        placement=Placement(page=0, x_mm=20, y_mm=20),
        new_field_name="Seal-null-annots",
    )
    found = await read_pdf_seals(sealed, ca=seal_ca.cert)
    assert [(s.field_name, s.intact, s.trusted, s.modified) for s in found] == [
        ("Seal-null-annots", True, True, False)
    ]
