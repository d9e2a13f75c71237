"""GB/T 20520 time-stamp tokens as China's TSAs issue them (SM2 key, SM3 digests,
SM2-with-SM3 signatures with the default signer ID): they hold when nothing in them
was altered, and every check made of other tokens is still made of them."""

from __future__ import annotations

import datetime as dt

import pytest

from certseal.crypto import Suite
from services.seal.domain import SealVerdict, verify_sealed_document
from services.seal.timestamp import TokenError, check_token
from tests.seal.ses_platforms import SIGNED_AT, SM3, TRUST, Tsa, signature_v4

STAMPED = b"the SES_Signature's signature value"
AT = SIGNED_AT + dt.timedelta(seconds=5)
SHA256 = "2.16.840.1.101.3.4.2.1"
DOCUMENT = b'<?xml version="1.0"?><ofd:Signature>sealed</ofd:Signature>'


def _refused(tsa: Tsa, token: bytes, stamped: bytes = STAMPED) -> TokenError:
    with pytest.raises(TokenError) as caught:
        check_token(token, stamped=stamped, trust=tsa.trust)
    return caught.value


@pytest.mark.parametrize(
    "variant",
    [
        {},  # SM3 imprint and messageDigest, SM2-with-SM3 (1.2.156.10197.1.501)
        {"hash_oid": SHA256},  # SHA-256 digests, the signature still SM2-with-SM3
        {"ess_hash": "sm3"},  # the ESS certificate hash in SM3
        {"signature_algorithm": "1.2.156.10197.1.301.1"},  # GM/T 0010's sm2-1
        {"signature_algorithm": "1.2.156.10197.1.301"},  # the key's OID
    ],
    ids=["sm3", "sha256-digests", "sm3-ess", "sm2-1", "sm2-key-oid"],
)
def test_an_sm2_tsas_token_holds(sm2_tsa, variant):
    token = sm2_tsa.token(STAMPED, AT, **variant)
    stamp = check_token(token, stamped=STAMPED, trust=sm2_tsa.trust)
    assert (stamp.gen_time, stamp.tsa) == (AT, "atk TSA")


def test_an_sm2_token_over_other_data_is_refused(sm2_tsa):
    token = sm2_tsa.token(b"other data", AT)
    assert _refused(sm2_tsa, token).check == "imprint"


def test_an_sm2_token_with_its_time_altered_is_refused(sm2_tsa):
    token = sm2_tsa.token(STAMPED, AT)
    altered = token.replace(b"20210601080005Z", b"20210601080006Z")
    assert altered != token
    error = _refused(sm2_tsa, altered)
    assert (error.check, error.detail) == (
        "signature",
        "the messageDigest is not that of the TSTInfo",
    )


def test_an_sm2_token_whose_signature_covers_other_bytes_is_refused(sm2_tsa):
    token = sm2_tsa.token(STAMPED, AT, signed_over=b"other attributes")
    error = _refused(sm2_tsa, token)
    assert error.check == "signature"
    assert "does not hold" in error.detail


def test_an_sm2_signature_with_another_signer_id_does_not_hold(sm2_tsa):
    # GB/T 35275 / GM/T 0009: SM2-with-SM3 in CMS uses the default ID; a TSA that
    # used another would make signatures no verifier can check
    token = sm2_tsa.token(STAMPED, AT, signer_id=b"another-id")
    error = _refused(sm2_tsa, token)
    assert error.check == "signature"
    assert "does not hold" in error.detail


def test_an_sm2_key_named_with_another_hash_is_refused_by_name(sm2_tsa):
    token = sm2_tsa.token(STAMPED, AT, signature_algorithm="1.2.156.10197.1.503")
    error = _refused(sm2_tsa, token)
    assert error.check == "signature"
    assert "1.2.156.10197.1.503 is not SM2-with-SM3" in error.detail


def test_sm3_digests_with_an_ecdsa_key_are_refused_by_name(p256_tsa):
    token = p256_tsa.token(STAMPED, AT, hash_oid=SM3)
    error = _refused(p256_tsa, token)
    assert error.check == "signature"
    assert SM3 in error.detail


def test_an_sm2_token_from_an_untrusted_tsa_is_refused(sm2_tsa):
    other = Tsa(Suite.SM2)
    token = other.token(STAMPED, AT)
    assert _refused(sm2_tsa, token).check == "TSA certificate"


def _verify(signature: bytes, tsa: Tsa):  # type: ignore[no-untyped-def]
    return verify_sealed_document(
        signature,
        document=DOCUMENT,
        trust=TRUST,
        tsa_trust=tsa.trust,
        seal_status=None,
        now=dt.datetime(2026, 12, 4, tzinfo=dt.UTC),
    )


def test_a_seal_stamped_over_other_data_by_an_sm2_tsa_is_not_valid(sm2_tsa):
    signature = signature_v4(
        DOCUMENT, time_stamp=lambda _value: sm2_tsa.token(b"other", AT)
    )
    result = _verify(signature, sm2_tsa)
    assert result.verdict is SealVerdict.BAD_TIMESTAMP, result.checks


def test_a_seal_with_a_forged_sm2_token_is_not_valid(sm2_tsa):
    signature = signature_v4(
        DOCUMENT,
        time_stamp=lambda value: sm2_tsa.token(value, AT, signed_over=b"forged"),
    )
    result = _verify(signature, sm2_tsa)
    assert result.verdict is SealVerdict.BAD_TIMESTAMP, result.checks
