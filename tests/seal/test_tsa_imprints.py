"""The TSA room stamps every imprint algorithm it documents (SHA-256, SHA-384, SHA-512
and SM3, GB/T 20520), over HTTP as RFC 3161 3.4 asks, and refuses any other with
``badAlg``; a token over an SM3 imprint verifies like any other."""

import hashlib
import secrets

import pytest
from asn1crypto import cms, tsp

from services.seal.timestamp import SM3, TokenError, check_token, imprint
from services.seal.tsa import Rejection, signed_attrs_digest

STAMPED = b"the signature value a requester stamps"


def asking(algorithm: str, hashed: bytes, nonce: int) -> tsp.TimeStampReq:
    return tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {
                "hash_algorithm": {"algorithm": algorithm},
                "hashed_message": hashed,
            },
            "nonce": nonce,
            "cert_req": True,
        }
    )


@pytest.mark.parametrize(
    ("algorithm", "imprint_name", "signed_with"),
    [
        ("sha256", "sha256", "sha256"),
        ("sha384", "sha384", "sha384"),
        ("sha512", "sha512", "sha512"),
        (SM3, SM3, "sha256"),  # SM3 by its OID; RSA/ECDSA sign over SHA-2
    ],
    ids=["sha256", "sha384", "sha512", "sm3"],
)
async def test_every_documented_imprint_algorithm_is_granted_over_http(
    tsa, algorithm, imprint_name, signed_with
):
    nonce = secrets.randbits(63)
    request = asking(algorithm, imprint(STAMPED, algorithm), nonce)
    reply = await tsa.stamper.client.async_request_tsa_response(request)
    assert reply["status"]["status"].native == "granted"
    token = reply["time_stamp_token"]
    signed = token["content"]
    info = signed["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hash_algorithm"]["algorithm"].dotted == (
        request["message_imprint"]["hash_algorithm"]["algorithm"].dotted
    )
    assert info["message_imprint"]["hashed_message"].native == imprint(
        STAMPED, imprint_name
    )
    assert info["nonce"].native == nonce
    signer = signed["signer_infos"][0]
    assert signer["digest_algorithm"]["algorithm"].native == signed_with
    # the platform's own check accepts it: imprint, signature, TSA certificate
    check = check_token(token.dump(), stamped=STAMPED, trust=tsa.trust)
    assert check.gen_time == tsa.at
    with pytest.raises(TokenError) as raised:
        check_token(token.dump(), stamped=STAMPED + b"!", trust=tsa.trust)
    assert raised.value.check == "imprint"


def test_an_sm3_token_is_sm3_of_the_stamped_bytes_not_sha256(tsa):
    # the imprint is SM3's (GB/T 32905), which differs from SHA-256's
    sm3 = imprint(STAMPED, SM3)
    assert sm3 != hashlib.sha256(STAMPED).digest()
    reply = tsp.TimeStampResp.load(tsa.server.respond(asking(SM3, sm3, 7).dump()))
    assert reply["status"]["status"].native == "granted"
    token = reply["time_stamp_token"].dump()
    assert check_token(token, stamped=STAMPED, trust=tsa.trust)
    info = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"]
    assert info.parsed["message_imprint"]["hashed_message"].native == sm3


@pytest.mark.parametrize(
    ("algorithm", "length", "fail"),
    [
        (SM3, 20, "bad_data_format"),  # an SM3 imprint is 32 bytes
        ("sha384", 32, "bad_data_format"),
        ("sha1", 20, "bad_alg"),
        ("md5", 16, "bad_alg"),
        ("1.2.156.10197.1.402", 32, "bad_alg"),  # an OID beside SM3's
    ],
)
def test_other_algorithms_and_wrong_lengths_are_rejected_by_name(
    tsa, algorithm, length, fail
):
    reply = Rejection.load(
        tsa.server.respond(asking(algorithm, bytes(length), 1).dump())
    )
    assert reply["status"]["status"].native == "rejection"
    assert reply["status"]["fail_info"].native == {fail}


def test_the_signed_attributes_digest_follows_sha2_and_is_sha256_for_sm3():
    assert [signed_attrs_digest(a) for a in ("sha256", "sha384", "sha512", SM3)] == [
        "sha256",
        "sha384",
        "sha512",
        "sha256",
    ]
