"""GM/T 0031 v1 ``timeInfo`` ("时间戳或UTC时间", a BIT STRING) as the platforms write
it: a time (DER, ASN.1 text, or ofdrw's ``yyyy-MM-dd HH:mm:ss`` local time, read as
UTC+8) or an RFC 3161 token over the sealed document; anything else stays MALFORMED."""

from __future__ import annotations

import datetime as dt

import pytest

from certseal.crypto import Suite, digest
from services.seal.domain import SealVerdict, verify_sealed_document
from services.seal.inspect import describe
from services.seal.ses_read import read_signature
from tests.seal.ses_platforms import (
    SIGNED_AT,
    TRUST,
    Tsa,
    seq,
    signature_v1,
    tlv,
)

DOCUMENT = b'<?xml version="1.0"?><ofd:Signature>sealed</ofd:Signature>'
STAMPED_AT = SIGNED_AT + dt.timedelta(seconds=5)
NOW = dt.datetime(2026, 12, 4, tzinfo=dt.UTC)
EIGHT_UTC = dt.datetime(2021, 6, 1, 8, 0, tzinfo=dt.UTC)


def _verify(signature: bytes, tsa: Tsa | None = None, **kwargs):  # type: ignore[no-untyped-def]
    if "document_hash" not in kwargs:
        kwargs.setdefault("document", DOCUMENT)
    return verify_sealed_document(
        signature,
        trust=TRUST,
        tsa_trust=tsa.trust if tsa else None,
        seal_status=None,
        now=NOW,
        **kwargs,
    )


@pytest.mark.parametrize(
    "time_info",
    [
        b"2021-06-01 16:00:00",  # ofdrw's SESV1Container (LocalDateTime.now())
        b"2021-06-01T16:00:00",
        b"20210601160000",  # GeneralizedTime text without a zone
        tlv(0x18, b"20210601160000"),  # DER GeneralizedTime without a zone
    ],
    ids=["ofdrw", "iso-t", "gentime-text", "gentime-der"],
)
def test_a_time_without_a_zone_is_china_standard_time(time_info):
    signature = signature_v1(DOCUMENT, time_info=time_info)
    assert read_signature(signature).signed_at == EIGHT_UTC
    result = _verify(signature)
    assert result.verdict is SealVerdict.VALID, result.checks
    assert result.signed_at == EIGHT_UTC
    decode = result.checks[0]
    assert decode.name == "decode"
    assert "names no zone" in decode.detail
    assert "UTC+8" in decode.detail


@pytest.mark.parametrize(
    "time_info",
    [tlv(0x18, b"20210601160000+0800"), b"20210601080000Z", b"210601080000Z"],
    ids=["offset", "gentime-z", "utctime-text"],
)
def test_a_time_with_a_zone_keeps_it(time_info):
    signature = signature_v1(DOCUMENT, time_info=time_info)
    result = _verify(signature)
    assert result.verdict is SealVerdict.VALID, result.checks
    assert result.signed_at == EIGHT_UTC
    assert "zone" not in result.checks[0].detail


@pytest.mark.parametrize(
    "time_info",
    [
        b"2021-13-01 16:00:00",
        b"2021-06-01 25:00:00",
        b"2021-06-01 16:00",
        b"2021-06-01 16:00:00 extra",
        b"yesterday",
        b"",
        b"\xff\xfe\x00",
        seq(tlv(0x02, b"\x01")),  # a SEQUENCE that is no token
    ],
    ids=["month", "hour", "no-seconds", "trailing", "word", "empty", "binary", "seq"],
)
def test_a_time_info_that_is_no_time_is_malformed(time_info):
    result = _verify(signature_v1(DOCUMENT, time_info=time_info))
    assert result.verdict is SealVerdict.MALFORMED, result.checks
    assert "toSign.timeInfo" in result.checks[0].detail


def test_a_token_in_time_info_makes_the_signing_time(p256_tsa):
    signature = signature_v1(DOCUMENT, time_info=p256_tsa.token(DOCUMENT, STAMPED_AT))
    result = _verify(signature, p256_tsa)
    assert result.verdict is SealVerdict.VALID, result.checks
    assert result.signed_at == STAMPED_AT
    assert [c.name for c in result.checks if c.passed][:3] == [
        "decode",
        "signature",
        "timestamp",
    ]
    # the token is inside what is signed: a lower bound of the signing time, said so
    [stamp] = [c.detail for c in result.checks if c.name == "timestamp"]
    assert "stamped the sealed document at" in stamp
    assert "signed then or later" in stamp


def test_an_sm3_token_is_checked_against_the_signed_data_hash(sm2_tsa):
    # with only the document's hash given, the signed dataHash is the SM3 imprint
    signature = signature_v1(DOCUMENT, time_info=sm2_tsa.token(DOCUMENT, STAMPED_AT))
    result = _verify(signature, sm2_tsa, document_hash=digest(Suite.SM2, DOCUMENT))
    assert result.verdict is SealVerdict.VALID, result.checks
    assert result.signed_at == STAMPED_AT


def test_a_document_changed_after_an_sm3_token_is_modified(sm2_tsa):
    signature = signature_v1(DOCUMENT, time_info=sm2_tsa.token(DOCUMENT, STAMPED_AT))
    result = _verify(signature, sm2_tsa, document=DOCUMENT + b" ")
    assert result.verdict is SealVerdict.MODIFIED, result.checks


def test_a_sha256_token_without_the_document_is_refused_by_name(p256_tsa):
    signature = signature_v1(DOCUMENT, time_info=p256_tsa.token(DOCUMENT, STAMPED_AT))
    result = _verify(signature, p256_tsa, document_hash=digest(Suite.SM2, DOCUMENT))
    assert result.verdict is SealVerdict.BAD_TIMESTAMP, result.checks
    assert "known only by" in result.checks[-1].detail


def test_a_token_over_other_data_is_not_valid(p256_tsa):
    signature = signature_v1(DOCUMENT, time_info=p256_tsa.token(b"other", STAMPED_AT))
    result = _verify(signature, p256_tsa)
    assert result.verdict is SealVerdict.BAD_TIMESTAMP, result.checks
    assert "sealed document" in result.checks[-1].detail


def test_a_token_from_an_untrusted_tsa_is_untrusted(p256_tsa):
    signature = signature_v1(DOCUMENT, time_info=p256_tsa.token(DOCUMENT, STAMPED_AT))
    result = _verify(signature, Tsa(Suite.ES256))
    assert result.verdict is SealVerdict.UNTRUSTED_TIMESTAMP, result.checks


def test_inspect_says_how_a_v1_time_info_was_read(p256_tsa):
    local = describe(signature_v1(DOCUMENT, time_info=b"2021-06-01 16:00:00"))
    (line,) = [x for x in local if "timeInfo" in x]
    assert "2021-06-01 08:00:00 UTC" in line
    assert "UTC+8" in line
    token = p256_tsa.token(DOCUMENT, STAMPED_AT)
    stamped = describe(signature_v1(DOCUMENT, time_info=token))
    (line,) = [x for x in stamped if "timeInfo" in x]
    assert "time-stamp token" in line
    assert any("genTime" in x and "atk TSA" in x for x in stamped)
