"""The Issuer and IssuerAdmin RPCs over mTLS, against the session's real stack."""

import asyncio
import dataclasses
import datetime as dt
import threading

import grpc
import pytest
from cryptography.exceptions import InvalidSignature
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from certseal import codes, qr
from certseal.crypto import Suite
from certseal.events import LICENCE_EVENTS, TRUST_EVENTS
from certseal.v1 import events_pb2, licence_pb2
from certseal.v1 import issuer_pb2 as pb
from tests.conftest import EventWatcher, fresh_uscc, issue_request, make_department


async def rpc_error(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


def trailing(err: grpc.aio.AioRpcError) -> dict:
    return dict(err.trailing_metadata() or ())


def stamp(value: dt.datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


# -- health, reflection, identities ----------------------------------------------


async def test_health_and_reflection(operator):
    watch = health_pb2_grpc.HealthStub(operator.channel).Watch(
        health_pb2.HealthCheckRequest(service="certseal.v1.Issuer")
    )
    async with asyncio.timeout(30):
        async for reply in watch:
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                break
    watch.cancel()
    stub = reflection_pb2_grpc.ServerReflectionStub(operator.channel)
    responses = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = [s.name async for r in responses for s in r.list_services_response.service]
    assert {"certseal.v1.Issuer", "certseal.v1.IssuerAdmin"} <= set(names)


async def test_caller_kinds_are_enforced(dept, operator, connect):
    err = await rpc_error(
        dept.clients.admin.ListDepartments(pb.ListDepartmentsRequest())
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    err = await rpc_error(
        operator.issuer.GetLicence(pb.GetLicenceRequest(identifier="x"))
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    stranger = connect("visitor:nobody")
    err = await rpc_error(
        stranger.issuer.GetLicence(pb.GetLicenceRequest(identifier="x"))
    )
    assert err.code() is grpc.StatusCode.UNAUTHENTICATED


# -- authorisation across departments ----------------------------------------------


async def test_only_the_issuing_department_may_change_or_read(
    dept, operator, connect, issuer
):
    other = await make_department(operator, connect)
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    for call in (
        other.clients.issuer.SuspendLicence(
            pb.SuspendLicenceRequest(identifier=licence.identifier, reason="x")
        ),
        other.clients.issuer.RevokeLicence(
            pb.RevokeLicenceRequest(
                identifier=licence.identifier,
                reason="x",
                kind=pb.REVOCATION_KIND_REVOKE,
            )
        ),
        other.clients.issuer.GetLicence(
            pb.GetLicenceRequest(identifier=licence.identifier)
        ),
    ):
        err = await rpc_error(call)
        assert err.code() is grpc.StatusCode.PERMISSION_DENIED
        assert dept.code in err.details()
    denied = await issuer.pool.fetch(
        "select action, outcome from audit_log where actor = $1 and subject = $2",
        f"dept:{other.code}",
        licence.identifier,
    )
    assert {(r["action"], r["outcome"]) for r in denied} >= {
        ("licence.suspend", "denied"),
        ("licence.revoke", "denied"),
        ("licence.get", "denied"),
    }
    # the licence is unchanged
    got = await dept.clients.issuer.GetLicence(
        pb.GetLicenceRequest(identifier=licence.identifier)
    )
    assert got.licence.status == licence_pb2.LICENCE_STATUS_VALID
    # and the other department may not issue this type either
    err = await rpc_error(other.clients.issuer.IssueLicence(issue_request(dept)))
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_department_without_issuer_role_cannot_issue(operator, connect, dept):
    counter = fresh_uscc()
    await operator.admin.OnboardDepartment(
        pb.OnboardDepartmentRequest(
            code=counter, name="窗口", roles=[licence_pb2.DEPARTMENT_ROLE_COUNTER]
        )
    )
    err = await rpc_error(
        connect(f"dept:{counter}").issuer.IssueLicence(issue_request(dept))
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "issuer role" in err.details()


async def test_holder_app_reads_and_presents_but_cannot_change(dept, connect, operator):
    request = issue_request(dept, id_number="440301199203034565")
    licence = (await dept.clients.issuer.IssueLicence(request)).licence
    await operator.admin.GrantHolderApp(
        pb.GrantHolderAppRequest(app="app:yueshengshi", type_code=dept.type_code)
    )
    app = connect("app:yueshengshi")
    listed = await app.issuer.ListLicences(
        pb.ListLicencesRequest(holder=request.holder)
    )
    assert [x.identifier for x in listed.licences] == [licence.identifier]
    code = await app.issuer.CreatePresentationCode(
        pb.CreatePresentationCodeRequest(
            identifier=licence.identifier, holder=request.holder
        )
    )
    assert code.text.startswith("PC1:") and code.png.startswith(b"\x89PNG")
    err = await rpc_error(
        app.issuer.SuspendLicence(
            pb.SuspendLicenceRequest(identifier=licence.identifier, reason="x")
        )
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    err = await rpc_error(
        app.issuer.ListLicences(pb.ListLicencesRequest(type_code=dept.type_code))
    )
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT


# -- idempotency and batches --------------------------------------------------------


async def test_idempotent_retries_return_the_same_licence(dept, issuer):
    request = issue_request(dept, idempotency_key="req-0001")
    results = await asyncio.gather(
        *[dept.clients.issuer.IssueLicence(request) for _ in range(8)]
    )
    identifiers = {r.licence.identifier for r in results}
    assert len(identifiers) == 1
    count = await issuer.pool.fetchval(
        "select count(*) from licences where issuer_code = $1", dept.code
    )
    assert count == 1
    again = await dept.clients.issuer.IssueLicence(request)
    assert again.licence.identifier in identifiers
    changed = issue_request(dept, idempotency_key="req-0001")
    err = await rpc_error(dept.clients.issuer.IssueLicence(changed))
    assert err.code() is grpc.StatusCode.ALREADY_EXISTS
    assert trailing(err)["certseal-error-field"] == "idempotency_key"


async def test_batch_reports_per_item(dept, issuer):
    items = [issue_request(dept) for _ in range(1000)]
    del items[10].fields["class"]
    items[20].type_code = "91350100M000100Y43999"
    items[30].holder.id_type = "bad type"
    reply = await dept.clients.issuer.IssueLicences(
        pb.IssueLicencesRequest(items=items)
    )
    assert len(reply.results) == 1000
    errors = {r.index: r.error for r in reply.results if r.HasField("error")}
    assert set(errors) == {10, 20, 30}
    assert (
        errors[10].field == "items[10].fields.class"
        and errors[10].code == "INVALID_ARGUMENT"
    )
    assert "unknown licence type" in errors[20].message
    assert errors[30].field == "items[30].holder.id_type"
    count = await issuer.pool.fetchval(
        "select count(*) from licences where issuer_code = $1", dept.code
    )
    assert count == 997
    err = await rpc_error(
        dept.clients.issuer.IssueLicences(
            pb.IssueLicencesRequest(items=[issue_request(dept)] * 1001)
        )
    )
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT


# -- codes --------------------------------------------------------------------------


@pytest.mark.parametrize("suite", [s.value for s in Suite])
async def test_licence_code_verifies_in_each_suite(suite, operator, connect):
    dept = await make_department(operator, connect, suite=suite)
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    reply = await dept.clients.issuer.GetLicenceCode(
        pb.GetLicenceCodeRequest(identifier=licence.identifier)
    )
    assert reply.png.startswith(b"\x89PNG")
    keys = (
        await operator.admin.ListSigningKeys(
            pb.ListSigningKeysRequest(department_code=dept.code)
        )
    ).keys
    public = {k.kid: k.public_key for k in keys}
    decoded = codes.decode_code(reply.text)
    assert decoded.suite is Suite(suite) and decoded.kid == dept.kid
    decoded.verify_signature(public[decoded.kid])
    part = decoded.claims[codes.CLAIM_LICENCE]
    assert part["id"] == licence.identifier and part["n"] == "张*丰"
    assert part["f"] == {"class": "C1"}  # public fields only: no address
    tampered = dataclasses.replace(
        decoded, payload=decoded.payload.replace(b"C1", b"C2")
    )
    with pytest.raises(InvalidSignature):
        tampered.verify_signature(public[decoded.kid])


async def test_a_codes_picture_is_drawn_off_the_event_loop(dept, monkeypatch):
    """Drawing a licence code's QR symbol takes about 25 ms of pure Python: on the
    issuer's event loop (the test's own: the issuer runs in this process) it held
    every other call, health and the relay (atk-scan)."""
    drawn_on: list[int] = []
    draw = qr.qr_png

    def spy(text: str, **options: int) -> bytes:
        drawn_on.append(threading.get_ident())
        return draw(text, **options)

    monkeypatch.setattr(qr, "qr_png", spy)
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    asked = pb.GetLicenceCodeRequest(identifier=licence.identifier)
    code = await dept.clients.issuer.GetLicenceCode(asked)
    shown = await dept.clients.issuer.CreatePresentationCode(
        pb.CreatePresentationCodeRequest(identifier=licence.identifier, ttl_seconds=30)
    )
    assert code.png.startswith(b"\x89PNG") and shown.png.startswith(b"\x89PNG")
    assert len(drawn_on) == 2
    assert threading.get_ident() not in drawn_on


async def test_presentation_code(dept, issuer, connect):
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    reply = await dept.clients.issuer.CreatePresentationCode(
        pb.CreatePresentationCodeRequest(identifier=licence.identifier, ttl_seconds=30)
    )
    decoded = codes.decode_code(reply.text)
    key = await issuer.store.active_presentation_key()
    assert decoded.kid == key.kid
    decoded.verify_signature(key.public_key)
    claims = decoded.claims
    assert claims[codes.CWT_EXP] - claims[codes.CWT_IAT] == 30
    assert claims[codes.CLAIM_PRESENTATION] == {"id": licence.identifier, "v": 1}
    assert len(claims[codes.CWT_CTI]) == 16
    await dept.clients.issuer.SuspendLicence(
        pb.SuspendLicenceRequest(identifier=licence.identifier, reason="points")
    )
    err = await rpc_error(
        dept.clients.issuer.CreatePresentationCode(
            pb.CreatePresentationCodeRequest(identifier=licence.identifier)
        )
    )
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION and "(02)" in err.details()


# -- lifecycle over RPC and its events -------------------------------------------------


async def test_lifecycle_events_in_order_without_personal_data(stack, dept):
    issuer_stub = dept.clients.issuer
    async with EventWatcher(stack, LICENCE_EVENTS) as watcher:
        licence = (
            await issuer_stub.IssueLicence(
                issue_request(dept, name="欧阳娜娜", id_number="44030119880808881X")
            )
        ).licence
        await issuer_stub.SuspendLicence(
            pb.SuspendLicenceRequest(identifier=licence.identifier, reason="扣分")
        )
        await issuer_stub.UnsuspendLicence(
            pb.UnsuspendLicenceRequest(identifier=licence.identifier)
        )
        amend = pb.AmendLicenceRequest(identifier=licence.identifier, reason="升级")
        amend.fields["class"].CopyFrom(licence_pb2.FieldValue(string_value="B2"))
        amended = (await issuer_stub.AmendLicence(amend)).licence
        renewed = (
            await issuer_stub.RenewLicence(
                pb.RenewLicenceRequest(identifier=licence.lineage)
            )
        ).licence
        revoked = (
            await issuer_stub.RevokeLicence(
                pb.RevokeLicenceRequest(
                    identifier=renewed.identifier,
                    reason="违法",
                    kind=pb.REVOCATION_KIND_SANCTION,
                )
            )
        ).licence
        assert amended.version == 2 and renewed.version == 3
        assert revoked.status == licence_pb2.LICENCE_STATUS_REVOKED_AS_SANCTION
        key = licence.lineage.encode()
        records = await watcher.wait_for(lambda rs: sum(r.key == key for r in rs) >= 6)
    mine = [r for r in records if r.key == key]
    events = [events_pb2.LicenceEvent.FromString(r.value) for r in mine]
    assert [e.type for e in events] == [
        "licence.issued",
        "licence.suspended",
        "licence.unsuspended",
        "licence.amended",
        "licence.renewed",
        "licence.revoked",
    ]
    assert [e.lineage_version for e in events] == [1, 2, 3, 4, 5, 6]
    assert events[-1].status == 7 and events[-1].operation == 5
    assert events[3].replaces == licence.identifier
    for record in mine:
        headers = dict(record.headers)
        assert headers["ce_specversion"] == b"1.0"
        assert headers["ce_source"] == f"/departments/{dept.code}".encode()
        assert headers["ce_id"].decode() in {e.event_id for e in events}
        for secret in ("欧阳".encode(), b"44030119880808881X", "深圳".encode()):
            assert secret not in record.value


async def test_illegal_transition_names_the_status(dept):
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    await dept.clients.issuer.CancelLicence(
        pb.CancelLicenceRequest(identifier=licence.identifier, reason="申请注销")
    )
    err = await rpc_error(
        dept.clients.issuer.SuspendLicence(
            pb.SuspendLicenceRequest(identifier=licence.identifier, reason="x")
        )
    )
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "cancelled (04)" in err.details()


async def test_list_paginates(dept):
    request = issue_request(dept)
    for _ in range(5):
        await dept.clients.issuer.IssueLicence(request)
    seen, token = [], ""
    while True:
        page = await dept.clients.issuer.ListLicences(
            pb.ListLicencesRequest(
                type_code=dept.type_code, page_size=2, page_token=token
            )
        )
        seen += [x.identifier for x in page.licences]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) == 5


# -- malformed input matrix -----------------------------------------------------------


def _bad_requests(dept):
    unknown_type = issue_request(dept)
    unknown_type.type_code = "91350100M000100Y43999"
    missing = issue_request(dept)
    del missing.fields["class"]
    extra = issue_request(dept)
    extra.fields["colour"].CopyFrom(licence_pb2.FieldValue(string_value="red"))
    wrong_type = issue_request(dept)
    wrong_type.fields["points"].CopyFrom(licence_pb2.FieldValue(string_value="twelve"))
    bad_date = issue_request(dept)
    bad_date.fields["first_issued"].CopyFrom(
        licence_pb2.FieldValue(date_value="2020-13-01")
    )
    now = dt.datetime.now(dt.UTC)
    backwards = issue_request(
        dept,
        valid_from=stamp(now + dt.timedelta(days=10)),
        valid_until=stamp(now + dt.timedelta(days=5)),
    )
    bad_resident_id = issue_request(dept, id_number="440301199001011235")
    unborn = issue_request(dept, id_number="440301199002301234")
    full_width_id = issue_request(dept, id_number="４40301199001011234")
    oversized = issue_request(dept)
    oversized.fields["class"].CopyFrom(
        licence_pb2.FieldValue(string_value="x" * 9_000_000)
    )
    return [
        (
            "unknown type",
            dept.clients.issuer.IssueLicence(unknown_type),
            "type_code",
            "unknown licence type",
        ),
        (
            "missing field",
            dept.clients.issuer.IssueLicence(missing),
            "fields.class",
            "is required",
        ),
        (
            "field not in schema",
            dept.clients.issuer.IssueLicence(extra),
            "fields.colour",
            "is not a field",
        ),
        (
            "field of wrong type",
            dept.clients.issuer.IssueLicence(wrong_type),
            "fields.points",
            "must be an integer",
        ),
        (
            "bad date",
            dept.clients.issuer.IssueLicence(bad_date),
            "fields.first_issued",
            "is not a date",
        ),
        (
            "end before start",
            dept.clients.issuer.IssueLicence(backwards),
            "valid_until",
            "is not after its start",
        ),
        (
            "malformed identifier",
            dept.clients.issuer.GetLicence(
                pb.GetLicenceRequest(identifier="1.2.156.3005.2.NOPE")
            ),
            "identifier",
            "expected <type code>",
        ),
        (
            "wrong check character",
            dept.clients.issuer.GetLicence(
                pb.GetLicenceRequest(
                    identifier="1.2.156.3005.2.91350100M000100Y43001.91350100M000100Y43.ABC123.001.F"
                )
            ),
            "identifier",
            "check character",
        ),
        (
            "resident ID with a wrong check character (GB 11643)",
            dept.clients.issuer.IssueLicence(bad_resident_id),
            "holder.id_number",
            "check character is '5', expected '4'",
        ),
        (
            "resident ID without a birth date (GB 11643)",
            dept.clients.issuer.IssueLicence(unborn),
            "holder.id_number",
            "(19900230) are not a birth date",
        ),
        (
            "full-width digit in a resident ID",
            dept.clients.issuer.IssueLicence(full_width_id),
            "holder.id_number",
            "character 1 of '４40301199001011234' is '４'",
        ),
        (
            "full-width version in an identifier",
            dept.clients.issuer.GetLicence(
                pb.GetLicenceRequest(
                    identifier="1.2.156.3005.2.91350100M000100Y43001.91350100M000100Y43.ABC123.００１.E"
                )
            ),
            "identifier",
            "character 64 of",
        ),
        (
            "oversized request",
            dept.clients.issuer.IssueLicence(oversized),
            "request",
            "the limit is",
        ),
    ]


async def test_malformed_input_matrix(dept, operator):
    for name, call, field, message in _bad_requests(dept):
        err = await rpc_error(call)
        assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, name
        assert trailing(err)["certseal-error-field"] == field, name
        assert message in err.details(), (name, err.details())
    admin_cases = [
        (
            operator.admin.OnboardDepartment(
                pb.OnboardDepartmentRequest(
                    code="91350100M000100Y44", name="x", roles=[1]
                )
            ),
            "code",
            "check character",
        ),
        (
            operator.admin.OnboardDepartment(
                pb.OnboardDepartmentRequest(code="123", name="x", roles=[1])
            ),
            "code",
            "18 characters",
        ),
        (
            operator.admin.CreateSigningKey(
                pb.CreateSigningKeyRequest(department_code=dept.code, suite="rsa2048")
            ),
            "suite",
            "unknown key suite",
        ),
        (
            operator.admin.RegisterLicenceType(
                pb.RegisterLicenceTypeRequest(
                    type_code="12345",
                    name="x",
                    default_validity_days=1,
                    issuer_codes=[dept.code],
                )
            ),
            "type_code",
            "21 characters",
        ),
        (  # a full-width digit: was INTERNAL from a table lookup
            operator.admin.OnboardDepartment(
                pb.OnboardDepartmentRequest(
                    code="91350100M００0100Y43", name="x", roles=[1]
                )
            ),
            "code",
            "character 10 of '91350100M００0100Y43' is '０' (U+FF10 FULLWIDTH DIGIT ZERO)",
        ),
        (  # a type code ending in ００１ was stored, and every issuance of it INTERNAL
            operator.admin.RegisterLicenceType(
                pb.RegisterLicenceTypeRequest(
                    type_code=dept.code + "００１",
                    name="x",
                    default_validity_days=1,
                    issuer_codes=[dept.code],
                )
            ),
            "type_code",
            "character 19 of",
        ),
        (  # a direction mark in a department name (F7): shown at every counter
            operator.admin.OnboardDepartment(
                pb.OnboardDepartmentRequest(
                    code=fresh_uscc(), name="公安\u200e局", roles=[1]
                )
            ),
            "name",
            "U+200E LEFT-TO-RIGHT MARK, a format character, at position 3",
        ),
        (  # a department name of zero-width spaces only
            operator.admin.OnboardDepartment(
                pb.OnboardDepartmentRequest(
                    code=fresh_uscc(), name="\u200b\u200b", roles=[1]
                )
            ),
            "name",
            "U+200B ZERO WIDTH SPACE",
        ),
        (  # a BOM in a licence type's name, a line separator in a field title
            operator.admin.RegisterLicenceType(
                pb.RegisterLicenceTypeRequest(
                    type_code=dept.code + "901",
                    name="\ufeff驾驶证",
                    default_validity_days=1,
                    issuer_codes=[dept.code],
                )
            ),
            "name",
            "U+FEFF",
        ),
        (
            operator.admin.RegisterLicenceType(
                pb.RegisterLicenceTypeRequest(
                    type_code=dept.code + "902",
                    name="驾驶证",
                    default_validity_days=1,
                    issuer_codes=[dept.code],
                    fields=[
                        licence_pb2.FieldSpec(
                            name="class",
                            type=licence_pb2.FIELD_TYPE_STRING,
                            title="准驾\u2028车型",
                        )
                    ],
                )
            ),
            "fields[0].title",
            "U+2028 LINE SEPARATOR",
        ),
    ]
    for call, field, message in admin_cases:
        err = await rpc_error(call)
        assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert trailing(err)["certseal-error-field"] == field
        assert message in err.details()


async def test_cli_prints_the_same_message(tmp_path, config, issuer, capsys):
    from certseal.config import dump_config
    from services import cli

    config.cli.issuer_target = f"localhost:{issuer.port}"
    path = tmp_path / "config.toml"
    path.write_text(dump_config(config))
    status = await asyncio.to_thread(
        cli.main,
        [
            "--config",
            str(path),
            "key",
            "create",
            "91350100M000100Y43",
            "--suite",
            "rsa",
        ],
    )
    assert status == 2
    assert "error: suite: unknown key suite 'rsa'" in capsys.readouterr().err
    status = await asyncio.to_thread(
        cli.main,
        [
            "--config",
            str(path),
            "department",
            "add",
            "91350100M000100Y44",
            "--name",
            "x",
            "--roles",
            "issuer",
        ],
    )
    assert status == 2
    assert "check character of '91350100M000100Y44' is '4'" in capsys.readouterr().err


# -- keys -------------------------------------------------------------------------------


async def test_key_lifecycle_publishes_trust_events(stack, operator, connect):
    dept = await make_department(operator, connect, suite="sm2")
    async with EventWatcher(stack, TRUST_EVENTS) as watcher:
        rotated = await operator.admin.RotateSigningKey(
            pb.RotateSigningKeyRequest(department_code=dept.code, suite="sm2")
        )
        assert [k.kid for k in rotated.retired] == [dept.kid]
        new_kid = rotated.key.kid
        licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
        assert licence.kid == new_kid
        compromise = dt.datetime.now(dt.UTC)  # back-dated by the time the RPC takes
        revoked = await operator.admin.RevokeSigningKey(
            pb.RevokeSigningKeyRequest(
                kid=new_kid, reason="HSM stolen", revoked_at=stamp(compromise)
            )
        )
        assert revoked.key.status == licence_pb2.KEY_STATUS_REVOKED
        records = await watcher.wait_for(
            lambda rs: (
                sum(r.key == new_kid.encode() for r in rs) >= 2
                and any(r.key == dept.kid.encode() for r in rs)
            )
        )
    events = [
        events_pb2.TrustEvent.FromString(r.value)
        for r in records
        if r.key in (new_kid.encode(), dept.kid.encode())
    ]
    assert [(e.kid, e.type) for e in events] == [
        (dept.kid, "key.activated"),
        (new_kid, "key.activated"),
        (dept.kid, "key.retired"),
        (new_kid, "key.revoked"),
    ]
    last = events[-1]
    assert last.revoked_at.ToDatetime(tzinfo=dt.UTC) == compromise
    assert last.key_version == 2 and last.public_key == revoked.key.public_key
    # with its only key revoked, the department can no longer issue
    err = await rpc_error(dept.clients.issuer.IssueLicence(issue_request(dept)))
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "no active signing key" in err.details()
    err = await rpc_error(
        operator.admin.RetireSigningKey(pb.RetireSigningKeyRequest(kid=new_kid))
    )
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    future = stamp(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    err = await rpc_error(
        operator.admin.RevokeSigningKey(
            pb.RevokeSigningKeyRequest(kid=dept.kid, reason="x", revoked_at=future)
        )
    )
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_private_keys_are_encrypted_at_rest(issuer, dept):
    row = await issuer.pool.fetchrow(
        "select public_key, wrapped_private_key from signing_keys where kid = $1",
        dept.kid,
    )
    signer = issuer.service.keyring.signer_for(
        (await issuer.store.department_keys(dept.code))[0]
    )
    assert bytes(row["public_key"]) == signer.public_key_der
    assert b"PRIVATE" not in bytes(row["wrapped_private_key"])
    assert len(row["wrapped_private_key"]) > 12 + 16


async def test_cli_licence_commands(tmp_path, config, issuer, dept, capsys):
    from certseal.config import dump_config
    from services import cli

    config.cli.issuer_target = f"localhost:{issuer.port}"
    path = tmp_path / "config.toml"
    path.write_text(dump_config(config))
    base = ["--config", str(path), "licence", "--as", dept.code]
    status = await asyncio.to_thread(
        cli.main,
        [
            *base,
            "issue",
            "--type",
            dept.type_code,
            "--holder-name",
            "李四",
            "--id-number",
            "440301199001015673",
            "--field",
            "class=A1",
            "--field",
            "points=12",
        ],
    )
    out = capsys.readouterr().out
    assert status == 0 and "status      valid (01)" in out and "points = 12" in out
    identifier = out.split("identifier  ", 1)[1].split()[0]
    png = tmp_path / "code.png"
    assert (
        await asyncio.to_thread(
            cli.main, [*base, "code", identifier, "--png", str(png)]
        )
        == 0
    )
    text = capsys.readouterr().out.splitlines()[0]
    assert codes.decode_code(text).claims[codes.CLAIM_LICENCE]["id"] == identifier
    assert png.read_bytes().startswith(b"\x89PNG")
    assert (
        await asyncio.to_thread(
            cli.main,
            [*base, "revoke", identifier, "--reason", "伪造材料", "--sanction"],
        )
        == 0
    )
    assert "revoked as a sanction (07) (伪造材料)" in capsys.readouterr().out
    assert await asyncio.to_thread(cli.main, [*base, "suspend", identifier]) == 1
    assert "revoked as a sanction (07)" in capsys.readouterr().err


async def test_cli_as_a_mistyped_department_says_so_and_leaves_no_identity(
    tmp_path, config, issuer, dept, capsys
):
    from pathlib import Path

    from certseal.config import dump_config
    from services import cli

    path = tmp_path / "config.toml"
    path.write_text(dump_config(config))
    wrong = dept.code[:-1] + ("0" if dept.code[-1] != "0" else "1")
    status = await asyncio.to_thread(
        cli.main, ["--config", str(path), "licence", "--as", wrong, "get", "x"]
    )
    assert status == 2
    assert capsys.readouterr().err.startswith("error: as: ")
    tls = Path(config.tls.ca_file).parent
    assert not (tls / f"dept_{wrong}.pem").exists()
