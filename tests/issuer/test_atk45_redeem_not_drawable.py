"""atk45: a redemption refused because the copy cannot be drawn (reason
``not_drawable``) as a ``redemption_refused`` entry of the holder's record
(COPY_NOT_DRAWABLE: "the licence holds a character it cannot draw"), and the
issuance warnings replayed under an idempotency key, against the issuer in the
embedded stack.

What a copy draws that no licence holds: the redeeming department's name (taken
unchecked where licence files were off when it was onboarded: docs/holder.md,
"nothing is checked where it is taken; the renderer checks once files are on").
"""

from __future__ import annotations

import secrets

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.v1 import issuer_pb2 as pb
from tests.conftest import issue_request, make_department, text_field
from tests.issuer.holder_world import make_holder_world

#: 𰀀 (CJK Extension G): neither bundled font draws it
EXT_G = "\U00030000"


async def test_a_copy_refused_for_the_department_s_name_blames_no_licence(
    issuer, operator, connect
):
    w = await make_holder_world(issuer, operator, connect)
    code = await w.authorise(["address"])
    # the department's name as it stands when it was renamed while files were off,
    # after the authorisation (one of such a name is not made: atk46 F10)
    await issuer.pool.execute(
        "update departments set name = $1 where code = $2",
        f"深圳市{EXT_G}融监督管理局",
        w.other.code,
    )
    w.service.holder._desk._directory._departments.clear()
    with pytest.raises(CertsealError) as err:
        await w.redeem(code)
    assert err.value.kind is ErrorKind.FAILED_PRECONDITION
    assert err.value.field == "department_name", err.value  # premise: not the licence
    assert err.value.reason is None  # the licence is not at fault
    entries = await issuer.pool.fetch(
        "select verdict from licence_usage where lineage = $1"
        " and kind = 'redemption_refused'",
        w.licence.lineage,
    )
    assert entries == []


async def test_held_a_replay_answers_the_same_warnings(operator, connect):
    """Held: IssueLicence and AmendLicence replayed with their idempotency key answer
    the first answer, warnings included (the interceptor keeps its bytes), and no
    second licence; an empty-named or huge value is no INTERNAL."""
    dept = await make_department(operator, connect)
    key = f"atk45-{secrets.token_hex(6)}"
    request = issue_request(dept, name=f"王{EXT_G}明", idempotency_key=key)
    request.fields["address"].CopyFrom(text_field("深" * 999 + EXT_G))
    first = await dept.clients.issuer.IssueLicence(request)
    again = await dept.clients.issuer.IssueLicence(request)
    assert again == first and len(first.warnings) == 2, first.warnings
    assert "position 1000" in first.warnings[1]
    amend = pb.AmendLicenceRequest(
        identifier=first.licence.identifier,
        holder_name="王明",
        reason="更正",
        idempotency_key=f"{key}-amend",
    )
    amended = await dept.clients.issuer.AmendLicence(amend)
    assert await dept.clients.issuer.AmendLicence(amend) == amended
    assert [w.split(":")[0] for w in amended.warnings] == ["fields.address"]
