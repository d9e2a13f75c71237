"""An onboarded department's roles change (IssuerAdmin.SetDepartmentRoles,
``certseal department roles``): a counter department that starts issuing, a
department that stops owning seals. nu23: roles were fixed at onboarding, and a
department onboarded without seal_owner could never register a seal."""

from __future__ import annotations

import json

import grpc
import pytest

from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from certseal.v1 import seal_pb2 as spb
from tests.conftest import fresh_uscc, issue_request, onboarded, run_certseal
from tests.issuer.test_rpc import rpc_error

ISSUER = licence_pb2.DEPARTMENT_ROLE_ISSUER
COUNTER = licence_pb2.DEPARTMENT_ROLE_COUNTER
SEAL_OWNER = licence_pb2.DEPARTMENT_ROLE_SEAL_OWNER


def _set(operator, code: str, *roles: int):
    return operator.admin.SetDepartmentRoles(
        pb.SetDepartmentRolesRequest(code=code, roles=list(roles))
    )


async def _roles_row(issuer, code: str) -> list[str]:
    return list(
        await issuer.pool.fetchval(
            "select roles from departments where code = $1", code
        )
    )


async def test_a_counter_department_given_the_issuer_role_issues_and_taken_it_cannot(
    operator, connect, dept, issuer
):
    code = await onboarded(operator, COUNTER)
    caller = connect(f"dept:{code}")
    # the type must list the department as an issuer: a fresh type of its own
    err = await rpc_error(caller.issuer.IssueLicence(issue_request(dept)))
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "issuer role" in err.details()

    reply = await _set(operator, code, ISSUER, COUNTER)
    assert reply.department.code == code
    assert sorted(reply.department.roles) == [ISSUER, COUNTER]
    assert await _roles_row(issuer, code) == ["counter", "issuer"]
    # the role check passes now; the type (dept's) does not list it as an issuer
    err = await rpc_error(caller.issuer.IssueLicence(issue_request(dept)))
    assert "issuer role" not in err.details()
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED

    # the issuing department itself, its issuer role taken away, cannot issue
    await _set(operator, dept.code, COUNTER)
    err = await rpc_error(dept.clients.issuer.IssueLicence(issue_request(dept)))
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "issuer role" in err.details()
    await _set(operator, dept.code, ISSUER)
    issued = await dept.clients.issuer.IssueLicence(issue_request(dept))
    assert issued.licence.status == licence_pb2.LICENCE_STATUS_VALID


async def test_the_change_is_audited_with_the_roles_it_had(operator, issuer):
    code = await onboarded(operator, COUNTER)
    await _set(operator, code, SEAL_OWNER, COUNTER, SEAL_OWNER)  # once each
    row = await issuer.pool.fetchrow(
        "select actor, outcome, details from audit_log where action = "
        "'department.roles' and subject = $1",
        code,
    )
    assert row is not None
    details = row["details"]
    details = json.loads(details) if isinstance(details, str) else details
    assert (row["actor"], row["outcome"]) == ("operator:admin", "ok")
    assert details == {"roles": ["counter", "seal_owner"], "was": ["counter"]}


async def test_a_department_given_seal_owner_registers_a_seal_at_once(
    operator, seal_stub
):
    code = await onboarded(operator, COUNTER)
    seal = seal_stub(f"dept:{code}")
    request = spb.RegisterSealRequest(seal_type="official", name="后来的公章")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await seal.RegisterSeal(request)
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "seal_owner role" in (refused.value.details() or "")
    await _set(operator, code, COUNTER, SEAL_OWNER)
    registered = await seal.RegisterSeal(request)
    assert registered.seal.owner_code == code


@pytest.mark.parametrize(
    ("code", "roles", "status", "words"),
    [
        ("", [ISSUER], grpc.StatusCode.INVALID_ARGUMENT, "code"),
        ("91350100M000100Y4X", [ISSUER], grpc.StatusCode.INVALID_ARGUMENT, "code"),
        ("fresh", [], grpc.StatusCode.INVALID_ARGUMENT, "at least one role"),
        ("fresh", [ISSUER, 99], grpc.StatusCode.INVALID_ARGUMENT, "unknown role"),
        ("unknown", [ISSUER], grpc.StatusCode.NOT_FOUND, "not found"),
    ],
    ids=["empty-code", "bad-check-digit", "no-role", "unknown-role", "not-onboarded"],
)
async def test_a_wrong_request_is_told_what_is_wrong_and_changes_nothing(
    operator, issuer, code, roles, status, words
):
    onboarded_code = await onboarded(operator, COUNTER)
    code = {"fresh": onboarded_code, "unknown": fresh_uscc()}.get(code, code)
    err = await rpc_error(_set(operator, code, *roles))
    assert err.code() is status, err.details()
    assert words in err.details()
    assert await _roles_row(issuer, onboarded_code) == ["counter"]


async def test_only_an_operator_may_change_roles(operator, connect, dept, issuer):
    for identity in (f"dept:{dept.code}", "service:console", "integrator:x"):
        admin = connect(identity).admin
        err = await rpc_error(
            admin.SetDepartmentRoles(
                pb.SetDepartmentRolesRequest(code=dept.code, roles=[ISSUER, SEAL_OWNER])
            )
        )
        assert err.code() is grpc.StatusCode.PERMISSION_DENIED, identity
    assert await _roles_row(issuer, dept.code) == ["issuer"]


async def test_the_platform_department_keeps_seal_owner(operator, config, issuer):
    platform = config.platform.code
    err = await rpc_error(_set(operator, platform, ISSUER))
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "seal_owner" in err.details()
    assert "seal_owner" in await _roles_row(issuer, platform)


async def test_the_cli_changes_roles_and_names_a_wrong_one(
    operator, config, tmp_path, issuer
):
    code = await onboarded(operator, COUNTER)
    target = {"issuer_target": f"localhost:{issuer.port}"}
    status, out = await run_certseal(
        config,
        tmp_path,
        *("department", "roles", code, "--roles", "counter,integrator"),
        **target,
    )
    assert status == 0, out
    assert out.strip().endswith("[counter, integrator]"), out
    assert await _roles_row(issuer, code) == ["counter", "integrator"]
    status, out = await run_certseal(
        config,
        tmp_path,
        "department",
        "roles",
        code,
        "--roles",
        "counter,clerk",
        **target,
    )
    assert status == 2
    assert "error: roles: unknown role 'clerk'" in out, out
    assert await _roles_row(issuer, code) == ["counter", "integrator"]
