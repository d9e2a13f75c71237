"""Every time comparison of the seal verdicts, at, just before and just after it.

``services/seal/domain.py`` compares the signing time (``timeInfo`` of an SES_Signature,
GeneralizedTime in whole seconds; the PAdES signing time of a PDF) with:

- the seal's validity ``[valid_start, valid_end]`` (both ends included);
- the seal's revocation time (signed at or after it: not valid; for SES the revocation
  is compared at whole seconds, the signing second counting as after it);
- the signer certificate's validity ``[notBefore, notAfter]`` (RFC 5280 4.1.2.5, both
  ends included).

Never with now: a document sealed while the seal was valid stays sealed.
"""

import dataclasses
import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certseal.crypto import SoftwareSigner, Suite, digest, generate_key
from certseal.devpki import DevCA
from services.seal.certificates import issue_certificate
from services.seal.domain import (
    SealStatus,
    SealVerdict,
    pdf_seal_verdict,
    verify_sealed_document,
)
from services.seal.ses import (
    Picture,
    SESeal,
    SESSignature,
    make_seal,
    seal_info,
    sign_document,
)

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
SIGNED = NOW - dt.timedelta(days=1)  # when the documents below were sealed
US = dt.timedelta(microseconds=1)
SECOND = dt.timedelta(seconds=1)
DAY = dt.timedelta(days=1)
DOCUMENT = b"%PDF-1.7 boundaries"
ACTIVE = SealStatus("active")
ORDER = ["decode", "signature", "signer", "seal", "signer certificate", "data hash"]


@dataclasses.dataclass
class Pki:
    ca: bytes
    ca_key: object
    maker: tuple[SoftwareSigner, bytes]

    def signer(self, name: str, *, not_before=NOW - 30 * DAY, not_after=NOW + 30 * DAY):
        key = generate_key(Suite.ED25519)
        cert = issue_certificate(
            ca_key=self.ca_key,
            ca_cert=self.ca,
            common_name=name,
            public_key_der=key.public_key_der,
            not_before=not_before,
            not_after=not_after,
        )
        return SoftwareSigner(
            Suite.ED25519, key.private_bytes, key.public_key_der
        ), cert


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    folder = tmp_path_factory.mktemp("seal-ca")
    ca = DevCA(folder)
    cert = x509.load_pem_x509_certificate(ca.ca_file.read_bytes())
    key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), None)
    pki = Pki(cert.public_bytes(serialization.Encoding.DER), key, None)  # type: ignore[arg-type]
    pki.maker = pki.signer("service:seal-maker")
    return pki


async def sealed(
    pki: Pki,
    *,
    signed_at: dt.datetime = SIGNED,
    valid: tuple[dt.datetime, dt.datetime] = (SIGNED - DAY, SIGNED + DAY),
    key=None,
) -> bytes:
    signer, cert = key or pki.signer("seal:91350100M000100Y43-001")
    info = seal_info(
        es_id="91350100M000100Y43-001",
        seal_type="official",
        name="示例市交通运输局",
        signer_certs=[cert],
        created=valid[0],
        valid_start=valid[0],
        valid_end=valid[1],
        picture=Picture("png", b"\x89PNG\r\n\x1a\n", 42, 42),
    )
    seal = await make_seal(info, maker=pki.maker[0], maker_cert=pki.maker[1])
    return await sign_document(
        seal,
        data_hash=digest(Suite.ED25519, DOCUMENT),
        signed_at=signed_at,
        property_info="x.pdf",
        signer=signer,
        signer_cert=cert,
    )


def check(pki: Pki, signature: bytes, *, status=ACTIVE, now=NOW):
    return verify_sealed_document(
        signature, document=DOCUMENT, seal_ca=pki.ca, seal_status=status, now=now
    )


def assert_valid(result) -> None:
    assert result.verdict is SealVerdict.VALID, result.checks
    assert [c.name for c in result.checks] == [*ORDER, "seal status"]
    assert all(c.passed for c in result.checks)


def assert_failed(result, verdict: SealVerdict, check_name: str) -> None:
    assert result.verdict is verdict, result.checks
    *before, last = result.checks
    assert [c.name for c in before] == ORDER[: ORDER.index(check_name)]
    assert all(c.passed for c in before)
    assert (last.name, last.passed) == (check_name, False)
    assert result.signed_at == SIGNED and result.seal_id == "91350100M000100Y43-001"


# -- the seal's validity at signing time ------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "verdict"),
    [
        (-SECOND, SealVerdict.SEAL_NOT_VALID),  # signed before the seal began
        (dt.timedelta(0), SealVerdict.VALID),  # valid_start is included
        (SECOND, SealVerdict.VALID),
    ],
)
async def test_seal_validity_start(pki, offset, verdict):
    start = SIGNED - offset
    result = check(pki, await sealed(pki, valid=(start, start + DAY)))
    if verdict is SealVerdict.VALID:
        assert_valid(result)
        assert result.checks[3].detail == "示例市交通运输局 valid when used"
    else:
        assert_failed(result, verdict, "seal")
        assert result.checks[-1].detail == (
            f"signed {SIGNED.isoformat()}, outside the seal's validity "
            f"{start.isoformat()} to {(start + DAY).isoformat()}"
        )


@pytest.mark.parametrize(
    ("offset", "verdict"),
    [
        (-SECOND, SealVerdict.VALID),
        (dt.timedelta(0), SealVerdict.VALID),  # valid_end is included
        (SECOND, SealVerdict.SEAL_NOT_VALID),  # signed after the seal ended
    ],
)
async def test_seal_validity_end(pki, offset, verdict):
    end = SIGNED - offset
    result = check(pki, await sealed(pki, valid=(end - DAY, end)))
    if verdict is SealVerdict.VALID:
        assert_valid(result)
    else:
        assert_failed(result, verdict, "seal")


async def test_the_seal_window_is_compared_with_the_signing_time_not_now(pki):
    signature = await sealed(pki, valid=(SIGNED, SIGNED))
    assert_valid(check(pki, signature, now=SIGNED + 400 * DAY))
    assert_valid(check(pki, signature, now=SIGNED - 400 * DAY))


async def test_an_expired_seal_is_not_valid_before_it_is_unknown(pki):
    signature = await sealed(pki, valid=(SIGNED - DAY, SIGNED - SECOND))
    assert_failed(
        check(pki, signature, status=None), SealVerdict.SEAL_NOT_VALID, "seal"
    )
    unknown = check(pki, await sealed(pki), status=None)
    assert_failed(unknown, SealVerdict.UNKNOWN_SEAL, "seal")
    assert unknown.checks[-1].detail == (
        "seal 91350100M000100Y43-001 is not registered here"
    )


# -- the seal's revocation at signing time ---------------------------------------------


@pytest.mark.parametrize(
    ("offset", "verdict"),
    [
        (-SECOND, SealVerdict.SEAL_NOT_VALID),  # signed after the revocation
        (dt.timedelta(0), SealVerdict.SEAL_NOT_VALID),  # signed at it
        (US, SealVerdict.SEAL_NOT_VALID),  # the signing second: the safe side
        (dt.timedelta(microseconds=999_999), SealVerdict.SEAL_NOT_VALID),
        (SECOND, SealVerdict.VALID),  # signed the second before
    ],
)
async def test_seal_revocation_against_the_signing_time(pki, offset, verdict):
    revoked_at = SIGNED + offset
    status = SealStatus("revoked", revoked_at)
    result = check(pki, await sealed(pki), status=status)
    if verdict is SealVerdict.VALID:
        assert result.verdict is SealVerdict.VALID, result.checks
        assert result.current_status == "revoked"
        assert result.checks[-1].detail == f"revoked since {revoked_at.isoformat()}"
    else:
        assert_failed(result, verdict, "seal")
        assert result.checks[-1].detail == (
            f"signed {SIGNED.isoformat()}, after the seal was revoked "
            f"{revoked_at.isoformat()}"
        )


async def test_a_current_seal_shows_its_status_without_a_time(pki):
    result = check(pki, await sealed(pki))
    assert result.current_status == "active" and result.checks[-1].detail == "active"


# -- the signer certificate at signing time -----------------------------------------


@pytest.mark.parametrize(
    ("not_before", "not_after", "verdict"),
    [
        (SIGNED - SECOND, SIGNED + DAY, SealVerdict.VALID),
        (SIGNED, SIGNED + DAY, SealVerdict.VALID),  # notBefore is included
        (SIGNED + SECOND, SIGNED + DAY, SealVerdict.CERTIFICATE_NOT_VALID),
        (SIGNED - DAY, SIGNED + SECOND, SealVerdict.VALID),
        (SIGNED - DAY, SIGNED, SealVerdict.VALID),  # notAfter is included
        (SIGNED - DAY, SIGNED - SECOND, SealVerdict.CERTIFICATE_NOT_VALID),
    ],
)
async def test_signer_certificate_validity(pki, not_before, not_after, verdict):
    key = pki.signer("seal:x", not_before=not_before, not_after=not_after)
    result = check(pki, await sealed(pki, key=key))
    if verdict is SealVerdict.VALID:
        assert_valid(result)
        assert result.checks[4].detail == f"valid until {not_after.isoformat()}"
    else:
        assert_failed(result, verdict, "signer certificate")


# -- the seals of a PDF (PAdES signing time, to the microsecond) -------------------


def pdf(**changes) -> SealVerdict:
    values = dict(
        intact=True,
        modified=False,
        trusted=True,
        signed_at=SIGNED,
        seal_valid=(SIGNED - DAY, SIGNED + DAY),
        status=ACTIVE,
    )
    values.update(changes)
    return pdf_seal_verdict(**values)


@pytest.mark.parametrize(
    ("signed_at", "verdict"),
    [
        (SIGNED - DAY - US, SealVerdict.SEAL_NOT_VALID),
        (SIGNED - DAY, SealVerdict.VALID),  # the seal's start is included
        (SIGNED - DAY + US, SealVerdict.VALID),
        (SIGNED + DAY - US, SealVerdict.VALID),
        (SIGNED + DAY, SealVerdict.VALID),  # and its end
        (SIGNED + DAY + US, SealVerdict.SEAL_NOT_VALID),
        (None, SealVerdict.SEAL_NOT_VALID),  # no signing time: not shown valid
    ],
)
def test_pdf_seal_validity(signed_at, verdict):
    assert pdf(signed_at=signed_at) is verdict


@pytest.mark.parametrize(
    ("revoked_at", "verdict"),
    [
        (SIGNED - US, SealVerdict.SEAL_NOT_VALID),
        (SIGNED, SealVerdict.SEAL_NOT_VALID),  # signed at the revocation
        (SIGNED + US, SealVerdict.VALID),
        (None, SealVerdict.VALID),
    ],
)
def test_pdf_seal_revocation(revoked_at, verdict):
    assert pdf(status=SealStatus("revoked", revoked_at)) is verdict


def test_pdf_seal_verdict_order():
    late = SIGNED + 2 * DAY
    assert pdf(intact=False, modified=True, trusted=False, seal_valid=None) is (
        SealVerdict.BAD_SIGNATURE
    )
    assert pdf(modified=True, trusted=False, seal_valid=None) is SealVerdict.MODIFIED
    assert pdf(trusted=False, seal_valid=None) is SealVerdict.UNTRUSTED_SEAL
    assert pdf(seal_valid=None, signed_at=late) is SealVerdict.UNKNOWN_SEAL
    assert pdf(status=None, signed_at=late) is SealVerdict.UNKNOWN_SEAL
    assert pdf(signed_at=late) is SealVerdict.SEAL_NOT_VALID
    assert pdf() is SealVerdict.VALID


# -- what each verdict reports: every check, in order, with its detail -------------


def _checks(result) -> list[tuple[str, bool, str]]:
    return [(c.name, c.passed, c.detail) for c in result.checks]


async def test_a_valid_seal_reports_every_check(pki):
    signer, cert = pki.signer("seal:ok", not_after=NOW + 7 * DAY)
    result = check(pki, await sealed(pki, key=(signer, cert)))
    assert _checks(result) == [
        ("decode", True, "seal 91350100M000100Y43-001"),
        ("signature", True, "ed25519 by seal:ok"),
        ("signer", True, "seal:ok is listed"),
        ("seal", True, "示例市交通运输局 valid when used"),
        ("signer certificate", True, f"valid until {(NOW + 7 * DAY).isoformat()}"),
        ("data hash", True, "SHA-256 matches"),
        ("seal status", True, "active"),
    ]
    assert (result.seal_name, result.signer, result.current_status) == (
        "示例市交通运输局",
        "seal:ok",
        "active",
    )


async def test_an_sm2_seal_names_sm3(pki):
    key = generate_key(Suite.SM2)
    cert = issue_certificate(
        ca_key=pki.ca_key,
        ca_cert=pki.ca,
        common_name="seal:sm2",
        public_key_der=key.public_key_der,
        not_before=NOW - 30 * DAY,
        not_after=NOW + 30 * DAY,
    )
    signer = SoftwareSigner(Suite.SM2, key.private_bytes, key.public_key_der)
    info = seal_info(
        es_id="S",
        seal_type="official",
        name="n",
        signer_certs=[cert],
        created=SIGNED - DAY,
        valid_start=SIGNED - DAY,
        valid_end=SIGNED + DAY,
        picture=Picture("png", b"p", 42, 42),
    )
    seal = await make_seal(info, maker=pki.maker[0], maker_cert=pki.maker[1])
    signature = await sign_document(
        seal,
        data_hash=digest(Suite.SM2, DOCUMENT),
        signed_at=SIGNED,
        property_info="x",
        signer=signer,
        signer_cert=cert,
    )
    result = check(pki, signature)
    assert result.verdict is SealVerdict.VALID
    assert _checks(result)[1] == ("signature", True, "sm2 by seal:sm2")
    assert _checks(result)[5] == ("data hash", True, "SM3 matches")


async def test_failures_report_their_checks(pki):
    signature = await sealed(pki)
    modified = verify_sealed_document(
        signature, document=DOCUMENT + b"!", seal_ca=pki.ca, seal_status=ACTIVE, now=NOW
    )
    assert_failed(modified, SealVerdict.MODIFIED, "data hash")
    assert modified.checks[-1].detail == "the document differs from what was sealed"
    no_document = verify_sealed_document(
        signature, seal_ca=pki.ca, seal_status=ACTIVE, now=NOW
    )
    assert_failed(no_document, SealVerdict.MALFORMED, "data hash")
    assert no_document.checks[-1].detail == "no document or hash given"
    by_hash = verify_sealed_document(
        signature,
        document_hash=digest(Suite.ED25519, DOCUMENT),
        seal_ca=pki.ca,
        seal_status=ACTIVE,
        now=NOW,
    )
    assert_valid(by_hash)
    outsider = pki.signer("seal:outsider")
    listed = pki.signer("seal:listed")
    info = seal_info(
        es_id="91350100M000100Y43-001",
        seal_type="official",
        name="n",
        signer_certs=[listed[1]],
        created=SIGNED - DAY,
        valid_start=SIGNED - DAY,
        valid_end=SIGNED + DAY,
        picture=Picture("png", b"p", 42, 42),
    )
    seal = await make_seal(info, maker=pki.maker[0], maker_cert=pki.maker[1])
    not_listed = await sign_document(
        seal,
        data_hash=digest(Suite.ED25519, DOCUMENT),
        signed_at=SIGNED,
        property_info="x",
        signer=outsider[0],
        signer_cert=outsider[1],
    )
    result = check(pki, not_listed)
    assert_failed(result, SealVerdict.SIGNER_NOT_AUTHORISED, "signer")
    assert result.checks[-1].detail == (
        "seal:outsider is not in the seal's certificate list"
    )
    assert result.signer == "seal:outsider"


async def test_a_seal_maker_from_another_ca(pki, tmp_path):
    other = DevCA(tmp_path / "other")
    cert = x509.load_pem_x509_certificate(other.ca_file.read_bytes())
    key = serialization.load_pem_private_key(
        (tmp_path / "other" / "ca.key").read_bytes(), None
    )
    stranger = Pki(cert.public_bytes(serialization.Encoding.DER), key, None)  # type: ignore[arg-type]
    stranger.maker = stranger.signer("service:seal-maker")
    signature = await sealed(stranger, key=pki.signer("seal:x"))
    result = check(pki, signature)
    assert_failed(result, SealVerdict.UNTRUSTED_SEAL, "seal")
    assert result.checks[-1].detail == (
        "the seal maker (service:seal-maker): service:seal-maker: the issuer's ECDSA "
        "signature on it is wrong (issuer certseal dev CA)"
    )
    foreign_signer = await sealed(pki, key=stranger.signer("seal:y"))
    result = check(pki, foreign_signer)
    assert_failed(result, SealVerdict.CERTIFICATE_NOT_VALID, "signer certificate")
    assert result.checks[-1].detail == (
        "the signer certificate (seal:y): seal:y: the issuer's ECDSA signature on it "
        "is wrong (issuer certseal dev CA)"
    )


async def test_a_malformed_signature_reports_decode(pki):
    result = check(pki, b"\x30\x00")
    assert result.verdict is SealVerdict.MALFORMED
    assert [(c.name, c.passed) for c in result.checks] == [("decode", False)]
    assert result.checks[0].detail.startswith("not an SES_Signature: ")
    assert result.seal_id == "" and result.signed_at is None


async def _digest_listed(pki: Pki, digests) -> bytes:
    """A seal listing its signers by certificate digest (certListType 2)."""
    from services.seal.ses import CertDigestList

    signer, cert = pki.signer("seal:digest")
    info = seal_info(
        es_id="91350100M000100Y43-001",
        seal_type="official",
        name="n",
        signer_certs=[cert],
        created=SIGNED - DAY,
        valid_start=SIGNED - DAY,
        valid_end=SIGNED + DAY,
        picture=Picture("png", b"p", 42, 42),
    )
    info["property"]["cert_list_type"] = 2
    info["property"]["cert_list"] = CertDigestList(
        [{"type": name, "value": value(cert)} for name, value in digests]
    )
    seal = await make_seal(info, maker=pki.maker[0], maker_cert=pki.maker[1])
    return await sign_document(
        seal,
        data_hash=digest(Suite.ED25519, DOCUMENT),
        signed_at=SIGNED,
        property_info="x",
        signer=signer,
        signer_cert=cert,
    )


@pytest.mark.parametrize(
    ("digests", "verdict"),
    [
        ([("sha256", lambda c: hashlib.sha256(c).digest())], SealVerdict.VALID),
        ([("SM3", lambda c: digest(Suite.SM2, c))], SealVerdict.VALID),
        ([("1.2.156.10197.1.401", lambda c: digest(Suite.SM2, c))], SealVerdict.VALID),
        (
            [("sm3", lambda c: hashlib.sha256(c).digest())],
            SealVerdict.SIGNER_NOT_AUTHORISED,
        ),
        (
            [
                ("sha256", lambda c: b"\0" * 32),
                ("sha256", lambda c: hashlib.sha256(c).digest()),
            ],
            SealVerdict.VALID,
        ),
        ([("sha256", lambda c: b"\0" * 32)], SealVerdict.SIGNER_NOT_AUTHORISED),
    ],
)
async def test_signers_listed_by_digest(pki, digests, verdict):
    result = check(pki, await _digest_listed(pki, digests))
    assert result.verdict is verdict, result.checks
    if verdict is SealVerdict.SIGNER_NOT_AUTHORISED:
        assert_failed(result, verdict, "signer")


async def test_broken_signatures_report_their_check(pki):
    key = pki.signer("seal:k")
    signature = await sealed(pki, key=key)
    parsed = SESSignature.load(signature)
    raw = bytearray(parsed["signature"].native)
    raw[-1] ^= 1
    parsed["signature"] = bytes(raw)
    result = check(pki, parsed.dump(force=True))
    assert_failed(result, SealVerdict.BAD_SIGNATURE, "signature")
    assert result.checks[-1].detail == "mismatch"
    seal = SESSignature.load(signature)["to_sign"]["eseal"]
    forged = bytearray(seal["signed_value"].native)
    forged[-1] ^= 1
    resealed = SESeal(
        {
            "e_seal_info": seal["e_seal_info"],
            "cert": seal["cert"],
            "sign_alg_id": seal["sign_alg_id"],
            "signed_value": bytes(forged),
        }
    ).dump(force=True)
    again = await sign_document(
        resealed,
        data_hash=digest(Suite.ED25519, DOCUMENT),
        signed_at=SIGNED,
        property_info="x",
        signer=key[0],
        signer_cert=key[1],
    )
    result = check(pki, again)
    assert_failed(result, SealVerdict.UNTRUSTED_SEAL, "seal")
    assert result.checks[-1].detail == "the seal maker's signature is wrong"


async def test_trailing_bytes_make_a_signature_malformed(pki):
    result = check(pki, await sealed(pki) + b"\x00")
    assert result.verdict is SealVerdict.MALFORMED
