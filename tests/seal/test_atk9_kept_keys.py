"""atk9 (outside review of session 9): what a hostile SES_Signature can make the seal
service keep in memory through the caches this session added or leans on.

``crypto.verify`` now keeps public keys per DER (``_sm2_verifying_key``, 1,024 of them),
keyed by the DER bytes themselves. asn1crypto reads an SM2 SubjectPublicKeyInfo that
carries any amount of extra content after its key (an extra element in the SEQUENCE,
or bytes after it) as the same key, and the signer certificate of an SES_Signature
is the caller's own: every distinct padded key is kept with its padding. A request of
at most ``offload.LIGHT_BYTES`` (1 MiB) is verified in the service's own process, so
1,024 such requests hold about 1 GiB there, for as long as the process runs.

The certificates read (``certificates._read_certificate``, 4,096 of them, from before
this session) are kept by their whole DER the same way: 4,096 requests of 1 MiB hold
about 4 GiB.

The figures below are measured with tracemalloc on a handful of small paddings.
"""

from __future__ import annotations

import contextlib
import gc
import tracemalloc

import pytest
from asn1crypto import core

from certseal import crypto
from certseal.crypto import InvalidSignature, SoftwareSigner, Suite, generate_key
from services.seal import certificates, trust
from services.seal.certificates import issue_certificate, read_certificate
from services.seal.domain import SealVerdict
from tests.seal.test_domain import DAY, DOCUMENT, NOW, _ca, sealed

PAD = 256 * 1024
DATA = b"atk9: any message"


def padded_spki(public_key_der: bytes, filler: int, size: int = PAD) -> bytes:
    """``public_key_der`` (a short-form DER SEQUENCE) with an extra OCTET STRING of
    ``size`` bytes of ``filler`` appended inside its SEQUENCE."""
    assert public_key_der[0] == 0x30 and public_key_der[1] < 0x80
    inner = public_key_der[2:] + core.OctetString(bytes([filler]) * size).dump()
    return b"\x30\x84" + len(inner).to_bytes(4, "big") + inner


def retained(run) -> int:
    """Bytes still allocated after ``run()`` returned and garbage was collected."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        run()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


async def test_atk9_a_padded_sm2_key_is_read_as_the_key():
    """The shape the findings below rest on: an SM2 key with 256 KiB after it in its
    SEQUENCE verifies a signature as the key itself (what is kept is the padding)."""
    key = generate_key(Suite.SM2)
    signer = SoftwareSigner(Suite.SM2, key.private_bytes, key.public_key_der)
    signature = await signer.sign(DATA)
    padded = padded_spki(key.public_key_der, 1)
    assert len(padded) > PAD
    crypto.verify(Suite.SM2, padded, DATA, signature)  # no InvalidSignature


async def test_atk9_kept_sm2_keys_do_not_keep_a_padding():
    """FINDING (medium, new this session): crypto.verify keeps every distinct SM2
    key DER it could read, padding and all. Eight keys padded with 256 KiB each leave
    about 2 MiB held by ``_sm2_verifying_key``; at 1,024 entries of up to 1 MiB (a
    light request), about 1 GiB in the seal service's own process. A kept key should
    be keyed by what was read (the point), or a key that is not exactly DER refused."""
    key = generate_key(Suite.SM2)
    signer = SoftwareSigner(Suite.SM2, key.private_bytes, key.public_key_der)
    signature = await signer.sign(DATA)
    crypto._kept_sm2_key.cache_clear()

    def verify_eight() -> None:
        for filler in range(8):
            with contextlib.suppress(InvalidSignature):
                crypto.verify(
                    Suite.SM2, padded_spki(key.public_key_der, filler), DATA, signature
                )

    held = retained(verify_eight)
    crypto._kept_sm2_key.cache_clear()
    assert held < PAD, f"{held} bytes kept for eight verifications"


@pytest.fixture(scope="module")
def outside_pki(tmp_path_factory):
    """A CA of nobody's: the signature check (the first) runs before any trust."""
    return _ca(tmp_path_factory.mktemp("atk9-outside-ca"))


async def _padded_signature(pki, filler: int) -> bytes:
    """An SES_Signature (SM2) whose signer certificate's key carries ``PAD`` bytes
    of ``filler`` inside its SubjectPublicKeyInfo; the signature itself holds."""
    key = generate_key(Suite.SM2)
    signer = SoftwareSigner(Suite.SM2, key.private_bytes, key.public_key_der)
    cert = issue_certificate(
        ca_key=pki.ca_key,
        ca_cert=pki.ca,
        common_name="seal:atk9",
        public_key_der=padded_spki(key.public_key_der, filler),
        not_before=NOW - DAY,
        not_after=NOW + DAY,
    )
    assert read_certificate(cert).public_key_der == padded_spki(
        key.public_key_der, filler
    )
    return await sealed(pki, Suite.SM2, signer=(signer, cert))


async def test_atk9_verify_sealed_document_keeps_no_padded_key(
    service,
    outside_pki,
):
    """FINDING (medium, new this session), end to end: VerifySealedDocument of four
    SES_Signatures of about 260 KiB (light requests, verified in the service's own
    process) whose signer keys carry 256 KiB of padding each. The caller's signature
    holds, the verdict is SIGNER_NOT_AUTHORISED, and about 1 MiB stays held by the
    kept keys after the certificate cache (the pre-existing finding below) is
    emptied."""
    # the warm-up's filler is any byte but one with the top bit set: a run of 4,096
    # such bytes is refused as a hidden long tag number (certseal.der.check_outside)
    warm = await _padded_signature(outside_pki, 0x7E)
    await service.verify(warm, document=DOCUMENT)  # threads, pools, first imports
    signatures = [await _padded_signature(outside_pki, n) for n in range(4)]
    assert all(len(s) < 1024 * 1024 for s in signatures)
    crypto._kept_sm2_key.cache_clear()
    certificates._read_certificate.cache_clear()
    gc.collect()
    tracemalloc.start(25)
    try:
        before = tracemalloc.take_snapshot()
        for signature in signatures:
            result = await service.verify(signature, document=DOCUMENT)
            assert result.verdict is SealVerdict.SIGNER_NOT_AUTHORISED, result.checks
            assert [c.name for c in result.checks][:2] == ["decode", "signature"]
            assert result.checks[1].passed
        certificates._read_certificate.cache_clear()  # the finding below, apart
        del signatures
        gc.collect()
        after = tracemalloc.take_snapshot()
        # what the test run keeps for its own report (captured log records) is not
        # the service's
        apart = [
            tracemalloc.Filter(False, "*/_pytest/*", all_frames=True),
            tracemalloc.Filter(False, "*/logging/__init__.py", all_frames=True),
            tracemalloc.Filter(False, tracemalloc.__file__),
        ]
        grown = after.filter_traces(apart).compare_to(
            before.filter_traces(apart), "filename"
        )
        held = sum(stat.size_diff for stat in grown)
        largest = sorted(grown, key=lambda stat: -stat.size_diff)[:3]
    finally:
        tracemalloc.stop()
        crypto._kept_sm2_key.cache_clear()
    assert held < PAD, f"{held} bytes kept for four verifications: {largest}"


def test_atk9_certificates_read_are_not_kept_by_their_padding(outside_pki):
    """FINDING (medium, before this session, on the same path): read_certificate
    keeps the last 4,096 certificates read by their whole DER, whatever their size.
    Eight certificates of 256 KiB each leave about 2 MiB held; 4,096 signer
    certificates of up to 1 MiB from SES_Signatures, about 4 GiB."""
    key = generate_key(Suite.SM2)
    certs = [
        issue_certificate(
            ca_key=outside_pki.ca_key,
            ca_cert=outside_pki.ca,
            common_name="seal:atk9",
            public_key_der=padded_spki(key.public_key_der, filler),
            not_before=NOW - DAY,
            not_after=NOW + DAY,
        )
        for filler in range(8)
    ]
    certificates._read_certificate.cache_clear()

    def read_eight() -> None:
        for cert in certs:
            read_certificate(cert)

    held = retained(read_eight)
    certificates._read_certificate.cache_clear()
    assert held < PAD, f"{held} bytes kept for eight certificates read"


def test_atk9_the_padding_is_all_that_differs():
    """What held: the padded keys read as the same point and Z_A as the plain key;
    after the mend only the plain key (within ``KEPT_KEY_BYTES``) is kept."""
    key = generate_key(Suite.SM2)
    crypto._kept_sm2_key.cache_clear()
    first = crypto._sm2_verifying_key(padded_spki(key.public_key_der, 1))
    second = crypto._sm2_verifying_key(padded_spki(key.public_key_der, 2))
    plain = crypto._sm2_verifying_key(key.public_key_der)
    assert first == second == plain
    assert crypto._kept_sm2_key.cache_info().currsize == 1


def test_paths_validated_keep_no_padded_certificate(outside_pki):
    """The same kind in the trust module's caches (found while the OFD Sign check
    added a caller's certificate to path validation): ``validate_path`` kept the last
    4,096 certificates parsed, issuer signatures checked and paths found by the whole
    DER of the caller's certificate, whatever its size. Eight certificates of 256 KiB,
    issued by a trusted CA, leave nothing of their padding held."""
    key = generate_key(Suite.SM2)
    certs = [
        issue_certificate(
            ca_key=outside_pki.ca_key,
            ca_cert=outside_pki.ca,
            common_name="seal:atk9",
            public_key_der=padded_spki(key.public_key_der, filler),
            not_before=NOW - DAY,
            not_after=NOW + DAY,
        )
        for filler in range(8)
    ]
    store = trust.TrustStore.of([outside_pki.ca])
    assert trust.validate_path(certs[0], store, NOW).ok  # a valid path, as kept

    def validate_eight() -> None:
        for cert in certs:
            trust.validate_path(cert, store, NOW)

    held = retained(validate_eight)
    assert held < PAD, f"{held} bytes kept for eight paths validated"
