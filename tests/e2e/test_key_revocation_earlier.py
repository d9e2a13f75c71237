"""A signing key's revocation can be moved earlier, never later (nu19): an operator who
revoked a key without ``revoked_at`` and then learned the compromise was older could
not say so ("is revoked; cannot make it revoked"), and licences signed between the
compromise and the first revocation stayed VALID at every counter."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest

from certseal.timestamps import ts
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import verifier_pb2
from tests.conftest import (
    issue_request,
    make_department,
    serving_group,
    verdict_everywhere,
)

VALID = verifier_pb2.VERDICT_VALID
KEY_REVOKED = verifier_pb2.VERDICT_KEY_REVOKED


async def _revoke(operator, kid: str, at: dt.datetime | None = None):
    request = pb.RevokeSigningKeyRequest(kid=kid, reason="HSM 失窃")
    if at is not None:
        request.revoked_at.CopyFrom(ts(at))
    return (await operator.admin.RevokeSigningKey(request)).key


async def test_a_revocation_moved_earlier_revokes_what_was_signed_since(
    stack, config, issuer, operator, connect, tmp_path
):
    dept = await make_department(operator, connect)
    compromised_at = dt.datetime.now(dt.UTC)  # after the key's not_before
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    code = (
        await dept.clients.issuer.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=licence.identifier)
        )
    ).text
    group = await serving_group(stack, config, tmp_path, "moved")
    try:
        stubs = {group.group: group.stub}
        await verdict_everywhere(stubs, code, VALID)
        first = await _revoke(operator, dept.kid)  # from now: the licence is older
        first_at = first.revoked_at.ToDatetime(tzinfo=dt.UTC)
        laters = (None, first_at, dt.datetime.now(dt.UTC))
        for later in laters:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await _revoke(operator, dept.kid, later)
            assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
            assert "can only be moved earlier: give a time before" in (
                err.value.details()
            )
            assert "revoked_at" in err.value.details().partition(":")[0]  # the field
        moved = await _revoke(operator, dept.kid, compromised_at)
        assert moved.revoked_at.ToDatetime(tzinfo=dt.UTC) == compromised_at
        await verdict_everywhere(stubs, code, KEY_REVOKED, within=30)
    finally:
        await group.stop()
    rows = await issuer.pool.fetch(
        "select outcome, details from audit_log where subject = $1 and "
        "action = 'key.revoked' order by id",
        dept.kid,
    )
    said = [r["details"]["revoked_at"] for r in rows if r["outcome"] == "ok"]
    assert said == [first_at.isoformat(), compromised_at.isoformat()]
    # each revocation refused as moved later is audited too, saying why
    refused = [r["details"]["why"] for r in rows if r["outcome"] == "denied"]
    assert len(refused) == 3
    assert all("can only be moved earlier" in why for why in refused), refused
    # ... and the time each asked for (nu29), none where none was given
    asked = [r["details"].get("revoked_at") for r in rows if r["outcome"] == "denied"]
    assert asked == [None, *(at.isoformat() for at in laters[1:] if at)]
