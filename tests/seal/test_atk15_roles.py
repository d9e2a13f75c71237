"""atk15: the seal maker's role, attacked from outside. A seal platform's CA (trusted
through ``[seal] trusted_ca_files``) certifies its seal makers and, in the same way,
the people and systems that sign with its seals. Nothing in the verification tells
the two apart, so whoever holds any certificate of a trusted seal CA can make a seal
of any name. An xfail(strict=True) test until it is fixed."""

from __future__ import annotations

import datetime as dt

import pytest
from asn1crypto import x509 as asn1_x509

from certseal.crypto import SoftwareSigner, Suite, digest, generate_key
from services.seal.certificates import issue_certificate, load_sm2_key, make_sm2_ca
from services.seal.domain import SealVerdict, verify_sealed_document
from services.seal.ses import Picture, make_seal, seal_info, sign_document
from services.seal.trust import TrustStore

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)
DOCUMENT = "关于同意划拨土地的批复".encode()


@pytest.mark.xfail(
    strict=True,
    reason="atk15 F13: the maker check is only 'leads to a trusted seal CA': a clerk's "
    "own signing certificate from a trusted platform makes a seal named 示例市人民政府 "
    "that lists that same certificate as its signer, and its documents are VALID",
)
async def test_a_certificate_holder_cannot_make_a_seal_for_itself():
    ca_cert, ca_pem = make_sm2_ca(
        "示例省电子印章平台 CA", not_before=NOW - 365 * DAY, not_after=NOW + 3650 * DAY
    )
    ca_public = asn1_x509.Certificate.load(ca_cert).public_key.dump()
    ca_key = load_sm2_key(ca_pem, ca_public)
    # the platform certifies a clerk's signing key (digitalSignature, CA:false)
    key = generate_key(Suite.SM2)
    clerk = SoftwareSigner(Suite.SM2, key.private_bytes, key.public_key_der)
    clerk_cert = issue_certificate(
        ca_key=ca_key,
        ca_cert=ca_cert,
        common_name="张三",
        public_key_der=key.public_key_der,
        not_before=NOW - 30 * DAY,
        not_after=NOW + 365 * DAY,
    )
    # the clerk makes a seal of a government body with that key, and uses it
    info = seal_info(
        es_id="11000000000000000X-rogue",
        seal_type="official",
        name="示例市人民政府",
        signer_certs=[clerk_cert],
        created=NOW - DAY,
        valid_start=NOW - DAY,
        valid_end=NOW + 365 * DAY,
        picture=Picture("png", b"\x89PNG\r\n\x1a\n", 42, 42),
    )
    seal = await make_seal(info, maker=clerk, maker_cert=clerk_cert)
    signature = await sign_document(
        seal,
        data_hash=digest(Suite.SM2, DOCUMENT),
        signed_at=NOW,
        property_info="pifu.ofd",
        signer=clerk,
        signer_cert=clerk_cert,
    )
    result = verify_sealed_document(
        signature,
        document=DOCUMENT,
        trust=TrustStore.of([ca_cert]),
        seal_status=None,
        now=NOW,
    )
    assert result.verdict is not SealVerdict.VALID, result.checks
    assert [c.name for c in result.checks if not c.passed] == ["seal"]
