import hashlib

import gmssl_pyx
import pytest
from cryptography.exceptions import InvalidSignature

from certseal.crypto import (
    KeyWrapper,
    SoftwareSigner,
    Suite,
    _der_to_raw,
    _sm2_public_key_der,
    generate_key,
    key_id,
    signature_to_der,
    verify,
)
from certseal.errors import CertsealError, ErrorKind
from certseal.protectors import PersonalDataProtector


@pytest.mark.parametrize("suite", list(Suite))
async def test_sign_verify_and_tamper(suite):
    key = generate_key(suite)
    signer = SoftwareSigner(suite, key.private_bytes, key.public_key_der)
    signature = await signer.sign(b"licence")
    assert len(signature) == 64
    verify(suite, key.public_key_der, b"licence", signature)
    with pytest.raises(InvalidSignature):
        verify(suite, key.public_key_der, b"licencf", signature)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    with pytest.raises(InvalidSignature):
        verify(suite, key.public_key_der, b"licence", flipped)
    with pytest.raises(InvalidSignature):
        verify(suite, key.public_key_der, b"licence", signature[:-1])
    assert (
        signer.kid == key.kid == hashlib.sha256(key.public_key_der).digest()[:8].hex()
    )
    assert key.kid in repr(signer) and key.private_bytes.hex() not in repr(signer)
    assert key.private_bytes.hex() not in repr(key)


def test_wrong_suite_key_is_rejected():
    es = generate_key(Suite.ES256)
    signer = SoftwareSigner(Suite.ES256, es.private_bytes, es.public_key_der)
    signature = signer.sign_now(b"x")
    for other in (Suite.SM2, Suite.ED25519):
        with pytest.raises(InvalidSignature):
            verify(other, es.public_key_der, b"x", signature)


def test_sm2_interoperates_with_gmssl():
    """Our Z_A computation matches GmSSL's own SM2 signing with the default identity."""
    public, private = gmssl_pyx.sm2_key_generate()
    der = gmssl_pyx.sm2_sign(private, public, b"message")
    verify(Suite.SM2, _sm2_public_key_der(public), b"message", _der_to_raw(der))
    ours = SoftwareSigner(Suite.SM2, private, _sm2_public_key_der(public)).sign_now(
        b"m2"
    )
    assert gmssl_pyx.sm2_verify(public, b"m2", signature_to_der(Suite.SM2, ours))


def test_suite_parse():
    assert Suite.parse("SM2") is Suite.SM2
    with pytest.raises(CertsealError) as err:
        Suite.parse("rsa")
    assert (
        err.value.kind is ErrorKind.INVALID_ARGUMENT
        and "sm2, es256, ed25519" in str(err.value)
    )


def test_key_wrapping_binds_kid_and_kek():
    key = generate_key(Suite.ED25519)
    wrapper = KeyWrapper(b"k" * 32)
    blob = wrapper.wrap(key.kid, key.private_bytes)
    assert key.private_bytes not in blob
    signer = wrapper.unwrap_signer(Suite.ED25519, key.public_key_der, blob)
    verify(Suite.ED25519, key.public_key_der, b"a", signer.sign_now(b"a"))
    with pytest.raises(CertsealError) as err:
        KeyWrapper(b"x" * 32).unwrap_signer(Suite.ED25519, key.public_key_der, blob)
    assert err.value.kind is ErrorKind.INTERNAL
    other = generate_key(Suite.ED25519)
    with pytest.raises(CertsealError):  # a wrapped key moved to another kid
        wrapper.unwrap_signer(Suite.ED25519, other.public_key_der, blob)
    assert key_id(other.public_key_der) == other.kid


def test_personal_data_protector():
    protector = PersonalDataProtector(b"d" * 32)
    assert protector.pseudonym("111", "44030019900101123x") == protector.pseudonym(
        "111", "44030019900101123X"
    )
    assert protector.pseudonym("111", "1") != PersonalDataProtector(
        b"e" * 32
    ).pseudonym("111", "1")
    blob = protector.encrypt("张三".encode(), b"ctx")
    assert protector.decrypt(blob, b"ctx") == "张三".encode()
    with pytest.raises(CertsealError):
        protector.decrypt(blob, b"other")


@pytest.mark.parametrize("suite", list(Suite))
def test_keys_are_read_once_per_der_and_an_unreadable_one_is_not_kept(suite):
    from certseal import crypto

    kept = crypto._kept_sm2_key if suite is Suite.SM2 else crypto._kept_key
    key = generate_key(suite)
    signer = SoftwareSigner(suite, key.private_bytes, key.public_key_der)
    signature = signer.sign_now(b"seal")
    verify(suite, key.public_key_der, b"seal", signature)
    hits = kept.cache_info().hits
    verify(suite, key.public_key_der, b"seal", signature)
    assert kept.cache_info().hits == hits + 1
    # the kept key still refuses a wrong message, and another suite's check
    with pytest.raises(InvalidSignature):
        verify(suite, key.public_key_der, b"seam", signature)
    for other in set(Suite) - {suite}:
        with pytest.raises(InvalidSignature):
            verify(other, key.public_key_der, b"seal", signature)
    size = kept.cache_info().currsize
    for _ in range(2):  # refused each time, never kept
        with pytest.raises(InvalidSignature):
            verify(suite, b"\x30\x03\x02\x01\x00", b"seal", signature)
    assert kept.cache_info().currsize == size
