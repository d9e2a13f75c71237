"""VerifySealedDocument keeps what the bytes alone showed (services.seal.verification,
KeptVerifications): every check but the registry's status, per signature and document.
The registry is asked at every call, so a kept answer is refused once the seal is
revoked; another document, or the hash instead of the document, is verified afresh;
a job past its time bound keeps nothing; the kept facts stay within their bounds.
The verdict from kept facts is the verdict of a fresh verification for every status."""

import asyncio
import dataclasses
import datetime as dt
import pickle
import threading
from pathlib import Path

import pytest

from certseal.crypto import KeyWrapper, Suite, digest
from certseal.errors import CertsealError, ErrorKind
from certseal.rpc import Caller
from certseal.secretfiles import KEK, read_secret_file
from services.seal import verification
from services.seal.domain import (
    SealCheck,
    SealFacts,
    SealStatus,
    SealVerdict,
    SealVerification,
    seal_facts,
    seal_verdict,
    verify_sealed_document,
)
from services.seal.offload import SealOffload
from services.seal.service import SealService
from services.seal.verification import (
    KEPT_FACTS_BYTES,
    KEPT_INPUT_BYTES,
    KeptVerifications,
)
from tests.conftest import seal_owner
from tests.seal.service_samples import DOCUMENT, request
from tests.seal.test_domain import DOCUMENT as DOMAIN_DOCUMENT
from tests.seal.test_domain import NOW as DOMAIN_NOW
from tests.seal.test_domain import _ca, sealed


async def _sealed(service, caller, seal_id: str, document: bytes = DOCUMENT) -> bytes:
    sealed = await service.seal_document(
        caller, seal_id, document=document, document_hash=None, property_info="x"
    )
    return sealed.signature


async def test_a_kept_answer_is_refused_once_the_seal_is_revoked(
    service,
    operator,
):
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    seal = await service.register(caller, request(owner, Suite.ES256))
    signature = await _sealed(service, caller, seal.seal_id)
    kept = service.kept_verifications

    first = await service.verify(signature, document=DOCUMENT)
    assert first.verdict is SealVerdict.VALID and first.current_status == "active"
    assert (kept.hits, kept.misses, len(kept)) == (0, 1, 1)
    again = await service.verify(signature, document=DOCUMENT)
    assert again == first and kept.hits == 1

    await service.revoke(caller, seal.seal_id, "遗失")
    # the clock is fixed: revoked at the signing second, so not valid when used
    revoked = await service.verify(signature, document=DOCUMENT)
    assert kept.hits == 2  # from the kept facts, with the registry's status now
    assert revoked.verdict is SealVerdict.SEAL_NOT_VALID, revoked.checks
    assert revoked.checks[-1].name == "seal"
    assert "after the seal was revoked" in revoked.checks[-1].detail
    assert revoked.seal_id == seal.seal_id


async def test_another_document_or_the_hash_is_verified_afresh(
    service,
    operator,
):
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    seal = await service.register(caller, request(owner, Suite.SM2))
    signature = await _sealed(service, caller, seal.seal_id)
    kept = service.kept_verifications
    assert (await service.verify(signature, document=DOCUMENT)).verdict is (
        SealVerdict.VALID
    )
    changed = DOCUMENT[:-1] + b"!"
    assert (await service.verify(signature, document=changed)).verdict is (
        SealVerdict.MODIFIED
    )
    by_hash = await service.verify(signature, document_hash=digest(Suite.SM2, DOCUMENT))
    assert by_hash.verdict is SealVerdict.VALID
    # the document's bytes given as its hash are not its hash
    as_hash = await service.verify(signature, document_hash=DOCUMENT)
    assert as_hash.verdict is SealVerdict.MODIFIED
    assert (kept.hits, kept.misses, len(kept)) == (0, 4, 4)
    # a signature changed by one byte is read afresh, and fails
    broken = signature[:-1] + bytes([signature[-1] ^ 1])
    assert (await service.verify(broken, document=DOCUMENT)).verdict is not (
        SealVerdict.VALID
    )
    assert kept.misses == 5


async def test_a_job_past_its_time_bound_keeps_nothing(
    seal_store,
    seal_ca,
    config,
    clock,
    operator,
    monkeypatch,
):
    wrapper = KeyWrapper(read_secret_file(Path(config.secrets.kek_file), KEK))
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    # the seal is registered and used with the default bound: on a busy machine its
    # real jobs (the picture, the signature) can take longer than the short one
    maker = SealService(store=seal_store, wrapper=wrapper, seal_ca=seal_ca, clock=clock)
    seal = await maker.register(caller, request(owner, Suite.ED25519))
    signature = await _sealed(maker, caller, seal.seal_id)
    maker.offload.shutdown()
    offload = SealOffload(workers=1, queue=2, timeout_s=0.2)
    service = SealService(
        store=seal_store, wrapper=wrapper, seal_ca=seal_ca, clock=clock, offload=offload
    )
    release = threading.Event()
    real = verification.seal_facts

    def stuck(*args, **kw):  # a job that runs until the test lets it go
        release.wait(30)
        return SealFacts(
            SealVerification(SealVerdict.VALID, (SealCheck("decode", True, "x"),))
        )

    monkeypatch.setattr(verification, "seal_facts", stuck)
    try:
        with pytest.raises(CertsealError) as late:
            await service.verify(signature, document=DOCUMENT)
    finally:
        release.set()
    assert late.value.kind is ErrorKind.INVALID_ARGUMENT
    assert late.value.field == "signature" and "job_timeout_s" in late.value.message
    await offload.workers.wait_idle()
    assert len(service.kept_verifications) == 0
    monkeypatch.setattr(verification, "seal_facts", real)
    result = await service.verify(signature, document=DOCUMENT)
    assert result.verdict is SealVerdict.VALID and len(result.checks) == 7
    offload.shutdown()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return _ca(tmp_path_factory.mktemp("kept-ca"))


@pytest.mark.parametrize("suite", list(Suite))
async def test_a_verdict_from_facts_is_a_fresh_verification_for_every_status(
    pki, suite
):
    signature = await sealed(pki, suite)
    statuses = [
        None,
        SealStatus("active"),
        SealStatus("revoked", DOMAIN_NOW - dt.timedelta(seconds=1)),
        SealStatus("revoked", DOMAIN_NOW),
        SealStatus("revoked", DOMAIN_NOW + dt.timedelta(microseconds=1)),
        SealStatus("revoked", DOMAIN_NOW + dt.timedelta(seconds=1)),
    ]
    for document in (DOMAIN_DOCUMENT, DOMAIN_DOCUMENT + b"!"):
        facts = seal_facts(signature, document=document, seal_ca=pki.ca)
        # the facts cross a process boundary (heavy requests' worker processes)
        assert pickle.loads(pickle.dumps(facts)) == facts
        for status in statuses:
            fresh = verify_sealed_document(
                signature,
                document=document,
                seal_ca=pki.ca,
                seal_status=status,
                now=DOMAIN_NOW,
            )
            assert seal_verdict(facts, status) == fresh
    verdicts = {
        seal_verdict(
            seal_facts(signature, document=DOMAIN_DOCUMENT, seal_ca=pki.ca), s
        ).verdict
        for s in statuses
    }
    assert verdicts == {
        SealVerdict.UNKNOWN_SEAL,
        SealVerdict.VALID,
        SealVerdict.SEAL_NOT_VALID,
    }
    # not made here: no status is asked, none changes the verdict
    foreign = seal_facts(signature, document=DOMAIN_DOCUMENT)
    assert not foreign.needs_status
    assert seal_verdict(foreign, None).verdict is SealVerdict.UNTRUSTED_SEAL


def test_malformed_bytes_need_no_status_and_are_malformed():
    facts = seal_facts(b"\x30\x00", document=b"x")
    assert not facts.needs_status
    assert seal_verdict(facts, SealStatus("active")).verdict is SealVerdict.MALFORMED


def test_a_check_raising_after_the_seals_is_malformed_only_if_reached(pki):
    facts = SealFacts(
        None,
        seal_id="s",
        seal_name="n",
        signed_at=DOMAIN_NOW,
        own=True,
        before=(SealCheck("decode", True, "seal s"),),
        after_error="broken",
    )
    revoked = seal_verdict(facts, SealStatus("revoked", DOMAIN_NOW))
    assert revoked.verdict is SealVerdict.SEAL_NOT_VALID
    reached = seal_verdict(facts, SealStatus("active"))
    assert reached.verdict is SealVerdict.MALFORMED
    assert reached.checks == (SealCheck("decode", False, "cannot be verified: broken"),)


def _facts(name: str = "n") -> SealFacts:
    return SealFacts(
        None,
        seal_id="s",
        seal_name=name,
        signed_at=DOMAIN_NOW,
        before=(SealCheck("decode", True, "seal s"),),
    )


def test_kept_facts_stay_within_their_bounds():
    kept = KeptVerifications(2)
    keys = [kept.key(bytes([n]) * 10, b"doc", None) for n in range(3)]
    for key in keys:
        kept.put(key, _facts())
    assert len(kept) == 2 and kept.get(keys[0]) is None  # the oldest went
    assert kept.get(keys[2]) is not None
    # the same bytes as document or as hash are different keys
    assert kept.key(b"s", b"d", None) != kept.key(b"s", None, b"d")
    assert kept.key(b"s", None, None) not in (kept.key(b"s", b"", None), None)
    # too large to key, or nothing kept
    assert kept.key(b"s" * KEPT_INPUT_BYTES, b"d", None) is None
    assert KeptVerifications(0).key(b"s", b"d", None) is None
    assert KeptVerifications(-1).key(b"s", b"d", None) is None
    # facts that alone would take over a sixty-fourth of the bytes are not kept
    big = kept.key(b"big", b"d", None)
    kept.put(big, _facts("印" * (KEPT_FACTS_BYTES // 64 // 4)))
    assert kept.get(big) is None
    # many large facts: the bytes bound holds before the entries bound does
    many = KeptVerifications(10_000)
    name = "印" * (KEPT_FACTS_BYTES // 64 // 4 - 1024)
    for n in range(200):
        many.put(many.key(n.to_bytes(4, "big"), b"d", None), _facts(name))
    assert 0 < len(many) < 200
    assert many.kept_bytes <= KEPT_FACTS_BYTES


async def test_concurrent_verifications_of_the_same_bytes_agree(
    service,
    operator,
):
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    seal = await service.register(caller, request(owner, Suite.ES256))
    signature = await _sealed(service, caller, seal.seal_id)
    results = await asyncio.gather(
        *(service.verify(signature, document=DOCUMENT) for _ in range(8))
    )
    assert {r.verdict for r in results} == {SealVerdict.VALID}
    assert len({dataclasses.astuple(r) for r in results}) == 1
    assert len(service.kept_verifications) == 1
