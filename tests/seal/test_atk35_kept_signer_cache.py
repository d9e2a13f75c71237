"""atk35 (outside review): since SealKeys.signer keeps SM2 keys in GmSSL's signing
context, making a seal's signer costs about 3.4 ms of the event loop's CPU (the 32
precomputed pairs and a probe signature and verification) against about 0.28 ms
before, and holds about 17 KiB. SealService.signer's cache of 4,096 drops the signer
made FIRST, however recently it was used: a seal in constant use is rebuilt whenever
enough other seals pass through."""

from __future__ import annotations

from certseal.rpc import Caller
from services.seal import keys as seal_keys
from tests.conftest import seal_owner
from tests.seal.service_samples import DOCUMENT, request


async def test_a_seal_in_constant_use_keeps_its_signer(service, operator, monkeypatch):
    monkeypatch.setattr(seal_keys, "SIGNER_CACHE", 2)
    made: list[bytes] = []
    build = service._keys.signer

    def counted(suite, public_key_der, stored):
        made.append(public_key_der)
        return build(suite, public_key_der, stored)

    monkeypatch.setattr(service._keys, "signer", counted)
    seals = []
    for _ in range(3):  # SM2 seals (request's default suite)
        owner = await seal_owner(operator)
        seals.append(await service.register(Caller("dept", owner), request(owner)))
    hot, second, third = (s.seal_id for s in seals)
    for seal_id in (hot, second, hot, third, hot):
        await service.seal_document(
            Caller("app", "contracts"),
            seal_id,
            document=DOCUMENT,
            document_hash=None,
            property_info="contract.pdf",
        )
    # each key's signer made once (the seals' and the seal maker's): the hot seal's
    # never dropped while the cache holds the seal used longest ago
    assert len(made) == len(set(made)) == 4
