"""atk-day: kept idempotency answers under another answers key
(certseal/storage/idempotency.py ``IdempotencyStore.lookup``, certseal/protectors.py
``AnswerProtector``).

Not kept as a test (atk-day I2): a row written now in the unsealed form is served as
the previous version's rows are. Whoever can write ``idempotent_requests`` can write
the licences and the outbox of the same database; and during a rolling upgrade the
previous version's processes still write rows in that form after migration 0005,
which their retries must find."""

from __future__ import annotations

import hashlib
import os
import secrets

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.idempotency import Claim
from certseal.protectors import AnswerProtector
from certseal.storage.idempotency import IdempotencyStore

METHOD = "/certseal.v1.Issuer/IssueLicence"


def _claim() -> Claim:
    return Claim(
        caller=f"dept:atk-day-{secrets.token_hex(4)}",
        key=f"atk-day-{secrets.token_hex(6)}",
        method=METHOD,
        fingerprint=hashlib.sha256(b"the same request").digest(),
    )


async def test_a_retry_after_the_answers_key_changed_is_internal(issuer):
    """docs/operations.md, Backups, Secrets: "a lost answers-key loses only the kept
    answers: a retry within the retention after it is answered INTERNAL, a new key
    works"."""
    before = IdempotencyStore(issuer.pool, protector=AnswerProtector(os.urandom(32)))
    after = IdempotencyStore(issuer.pool, protector=AnswerProtector(os.urandom(32)))
    claim = _claim()
    async with before.scope(claim) as scope:
        await before.answer(scope, b"the first answer")
    assert await before.lookup(claim) == b"the first answer"
    with pytest.raises(CertsealError) as err:
        await after.lookup(claim)
    assert err.value.kind is ErrorKind.INTERNAL, err.value


async def test_another_request_or_method_under_a_kept_key_is_already_exists(issuer):
    """Opening the answer first (above) keeps the conflict of another request under a
    key, and of another method, ALREADY_EXISTS."""
    store = IdempotencyStore(issuer.pool, protector=AnswerProtector(os.urandom(32)))
    claim = _claim()
    async with store.scope(claim) as scope:
        await store.answer(scope, b"the first answer")
    for other in (
        Claim(claim.caller, claim.key, METHOD, hashlib.sha256(b"other").digest()),
        Claim(claim.caller, claim.key, "/certseal.v1.Issuer/RenewLicence", b"x" * 32),
    ):
        with pytest.raises(CertsealError) as err:
            await store.lookup(other)
        assert err.value.kind is ErrorKind.ALREADY_EXISTS
