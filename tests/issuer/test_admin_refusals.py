"""Refused administration is audited (atk: the audit trail recorded what was done but
not the privileged operations that were refused).

Every refusal of an IssuerAdmin change, of authority (PERMISSION_DENIED: a department
calling IssuerAdmin, refused for its kind, or a use case's own check) or of state
(FAILED_PRECONDITION, ALREADY_EXISTS for a change that conflicts), leaves ONE audit
row: the caller, the action named as its success is, the subject, outcome ``denied``
and ``{"why": ...}`` with what was asked (tests/issuer/test_refusals_asked.py); and
the state is as it was. Malformed input, reads, and a
caller refused before it is known leave none."""

from __future__ import annotations

import json
import secrets

import grpc
import pytest

from certseal.audit import recordable
from certseal.errors import CertsealError, ErrorKind
from certseal.rpc import Caller
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from tests.conftest import fresh_uscc, issue_request, make_department, onboarded
from tests.issuer.test_rpc import rpc_error

ISSUER = licence_pb2.DEPARTMENT_ROLE_ISSUER
COUNTER = licence_pb2.DEPARTMENT_ROLE_COUNTER
SEAL_OWNER = licence_pb2.DEPARTMENT_ROLE_SEAL_OWNER
ADMIN = "certseal.v1.IssuerAdmin"


async def audit_rows(issuer, *, actor: str, action: str | None = None) -> list[dict]:
    """``actor``'s audit rows (of ``action``), oldest first, details as a dict."""
    found = await issuer.pool.fetch(
        """select actor, action, subject, outcome, details, request_id from audit_log
            where actor = $1 and ($2::text is null or action = $2) order by id""",
        actor,
        action,
    )
    rows = []
    for row in found:
        details = row["details"]
        rows.append(
            {
                **dict(row.items()),
                "details": json.loads(details) if isinstance(details, str) else details,
            }
        )
    return rows


def refusal(row: dict) -> tuple[str, str, str, str, str]:
    return (
        row["actor"],
        row["action"],
        row["subject"],
        row["outcome"],
        row["details"]["why"],
    )


async def roles_of(issuer, code: str) -> list[str]:
    return list(
        await issuer.pool.fetchval(
            "select roles from departments where code = $1", code
        )
    )


def type_request(type_code: str, issuer_code: str) -> pb.RegisterLicenceTypeRequest:
    return pb.RegisterLicenceTypeRequest(
        type_code=type_code,
        name="另一个证照",
        default_validity_days=30,
        issuer_codes=[issuer_code],
        fields=[
            licence_pb2.FieldSpec(
                name="class", type=licence_pb2.FIELD_TYPE_STRING, public=True
            )
        ],
    )


# -- authority: a department calling IssuerAdmin ------------------------------------


async def test_a_department_changing_its_roles_is_refused_and_audited(
    operator, connect, issuer
):
    code = await onboarded(operator, COUNTER)
    caller = f"dept:{code}"
    err = await rpc_error(
        connect(caller).admin.SetDepartmentRoles(
            pb.SetDepartmentRolesRequest(code=code, roles=[ISSUER, COUNTER])
        )
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    [row] = await audit_rows(issuer, actor=caller)
    assert refusal(row) == (
        caller,
        "department.roles",
        code,
        "denied",
        f"{caller} may not call {ADMIN}",
    )
    assert row["request_id"]  # the refused call's, as in its log lines
    assert await roles_of(issuer, code) == ["counter"]


def _admin_calls(code: str, kid: str, app: str) -> list[tuple[str, object, str, str]]:
    """(RPC, request, action, subject) of every IssuerAdmin change."""
    return [
        (
            "OnboardDepartment",
            pb.OnboardDepartmentRequest(code=code, name="自己", roles=[ISSUER]),
            "department.onboard",
            code,
        ),
        (
            "SetDepartmentRoles",
            pb.SetDepartmentRolesRequest(code=code, roles=[ISSUER]),
            "department.roles",
            code,
        ),
        (
            "RegisterLicenceType",
            type_request(code + "001", code),
            "licence_type.register",
            code + "001",
        ),
        (
            "CreateSigningKey",
            pb.CreateSigningKeyRequest(department_code=code, suite="es256"),
            "key.create",
            code,
        ),
        (
            "RotateSigningKey",
            pb.RotateSigningKeyRequest(department_code=code, suite="es256"),
            "key.rotate",
            code,
        ),
        ("RetireSigningKey", pb.RetireSigningKeyRequest(kid=kid), "key.retired", kid),
        (
            "RevokeSigningKey",
            pb.RevokeSigningKeyRequest(kid=kid, reason="泄露"),
            "key.revoked",
            kid,
        ),
        (
            "GrantHolderApp",
            pb.GrantHolderAppRequest(app=app, type_code=code + "001"),
            "holder_app.grant",
            app,
        ),
        (
            "RevokeHolderApp",
            pb.RevokeHolderAppRequest(app=app, type_code=code + "001"),
            "holder_app.revoke",
            app,
        ),
        ("Republish", pb.RepublishRequest(), "republish.start", "-"),
    ]


async def test_every_admin_change_a_department_attempts_is_refused_and_audited(
    dept, connect, issuer
):
    """One row per refused call, each naming what the call would have changed; the
    department's key and roles are as they were."""
    other = fresh_uscc()
    caller = connect(f"dept:{other}")
    app = f"app:wallet-{secrets.token_hex(4)}"
    calls = _admin_calls(other, dept.kid, app)
    for rpc, request, _, _ in calls:
        err = await rpc_error(getattr(caller.admin, rpc)(request))
        assert err.code() is grpc.StatusCode.PERMISSION_DENIED, rpc
    rows = await audit_rows(issuer, actor=f"dept:{other}")
    why = f"dept:{other} may not call {ADMIN}"
    # each subject as a refused caller's text is recorded: a random key id holding
    # what reads as a mobile number ('366ef14668647535': 14668647535) is '-' (CI)
    assert [refusal(r) for r in rows] == [
        (f"dept:{other}", action, recordable(subject, str), "denied", why)
        for _, _, action, subject in calls
    ]
    assert (
        await issuer.pool.fetchval(
            "select count(*) from departments where code = $1", other
        )
        == 0
    )
    assert (
        await issuer.pool.fetchval(
            "select status from signing_keys where kid = $1", dept.kid
        )
        == "active"
    )


async def test_a_read_refused_and_a_caller_never_known_leave_no_row(
    operator, connect, issuer
):
    """Not every refusal is a row: a read (ListDepartments) changes nothing, and a
    certificate naming no identity is refused before there is a caller to name."""
    code = fresh_uscc()
    err = await rpc_error(
        connect(f"dept:{code}").admin.ListDepartments(pb.ListDepartmentsRequest())
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    assert await audit_rows(issuer, actor=f"dept:{code}") == []
    target = await onboarded(operator, COUNTER)
    err = await rpc_error(
        connect("visitor:nobody").admin.SetDepartmentRoles(
            pb.SetDepartmentRolesRequest(code=target, roles=[ISSUER])
        )
    )
    assert err.code() is grpc.StatusCode.UNAUTHENTICATED
    assert (
        await issuer.pool.fetchval(
            "select count(*) from audit_log where subject = $1 and outcome = 'denied'",
            target,
        )
        == 0
    )
    assert await roles_of(issuer, target) == ["counter"]


async def test_a_repeated_refusal_is_one_small_row_per_call(connect, issuer):
    """A refused call cannot be made to write more than its one row, however large
    the text it names (a request the caller fills to the size limit): text that is
    no department code is recorded as ``-`` (the cut of a long subject is
    tests/kernel/test_audit.py's)."""
    code = fresh_uscc()
    caller = connect(f"dept:{code}")
    huge = "9" * 100_000
    for _ in range(3):
        err = await rpc_error(
            caller.admin.SetDepartmentRoles(
                pb.SetDepartmentRolesRequest(code=huge, roles=[ISSUER])
            )
        )
        assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    rows = await audit_rows(issuer, actor=f"dept:{code}")
    assert len(rows) == 3
    assert {r["subject"] for r in rows} == {"-"}
    assert {len(r["details"]["why"]) for r in rows} == {len(rows[0]["details"]["why"])}


async def test_the_use_case_audits_its_own_check_of_the_caller(operator, issuer):
    """Behind the interceptor, the use case refuses anyone but an operator too (a
    caller the RPC service accepts, were it ever allowed): one row, not two."""
    code = await onboarded(operator, COUNTER)
    caller = Caller("dept", code)
    with pytest.raises(CertsealError) as refused:
        await issuer.service.set_department_roles(caller, code, ["issuer"])
    assert refused.value.kind is ErrorKind.PERMISSION_DENIED
    rows = await audit_rows(issuer, actor=str(caller))
    assert [refusal(r) for r in rows] == [
        (
            str(caller),
            "department.roles",
            code,
            "denied",
            f"{caller} is not a platform operator",
        )
    ]
    assert await roles_of(issuer, code) == ["counter"]


# -- state: an operator's change the platform's state refuses ------------------------


async def test_a_role_still_in_use_is_kept_and_the_refusal_audited(
    operator, dept, issuer
):
    await dept.clients.issuer.IssueLicence(issue_request(dept))
    err = await rpc_error(
        operator.admin.SetDepartmentRoles(
            pb.SetDepartmentRolesRequest(code=dept.code, roles=[COUNTER])
        )
    )
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    rows = await issuer.pool.fetch(
        "select actor, outcome, details from audit_log where action = "
        "'department.roles' and subject = $1",
        dept.code,
    )
    [row] = rows
    details = row["details"]
    details = json.loads(details) if isinstance(details, str) else details
    assert (row["actor"], row["outcome"]) == ("operator:admin", "denied")
    assert details == {
        "why": f"department {dept.code} keeps the issuer role: licence types "
        f"{dept.type_code} list it as an issuer: give each type its new issuers "
        "first ('certseal type issuers'); "
        "it has licences in force, and only their issuer may revoke, suspend, "
        "amend or transfer them",
        "roles": ["counter"],  # what was asked, as the ok row of a change names it
    }
    assert await roles_of(issuer, dept.code) == ["issuer"]


async def test_the_platform_keeping_seal_owner_is_an_audited_refusal(
    operator, config, issuer
):
    platform = config.platform.code
    before = await roles_of(issuer, platform)
    rows_before = await issuer.pool.fetchval(
        "select count(*) from audit_log where action = 'department.roles' and "
        "subject = $1 and outcome = 'denied'",
        platform,
    )
    err = await rpc_error(
        operator.admin.SetDepartmentRoles(
            pb.SetDepartmentRolesRequest(code=platform, roles=[ISSUER])
        )
    )
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    row = await issuer.pool.fetchrow(
        "select actor, outcome, details from audit_log where action = "
        "'department.roles' and subject = $1 order by id desc limit 1",
        platform,
    )
    details = row["details"]
    details = json.loads(details) if isinstance(details, str) else details
    assert (row["actor"], row["outcome"]) == ("operator:admin", "denied")
    assert "keeps the seal_owner role" in details["why"]
    assert (
        await issuer.pool.fetchval(
            "select count(*) from audit_log where action = 'department.roles' and "
            "subject = $1 and outcome = 'denied'",
            platform,
        )
        == rows_before + 1
    )
    assert await roles_of(issuer, platform) == before


async def test_onboarding_a_department_again_is_an_audited_refusal(operator, issuer):
    code = await onboarded(operator, COUNTER)
    err = await rpc_error(
        operator.admin.OnboardDepartment(
            pb.OnboardDepartmentRequest(code=code, name="冒名", roles=[ISSUER])
        )
    )
    assert err.code() is grpc.StatusCode.ALREADY_EXISTS
    rows = await audit_rows(issuer, actor="operator:admin", action="department.onboard")
    mine = [r for r in rows if r["subject"] == code]
    assert [(r["outcome"], r["details"]) for r in mine] == [
        ("ok", {"roles": ["counter"]}),
        (
            "denied",
            {"why": f"department {code} is already onboarded", "roles": ["issuer"]},
        ),
    ]
    row = await issuer.pool.fetchrow(
        "select name, roles from departments where code = $1", code
    )
    assert (row["name"], list(row["roles"])) == (f"单位 {code[-4:]}", ["counter"])


async def test_registering_a_licence_type_again_is_an_audited_refusal(
    operator, dept, issuer
):
    err = await rpc_error(
        operator.admin.RegisterLicenceType(type_request(dept.type_code, dept.code))
    )
    assert err.code() is grpc.StatusCode.ALREADY_EXISTS
    rows = await issuer.pool.fetch(
        "select actor, outcome, details from audit_log where action = "
        "'licence_type.register' and subject = $1 order by id",
        dept.type_code,
    )
    assert [(r["actor"], r["outcome"]) for r in rows] == [
        ("operator:admin", "ok"),
        ("operator:admin", "denied"),
    ]
    details = rows[1]["details"]
    details = json.loads(details) if isinstance(details, str) else details
    assert details == {"why": f"licence type {dept.type_code} is already registered"}
    assert (
        await issuer.pool.fetchval(
            "select name from licence_types where type_code = $1", dept.type_code
        )
        == "机动车驾驶证"
    )


async def test_retiring_a_retired_key_is_an_audited_refusal_after_its_own_row(
    operator, dept, issuer
):
    """The first retirement writes its normal row (outcome ok); the second is
    refused by the key's state, audited, and changes nothing."""
    await operator.admin.RetireSigningKey(pb.RetireSigningKeyRequest(kid=dept.kid))
    version = await issuer.pool.fetchval(
        "select key_version from signing_keys where kid = $1", dept.kid
    )
    err = await rpc_error(
        operator.admin.RetireSigningKey(pb.RetireSigningKeyRequest(kid=dept.kid))
    )
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    rows = await issuer.pool.fetch(
        "select actor, outcome, details from audit_log where action = 'key.retired' "
        "and subject = $1 order by id",
        dept.kid,
    )
    assert [(r["actor"], r["outcome"]) for r in rows] == [
        ("operator:admin", "ok"),
        ("operator:admin", "denied"),
    ]
    details = rows[1]["details"]
    details = json.loads(details) if isinstance(details, str) else details
    assert details == {"why": f"key {dept.kid} is retired; cannot make it retired"}
    row = await issuer.pool.fetchrow(
        "select status, key_version from signing_keys where kid = $1", dept.kid
    )
    assert (row["status"], row["key_version"]) == ("retired", version)


async def test_moving_a_revocation_later_is_an_audited_refusal(operator, dept, issuer):
    await operator.admin.RevokeSigningKey(
        pb.RevokeSigningKeyRequest(kid=dept.kid, reason="泄露")
    )
    revoked_at = await issuer.pool.fetchval(
        "select revoked_at from signing_keys where kid = $1", dept.kid
    )
    err = await rpc_error(
        operator.admin.RevokeSigningKey(
            pb.RevokeSigningKeyRequest(kid=dept.kid, reason="再次")
        )
    )
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    rows = await issuer.pool.fetch(
        "select outcome, details from audit_log where action = 'key.revoked' "
        "and subject = $1 order by id",
        dept.kid,
    )
    assert [r["outcome"] for r in rows] == ["ok", "denied"]
    details = rows[1]["details"]
    details = json.loads(details) if isinstance(details, str) else details
    assert "can only be moved earlier" in details["why"]
    assert (
        await issuer.pool.fetchval(
            "select revoked_at from signing_keys where kid = $1", dept.kid
        )
        == revoked_at
    )


# -- not refusals of authority or state: malformed input, and a change made ----------


async def test_malformed_input_is_not_audited(operator, issuer):
    code = await onboarded(operator, COUNTER)
    err = await rpc_error(
        operator.admin.SetDepartmentRoles(pb.SetDepartmentRolesRequest(code=code))
    )
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (
        await issuer.pool.fetchval(
            "select count(*) from audit_log where action = 'department.roles' "
            "and subject = $1",
            code,
        )
        == 0
    )


async def test_a_change_made_writes_its_row_and_no_refusal(operator, issuer):
    code = await onboarded(operator, COUNTER)
    await operator.admin.SetDepartmentRoles(
        pb.SetDepartmentRolesRequest(code=code, roles=[COUNTER, SEAL_OWNER])
    )
    rows = await issuer.pool.fetch(
        "select actor, outcome, details from audit_log where subject = $1 order by id",
        code,
    )
    assert [(r["actor"], r["outcome"]) for r in rows] == [
        ("operator:admin", "ok"),  # department.onboard
        ("operator:admin", "ok"),  # department.roles
    ]
    details = rows[1]["details"]
    details = json.loads(details) if isinstance(details, str) else details
    assert details == {"roles": ["counter", "seal_owner"], "was": ["counter"]}
    assert await roles_of(issuer, code) == ["counter", "seal_owner"]


# -- licence operations on another department's licence (audited before) ------------


async def test_a_department_revoking_anothers_licence_is_an_audited_refusal(
    operator, connect, dept, issuer
):
    other = await make_department(operator, connect)
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    err = await rpc_error(
        other.clients.issuer.RevokeLicence(
            pb.RevokeLicenceRequest(
                identifier=licence.identifier,
                reason="越权",
                kind=pb.REVOCATION_KIND_REVOKE,
            )
        )
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    rows = await audit_rows(issuer, actor=f"dept:{other.code}", action="licence.revoke")
    assert [refusal(r) for r in rows] == [
        (
            f"dept:{other.code}",
            "licence.revoke",
            licence.identifier,
            "denied",
            f"dept:{other.code} may not revoke {licence.identifier}: it was issued "
            f"by {dept.code}",
        )
    ]
    assert (
        await issuer.pool.fetchval(
            "select status from licences where identifier = $1", licence.identifier
        )
        == "01"
    )
