"""A seal's SM2 signer is kept for many signatures (the seal service caches its
signers and its seal makers), so it signs through GmSSL's signing context
(certseal.sm2sign): a seal signed per document through the one-shot path cost about
170 µs more CPU per SealDocument (bench/seal_bench.py, issue 17)."""

import os

from certseal import sm2sign
from certseal.crypto import KeyWrapper, Suite, generate_key, verify
from services.seal.keys import SealKeys


def test_a_stored_sm2_seal_key_signs_through_the_kept_context():
    wrapper = KeyWrapper(os.urandom(32))
    key = generate_key(Suite.SM2)
    signer = SealKeys(wrapper).signer(
        Suite.SM2, key.public_key_der, wrapper.wrap(key.kid, key.private_bytes)
    )
    assert isinstance(signer._key, sm2sign.Sm2SignContext)  # type: ignore[attr-defined]
    for message in (b"tbs-1", b"tbs-2"):
        verify(Suite.SM2, key.public_key_der, message, signer.sign_now(message))


def test_other_suites_sign_as_before():
    wrapper = KeyWrapper(os.urandom(32))
    for suite in (Suite.ES256, Suite.ED25519):
        key = generate_key(suite)
        signer = SealKeys(wrapper).signer(
            suite, key.public_key_der, wrapper.wrap(key.kid, key.private_bytes)
        )
        verify(suite, key.public_key_der, b"m", signer.sign_now(b"m"))
