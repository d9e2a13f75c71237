"""Idempotency keys on every mutating RPC of the issuer (issue 21), on the real stack.

Table-driven: each case makes what its RPC needs (a fresh department, licence, key or
app), then sends the same request twice with one key (one change, the same answer
byte for byte) and a changed request with that key (ALREADY_EXISTS naming the key).
The table is shared with tests/e2e/test_idempotency_crash.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from certseal.idempotency import KEPT_ANSWER_KEY
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from tests.conftest import (
    Clients,
    fresh_uscc,
    issue_request,
    make_department,
    onboarded,
)

KEY = "idempotency-key"


@dataclass
class Case:
    """One mutating RPC, ready to be called."""

    call: Callable[..., Any]  # the stub method
    request: Any
    changed: Any  # the same RPC with other fields
    count: Callable[[], Awaitable[int]]  # how many changes it made so far
    identity: str = "operator:admin"  # who calls


@dataclass
class World:
    operator: Clients
    connect: Callable[[str], Clients]
    pool: Any


async def _issued(dept, **kwargs) -> licence_pb2.Licence:
    return (
        await dept.clients.issuer.IssueLicence(issue_request(dept, **kwargs))
    ).licence


def _events(pool, key: str) -> Callable[[], Awaitable[int]]:
    async def count() -> int:
        return await pool.fetchval(
            "select count(*) from outbox where key = $1", key.encode()
        )

    return count


def _rows(pool, query: str, *args: Any) -> Callable[[], Awaitable[int]]:
    async def count() -> int:
        return await pool.fetchval(query, *args)

    return count


def _later(days: int) -> Any:
    from google.protobuf.timestamp_pb2 import Timestamp

    stamp = Timestamp()
    stamp.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=days))
    return stamp


async def case_issue(w: World) -> Case:
    dept = await make_department(w.operator, w.connect)
    request = issue_request(dept)
    changed = issue_request(dept, name="李四")
    return Case(
        dept.clients.issuer.IssueLicence,
        request,
        changed,
        _rows(
            w.pool, "select count(*) from licences where issuer_code = $1", dept.code
        ),
        identity=f"dept:{dept.code}",
    )


async def case_issue_batch(w: World) -> Case:
    dept = await make_department(w.operator, w.connect)
    request = pb.IssueLicencesRequest(items=[issue_request(dept), issue_request(dept)])
    changed = pb.IssueLicencesRequest(items=[issue_request(dept)])
    return Case(
        dept.clients.issuer.IssueLicences,
        request,
        changed,
        _rows(
            w.pool, "select count(*) from licences where issuer_code = $1", dept.code
        ),
        identity=f"dept:{dept.code}",
    )


async def case_renew(w: World) -> Case:
    dept = await make_department(w.operator, w.connect)
    licence = await _issued(dept)
    return Case(
        dept.clients.issuer.RenewLicence,
        pb.RenewLicenceRequest(identifier=licence.lineage),
        pb.RenewLicenceRequest(identifier=licence.lineage, valid_until=_later(800)),
        _events(w.pool, licence.lineage),
        identity=f"dept:{dept.code}",
    )


async def case_amend(w: World) -> Case:
    dept = await make_department(w.operator, w.connect)
    licence = await _issued(dept)
    request = pb.AmendLicenceRequest(identifier=licence.lineage, reason="地址变更")
    request.fields["class"].string_value = "C2"
    changed = pb.AmendLicenceRequest(identifier=licence.lineage, reason="地址变更")
    changed.fields["class"].string_value = "A1"
    return Case(
        dept.clients.issuer.AmendLicence,
        request,
        changed,
        _events(w.pool, licence.lineage),
        identity=f"dept:{dept.code}",
    )


async def _status_case(w: World, rpc: str, message: Any, **fields: Any) -> Case:
    dept = await make_department(w.operator, w.connect)
    licence = await _issued(dept)
    if rpc == "UnsuspendLicence":
        await dept.clients.issuer.SuspendLicence(
            pb.SuspendLicenceRequest(identifier=licence.lineage, reason="核查")
        )
    return Case(
        getattr(dept.clients.issuer, rpc),
        message(identifier=licence.lineage, reason="原因一", **fields),
        message(identifier=licence.lineage, reason="原因二", **fields),
        _events(w.pool, licence.lineage),
        identity=f"dept:{dept.code}",
    )


async def case_suspend(w: World) -> Case:
    return await _status_case(w, "SuspendLicence", pb.SuspendLicenceRequest)


async def case_unsuspend(w: World) -> Case:
    return await _status_case(w, "UnsuspendLicence", pb.UnsuspendLicenceRequest)


async def case_revoke(w: World) -> Case:
    return await _status_case(
        w, "RevokeLicence", pb.RevokeLicenceRequest, kind=pb.REVOCATION_KIND_SANCTION
    )


async def case_cancel(w: World) -> Case:
    return await _status_case(w, "CancelLicence", pb.CancelLicenceRequest)


async def case_transfer(w: World) -> Case:
    receiver = await make_department(w.operator, w.connect)
    dept = await make_department(w.operator, w.connect, type_issuers=[receiver.code])
    licence = await _issued(dept)
    return Case(
        dept.clients.issuer.TransferLicence,
        pb.TransferLicenceRequest(
            identifier=licence.lineage, to_department_code=receiver.code, reason="迁出"
        ),
        pb.TransferLicenceRequest(
            identifier=licence.lineage, to_department_code=receiver.code, reason="另"
        ),
        _rows(
            w.pool,
            "select count(*) from licences where issuer_code = $1",
            receiver.code,
        ),
        identity=f"dept:{dept.code}",
    )


async def case_onboard(w: World) -> Case:
    code = fresh_uscc()
    roles = [licence_pb2.DEPARTMENT_ROLE_ISSUER]
    return Case(
        w.operator.admin.OnboardDepartment,
        pb.OnboardDepartmentRequest(code=code, name="部门甲", roles=roles),
        pb.OnboardDepartmentRequest(code=code, name="部门乙", roles=roles),
        _rows(
            w.pool,
            "select count(*) from audit_log where action = 'department.onboard' "
            "and subject = $1 and outcome = 'ok'",
            code,
        ),
    )


async def case_set_roles(w: World) -> Case:
    code = fresh_uscc()
    await w.operator.admin.OnboardDepartment(
        pb.OnboardDepartmentRequest(
            code=code, name="部门丙", roles=[licence_pb2.DEPARTMENT_ROLE_COUNTER]
        )
    )
    return Case(
        w.operator.admin.SetDepartmentRoles,
        pb.SetDepartmentRolesRequest(
            code=code, roles=[licence_pb2.DEPARTMENT_ROLE_ISSUER]
        ),
        pb.SetDepartmentRolesRequest(
            code=code, roles=[licence_pb2.DEPARTMENT_ROLE_SEAL_OWNER]
        ),
        _rows(
            w.pool,
            "select count(*) from audit_log where action = 'department.roles' "
            "and subject = $1 and outcome = 'ok'",
            code,
        ),
    )


async def case_register_type(w: World) -> Case:
    dept = await make_department(w.operator, w.connect)
    type_code = fresh_uscc() + f"{secrets.randbelow(1000):03d}"

    def request(name: str) -> pb.RegisterLicenceTypeRequest:
        return pb.RegisterLicenceTypeRequest(
            type_code=type_code,
            name=name,
            default_validity_days=365,
            issuer_codes=[dept.code],
            fields=[
                licence_pb2.FieldSpec(
                    name="class", type=licence_pb2.FIELD_TYPE_STRING, public=True
                )
            ],
        )

    return Case(
        w.operator.admin.RegisterLicenceType,
        request("营业执照"),
        request("食品经营许可证"),
        _rows(
            w.pool,
            "select count(*) from audit_log where action = 'licence_type.register' "
            "and subject = $1 and outcome = 'ok'",
            type_code,
        ),
    )


async def _keyless_department(w: World) -> str:
    code = fresh_uscc()
    await w.operator.admin.OnboardDepartment(
        pb.OnboardDepartmentRequest(
            code=code, name="部门", roles=[licence_pb2.DEPARTMENT_ROLE_ISSUER]
        )
    )
    return code


async def case_create_key(w: World) -> Case:
    code = await _keyless_department(w)
    return Case(
        w.operator.admin.CreateSigningKey,
        pb.CreateSigningKeyRequest(department_code=code, suite="es256"),
        pb.CreateSigningKeyRequest(department_code=code, suite="ed25519"),
        _rows(
            w.pool, "select count(*) from signing_keys where department_code = $1", code
        ),
    )


async def case_rotate_key(w: World) -> Case:
    dept = await make_department(w.operator, w.connect)
    return Case(
        w.operator.admin.RotateSigningKey,
        pb.RotateSigningKeyRequest(department_code=dept.code, suite="es256"),
        pb.RotateSigningKeyRequest(department_code=dept.code, suite="sm2"),
        _rows(
            w.pool,
            "select count(*) from signing_keys where department_code = $1",
            dept.code,
        ),
    )


async def case_retire_key(w: World) -> Case:
    dept = await make_department(w.operator, w.connect)
    other = await w.operator.admin.CreateSigningKey(
        pb.CreateSigningKeyRequest(department_code=dept.code, suite="ed25519")
    )
    return Case(
        w.operator.admin.RetireSigningKey,
        pb.RetireSigningKeyRequest(kid=dept.kid),
        pb.RetireSigningKeyRequest(kid=other.key.kid),
        _events(w.pool, dept.kid),
    )


async def case_revoke_key(w: World) -> Case:
    dept = await make_department(w.operator, w.connect)
    return Case(
        w.operator.admin.RevokeSigningKey,
        pb.RevokeSigningKeyRequest(kid=dept.kid, reason="泄露"),
        pb.RevokeSigningKeyRequest(kid=dept.kid, reason="另一原因"),
        _events(w.pool, dept.kid),
    )


async def case_grant_app(w: World) -> Case:
    dept = await make_department(w.operator, w.connect)
    app = f"app:wallet-{secrets.token_hex(4)}"
    return Case(
        w.operator.admin.GrantHolderApp,
        pb.GrantHolderAppRequest(app=app, type_code=dept.type_code),
        pb.GrantHolderAppRequest(app=app, type_code=fresh_uscc() + "001"),
        _rows(
            w.pool,
            "select count(*) from audit_log where action = 'holder_app.grant' "
            "and subject like '%' || $1 || '%' and outcome = 'ok'",
            app,
        ),
    )


async def case_revoke_app(w: World) -> Case:
    dept = await make_department(w.operator, w.connect)
    app = f"app:wallet-{secrets.token_hex(4)}"
    await w.operator.admin.GrantHolderApp(
        pb.GrantHolderAppRequest(app=app, type_code=dept.type_code)
    )
    return Case(
        w.operator.admin.RevokeHolderApp,
        pb.RevokeHolderAppRequest(app=app, type_code=dept.type_code),
        pb.RevokeHolderAppRequest(app=app, type_code=fresh_uscc() + "001"),
        _rows(
            w.pool,
            "select count(*) from audit_log where action = 'holder_app.revoke' "
            "and subject like '%' || $1 || '%' and outcome = 'ok'",
            app,
        ),
    )


async def case_set_type_issuers(w: World) -> Case:
    dept = await make_department(w.operator, w.connect)
    other = await onboarded(w.operator, licence_pb2.DEPARTMENT_ROLE_ISSUER)
    return Case(
        w.operator.admin.SetLicenceTypeIssuers,
        pb.SetLicenceTypeIssuersRequest(
            type_code=dept.type_code, issuer_codes=[dept.code, other]
        ),
        pb.SetLicenceTypeIssuersRequest(type_code=dept.type_code, issuer_codes=[other]),
        _rows(
            w.pool,
            "select count(*) from audit_log where action = 'licence_type.issuers' "
            "and subject = $1 and outcome = 'ok'",
            dept.type_code,
        ),
    )


#: every mutating RPC of the issuer, by name
CASES: dict[str, Callable[[World], Awaitable[Case]]] = {
    "IssueLicence": case_issue,
    "IssueLicences": case_issue_batch,
    "RenewLicence": case_renew,
    "AmendLicence": case_amend,
    "SuspendLicence": case_suspend,
    "UnsuspendLicence": case_unsuspend,
    "RevokeLicence": case_revoke,
    "CancelLicence": case_cancel,
    "TransferLicence": case_transfer,
    "OnboardDepartment": case_onboard,
    "SetDepartmentRoles": case_set_roles,
    "RegisterLicenceType": case_register_type,
    "SetLicenceTypeIssuers": case_set_type_issuers,
    "CreateSigningKey": case_create_key,
    "RotateSigningKey": case_rotate_key,
    "RetireSigningKey": case_retire_key,
    "RevokeSigningKey": case_revoke_key,
    "GrantHolderApp": case_grant_app,
    "RevokeHolderApp": case_revoke_app,
}


@pytest.fixture
def world(operator, connect, issuer) -> World:
    return World(operator, connect, issuer.pool)


def test_the_table_names_every_mutating_rpc_of_the_issuer():
    """A new mutating RPC (marked idempotent in the servicer) must join the table."""
    from certseal.idempotency import is_idempotent
    from services.issuer.admin_servicer import IssuerAdminServicer
    from services.issuer.servicer import IssuerServicer

    marked = {
        name
        for cls in (IssuerServicer, IssuerAdminServicer)
        for name in dir(cls)
        if is_idempotent(getattr(cls, name))
    }
    assert marked == set(CASES)


@pytest.mark.parametrize("rpc", sorted(CASES))
async def test_one_key_one_change_and_the_same_answer(world, rpc):
    case = await CASES[rpc](world)
    before = await case.count()
    key = f"{rpc}-{secrets.token_hex(8)}"
    call = case.call(case.request, metadata=((KEY, key),))
    first = await call
    changed_once = await case.count()
    assert changed_once > before, "the first request changed nothing"
    assert KEPT_ANSWER_KEY not in dict(await call.trailing_metadata() or ())
    call = case.call(case.request, metadata=((KEY, key),))
    second = await call
    assert await case.count() == changed_once
    # the repeat is told its answer is the first call's (trial50: a client's
    # repeat read as a second change)
    assert dict(await call.trailing_metadata() or ())[KEPT_ANSWER_KEY] == "1"
    assert second.SerializeToString(deterministic=True) == first.SerializeToString(
        deterministic=True
    )

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await case.call(case.changed, metadata=((KEY, key),))
    assert err.value.code() is grpc.StatusCode.ALREADY_EXISTS
    assert key in (err.value.details() or "")
    assert dict(err.value.trailing_metadata() or ())["certseal-error-field"] == (
        "idempotency_key"
    )
    assert await case.count() == changed_once


async def test_a_retry_answers_as_first_even_after_the_licence_changed(world, dept):
    licence = await _issued(dept)
    renew = pb.RenewLicenceRequest(identifier=licence.lineage)
    key = secrets.token_hex(8)
    first = await dept.clients.issuer.RenewLicence(renew, metadata=((KEY, key),))
    await dept.clients.issuer.SuspendLicence(
        pb.SuspendLicenceRequest(identifier=licence.lineage, reason="核查")
    )
    again = await dept.clients.issuer.RenewLicence(renew, metadata=((KEY, key),))
    assert again == first
    assert again.licence.status == licence_pb2.LICENCE_STATUS_VALID
    versions = await world.pool.fetchval(
        "select count(*) from licences where lineage = $1", licence.lineage
    )
    assert versions == 2  # issued, renewed once


async def test_keys_are_scoped_per_caller(world):
    one = await make_department(world.operator, world.connect)
    two = await make_department(world.operator, world.connect)
    key = secrets.token_hex(8)
    a = await one.clients.issuer.IssueLicence(
        issue_request(one), metadata=((KEY, key),)
    )
    b = await two.clients.issuer.IssueLicence(
        issue_request(two), metadata=((KEY, key),)
    )
    assert a.licence.issuer_code == one.code
    assert b.licence.issuer_code == two.code


async def test_the_request_field_and_the_metadata_are_one_key(world, dept):
    """IssueLicence's ``idempotency_key`` field and the metadata name the same key;
    two different keys in one request are refused."""
    request = issue_request(dept, idempotency_key="field-key-" + secrets.token_hex(4))
    first = await dept.clients.issuer.IssueLicence(request)
    bare = pb.IssueLicenceRequest()
    bare.CopyFrom(request)
    bare.ClearField("idempotency_key")
    again = await dept.clients.issuer.IssueLicence(
        bare, metadata=((KEY, request.idempotency_key),)
    )
    assert again == first
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await dept.clients.issuer.IssueLicence(request, metadata=((KEY, "other"),))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("bad", ["x" * 129, "with space"])
async def test_a_malformed_key_is_invalid_argument(dept, bad):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await dept.clients.issuer.IssueLicence(
            issue_request(dept), metadata=((KEY, bad),)
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert dict(err.value.trailing_metadata() or ())["certseal-error-field"] == (
        "idempotency_key"
    )


async def test_a_malformed_key_in_the_field_is_invalid_argument(dept):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await dept.clients.issuer.IssueLicence(
            issue_request(dept, idempotency_key="tab\tkey")
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_concurrent_requests_with_one_key_make_one_change(world, dept):
    """Five identical renewals with one key at once: the first to commit renews, the
    others wait for it, find the key taken, undo their own change and answer as
    retries."""
    licence = await _issued(dept)
    request = pb.RenewLicenceRequest(identifier=licence.lineage)
    key = secrets.token_hex(8)
    replies = await asyncio.gather(
        *(
            dept.clients.issuer.RenewLicence(request, metadata=((KEY, key),))
            for _ in range(5)
        )
    )
    assert all(r == replies[0] for r in replies)
    versions = await world.pool.fetchval(
        "select count(*) from licences where lineage = $1", licence.lineage
    )
    assert versions == 2
    assert await _events(world.pool, licence.lineage)() == 2  # issued, renewed


@pytest.mark.parametrize("rpc", ["RenewLicence", "AmendLicence"])
async def test_the_request_field_key_is_honoured_by_renew_and_amend(world, dept, rpc):
    """The issue's example: the same request twice, addressed by lineage, with the
    same ``idempotency_key`` field (no metadata) made two versions; now one."""
    licence = await _issued(dept)
    key = f"field-{secrets.token_hex(6)}"
    if rpc == "RenewLicence":
        request: Any = pb.RenewLicenceRequest(
            identifier=licence.lineage, idempotency_key=key
        )
    else:
        request = pb.AmendLicenceRequest(
            identifier=licence.lineage, reason="变更", idempotency_key=key
        )
        request.fields["class"].string_value = "B2"
    call = getattr(dept.clients.issuer, rpc)
    first = await call(request)
    second = await call(request)
    assert second == first
    versions = await world.pool.fetch(
        "select valid_until from licences where lineage = $1", licence.lineage
    )
    assert len(versions) == 2  # issued and one new version, not two
