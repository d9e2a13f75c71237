"""What a verifier worker remembers between verifications: decoded texts, signature
checks that passed, parsed trust and directory entries. Pure: no stack."""

import dataclasses
import datetime as dt
import zlib

import base45
import cbor2
import pytest

from certseal import codes, cose
from certseal.crypto import Suite
from services.verifier.caches import DecodedCodes, VerifiedSignatures, signature_digest
from services.verifier.domain import (
    Verdict,
    evaluate,
    malformed,
    parse_code,
)
from services.verifier.offload import INLINE_LIMITS
from services.verifier.storage import ParsedTable
from tests.verifier.domain_samples import (
    NOW,
    index_entry,
    licence_code,
    signer,
    trust_entry,
)


def forged(text: str) -> str:
    """``text`` with one bit of its signature flipped."""
    sign1 = cose.parse_sign1(zlib.decompress(base45.b45decode(text[4:])))
    signature = bytes([sign1.signature[0] ^ 1]) + sign1.signature[1:]
    message = cose.encode_sign1(sign1.protected, sign1.payload, signature)
    return "LC1:" + base45.b45encode(zlib.compress(message, 9)).decode()


@pytest.mark.parametrize("suite", list(Suite))
async def test_a_known_signature_skips_only_the_computation(suite):
    s = signer(suite)
    code = parse_code(await licence_code(s))
    trust = trust_entry(s)
    known = evaluate(
        code,
        trust=trust,
        index=index_entry(),
        nonce_seen=False,
        now=NOW,
        signature_known=True,
    )
    computed = evaluate(
        code, trust=trust, index=index_entry(), nonce_seen=False, now=NOW
    )
    assert known == computed and known.verdict is Verdict.VALID
    # every other check still runs: a revoked licence is REVOKED with a known signature
    revoked = evaluate(
        code,
        trust=trust,
        index=index_entry(status="03"),
        nonce_seen=False,
        now=NOW,
        signature_known=True,
    )
    assert revoked.verdict is Verdict.REVOKED
    # and so does the key's status at signing time
    key_revoked = evaluate(
        code,
        trust=dataclasses.replace(trust, revoked_at=NOW - dt.timedelta(days=30)),
        index=index_entry(),
        nonce_seen=False,
        now=NOW,
        signature_known=True,
    )
    assert key_revoked.verdict is Verdict.KEY_REVOKED


async def test_the_digest_names_the_key_the_bytes_and_the_signature():
    s, other = signer(), signer()
    text = await licence_code(s)
    code, bad = parse_code(text), parse_code(forged(text))
    digest = signature_digest(code, s.public_key_der)
    assert digest == signature_digest(parse_code(text), s.public_key_der)
    assert digest != signature_digest(code, other.public_key_der)  # another key
    assert digest != signature_digest(bad, s.public_key_der)  # another signature
    # a forged code never verifies, whatever was remembered of the real one
    verified = VerifiedSignatures()
    verified.add(digest)
    assert signature_digest(bad, s.public_key_der) not in verified
    result = evaluate(
        bad, trust=trust_entry(s), index=index_entry(), nonce_seen=False, now=NOW
    )
    assert result.verdict is Verdict.BAD_SIGNATURE


def test_the_caches_are_bounded():
    verified = VerifiedSignatures(size=3)
    for n in range(3):
        verified.add(bytes([n]))
    assert bytes([2]) in verified
    verified.add(b"\xff")  # beyond the bound: all dropped, the newest kept
    assert b"\xff" in verified and bytes([0]) not in verified


async def test_decoded_texts_are_kept_and_malformed_ones_only_marked():
    s = signer()
    text = await licence_code(s)
    code = parse_code(text)
    decoded = DecodedCodes(size=3, max_text=1000)
    decoded.add(text, code)
    decoded.add("LC1:BAD", malformed(codes.MalformedCode(codes.CodeStage.BASE45, "x")))
    decoded.add("LC1:" + "A" * 1000, code)  # too long to keep
    assert decoded.get(text) is code
    assert decoded.get("LC1:BAD") is None and decoded.undecodable("LC1:BAD")
    assert decoded.get("LC1:" + "A" * 1000) is None
    decoded.add("x", code)
    decoded.add("y", code)  # beyond the bound: all dropped, the newest kept
    assert decoded.get("y") is code and decoded.get(text) is None


def test_claims_beyond_the_inline_limits_decode_in_full_only():
    protected = cose.encode_protected({cose.HEADER_ALG: -7, cose.HEADER_KID: b"k" * 8})
    claims = {1: "x", 4: 1, 6: 1, -260: {"f": {str(i): i for i in range(70)}}}
    message = cose.encode_sign1(protected, cbor2.dumps(claims), b"\0" * 64)
    text = "LC1:" + base45.b45encode(zlib.compress(message, 9)).decode()
    assert len(text) < 1024
    with pytest.raises(codes.MalformedCode, match="items"):
        codes.decode_code(text, INLINE_LIMITS)
    assert codes.decode_code(text).claims[-260]["f"]["69"] == 69


class Table(dict):
    reads = 0

    def get(self, key, default=None):
        self.reads += 1
        return super().get(key, default)


def test_a_parsed_table_is_exact_after_every_write():
    table, live = Table({b"k": b"1"}), [True]
    parsed = ParsedTable(table, lambda raw: int(raw), live=lambda: live[0])
    assert parsed.get(b"k") == 1 and parsed.get(b"k") == 1
    assert table.reads == 1  # the second lookup parsed nothing
    assert parsed.get(b"new") is None
    table[b"k"], table[b"new"] = b"2", b"3"
    parsed.written(b"k")
    parsed.written(b"new")
    assert parsed.get(b"k") == 2 and parsed.get(b"new") == 3
    # while Faust recovers the table (writes past the agent), nothing is cached
    live[0] = False
    table[b"k"] = b"4"
    assert parsed.get(b"k") == 4
    live[0] = True
    table[b"k"] = b"5"  # a recovery write seen before it was cached again
    reads = table.reads
    assert parsed.get(b"k") == 5 and table.reads == reads + 1
