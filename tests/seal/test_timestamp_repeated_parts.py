"""A token's parts that every token of a TSA repeats (its certificates, the signer's
identifier, the contentType and ESS attributes) have their checks' answers kept in the
process (services.seal.timestamp): a token whose repeated part differs by any byte is
checked afresh and fails naming the check, also right after a good token of the same
TSA was checked."""

import pytest
from asn1crypto import cms, tsp

from services.seal.timestamp import TokenError, check_token
from tests.seal.test_timestamps import Tsa

STAMPED = b"the signature value"


@pytest.fixture(params=["ec-p256", "rsa-2048"])
def tsa(tmp_path, request):
    return Tsa(tmp_path / "tsa", rsa_key=request.param == "rsa-2048")


def _with_attribute(token: bytes, kind: str, value) -> bytes:
    info = cms.ContentInfo.load(token)
    signer = info["content"]["signer_infos"][0]
    attrs = [
        cms.CMSAttribute({"type": kind, "values": [value]})
        if a["type"].native == kind
        else cms.CMSAttribute.load(a.dump())
        for a in signer["signed_attrs"]
    ]
    signer["signed_attrs"] = cms.CMSAttributes(attrs)
    return info.dump(force=True)


def _with_serial(token: bytes, serial: int) -> bytes:
    info = cms.ContentInfo.load(token)
    sid = info["content"]["signer_infos"][0]["sid"]
    sid.chosen["serial_number"] = serial
    return info.dump(force=True)


def _failure(token: bytes, tsa: Tsa) -> TokenError:
    with pytest.raises(TokenError) as raised:
        check_token(token, stamped=STAMPED, trust=tsa.trust)
    return raised.value


def test_a_changed_repeated_part_fails_after_a_good_token_was_checked(tsa):
    good = tsa.server.token(STAMPED)
    assert check_token(good, stamped=STAMPED, trust=tsa.trust).tsa == "test TSA"

    kinds = {a["type"].native for a in _signed_attrs(good)}
    assert "signing_certificate" in kinds  # pyHanko's builder writes ESS v1
    other_ess = tsp.SigningCertificate({"certs": [{"cert_hash": bytes(20)}]})
    failed = _failure(_with_attribute(good, "signing_certificate", other_ess), tsa)
    assert failed.check == "signature"
    assert "signingCertificate" in failed.detail

    as_data = _with_attribute(good, "content_type", cms.ContentType("data"))
    failed = _failure(as_data, tsa)
    assert failed.check == "signature" and "contentType" in failed.detail

    serial = cms.ContentInfo.load(good)["content"]["signer_infos"][0]["sid"]
    other_serial = serial.chosen["serial_number"].native + 1
    failed = _failure(_with_serial(good, other_serial), tsa)
    assert failed.check == "timestamp"
    assert "signer's certificate" in failed.detail

    # the good token still holds, and another good one of the same TSA too
    assert check_token(good, stamped=STAMPED, trust=tsa.trust)
    assert check_token(tsa.server.token(STAMPED), stamped=STAMPED, trust=tsa.trust)


def test_a_token_carrying_another_tsas_certificate_fails(tsa, tmp_path):
    good = tsa.server.token(STAMPED)
    assert check_token(good, stamped=STAMPED, trust=tsa.trust)
    other = Tsa(tmp_path / "other")
    info = cms.ContentInfo.load(good)
    foreign = cms.ContentInfo.load(other.server.token(STAMPED))
    info["content"]["certificates"] = foreign["content"]["certificates"]
    failed = _failure(info.dump(force=True), tsa)
    assert failed.check == "timestamp"
    assert "signer's certificate" in failed.detail


def test_an_ess_v2_attribute_naming_the_certificate_holds_and_another_fails(tsa):
    good = tsa.server.token(STAMPED)
    cert = cms.ContentInfo.load(good)["content"]["certificates"][0].chosen
    # swap ESS v1 for v2 (RFC 5035); the TSA's signature no longer holds over the
    # attributes, so the ESS check passing shows as the signature check failing
    import hashlib

    info = cms.ContentInfo.load(good)
    signer = info["content"]["signer_infos"][0]

    def v2(cert_hash: bytes) -> bytes:
        attrs = [
            cms.CMSAttribute(
                {
                    "type": "signing_certificate_v2",
                    "values": [
                        tsp.SigningCertificateV2(
                            {
                                "certs": [
                                    {
                                        "hash_algorithm": {"algorithm": "sha256"},
                                        "cert_hash": cert_hash,
                                    }
                                ]
                            }
                        )
                    ],
                }
            )
            if a["type"].native == "signing_certificate"
            else cms.CMSAttribute.load(a.dump())
            for a in signer["signed_attrs"]
        ]
        copy = cms.ContentInfo.load(good)
        copy["content"]["signer_infos"][0]["signed_attrs"] = cms.CMSAttributes(attrs)
        return copy.dump(force=True)

    right = _failure(v2(hashlib.sha256(cert.dump()).digest()), tsa)
    assert right.check == "signature" and "does not hold" in right.detail
    wrong = _failure(v2(bytes(32)), tsa)
    assert wrong.check == "signature" and "signingCertificate" in wrong.detail


def _signed_attrs(token: bytes):
    return cms.ContentInfo.load(token)["content"]["signer_infos"][0]["signed_attrs"]


def test_only_small_repeated_parts_are_kept(tsa, monkeypatch):
    from services.seal import timestamp

    good = tsa.server.token(STAMPED)
    timestamp._kept_signer_cert.cache_clear()
    monkeypatch.setattr(timestamp, "KEPT_INPUT_BYTES", 16)  # smaller than any part
    assert check_token(good, stamped=STAMPED, trust=tsa.trust)
    assert timestamp._kept_signer_cert.cache_info().currsize == 0
    monkeypatch.setattr(timestamp, "KEPT_INPUT_BYTES", 16 * 1024)
    assert check_token(good, stamped=STAMPED, trust=tsa.trust)
    assert timestamp._kept_signer_cert.cache_info().currsize == 1
