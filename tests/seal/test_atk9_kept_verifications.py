"""atk9 (outside review of session 9): VerifySealedDocument's kept verifications
(services.seal.verification.KeptVerifications).

The kept facts are documented as "a function of those bytes and of the process's
trust stores". ``seal_facts`` turns ANY exception inside the checks into a MALFORMED
verdict ("the promise: a verdict, never an exception"), and that verdict is kept like
any other. An exception that is not a function of the bytes (a MemoryError under
memory pressure, a fault in a shared cache) then answers MALFORMED for a good sealed
document at every later call, until 4,096 other verifications push it out. Before this
session the same fault gave one MALFORMED answer and the next call verified again.
"""

from __future__ import annotations

from certseal.crypto import Suite
from certseal.rpc import Caller
from services.seal import domain
from services.seal.domain import SealVerdict
from services.seal.verification import KeptVerifications
from tests.conftest import seal_owner
from tests.seal.service_samples import DOCUMENT, request


async def test_atk9_a_passing_fault_is_not_kept_as_the_verdict_of_the_bytes(
    service,
    operator,
    monkeypatch,
):
    """FINDING (medium): one MemoryError while reading a good signature (once; the
    next read would succeed) makes every later VerifySealedDocument of that signature
    and document MALFORMED, from the kept facts, without reading it again."""
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    seal = await service.register(caller, request(owner, Suite.ES256))
    sealed = await service.seal_document(
        caller, seal.seal_id, document=DOCUMENT, document_hash=None, property_info="x"
    )
    real = domain.read_signature
    faults = []

    def once_out_of_memory(data):
        if not faults:
            faults.append(1)
            raise MemoryError
        return real(data)

    monkeypatch.setattr(domain, "read_signature", once_out_of_memory)
    first = await service.verify(sealed.signature, document=DOCUMENT)
    assert first.verdict is SealVerdict.MALFORMED  # the fault's answer, this once
    assert faults == [1]

    again = await service.verify(sealed.signature, document=DOCUMENT)
    assert again.verdict is SealVerdict.VALID, (
        f"{again.verdict}: the passing fault was kept "
        f"(kept hits {service.kept_verifications.hits})"
    )


def test_atk9_keys_do_not_straddle_the_signature_and_the_document():
    """What held: moving bytes between the signature and the document, or giving the
    same bytes as a document, as a hash or not at all, is another key."""
    kept = KeptVerifications(16)
    keys = {
        kept.key(b"AB", b"C", None),
        kept.key(b"A", b"BC", None),
        kept.key(b"ABC", b"", None),
        kept.key(b"ABC", None, b""),
        kept.key(b"ABC", None, None),
        kept.key(b"AB", None, b"C"),
        kept.key(b"A", None, b"BC"),
    }
    assert None not in keys and len(keys) == 7
    # at the bound and past it
    assert kept.key(b"s" * 1024, b"d" * (64 * 1024 - 1024), None) is not None
    assert kept.key(b"s" * 1024, b"d" * (64 * 1024 - 1023), None) is None
    assert KeptVerifications(0).key(b"s", b"d", None) is None


async def test_atk9_the_process_wide_caches_carry_no_answer_across_trust_stores(
    tmp_path,
):
    """What held: the same SES_Signature, read under the platform's own CA, under
    the same CA configured as another platform's, and under no trust, in turn and
    again (the module-level caches, paths, makers, certificates and keys, warm from
    the first): each store gets its own facts, and only the own one asks the
    registry."""
    from services.seal.domain import seal_facts
    from services.seal.makers import MakerRule
    from services.seal.ses_read import read_signature
    from services.seal.trust import TrustStore
    from tests.seal.test_domain import DOCUMENT as DOMAIN_DOCUMENT
    from tests.seal.test_domain import _ca, sealed

    pki = _ca(tmp_path)
    signature = await sealed(pki, Suite.ES256)
    stores = {
        "own": TrustStore().with_own(pki.ca),
        "other": TrustStore.of(
            [pki.ca],
            makers=[
                MakerRule(
                    "other", frozenset({read_signature(signature).seal.maker_cert})
                )
            ],
        ),
        "none": TrustStore(),
    }
    for _ in range(2):
        facts = {
            name: seal_facts(signature, document=DOMAIN_DOCUMENT, trust=store)
            for name, store in stores.items()
        }
        assert facts["own"].decided is None and facts["own"].needs_status
        assert facts["other"].decided is None and not facts["other"].needs_status
        assert facts["none"].decided is not None
        assert facts["none"].decided.verdict is SealVerdict.UNTRUSTED_SEAL
