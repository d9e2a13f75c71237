"""The seal service on the real database: registration, use by signers only, revocation,
verification with the registry's status, events and audit rows."""

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from certseal.crypto import KeyWrapper, Suite
from certseal.errors import CertsealError, ErrorKind
from certseal.events import SEAL_EVENTS
from certseal.rpc import Caller
from certseal.secretfiles import KEK, read_secret_file
from certseal.v1 import events_pb2
from services.seal.domain import SealVerdict
from services.seal.service import SealService
from services.seal.ses import SESeal
from tests.conftest import EventWatcher, fresh_uscc, seal_owner
from tests.seal.service_samples import DOCUMENT, NOW, request


@pytest.mark.parametrize("suite", list(Suite))
async def test_register_seal_and_verify_in_each_suite(service, stack, suite, operator):
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    async with EventWatcher(stack, SEAL_EVENTS) as events:
        seal = await service.register(caller, request(owner, suite))
        signature = (
            await service.seal_document(
                Caller("app", "contracts"),
                seal.seal_id,
                document=DOCUMENT,
                document_hash=None,
                property_info="contract-2026-118.pdf",
            )
        ).signature
        records = await events.wait_for(
            lambda rs: len([r for r in rs if r.key == seal.seal_id.encode()]) >= 2
        )
    parsed = SESeal.load(seal.seal)
    assert parsed["e_seal_info"]["property"]["name"].native == "深圳市示例科技有限公司"
    assert parsed["e_seal_info"]["picture"]["data"].native.startswith(b"\x89PNG")
    result = await service.verify(signature, document=DOCUMENT)
    assert result.verdict is SealVerdict.VALID, result.checks
    assert result.current_status == "active"
    mine = [
        events_pb2.SealEvent.FromString(r.value)
        for r in records
        if r.key == seal.seal_id.encode()
    ]
    assert [e.type for e in mine] == ["seal.registered", "document.sealed"]
    sealed = mine[1]
    algorithm = "sm3" if suite is Suite.SM2 else "sha256"
    assert sealed.digest_algorithm == algorithm
    if suite is not Suite.SM2:
        assert sealed.document_digest == hashlib.sha256(DOCUMENT).hexdigest()
    assert DOCUMENT not in records[-1].value  # the digest, never the content


async def test_only_signers_use_a_seal_and_refusals_are_audited(
    service, seal_store, operator
):
    owner = await seal_owner(operator)
    seal = await service.register(Caller("dept", owner), request(owner))
    stranger = Caller("dept", fresh_uscc())
    with pytest.raises(CertsealError) as err:
        await service.seal_document(
            stranger,
            seal.seal_id,
            document=DOCUMENT,
            document_hash=None,
            property_info="x",
        )
    assert err.value.kind is ErrorKind.PERMISSION_DENIED
    outcome = await seal_store.pool.fetchval(
        """select outcome from audit_log where subject = $1 and actor = $2
           and action = 'seal.use'""",
        seal.seal_id,
        str(stranger),
    )
    assert outcome == "denied"
    with pytest.raises(CertsealError) as err:
        await service.register(stranger, request(owner))
    assert err.value.kind is ErrorKind.PERMISSION_DENIED


async def test_revoked_after_signing_still_sealed_then_unusable(
    service, clock, operator
):
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    seal = await service.register(caller, request(owner, Suite.ES256))
    signature = (
        await service.seal_document(
            caller,
            seal.seal_id,
            document=DOCUMENT,
            document_hash=None,
            property_info="a",
        )
    ).signature
    clock.now = NOW + dt.timedelta(hours=2)
    revoked = await service.revoke(caller, seal.seal_id, "公章遗失")
    assert revoked.status == "revoked" and revoked.seal_version == 2
    result = await service.verify(signature, document=DOCUMENT)
    assert result.verdict is SealVerdict.VALID and result.current_status == "revoked"
    with pytest.raises(CertsealError) as err:
        await service.seal_document(
            caller,
            seal.seal_id,
            document=DOCUMENT,
            document_hash=None,
            property_info="b",
        )
    assert err.value.kind is ErrorKind.FAILED_PRECONDITION
    with pytest.raises(CertsealError) as err:
        await service.revoke(caller, seal.seal_id, "again")
    assert err.value.kind is ErrorKind.FAILED_PRECONDITION
    changed = DOCUMENT[:-1] + b"!"
    assert (await service.verify(signature, document=changed)).verdict is (
        SealVerdict.MODIFIED
    )
    assert (await service.verify(b"\x30\x00")).verdict is SealVerdict.MALFORMED


async def test_sealing_a_digest(service, operator):
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    seal = await service.register(caller, request(owner, Suite.ED25519))
    digest = hashlib.sha256(DOCUMENT).digest()
    signature = (
        await service.seal_document(
            caller,
            seal.seal_id,
            document=None,
            document_hash=digest,
            property_info="big",
        )
    ).signature
    assert (await service.verify(signature, document_hash=digest)).verdict is (
        SealVerdict.VALID
    )
    with pytest.raises(CertsealError) as err:
        await service.seal_document(
            caller,
            seal.seal_id,
            document=None,
            document_hash=b"short",
            property_info="x",
        )
    assert err.value.field == "document_hash"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"seal_type": "secret"}, "seal_type"),
        ({"name": ""}, "name"),
        ({"name": "\u200b\u200b"}, "name"),  # zero-width spaces only
        ({"name": "公章\u200f"}, "name"),  # a direction mark
        ({"name": "\u3164"}, "name"),  # a Hangul filler: blank-looking
        ({"signers": ()}, "signers"),
        ({"signers": ("root",)}, "signers"),
        ({"valid_end": NOW - dt.timedelta(days=2)}, "valid_end"),
        ({"valid_end": NOW + dt.timedelta(days=4000)}, "valid_end"),
        ({"picture_png": b"GIF89a"}, "picture"),
    ],
)
async def test_bad_registrations_name_the_field(service, changes, field, operator):
    owner = await seal_owner(operator)
    with pytest.raises(CertsealError) as err:
        await service.register(Caller("operator", "admin"), request(owner, **changes))
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert err.value.field == field


async def test_an_oversized_document_is_refused(seal_store, seal_ca, config, operator):
    small = SealService(
        store=seal_store,
        wrapper=KeyWrapper(read_secret_file(Path(config.secrets.kek_file), KEK)),
        seal_ca=seal_ca,
        max_document_bytes=1000,
    )
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    seal = await small.register(caller, request(owner, Suite.ES256))
    with pytest.raises(CertsealError) as err:
        await small.seal_document(
            caller,
            seal.seal_id,
            document=bytes(1001),
            document_hash=None,
            property_info="x",
        )
    # said to an RPC caller (the CLI always sends the digest): which digest, where
    assert err.value.field == "document" and err.value.message.endswith(
        "; the limit is 1,000 bytes ([seal] max_document_bytes): send its 32-byte "
        "SHA-256 digest (document_digest) instead"
    )
