"""The SESeal inside a v4 SES_Signature is read once per distinct bytes and kept
(services.seal.ses_read._signed_seal): a signature whose seal differs by any byte
is read afresh and judged on its own, also right after its good twin was read, and
errors still name their path inside the signature."""

import pytest

from certseal.crypto import Suite, signature_to_der
from services.seal.domain import SealVerdict
from services.seal.ses_read import SesFormatError, read_signature
from tests.seal.test_domain import check, pki, sealed  # noqa: F401  (pki: fixture)
from tests.seal.test_domain_interop import EXTRA, children, edit, tlv


async def _flip_maker_signature(signature: bytes, signer) -> bytes:
    """The signature with the last byte of its seal maker's signature changed, the
    TBS_Sign signed again by the seal's own key (so only the seal is wrong)."""

    def change(kids: list[bytes]) -> list[bytes]:
        value = bytearray(kids[3])  # SESeal.signedValue BIT STRING
        value[-1] ^= 0x01
        return [*kids[:3], bytes(value)]

    edited = edit(signature, (0, 1), change)
    kids = children(edited)
    value = signature_to_der(signer.suite, await signer.sign(kids[0]))
    kids[3] = tlv(0x03, b"\x00" + value)  # SES_Signature.signature BIT STRING
    return tlv(0x30, b"".join(kids))


@pytest.mark.parametrize("suite", list(Suite))
async def test_a_changed_seal_is_judged_afresh_after_its_twin_was_read(pki, suite):  # noqa: F811
    seal_key = pki.signer(suite, "seal:91350100M000100Y43-001")
    good = await sealed(pki, suite, seal_key=seal_key)
    assert check(pki, good).verdict is SealVerdict.VALID
    first, again = read_signature(good), read_signature(good)
    assert again.seal == first.seal

    # the seal maker's signature changed: untrusted, though the good seal is kept
    bad = await _flip_maker_signature(good, seal_key[0])
    assert read_signature(bad).seal.maker_signature != first.seal.maker_signature
    result = check(pki, bad)
    assert result.verdict is SealVerdict.UNTRUSTED_SEAL, result.checks
    assert "maker's signature" in result.checks[-1].detail

    # an element the standard does not define inside the seal: named by its path
    extra = edit(good, (0, 1, 0), lambda kids: [*kids, EXTRA])
    with pytest.raises(SesFormatError, match=r"SES_Signature\.to_sign\.eseal"):
        read_signature(extra)
    assert check(pki, extra).verdict is SealVerdict.MALFORMED

    # a seal that is no SEQUENCE at all
    kids = children(good)
    tbs = children(kids[0])
    tbs[1] = tlv(0x04, tbs[1])  # the SESeal wrapped in an OCTET STRING
    wrapped = tlv(0x30, b"".join([tlv(0x30, b"".join(tbs)), *kids[1:]]))
    with pytest.raises(SesFormatError):
        read_signature(wrapped)

    # and the good one still reads and verifies
    assert check(pki, good).verdict is SealVerdict.VALID


async def test_kept_seals_stay_within_their_byte_budget(pki, monkeypatch):  # noqa: F811
    from certseal.kept import KeptValues
    from services.seal import ses_read

    signatures = [await sealed(pki, Suite.ES256) for _ in range(4)]
    seal_bytes = [len(children(children(s)[0])[1]) for s in signatures]
    # room for two seals: reading four keeps the last two, and the bytes counted
    monkeypatch.setattr(
        ses_read,
        "_seals",
        KeptValues(max_bytes=3 * max(seal_bytes) * 2 + 1, max_one=3 * max(seal_bytes)),
    )
    for signature in signatures:
        read_signature(signature)
    assert len(ses_read._seals) == 2
    assert ses_read._seals.bytes == sum(3 * len(d) for d, _ in ses_read._seals._values)
    assert ses_read._seals.bytes <= ses_read._seals.max_bytes
    # a seal costing over the most one may cost is read, never kept
    monkeypatch.setattr(
        ses_read,
        "_seals",
        KeptValues(
            max_bytes=ses_read.SEAL_CACHE_BYTES, max_one=3 * min(seal_bytes) - 1
        ),
    )
    assert read_signature(signatures[0]).seal.es_id
    assert not ses_read._seals
