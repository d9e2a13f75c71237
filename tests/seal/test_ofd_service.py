"""The OFD use cases over the real database with an injected clock: revocation after
sealing, the seal's validity, events and audit rows."""

import datetime as dt

import pytest

from certseal.crypto import Suite
from certseal.errors import CertsealError, ErrorKind
from certseal.rpc import Caller
from services.seal.domain import SealVerdict
from services.seal.ofd_service import OfdSealService
from services.seal.ofd_sign import StampPlace
from tests.conftest import seal_owner
from tests.seal.ofd_samples import make_ofd
from tests.seal.service_samples import NOW, request


@pytest.fixture
def ofds(service) -> OfdSealService:
    return OfdSealService(seals=service, max_document_bytes=1 << 20)


@pytest.mark.parametrize("suite", [Suite.SM2, Suite.ES256])
async def test_revoked_after_sealing_still_valid_then_unusable(
    service,
    ofds,
    clock,
    seal_store,
    operator,
    suite,
):
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    seal = await service.register(caller, request(owner, suite))
    sealed = await ofds.seal_ofd(
        caller, seal.seal_id, ofd=make_ofd(), place=StampPlace(page=0)
    )
    assert sealed.signed_at == NOW
    clock.now = NOW + dt.timedelta(hours=2)
    await service.revoke(caller, seal.seal_id, "公章遗失")
    [result] = (await ofds.verify_ofd(sealed.ofd)).signatures
    assert result.verification.verdict is SealVerdict.VALID
    assert result.verification.current_status == "revoked"
    assert [c.name for c in result.verification.checks][-2:] == [
        "references",
        "seal status",
    ]
    with pytest.raises(CertsealError) as err:
        await ofds.seal_ofd(caller, seal.seal_id, ofd=make_ofd(), place=StampPlace())
    assert err.value.kind is ErrorKind.FAILED_PRECONDITION


async def test_sealing_is_audited_and_refusals_too(
    service,
    ofds,
    seal_store,
    operator,
):
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    seal = await service.register(caller, request(owner, Suite.SM2))
    await ofds.seal_ofd(caller, seal.seal_id, ofd=make_ofd(), place=StampPlace())
    with pytest.raises(CertsealError) as err:
        await ofds.seal_ofd(
            Caller("app", "stranger"), seal.seal_id, ofd=make_ofd(), place=StampPlace()
        )
    assert err.value.kind is ErrorKind.PERMISSION_DENIED
    with pytest.raises(CertsealError) as err:
        await ofds.seal_ofd(
            caller, seal.seal_id, ofd=b"x" * ((1 << 20) + 1), place=StampPlace()
        )
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT and err.value.field == "ofd"
    rows = await seal_store.pool.fetch(
        "select actor, outcome from audit_log where subject = $1 and action = $2",
        seal.seal_id,
        "seal.use",
    )
    assert sorted((r["actor"], r["outcome"]) for r in rows) == [
        ("app:stranger", "denied"),
        (f"dept:{owner}", "ok"),
    ]


async def test_a_busy_service_is_an_error_to_retry_not_a_malformed_verdict(
    service,
    ofds,
    operator,
    monkeypatch,
):
    """When the SES check of a signature is refused for want of room (the worker
    processes' waiting room is full), VerifyOfd answers RESOURCE_EXHAUSTED: the
    signature is not judged MALFORMED."""
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    seal = await service.register(caller, request(owner, Suite.SM2))
    sealed = await ofds.seal_ofd(
        caller, seal.seal_id, ofd=make_ofd(), place=StampPlace()
    )

    async def busy(*args, **kwargs):
        raise CertsealError(ErrorKind.RESOURCE_EXHAUSTED, "busy", field="seal")

    monkeypatch.setattr(service, "verify", busy)
    with pytest.raises(CertsealError) as err:
        await ofds.verify_ofd(sealed.ofd)
    assert err.value.kind is ErrorKind.RESOURCE_EXHAUSTED
