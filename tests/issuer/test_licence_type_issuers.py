"""A licence type's issuing departments change (IssuerAdmin.SetLicenceTypeIssuers,
``certseal type issuers``): a new city's bureau takes on a type, a reorganised one
hands its type on. Before, a type's issuers were fixed at registration, so a
department that stopped issuing could never lose its issuer role either."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import grpc
import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.rpc import Caller
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from tests.conftest import (
    fresh_uscc,
    issue_request,
    make_department,
    onboarded,
    run_certseal,
)
from tests.issuer.test_rpc import rpc_error

ISSUER = licence_pb2.DEPARTMENT_ROLE_ISSUER
COUNTER = licence_pb2.DEPARTMENT_ROLE_COUNTER


def _set(operator, type_code: str, *codes: str):
    return operator.admin.SetLicenceTypeIssuers(
        pb.SetLicenceTypeIssuersRequest(type_code=type_code, issuer_codes=list(codes))
    )


async def _issuers_row(issuer, type_code: str) -> list[str]:
    return list(
        await issuer.pool.fetchval(
            "select issuer_codes from licence_types where type_code = $1", type_code
        )
    )


async def _audit(issuer, type_code: str, outcome: str) -> list[dict]:
    found = await issuer.pool.fetch(
        "select actor, details from audit_log where action = 'licence_type.issuers' "
        "and subject = $1 and outcome = $2 order by seq",
        type_code,
        outcome,
    )
    return [
        {
            "actor": r["actor"],
            **(
                json.loads(r["details"])
                if isinstance(r["details"], str)
                else r["details"]
            ),
        }
        for r in found
    ]


async def test_a_department_added_issues_the_type_and_one_taken_out_keeps_its_licences(
    operator, connect, dept, issuer
):
    other = await make_department(operator, connect)
    err = await rpc_error(other.clients.issuer.IssueLicence(issue_request(dept)))
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    kept = await dept.clients.issuer.IssueLicence(issue_request(dept))

    reply = await _set(operator, dept.type_code, other.code, dept.code)
    assert reply.licence_type.type_code == dept.type_code
    assert sorted(reply.licence_type.issuer_codes) == sorted([dept.code, other.code])
    assert await _issuers_row(issuer, dept.type_code) == sorted([dept.code, other.code])
    issued = await other.clients.issuer.IssueLicence(issue_request(dept))
    assert issued.licence.issuer_code == other.code

    reply = await _set(operator, dept.type_code, other.code)  # dept hands it on
    assert list(reply.licence_type.issuer_codes) == [other.code]
    assert list(reply.previous_issuer_codes) == sorted([dept.code, other.code])
    err = await rpc_error(dept.clients.issuer.IssueLicence(issue_request(dept)))
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    assert err.details() == (
        f"type_code: department {dept.code} may not issue licence type "
        f"{dept.type_code}: it is not one of the type's issuers (an operator changes "
        "them: 'certseal type issuers')"
    )
    identifier = kept.licence.identifier
    # no new grant of validity from a department that no longer issues the type:
    # refused for its authority, and audited as every such refusal is
    err = await rpc_error(
        dept.clients.issuer.RenewLicence(pb.RenewLicenceRequest(identifier=identifier))
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    assert err.details() == (
        f"as: department {dept.code} no longer issues licence type "
        f"{dept.type_code}: transfer the licence to one of its issuers (an operator "
        "says which), which may renew it"
    )
    assert (
        await issuer.pool.fetchval(
            "select count(*) from audit_log where action = 'licence.renew' and "
            "subject = $1 and outcome = 'denied' and actor = $2",
            identifier,
            f"dept:{dept.code}",
        )
        == 1
    )
    # its licence is still its own to act on, and to hand on to the new issuer
    await dept.clients.issuer.SuspendLicence(
        pb.SuspendLicenceRequest(identifier=identifier, reason="核查")
    )
    await dept.clients.issuer.UnsuspendLicence(
        pb.UnsuspendLicenceRequest(identifier=identifier, reason="核查完毕")
    )
    moved = await dept.clients.issuer.TransferLicence(
        pb.TransferLicenceRequest(
            identifier=identifier, to_department_code=other.code, reason="职能划转"
        )
    )
    assert moved.transferred_in.issuer_code == other.code
    renewed = await other.clients.issuer.RenewLicence(
        pb.RenewLicenceRequest(identifier=moved.transferred_in.identifier)
    )
    assert renewed.licence.issuer_code == other.code
    # and a transfer back to it is refused: it is not an issuer of the type
    err = await rpc_error(
        other.clients.issuer.TransferLicence(
            pb.TransferLicenceRequest(
                identifier=renewed.licence.identifier, to_department_code=dept.code
            )
        )
    )
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "a transfer goes to a listed issuer" in err.details()


async def test_a_department_taken_out_of_every_type_may_lose_the_issuer_role(
    operator, connect, issuer
):
    """Before, the refusal said 'a type's issuers never change': a department listed
    by a type kept the issuer role for good."""
    dept = await make_department(operator, connect)
    other = await onboarded(operator, ISSUER)
    refused = await rpc_error(
        operator.admin.SetDepartmentRoles(
            pb.SetDepartmentRolesRequest(code=dept.code, roles=[COUNTER])
        )
    )
    assert refused.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert refused.details() == (
        f"roles: department {dept.code} keeps the issuer role: licence types "
        f"{dept.type_code} list it as an issuer: give each type its new issuers "
        "first ('certseal type issuers')"
    )
    await _set(operator, dept.type_code, other)
    reply = await operator.admin.SetDepartmentRoles(
        pb.SetDepartmentRolesRequest(code=dept.code, roles=[COUNTER])
    )
    assert list(reply.department.roles) == [COUNTER]


async def test_the_change_is_audited_with_the_issuers_it_had(operator, dept, issuer):
    other = await onboarded(operator, ISSUER)
    await _set(operator, dept.type_code, other, dept.code, other)  # once each
    assert await _audit(issuer, dept.type_code, "ok") == [
        {
            "actor": "operator:admin",
            "issuer_codes": sorted([dept.code, other]),
            "was": [dept.code],
        }
    ]


@pytest.mark.parametrize(
    ("type_code", "codes", "words"),
    [
        ("", ["dept"], "type_code: "),
        ("unknown", ["dept"], "type_code: unknown licence type"),
        ("type", [], "issuer_codes: name at least one department"),
        ("type", ["dept", "91350100M000100Y4X"], "issuer_codes[1]: "),
        ("type", ["dept", "fresh"], "is not onboarded ('certseal department add')"),
        ("type", ["dept", "counter"], "lacks the issuer role ('certseal department"),
        ("type", ["dept"] * 501, "issuer_codes: at most 500 departments"),
    ],
    ids=[
        "empty-type",
        "unknown-type",
        "no-issuer",
        "bad-check-digit",
        "not-onboarded",
        "no-issuer-role",
        "too-many",
    ],
)
async def test_a_wrong_request_is_told_what_is_wrong_and_changes_nothing(
    operator, dept, issuer, type_code, codes, words
):
    counter = await onboarded(operator, COUNTER)
    named = {"dept": dept.code, "fresh": fresh_uscc(), "counter": counter}
    codes = [named.get(c, c) for c in codes]
    type_code = {"type": dept.type_code, "unknown": fresh_uscc() + "001"}.get(
        type_code, type_code
    )
    err = await rpc_error(_set(operator, type_code, *codes))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert words in err.details()
    assert await _issuers_row(issuer, dept.type_code) == [dept.code]
    # a malformed request is the caller's mistake, not a refused change (as for
    # every IssuerAdmin change): no audit row
    assert not await _audit(issuer, type_code, "denied")


async def test_every_department_that_cannot_issue_is_named_at_once(
    operator, dept, issuer
):
    """nu30: only the first was named, so an operator fixed one and was refused again."""
    absent = sorted(fresh_uscc() for _ in range(2))
    lacking = sorted([await onboarded(operator, COUNTER) for _ in range(6)])
    err = await rpc_error(_set(operator, dept.type_code, dept.code, *absent, *lacking))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == (
        f"issuer_codes: departments {', '.join(absent)} are not onboarded ('certseal "
        f"department add'); departments {', '.join(lacking[:5])} and 1 more lack the "
        "issuer role ('certseal department roles CODE --roles …,issuer')"
    )
    assert await _issuers_row(issuer, dept.type_code) == [dept.code]


async def test_a_listed_department_without_a_key_is_told_how_to_get_one(
    operator, connect, dept
):
    """nu30: a department made an issuer before it had a signing key was refused
    saying only 'has no active signing key'."""
    code = await onboarded(operator, ISSUER)
    await _set(operator, dept.type_code, dept.code, code)
    err = await rpc_error(
        connect(f"dept:{code}").issuer.IssueLicence(issue_request(dept))
    )
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert err.details() == (
        f"as: department {code} has no active signing key: an operator creates one "
        "('certseal key create CODE --suite SUITE')"
    )


async def test_only_an_operator_may_change_issuers_and_each_refusal_is_audited(
    operator, connect, dept, issuer
):
    other = await onboarded(operator, ISSUER)
    identities = (f"dept:{dept.code}", "service:console", "integrator:x")
    for identity in identities:
        err = await rpc_error(_set(connect(identity), dept.type_code, other))
        assert err.code() is grpc.StatusCode.PERMISSION_DENIED, identity
    assert await _issuers_row(issuer, dept.type_code) == [dept.code]
    rows = await _audit(issuer, dept.type_code, "denied")
    # one row each; their order is not the calls' (CI: a row's seq is the sealer's,
    # given after the rows of one moment are written)
    assert sorted(r["actor"] for r in rows) == sorted(identities)
    assert {tuple(r["issuer_codes"]) for r in rows} == {(other,)}


async def test_a_refusal_records_no_identity_number_put_where_a_code_goes(
    operator, connect, dept, issuer
):
    """A refused caller's text may be anything: an identity number in the list is
    recorded as '-', as every refused subject and value is."""
    err = await rpc_error(
        _set(connect(f"dept:{dept.code}"), dept.type_code, "44030119900101123X")
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    (row,) = await _audit(issuer, dept.type_code, "denied")
    assert row["issuer_codes"] == ["-"]


async def test_a_type_cannot_list_a_department_whose_issuer_role_is_taken_meanwhile(
    operator, dept, issuer
):
    """The change reads its issuers' roles again under a share lock (as a
    registration does), so a role taken between the use case's checks and its
    transaction is seen."""
    from certseal.audit import AuditEntry

    code = await onboarded(operator, ISSUER)
    await operator.admin.SetDepartmentRoles(
        pb.SetDepartmentRolesRequest(code=code, roles=[COUNTER])
    )
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(CertsealError) as refused:
        await issuer.store.set_licence_type_issuers(
            dept.type_code,
            frozenset({dept.code, code}),
            lambda was: AuditEntry(
                now, "operator:admin", "licence_type.issuers", dept.type_code
            ),
        )
    assert (refused.value.kind, refused.value.field) == (
        ErrorKind.INVALID_ARGUMENT,
        "issuer_codes",
    )
    assert refused.value.message == (
        f"department {code} lacks the issuer role ('certseal department roles CODE "
        "--roles …,issuer')"
    )
    assert await _issuers_row(issuer, dept.type_code) == [dept.code]


async def test_the_cli_changes_issuers_and_names_a_wrong_one(
    operator, config, tmp_path, dept, issuer
):
    other = await onboarded(operator, ISSUER)
    target = {"issuer_target": f"localhost:{issuer.port}"}
    status, out = await run_certseal(
        config,
        tmp_path,
        *("type", "issuers", dept.type_code, "--issuers", f"{other}, {dept.code}"),
        **target,
    )
    assert status == 0, out
    assert f"issuers {','.join(sorted([dept.code, other]))}" in out, out
    assert out.strip().endswith(f"added: {other}"), out
    assert await _issuers_row(issuer, dept.type_code) == sorted([dept.code, other])
    status, out = await run_certseal(  # the option repeated, the same set
        config,
        tmp_path,
        *("type", "issuers", dept.type_code, "--issuers", other),
        *("--issuers", f"{dept.code},"),
        **target,
    )
    assert status == 0, out
    assert out.strip().endswith("unchanged: it had these issuers"), out
    status, out = await run_certseal(
        config,
        tmp_path,
        *("type", "issuers", dept.type_code, "--issuers", other),
        **target,
    )
    assert status == 0, out
    assert out.strip().endswith(f"taken out: {dept.code}"), out
    assert await _issuers_row(issuer, dept.type_code) == [other]
    status, out = await run_certseal(
        config,
        tmp_path,
        *(
            "type",
            "issuers",
            dept.type_code,
            "--issuers",
            f"{other},91350100M000100Y4X",
        ),
        **target,
    )
    assert status == 2, out
    assert "error: issuers[1]: " in out, out
    status, out = await run_certseal(
        config,
        tmp_path,
        *("type", "issuers", "NOSUCHTYPE", "--issuers", other),
        **target,
    )
    assert status == 2, out
    assert "error: code: " in out, out
    assert await _issuers_row(issuer, dept.type_code) == [other]


class _Store:
    """A store whose commit the test makes (see the test below)."""

    def __init__(self, committed) -> None:
        self.committed = committed

    async def get_licence_type(self, asked: str):
        return self.committed, dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    async def set_licence_type_issuers(self, type_code, codes, audit):
        audit(self.committed)
        return dataclasses.replace(self.committed, issuer_codes=codes), None


async def test_a_type_is_read_again_after_the_cache_time_and_not_cached_mid_change(
    monkeypatch,
):
    """Types were cached for good: another issuer process (or a serving worker)
    would go on letting a department taken out issue the type, and refusing the
    one added, until it restarted."""
    from services.issuer.domain import FieldKind, FieldSpec, LicenceType
    from services.issuer.service import directory as module
    from services.issuer.service.common import Auditor
    from services.issuer.service.directory import Directory

    clock = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: clock[0])
    now = dt.datetime(2026, 12, 4, tzinfo=dt.UTC)
    code, other = fresh_uscc(), fresh_uscc()
    t = fresh_uscc() + "001"
    was = LicenceType(
        t,
        "证",
        (FieldSpec("class", FieldKind.STRING, public=True),),
        30,
        frozenset({code}),
    )
    store = _Store(was)

    def directory() -> Directory:
        return Directory(
            store=store,  # type: ignore[arg-type]
            auditor=Auditor(store=store, clock=lambda: now),  # type: ignore[arg-type]
            clock=lambda: now,
            platform_code="11440000PLATFORM00",
            platform_name="平台",
        )

    elsewhere, here = directory(), directory()
    assert (await elsewhere.licence_type(t)).issuer_codes == {code}  # cached
    assert (await here.licence_type(t)).issuer_codes == {code}
    await here.set_licence_type_issuers(Caller("operator", "a"), t, [other])
    # not committed yet: read again in the process that changed it, not kept
    assert (await here.licence_type(t)).issuer_codes == {code}
    store.committed = dataclasses.replace(was, issuer_codes=frozenset({other}))
    assert (await here.licence_type(t)).issuer_codes == {other}
    # another process keeps its read for the cache's time, then reads again
    assert (await elsewhere.licence_type(t)).issuer_codes == {code}
    clock[0] += module._CACHE_TTL_S + 0.1
    assert (await elsewhere.licence_type(t)).issuer_codes == {other}


async def test_a_batch_retried_after_its_department_was_taken_out_answers_the_same(
    operator, connect, dept, issuer
):
    """A retry of an IssueLicences item with its key answers the licence the key
    produced, even once the department no longer issues the type (docs/operations.md,
    "Same key, same request"); it answered PERMISSION_DENIED, as a new issuance."""
    other = await make_department(operator, connect)
    key = f"batch-{fresh_uscc()}"
    batch = pb.IssueLicencesRequest(items=[issue_request(dept, idempotency_key=key)])
    first = await dept.clients.issuer.IssueLicences(batch)
    assert first.results[0].licence.identifier
    await _set(operator, dept.type_code, other.code)
    assert await dept.clients.issuer.IssueLicences(batch) == first
    # a new item of the type is still refused, with or without a key
    batch.items.append(issue_request(dept, idempotency_key=f"{key}-2"))
    again = await dept.clients.issuer.IssueLicences(batch)
    assert again.results[0] == first.results[0]
    assert again.results[1].error.code == "PERMISSION_DENIED"
