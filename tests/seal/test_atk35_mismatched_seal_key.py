"""atk35 (outside review): a seal whose stored key is not the key of its certificate
(a restore of the wrong backup, a row edited by hand; the key is wrapped under its
certificate's key id, so the wrap itself holds). Since SealKeys.signer keeps SM2 keys
in GmSSL's signing context, such an SM2 seal makes SealDocument raise the context's
bare ValueError (INTERNAL with no word of the seal over gRPC); an ES256 seal still
signs, and the caller is answered a sealed document whose signature does not match
the seal's certificate."""

from __future__ import annotations

import pytest

from certseal.crypto import Suite, generate_key, key_id
from certseal.errors import CertsealError
from certseal.rpc import Caller
from services.seal.certificates import read_certificate
from tests.conftest import seal_owner
from tests.seal.service_samples import DOCUMENT, request


@pytest.mark.parametrize("suite", [Suite.SM2, Suite.ES256])
async def test_a_seal_whose_key_is_not_its_certificates_is_refused_by_name(
    service, seal_store, operator, suite
):
    owner = await seal_owner(operator)
    seal = await service.register(Caller("dept", owner), request(owner, suite))
    row = await seal_store.pool.fetchrow(
        "select certificate from seals where seal_id = $1", seal.seal_id
    )
    public = read_certificate(row["certificate"]).public_key_der
    other = generate_key(suite)  # another key, wrapped as the certificate's
    await seal_store.pool.execute(
        "update seals set wrapped_key = $2 where seal_id = $1",
        seal.seal_id,
        service._keys._wrapper.wrap(key_id(public), other.private_bytes),
    )
    with pytest.raises(CertsealError) as err:
        await service.seal_document(
            Caller("app", "contracts"),
            seal.seal_id,
            document=DOCUMENT,
            document_hash=None,
            property_info="contract.pdf",
        )
    assert seal.seal_id in err.value.message
