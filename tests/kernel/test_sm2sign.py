"""SM2 signing through GmSSL's signing context (certseal.sm2sign): the same signatures
the existing verifiers accept, a fresh k for every signature (also across the refill of
the 32 precomputed pairs, across threads and across fork), and a key that does not
match its public key refused."""

import os
import threading

import gmssl_pyx
import pytest
from cryptography.exceptions import InvalidSignature

from certseal import sm2sign
from certseal.crypto import (
    KeyWrapper,
    SoftwareSigner,
    Suite,
    _der_to_raw,
    _sm2_public_key_der,
    generate_key,
    signature_to_der,
    verify,
)


def test_the_installed_gmssl_exposes_the_context():
    # the issuer's SM2 CPU figure depends on it: a gmssl_pyx without GmSSL's symbols
    # would silently fall back to the slow path
    assert sm2sign.available()


def _kept_signer() -> tuple[SoftwareSigner, bytes, bytes]:
    public, private = gmssl_pyx.sm2_key_generate()
    der = _sm2_public_key_der(public)
    signer = SoftwareSigner(Suite.SM2, private, der, kept=True)
    assert isinstance(signer._key, sm2sign.Sm2SignContext)
    return signer, public, der


def test_kept_signer_signatures_verify_with_every_verifier():
    """certseal.crypto.verify (the verifiers' check) and GmSSL's own sm2_verify with
    the default identity both accept them; a changed message or signature fails."""
    signer, public, der = _kept_signer()
    for i in range(70):  # more than twice the 32 precomputed pairs
        message = b"licence %d" % i * (i + 1)
        signature = signer.sign_now(message)
        assert len(signature) == 64
        verify(Suite.SM2, der, message, signature)
        assert gmssl_pyx.sm2_verify(
            public, message, signature_to_der(Suite.SM2, signature)
        )
        with pytest.raises(InvalidSignature):
            verify(Suite.SM2, der, message + b"x", signature)


def test_a_signature_of_the_one_shot_path_and_of_the_context_verify_alike():
    public, private = gmssl_pyx.sm2_key_generate()
    der = _sm2_public_key_der(public)
    one_shot = SoftwareSigner(Suite.SM2, private, der)
    kept = SoftwareSigner(Suite.SM2, private, der, kept=True)
    assert not isinstance(one_shot._key, sm2sign.Sm2SignContext)
    for signer in (one_shot, kept):
        verify(Suite.SM2, der, b"same", signer.sign_now(b"same"))


def test_every_signature_uses_a_fresh_k():
    """r = e + x1 (mod n): for one message, a repeated r means a repeated k."""
    signer, _, _ = _kept_signer()
    rs = {signer.sign_now(b"same message")[:32] for _ in range(100)}
    assert len(rs) == 100


def test_threads_share_a_context_safely():
    signer, _, der = _kept_signer()
    results: list[tuple[bytes, bytes]] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        for i in range(40):
            message = b"thread %d item %d" % (n, i)
            signature = signer.sign_now(message)
            with lock:
                results.append((message, signature))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 160
    for message, signature in results:
        verify(Suite.SM2, der, message, signature)
    assert len({s[:32] for _, s in results}) == 160


def test_a_forked_child_never_reuses_the_parents_precomputed_k():
    signer, _, der = _kept_signer()
    signer.sign_now(b"before the fork")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: sign the same message as the parent will
        try:
            os.write(write, signer.sign_now(b"after the fork"))
        finally:
            os._exit(0)
    os.close(write)
    child = b""
    while len(child) < 64:
        chunk = os.read(read, 64 - len(child))
        if not chunk:
            break
        child += chunk
    os.close(read)
    os.waitpid(pid, 0)
    parent = signer.sign_now(b"after the fork")
    assert len(child) == 64
    verify(Suite.SM2, der, b"after the fork", child)
    verify(Suite.SM2, der, b"after the fork", parent)
    assert child[:32] != parent[:32]  # the same k would give the same r


def test_a_key_that_is_not_its_public_keys_is_refused():
    _, private = gmssl_pyx.sm2_key_generate()
    other_public, _ = gmssl_pyx.sm2_key_generate()
    with pytest.raises(ValueError, match="does not match"):
        SoftwareSigner(Suite.SM2, private, _sm2_public_key_der(other_public), kept=True)
    with pytest.raises(ValueError, match="32 bytes"):
        sm2sign.Sm2SignContext(private[:31], other_public)
    with pytest.raises(ValueError, match="not a valid"):
        sm2sign.Sm2SignContext(bytes(32), other_public)


def test_unwrap_signer_keeps_the_context_only_when_asked():
    wrapper = KeyWrapper(os.urandom(32))
    key = generate_key(Suite.SM2)
    blob = wrapper.wrap(key.kid, key.private_bytes)
    kept = wrapper.unwrap_signer(Suite.SM2, key.public_key_der, blob, kept=True)
    plain = wrapper.unwrap_signer(Suite.SM2, key.public_key_der, blob)
    assert isinstance(kept._key, sm2sign.Sm2SignContext)
    assert isinstance(plain._key, bytes)
    assert repr(kept._key) == "Sm2SignContext(<key>)"
    assert key.private_bytes.hex() not in repr(kept)
    for signer in (kept, plain):
        verify(Suite.SM2, key.public_key_der, b"m", signer.sign_now(b"m"))
    # the DER form GmSSL returns parses back to the same raw signature
    signature = kept.sign_now(b"m")
    assert _der_to_raw(signature_to_der(Suite.SM2, signature)) == signature
