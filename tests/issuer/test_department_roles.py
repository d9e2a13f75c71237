"""An onboarded department's roles change (IssuerAdmin.SetDepartmentRoles,
``certseal department roles``): a counter department that starts issuing, a
department that stops owning seals. nu23: roles were fixed at onboarding, and a
department onboarded without seal_owner could never register a seal."""

from __future__ import annotations

import datetime as dt
import json

import grpc
import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.rpc import Caller
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


async def test_a_counter_department_given_the_issuer_role_may_issue_and_loses_it_again(
    operator, connect, dept, issuer
):
    code = await onboarded(operator, COUNTER)
    caller = connect(f"dept:{code}")
    err = await rpc_error(caller.issuer.IssueLicence(issue_request(dept)))
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "issuer role" in err.details()

    reply = await _set(operator, code, ISSUER, COUNTER)
    assert reply.department.code == code
    assert sorted(reply.department.roles) == [ISSUER, COUNTER]
    assert await _roles_row(issuer, code) == ["counter", "issuer"]
    # the role check passes now (at once, in the process that changed it); dept's
    # type does not list it as an issuer
    err = await rpc_error(caller.issuer.IssueLicence(issue_request(dept)))
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "issuer role" not in err.details()
    # listed by no type, with no licence: the role may be taken again
    await _set(operator, code, COUNTER)
    err = await rpc_error(caller.issuer.IssueLicence(issue_request(dept)))
    assert "issuer role" in err.details()


async def test_the_issuer_role_stays_while_a_type_lists_the_department_or_it_has_licences(
    operator, dept, issuer
):
    """atk24 1: taken away, every licence of the department in force was out of
    anyone's reach (only an issuer revokes, suspends, amends, transfers), valid until
    it expired; and a licence type listed a department without the role."""
    issued = await dept.clients.issuer.IssueLicence(issue_request(dept))
    err = await rpc_error(_set(operator, dept.code, COUNTER))
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert err.details() == (
        f"roles: department {dept.code} keeps the issuer role: licence types "
        f"{dept.type_code} list it as an issuer: give each type its new issuers "
        "first ('certseal type issuers'); "
        "it has licences in force, and only their issuer may revoke, suspend, "
        "amend or transfer them"
    )
    assert await _roles_row(issuer, dept.code) == ["issuer"]
    # and it still acts on its licence
    await dept.clients.issuer.SuspendLicence(
        pb.SuspendLicenceRequest(identifier=issued.licence.identifier, reason="核查")
    )
    # roles beside it may change
    reply = await _set(operator, dept.code, ISSUER, SEAL_OWNER)
    assert sorted(reply.department.roles) == [ISSUER, SEAL_OWNER]


async def test_a_refusal_names_every_role_that_stays(operator, connect, seal_stub):
    """atk24b: taking issuer and seal_owner together, the refusal gave only the
    issuer's reasons; the operator revoked nothing and was refused again."""
    from tests.conftest import make_department

    dept = await make_department(operator, connect, roles=(ISSUER, SEAL_OWNER))
    await seal_stub(f"dept:{dept.code}").RegisterSeal(
        spb.RegisterSealRequest(seal_type="official", name="公章")
    )
    err = await rpc_error(_set(operator, dept.code, COUNTER))
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert err.details() == (
        f"roles: department {dept.code} keeps the issuer role: licence types "
        f"{dept.type_code} list it as an issuer: give each type its new issuers "
        "first ('certseal type issuers'); "
        "and the seal_owner role while it has active seals (1): revoke them first "
        "('certseal seal --as CODE revoke SEAL_ID'), then take the role"
    )


async def test_a_type_cannot_list_a_department_whose_issuer_role_is_taken_meanwhile(
    operator, issuer
):
    """The removal reads the types under the department's lock, and a registration
    reads its issuers' roles again under a share lock, so one of the two sees the
    other: here the registration's own check (made before, without a lock) passed
    and the role went before its transaction."""
    from certseal.audit import AuditEntry
    from services.issuer.domain import FieldKind, FieldSpec, LicenceType

    code = await onboarded(operator, ISSUER)
    await _set(operator, code, COUNTER)
    now = dt.datetime.now(dt.UTC)
    late = LicenceType(
        fresh_uscc() + "001",
        "后来的证照",
        (FieldSpec("class", FieldKind.STRING, public=True),),
        30,
        frozenset({code}),
    )
    with pytest.raises(CertsealError) as refused:
        await issuer.store.insert_licence_type(
            late,
            now,
            AuditEntry(now, "operator:admin", "licence_type.register", late.type_code),
            lambda t: pytest.fail("announced a type of a department without the role"),
        )
    assert (refused.value.kind, refused.value.field) == (
        ErrorKind.INVALID_ARGUMENT,
        "issuer_codes",
    )
    assert "lacks the issuer role" in refused.value.message
    assert not await issuer.pool.fetchval(
        "select count(*) from licence_types where type_code = $1", late.type_code
    )


async def test_seal_owner_stays_while_the_department_has_active_seals(
    operator, seal_stub, issuer
):
    """atk24 2: taken away, its seals went on sealing, and the department could no
    longer revoke them (only a seal owner may)."""
    code = await onboarded(operator, COUNTER, SEAL_OWNER)
    owner = seal_stub(f"dept:{code}")
    seal = (
        await owner.RegisterSeal(
            spb.RegisterSealRequest(seal_type="official", name="旧公章")
        )
    ).seal
    err = await rpc_error(_set(operator, code, COUNTER))
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "active seals (1): revoke them first" in err.details()
    assert await _roles_row(issuer, code) == ["counter", "seal_owner"]
    await owner.RevokeSeal(spb.RevokeSealRequest(seal_id=seal.seal_id, reason="遗失"))
    await _set(operator, code, COUNTER)
    assert await _roles_row(issuer, code) == ["counter"]


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
        ("unknown", [ISSUER], grpc.StatusCode.INVALID_ARGUMENT, "is not onboarded"),
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


async def test_a_lookup_before_the_change_commits_is_not_cached():
    """atk24 3: with an idempotency key the change commits with the answer, after
    the service returns; a lookup in between cached the row as it was, and the
    process that made the change used the old roles for 5 s."""
    from services.issuer.domain import Department
    from services.issuer.service.common import Auditor
    from services.issuer.service.directory import Directory
    from services.issuer.storage.directory import DepartmentUse

    now = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)
    code = fresh_uscc()
    was = Department(code, "窗口", ("counter",), now)

    class Store:
        committed = was

        async def get_department(self, asked: str) -> Department:
            return self.committed

        async def set_department_roles(self, code, roles, at, check, audit):
            check(was, DepartmentUse())
            audit(was)
            return Department(code, was.name, tuple(roles), was.created_at)

    store = Store()
    directory = Directory(
        store=store,  # type: ignore[arg-type]
        auditor=Auditor(store=store, clock=lambda: now),  # type: ignore[arg-type]
        clock=lambda: now,
        platform_code="11440000PLATFORM00",
        platform_name="平台",
    )
    assert (await directory.department(code)).roles == ("counter",)  # cached
    await directory.set_department_roles(Caller("operator", "a"), code, ["issuer"])
    # not committed yet: the row as it was, read again and not kept
    assert (await directory.department(code)).roles == ("counter",)
    store.committed = Department(code, was.name, ("issuer",), now)  # the commit
    assert (await directory.department(code)).roles == ("issuer",)


async def test_a_seal_registered_as_its_owner_loses_seal_owner_is_refused(
    operator, seal_stub, seal_app
):
    """The seal service's role check is made before its transaction; the insert
    reads the role again under a share lock, so the issuer's count of active seals
    (under the row's lock) and a registration cannot both miss each other."""
    import dataclasses

    code = await onboarded(operator, COUNTER, SEAL_OWNER)
    made = await seal_stub(f"dept:{code}").RegisterSeal(
        spb.RegisterSealRequest(seal_type="official", name="公章")
    )
    seal = await seal_app.store.get(made.seal.seal_id)
    other = await onboarded(operator, COUNTER)  # never a seal owner
    with pytest.raises(CertsealError) as refused:
        await seal_app.store.insert(
            dataclasses.replace(seal, seal_id=seal.seal_id + "x", owner_code=other),
            [],
            [],
        )
    assert (refused.value.kind, refused.value.field) == (
        ErrorKind.FAILED_PRECONDITION,
        "owner_code",
    )
    assert await seal_app.store.get(seal.seal_id + "x") is None


async def test_a_registration_refused_by_a_role_taken_meanwhile_is_audited(
    operator, seal_stub, seal_app, issuer, monkeypatch
):
    """atk24b: the refusal of a registration whose owner lost seal_owner between
    the service's check and its insert left no audit row, where every other
    refusal of the seal service leaves one."""
    code = await onboarded(operator, COUNTER, SEAL_OWNER)
    offload = seal_app.service.offload
    checked = offload.run

    async def taken_meanwhile(*args, **kwargs):  # after the role check, before insert
        await issuer.pool.execute(
            "update departments set roles = '{counter}' where code = $1", code
        )
        return await checked(*args, **kwargs)

    monkeypatch.setattr(offload, "run", taken_meanwhile)
    err = await rpc_error(
        seal_stub(f"dept:{code}").RegisterSeal(
            spb.RegisterSealRequest(seal_type="official", name="公章")
        )
    )
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    row = await issuer.pool.fetchrow(
        "select actor, outcome, details from audit_log where action = "
        "'seal.register' and subject = $1",
        code,
    )
    assert (row["actor"], row["outcome"]) == (f"dept:{code}", "denied")
    details = row["details"]
    details = json.loads(details) if isinstance(details, str) else details
    assert "no longer has the seal_owner role" in details["why"]
