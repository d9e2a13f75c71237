"""A refused change's audit row says what was asked, as its ok row does: a role
change's (and an onboarding's) ``roles``, a key creation's or rotation's ``suite``, a
holder app grant's or withdrawal's ``type_code``; recorded only as its shape allows
(a role not of the known ones, text that is no type code or suite, is ``-``: never
personal data), escaped and bounded as the subject is (certseal.audit.refusal)."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from certseal.errors import CertsealError, ErrorKind
from certseal.identifiers import random_resident_id
from certseal.rpc import Caller, KindRefused
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from services.issuer.admin_servicer import audit_refused_call
from tests.conftest import fresh_uscc, onboarded
from tests.issuer.test_admin_refusals import ADMIN, audit_rows
from tests.issuer.test_rpc import rpc_error

ISSUER = licence_pb2.DEPARTMENT_ROLE_ISSUER
COUNTER = licence_pb2.DEPARTMENT_ROLE_COUNTER


async def test_a_role_change_refused_for_the_callers_kind_records_the_roles_asked(
    operator, connect, issuer
):
    """As the ok row of the same change: once each, sorted (``roles``); a role no
    name is known for (unspecified, or a number the API has no role for) is ``-``;
    a request naming a role 100,000 times is still one small row."""
    code = await onboarded(operator, COUNTER)
    caller = f"dept:{code}"
    client = connect(caller).admin
    for roles in ([ISSUER, COUNTER, ISSUER], [ISSUER, 0, 99], [COUNTER] * 100_000):
        err = await rpc_error(
            client.SetDepartmentRoles(
                pb.SetDepartmentRolesRequest(code=code, roles=roles)
            )
        )
        assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    rows = await audit_rows(issuer, actor=caller)
    why = f"{caller} may not call {ADMIN}"
    assert [(r["outcome"], r["details"]) for r in rows] == [
        ("denied", {"why": why, "roles": ["counter", "issuer"]}),
        ("denied", {"why": why, "roles": ["-", "issuer"]}),
        ("denied", {"why": why, "roles": ["counter"]}),
    ]
    assert await issuer.pool.fetchval(
        "select roles from departments where code = $1", code
    ) == ["counter"]
    await operator.admin.SetDepartmentRoles(
        pb.SetDepartmentRolesRequest(code=code, roles=[ISSUER, COUNTER, ISSUER])
    )
    made = await audit_rows(issuer, actor="operator:admin", action="department.roles")
    [ok] = [r for r in made if r["subject"] == code]
    assert ok["outcome"] == "ok"
    assert ok["details"]["roles"] == rows[0]["details"]["roles"]  # the two agree


async def test_the_use_case_refusing_records_the_roles_asked_escaped(operator, issuer):
    """Behind the interceptor (the use case's own check of its caller): a role that
    is no role (control characters, a resident identity number) is ``-``."""
    code = await onboarded(operator, COUNTER)
    caller = Caller("dept", code)
    asked = ["seal_owner", "x\n2025 ok\x1b[2K", random_resident_id(), "issuer"]
    with pytest.raises(CertsealError) as refused:
        await issuer.service.set_department_roles(caller, code, asked)
    assert refused.value.kind is ErrorKind.PERMISSION_DENIED
    [row] = await audit_rows(issuer, actor=str(caller))
    assert row["details"] == {
        "why": f"{caller} is not a platform operator",
        "roles": ["-", "issuer", "seal_owner"],
    }


async def test_an_operators_role_change_refused_by_the_state_records_the_roles(
    operator, config, issuer
):
    platform = config.platform.code
    err = await rpc_error(
        operator.admin.SetDepartmentRoles(
            pb.SetDepartmentRolesRequest(code=platform, roles=[COUNTER, ISSUER])
        )
    )
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    rows = await audit_rows(issuer, actor="operator:admin", action="department.roles")
    row = [r for r in rows if r["subject"] == platform][-1]
    assert row["outcome"] == "denied"
    assert row["details"]["roles"] == ["counter", "issuer"]
    assert "keeps the seal_owner role" in row["details"]["why"]


async def test_other_refused_changes_record_what_they_asked(connect, issuer):
    """Onboarding (roles), a key's creation and rotation (suite, as its ok row names
    it), a holder app's grant and withdrawal (type_code): each as its shape allows."""
    code = fresh_uscc()
    caller = f"dept:{code}"
    admin = connect(caller).admin
    type_code = code + "001"
    calls = [  # one at a time: a call starts when it is made
        ("OnboardDepartment", pb.OnboardDepartmentRequest(code=code, roles=[ISSUER])),
        (
            "CreateSigningKey",
            pb.CreateSigningKeyRequest(department_code=code, suite=" ES256"),
        ),
        (
            "RotateSigningKey",
            pb.RotateSigningKeyRequest(department_code=code, suite="rsa\x1b[2K"),
        ),
        (
            "GrantHolderApp",
            pb.GrantHolderAppRequest(app="app:wallet", type_code=type_code),
        ),
        (
            "RevokeHolderApp",
            pb.RevokeHolderAppRequest(
                app="app:wallet", type_code=random_resident_id() + "001"
            ),
        ),
        ("RetireSigningKey", pb.RetireSigningKeyRequest(kid="0123456789abcdef")),
        (
            "RevokeSigningKey",
            pb.RevokeSigningKeyRequest(
                kid="0123456789abcdef",
                reason="110105199001011234 lost it",  # free text: never recorded
                revoked_at=Timestamp(seconds=1_764_000_000),
            ),
        ),
        ("RevokeSigningKey", pb.RevokeSigningKeyRequest(kid="0123456789abcdef")),
        (
            "RevokeSigningKey",  # a time no Timestamp may hold: recorded as "-"
            pb.RevokeSigningKeyRequest(
                kid="0123456789abcdef", revoked_at=Timestamp(seconds=-(10**12))
            ),
        ),
    ]
    for rpc, request in calls:
        err = await rpc_error(getattr(admin, rpc)(request))
        assert err.code() is grpc.StatusCode.PERMISSION_DENIED, rpc
    rows = await audit_rows(issuer, actor=caller)
    asked = [{k: v for k, v in r["details"].items() if k != "why"} for r in rows]
    assert [r["action"] for r in rows] == [
        "department.onboard",
        "key.create",
        "key.rotate",
        "holder_app.grant",
        "holder_app.revoke",
        "key.retired",
        "key.revoked",
        "key.revoked",
        "key.revoked",
    ]
    assert asked == [
        {"roles": ["issuer"]},
        {"suite": "es256"},
        {"suite": "-"},
        {"type_code": type_code},
        {"type_code": "-"},
        {},  # its ok row records nothing asked but the key (the subject)
        {"revoked_at": "2025-11-24T16:00:00+00:00"},  # its time, never its reason
        {},  # no time asked
        {"revoked_at": "-"},
    ]


async def test_a_request_that_could_not_be_decoded_records_nothing_asked(issuer):
    """The interceptor hands the refusal a request it could not decode: the row
    names no subject and no roles, and is still written."""
    caller = Caller("dept", fresh_uscc())
    audit = audit_refused_call(issuer.service)
    refused = KindRefused(caller, "may not")
    await audit(caller, f"/{ADMIN}/SetDepartmentRoles", object(), refused)
    [row] = await audit_rows(issuer, actor=str(caller))
    assert (row["subject"], row["details"]) == ("-", {"why": "may not"})
