"""Seal keys in a PKCS#11 token (a real SoftHSM2): a seal registered with its key in the
token seals a document and a PDF that verify VALID, revocation works as for software
seals, and a seal service without the token refuses clearly."""

from __future__ import annotations

import copy
import os

import grpc
import pytest

from certseal.crypto import KeyWrapper, Suite, is_token_reference, verify
from certseal.hsm import token_from_config
from certseal.rpc import secure_channel
from certseal.v1 import seal_pb2 as pb
from certseal.v1 import seal_pb2_grpc
from services.seal.app import SealApp
from services.seal.keys import SealKeys
from tests.conftest import blank_pdf, own_database, seal_owner

DOCUMENT = b"a notice sealed with a key that never left the token " * 40


@pytest.fixture(scope="module")
async def token_seal_app(config, issuer, seal_app, softhsm):
    """A second seal service on the session's database with its new es256 and
    ed25519 seal keys in the token. The seal makers are the platform's, shared by
    every replica: the session's (software) seal service makes them first, so both
    services can use them (a maker in the token: the next test, on its own database)."""
    for suite in (Suite.ES256, Suite.ED25519):
        await seal_app.service._maker(suite)
    cfg = copy.deepcopy(config)
    cfg.pkcs11 = softhsm.config()
    app = SealApp(cfg, listen="127.0.0.1:0")
    await app.start()
    yield app
    await app.stop(grace=1)


@pytest.fixture(scope="module")
def token_seal_stub(stack, token_seal_app):
    def stub(identity: str) -> seal_pb2_grpc.SealStub:
        ident = stack.ca.identity(identity)
        return seal_pb2_grpc.SealStub(
            secure_channel(
                f"localhost:{token_seal_app.port}",
                str(stack.ca.ca_file),
                str(ident.cert_file),
                str(ident.key_file),
            )
        )

    return stub


@pytest.mark.parametrize("suite", ["es256", "ed25519"])
async def test_a_token_seal_seals_what_verifies(
    suite, operator, token_seal_app, token_seal_stub, seal_stub
):
    owner = await seal_owner(operator)
    stub = token_seal_stub(f"dept:{owner}")
    seal = (
        await stub.RegisterSeal(
            pb.RegisterSealRequest(seal_type="official", name="示例公司", suite=suite)
        )
    ).seal
    row = await token_seal_app.service._store.get(seal.seal_id)
    assert row is not None and is_token_reference(row.wrapped_key)
    sealed = await stub.SealDocument(
        pb.SealDocumentRequest(
            seal_id=seal.seal_id, document=DOCUMENT, property_info="notice.txt"
        )
    )
    # verified by the ordinary (software-key) seal service: same verifiers
    anyone = seal_stub("app:archive")
    result = await anyone.VerifySealedDocument(
        pb.VerifySealedDocumentRequest(signature=sealed.signature, document=DOCUMENT)
    )
    assert (result.verdict, result.current_status) == ("VALID", "active")
    changed = await anyone.VerifySealedDocument(
        pb.VerifySealedDocumentRequest(
            signature=sealed.signature, document=DOCUMENT + b"!"
        )
    )
    assert changed.verdict == "MODIFIED"
    # a PDF: the token's raw r || s becomes the DER that CMS carries
    pdf = (
        await stub.SealPdf(pb.SealPdfRequest(seal_id=seal.seal_id, pdf=blank_pdf()))
    ).pdf
    found = (await anyone.VerifyPdf(pb.VerifyPdfRequest(pdf=pdf))).seals
    assert [(r.seal_id, r.verdict) for r in found] == [(seal.seal_id, "VALID")]
    # revocation as for any seal: the token key seals nothing more (whether what it
    # sealed before still verifies depends on the signing second, tests/seal/test_rpc.py)
    revoked = await stub.RevokeSeal(
        pb.RevokeSealRequest(seal_id=seal.seal_id, reason="换章")
    )
    assert revoked.seal.status == "revoked"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SealDocument(
            pb.SealDocumentRequest(seal_id=seal.seal_id, document=DOCUMENT)
        )
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "revoked" in err.value.details()


async def test_sm2_seals_stay_in_software_beside_a_token(
    operator, token_seal_app, token_seal_stub
):
    owner = await seal_owner(operator)
    stub = token_seal_stub(f"dept:{owner}")
    seal = (
        await stub.RegisterSeal(pb.RegisterSealRequest(name="示例公司", suite="sm2"))
    ).seal
    row = await token_seal_app.service._store.get(seal.seal_id)
    assert row is not None and not is_token_reference(row.wrapped_key)
    sealed = await stub.SealDocument(
        pb.SealDocumentRequest(seal_id=seal.seal_id, document=DOCUMENT)
    )
    result = await stub.VerifySealedDocument(
        pb.VerifySealedDocumentRequest(signature=sealed.signature, document=DOCUMENT)
    )
    assert result.verdict == "VALID"


async def test_seal_makers_and_seals_are_made_in_the_token(softhsm):
    token = token_from_config(softhsm.config(sessions=1))
    assert token is not None
    try:
        keys = SealKeys(KeyWrapper(os.urandom(32)), token)
        for suite in (Suite.ES256, Suite.ED25519):
            kid, public, stored = await keys.new(suite)
            assert is_token_reference(stored) and len(stored) < 64
            signer = keys.signer(suite, public, stored)
            assert signer.kid == kid
            verify(suite, public, b"seal info", await signer.sign(b"seal info"))
        # sm2 stays in software (SoftHSM2 has no SM2 mechanism)
        _, _, wrapped = await keys.new(Suite.SM2)
        assert not is_token_reference(wrapped)
    finally:
        token.close()


async def test_a_token_seal_on_a_service_without_the_token(
    operator, token_seal_stub, seal_stub
):
    owner = await seal_owner(operator)
    seal = (
        await token_seal_stub(f"dept:{owner}").RegisterSeal(
            pb.RegisterSealRequest(name="示例公司", suite="es256")
        )
    ).seal
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await seal_stub(f"dept:{owner}").SealDocument(
            pb.SealDocumentRequest(seal_id=seal.seal_id, document=DOCUMENT)
        )
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "no [pkcs11] module configured" in err.value.details()


async def test_seal_makers_are_made_in_the_token(config, softhsm, tmp_path):
    """A platform whose seal service starts with [pkcs11] makes its seal makers in the
    token; a seal made by such a maker verifies."""
    cfg = await own_database(config, tmp_path, "pkcs11_seal")
    cfg.pkcs11 = softhsm.config(sessions=1)
    app = SealApp(cfg, serve=False, background=False)
    await app.start()
    try:
        for suite in (Suite.ES256, Suite.ED25519):
            maker, certificate = await app.service._maker(suite)
            row = await app.service._store.maker(
                suite.value, app.service.ca_for(suite).fingerprint
            )
            assert row is not None and is_token_reference(row.wrapped_key)
            assert row.kid == maker.kid and row.certificate == certificate
            verify(suite, row.public_key, b"seal", await maker.sign(b"seal"))
    finally:
        await app.stop()
