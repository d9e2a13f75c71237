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

import datetime as dt
import secrets

import pytest

from certseal import identifiers
from certseal.errors import CertsealError, ErrorKind
from certseal.rpc import Caller
from certseal.v1 import issuer_pb2 as pb
from services.issuer.domain import Holder
from services.issuer.service.issuance import IssueInput
from tests.conftest import issue_request, make_department, text_field

#: 𰀀 (CJK Extension G): neither bundled font draws it
EXT_G = "\U00030000"


class _NoSeal:
    async def seal_pdf(self, *args, **kwargs):  # pragma: no cover
        raise AssertionError("nothing is sealed")


async def test_a_copy_refused_for_the_department_s_name_blames_no_licence(
    issuer, operator, connect
):
    dept = await make_department(operator, connect)
    other = await make_department(operator, connect)
    app = f"app:wallet-{secrets.token_hex(4)}"
    await operator.admin.GrantHolderApp(
        pb.GrantHolderAppRequest(app=app, type_code=dept.type_code)
    )
    # the department's name as it stands when it was onboarded with files off
    await issuer.pool.execute(
        "update departments set name = $1 where code = $2",
        f"深圳市{EXT_G}融监督管理局",
        other.code,
    )
    now = dt.datetime.now(dt.UTC)
    service = issuer.make_service(lambda: dt.datetime.now(dt.UTC))
    if service.holder._files._renderer is None:
        pytest.skip("licence files are off (no rare-character font)")
    service.holder._files._sealer = _NoSeal()
    holder = ("111", identifiers.random_resident_id())
    licence = await service.issue(
        Caller("dept", dept.code),
        IssueInput(
            dept.type_code,
            Holder("张三", *holder),
            {"class": "C1", "address": "深圳市福田区"},
            valid_from=now - dt.timedelta(minutes=1),
            valid_until=now + dt.timedelta(days=30),
        ),
    )
    _, code, _ = await service.holder.authorise(
        Caller.parse(app),
        licence.identifier,
        holder=holder,
        department_code=other.code,
        counter="",
        purpose="开立银行账户",
        fields=["address"],
        expires_at=now + dt.timedelta(days=7),
    )
    caller = Caller("dept", other.code)
    with pytest.raises(CertsealError) as err:
        async with service.attempt(caller, "authorisation.redeem", "-"):
            await service.holder.redeem(caller, code, counter="")
    assert err.value.kind is ErrorKind.FAILED_PRECONDITION
    assert err.value.field == "department_name", err.value  # premise: not the licence
    entries = await issuer.pool.fetch(
        "select verdict from licence_usage where lineage = $1"
        " and kind = 'redemption_refused'",
        licence.lineage,
    )
    assert [e["verdict"] for e in entries] != ["COPY_NOT_DRAWABLE"], entries


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
