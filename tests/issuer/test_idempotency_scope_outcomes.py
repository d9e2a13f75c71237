"""What a keyed request's held transaction becomes when its handler raises
(certseal/storage/idempotency.py, rule 4), at the store itself: a refusal commits what
the handler wrote (a ``denied`` row written in the request's transaction is kept); a
transient failure, an unexpected one or a cancellation rolls it back. atk48: with
``_refusal`` made always False (every failure rolled back), no test failed; the
commit of a refusal was untested."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets

import pytest

from certseal.audit import AuditEntry
from certseal.errors import CertsealError, ErrorKind
from certseal.idempotency import Claim
from certseal.protectors import AnswerProtector
from certseal.storage.audit import write_audit
from certseal.storage.idempotency import IdempotencyStore, transaction


@pytest.mark.parametrize(
    ("raised", "kept"),
    [
        (CertsealError(ErrorKind.FAILED_PRECONDITION, "refused", field="x"), True),
        (CertsealError(ErrorKind.PERMISSION_DENIED, "refused", field="as"), True),
        (CertsealError(ErrorKind.UNAVAILABLE, "retry", field="x"), False),
        (CertsealError(ErrorKind.ABORTED, "retry", field="x"), False),
        (ConnectionResetError(104, "Connection reset by peer"), False),
        (RuntimeError("a bug"), False),
        (asyncio.CancelledError(), False),
    ],
    ids=lambda v: (
        getattr(getattr(v, "kind", None), "value", type(v).__name__)
        if not isinstance(v, bool)
        else str(v)
    ),
)
async def test_what_a_failed_keyed_request_wrote_is_kept_only_for_a_refusal(
    issuer, raised, kept
):
    store = IdempotencyStore(issuer.pool, protector=AnswerProtector(os.urandom(32)))
    subject = f"atk48-{secrets.token_hex(6)}"
    claim = Claim("operator:atk48", subject, "/certseal.v1.Issuer/X", b"\x01" * 32)
    row = AuditEntry(dt.datetime.now(dt.UTC), "operator:atk48", "x", subject, "denied")
    with pytest.raises(type(raised)):
        async with store.scope(claim):
            async with transaction(issuer.pool) as conn:
                await write_audit(conn, [row])
            raise raised
    found = await issuer.pool.fetchval(
        "select count(*) from audit_log where subject = $1", subject
    )
    assert found == (1 if kept else 0)
    assert await store.lookup(claim) is None  # no answer stored either way
