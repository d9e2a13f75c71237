"""atk28: the audit of refused administration (certseal.audit.refusal, the
interceptor's refused hook, held refusals of idempotent calls) under hostile input:
a refused caller's text is recorded only as a subject's shape allows, escaped and
bounded; a retry answered the stored answer leaves no refusal; a refusal that
cannot be recorded is still answered as a refusal; the chain verifies."""

from __future__ import annotations

import asyncio
import secrets

import asyncpg
import grpc

from certseal.identifiers import random_resident_id
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from tests.conftest import fresh_uscc
from tests.issuer.test_admin_refusals import audit_rows
from tests.issuer.test_rpc import rpc_error

ISSUER = licence_pb2.DEPARTMENT_ROLE_ISSUER


async def test_a_nul_in_the_refused_subject_is_still_permission_denied(connect, issuer):
    """The kind check runs before check_request, so the subject is raw request text;
    PostgreSQL refuses a NUL in text: the refusal must not become INTERNAL."""
    code = fresh_uscc()
    caller = connect(f"dept:{code}")
    err = await rpc_error(
        caller.admin.SetDepartmentRoles(
            pb.SetDepartmentRolesRequest(code="91\x00X", roles=[ISSUER])
        )
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    assert len(await audit_rows(issuer, actor=f"dept:{code}")) == 1


async def test_control_characters_never_reach_the_audit_log(connect, issuer):
    """Text an allowed caller could never send (check_request refuses it) is written
    into the audit log by a refused caller: a forged second line, terminal escapes."""
    code = fresh_uscc()
    caller = connect(f"dept:{code}")
    forged = "x\n2025-01-01 operator:admin department.roles 91000 ok\x1b[2K\r\x07"
    err = await rpc_error(
        caller.admin.GrantHolderApp(pb.GrantHolderAppRequest(app=forged, type_code="t"))
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    [row] = await audit_rows(issuer, actor=f"dept:{code}")
    assert not any(ord(c) < 0x20 or c == "\x7f" for c in row["subject"])


async def test_a_concurrent_retry_answered_ok_leaves_no_denied_row(operator, issuer):
    """Five OnboardDepartment with ONE idempotency key at once: every caller is told
    OK (the retries answer the stored answer), yet the losers' ALREADY_EXISTS was
    audited as a refusal before the interceptor turned it into the stored answer."""
    code = fresh_uscc()
    key = secrets.token_hex(8)
    request = pb.OnboardDepartmentRequest(code=code, name="并发", roles=[ISSUER])
    replies = await asyncio.gather(
        *(
            operator.admin.OnboardDepartment(
                request, metadata=(("idempotency-key", key),)
            )
            for _ in range(5)
        ),
        return_exceptions=True,
    )
    assert all(not isinstance(r, Exception) for r in replies)
    rows = await issuer.pool.fetch(
        "select outcome, details from audit_log where action = 'department.onboard'"
        " and subject = $1 order by id",
        code,
    )
    assert [r["outcome"] for r in rows] == ["ok"]


async def test_a_refusal_with_the_database_gone_is_not_answered_retry(
    connect, issuer, monkeypatch
):
    """The audit write failing (PostgreSQL away) turns a PERMISSION_DENIED into
    UNAVAILABLE 'safe to retry': the refused caller is told to retry."""

    async def down(*args, **kwargs):
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection lost")

    monkeypatch.setattr(issuer.service, "audit_refusal", down)
    code = fresh_uscc()
    err = await rpc_error(
        connect(f"dept:{code}").admin.SetDepartmentRoles(
            pb.SetDepartmentRolesRequest(code=code, roles=[ISSUER])
        )
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_the_chain_verifies_after_hostile_refusal_rows(connect, issuer, config):
    from certseal.storage.audit import verify_chain
    from tests.kernel.test_audit import seal_all

    code = fresh_uscc()
    caller = connect(f"dept:{code}")
    for text in ("é" * 300, "x\n\x1b[2K\u202e", "🧾" * 199 + "a", "\u0301" * 250):
        err = await rpc_error(
            caller.admin.RevokeSigningKey(pb.RevokeSigningKeyRequest(kid=text))
        )
        assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    await seal_all(config.database.dsn())
    async with issuer.pool.acquire() as conn:
        report = await verify_chain(conn)
    assert report.ok, report.problems


async def test_a_refused_callers_request_id_is_bounded_too(connect, issuer):
    """The caller chooses x-request-id; the refusal row stores it uncut."""
    code = fresh_uscc()
    caller = connect(f"dept:{code}")
    err = await rpc_error(
        caller.admin.SetDepartmentRoles(
            pb.SetDepartmentRolesRequest(code=code, roles=[ISSUER]),
            metadata=(("x-request-id", "R" * 7000),),
        )
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    [row] = await audit_rows(issuer, actor=f"dept:{code}")
    assert len(row["request_id"]) <= 200


async def test_a_refusal_the_store_cannot_write_is_logged_and_answered(
    connect, issuer, monkeypatch, caplog
):
    """The audit row's write failing in the store (certseal.storage.audit) is
    logged at ERROR, and the caller still gets PERMISSION_DENIED."""
    import certseal.storage.audit as storage_audit

    async def down(*args, **kwargs):
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection lost")

    monkeypatch.setattr(storage_audit, "write_audit", down)
    code = fresh_uscc()
    err = await rpc_error(
        connect(f"dept:{code}").admin.SetDepartmentRoles(
            pb.SetDepartmentRolesRequest(code=code, roles=[ISSUER])
        )
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    assert any(
        "could not be recorded" in r.getMessage() and r.levelname == "ERROR"
        for r in caplog.records
    )


async def test_a_refused_subject_that_is_an_id_number_is_not_recorded(connect, issuer):
    """A resident identity number where a department code goes (the two share their
    characters) is personal data: recorded as ``-``; a department code is kept."""
    code = fresh_uscc()
    caller = connect(f"dept:{code}")
    for subject in (random_resident_id(), code):
        err = await rpc_error(
            caller.admin.SetDepartmentRoles(
                pb.SetDepartmentRolesRequest(code=subject, roles=[ISSUER])
            )
        )
        assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    rows = await audit_rows(issuer, actor=f"dept:{code}")
    assert [r["subject"] for r in rows] == ["-", code]


def test_no_subject_with_a_run_of_id_digits_is_recorded():
    """atk28b: an ID number (or most of it) inside a type code, a key id or an app
    name passed the whole-value check: any run of 15 digits or more is ``-``."""
    from certseal.audit import recordable
    from services.issuer.admin_servicer import _SUBJECT_CHECKS

    def _subject(field: str, value: str) -> str:
        return recordable(value, _SUBJECT_CHECKS[field])

    for field, value in (
        ("type_code", "110101199003070396" + "001"),
        ("app", "app:110101199003071233"),
        ("app", "app:zhang.san-110101199003071233"),
        ("kid", "1101011990030712"),
    ):
        assert _subject(field, value) == "-", (field, value)
    for field, value in (
        ("code", "91350100M000100Y43"),
        ("kid", "0123456789abcdef"),
        ("app", "app:holder-app"),
    ):
        assert _subject(field, value) == value
