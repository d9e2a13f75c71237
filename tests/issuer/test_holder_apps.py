"""Holder apps (app:<name>) read licences holder-bound, only of the licence types the
operator granted them, and every read leaves an audit row (issue 13, kind 2)."""

import dataclasses
import secrets

import grpc
import pytest

from certseal import identifiers
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from services.issuer.service.reading import masked_number
from tests.conftest import issue_request, make_department
from tests.issuer.upgrades import applied_by_an_issuer, previous_main_database


async def rpc_error(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


def field_of(err: grpc.aio.AioRpcError) -> str:
    return dict(err.trailing_metadata() or ()).get("certseal-error-field", "")


def fresh_app() -> str:
    return f"app:wallet-{secrets.token_hex(4)}"


def holder(id_number: str) -> licence_pb2.Holder:
    return licence_pb2.Holder(id_type="111", id_number=id_number)


def absent_identifier(identifier: str) -> str:
    """A well-formed identifier of a licence that was never issued (serial changed)."""
    parsed = identifiers.parse_licence_id(identifier)
    return str(dataclasses.replace(parsed, serial="Z" * len(parsed.serial)))


@pytest.fixture
async def world(operator, connect):
    """:func:`make_world`."""
    return await make_world(operator, connect)


async def make_world(operator, connect):
    """Two licence types (of two departments): holder A has a licence of each, holder
    B one of the first; an app granted the first type only."""
    dept = await make_department(operator, connect)
    a_number = identifiers.random_resident_id()
    b_number = identifiers.random_resident_id()
    mine = (
        await dept.clients.issuer.IssueLicence(
            issue_request(dept, name="李小明", id_number=a_number)
        )
    ).licence
    theirs = (
        await dept.clients.issuer.IssueLicence(
            issue_request(dept, name="王大力", id_number=b_number)
        )
    ).licence
    # a second licence type of another department, for the same holder A
    ungranted_dept = await make_department(operator, connect)
    ungranted = (
        await ungranted_dept.clients.issuer.IssueLicence(
            issue_request(ungranted_dept, name="李小明", id_number=a_number)
        )
    ).licence
    app = fresh_app()
    await operator.admin.GrantHolderApp(
        pb.GrantHolderAppRequest(app=app, type_code=dept.type_code)
    )
    return {
        "dept": dept,
        "a": holder(a_number),
        "b": holder(b_number),
        "mine": mine,
        "theirs": theirs,
        "ungranted": ungranted,
        "app": app,
        "stub": connect(app).issuer,
    }


async def test_operator_grants_lists_and_revokes_with_audit(operator, dept, issuer):
    app = fresh_app()
    granted = (
        await operator.admin.GrantHolderApp(
            pb.GrantHolderAppRequest(app=app, type_code=dept.type_code)
        )
    ).grant
    assert (granted.app, granted.type_code) == (app, dept.type_code)
    assert granted.granted_by == "operator:admin" and granted.granted_at.seconds > 0
    again = await operator.admin.GrantHolderApp(  # idempotent
        pb.GrantHolderAppRequest(app=app, type_code=dept.type_code)
    )
    assert again.grant == granted
    listed = await operator.admin.ListHolderAppGrants(
        pb.ListHolderAppGrantsRequest(app=app)
    )
    assert [(g.app, g.type_code) for g in listed.grants] == [(app, dept.type_code)]
    every = await operator.admin.ListHolderAppGrants(pb.ListHolderAppGrantsRequest())
    assert (app, dept.type_code) in {(g.app, g.type_code) for g in every.grants}
    revoked = await operator.admin.RevokeHolderApp(
        pb.RevokeHolderAppRequest(app=app, type_code=dept.type_code)
    )
    assert revoked.grant.type_code == dept.type_code
    listed = await operator.admin.ListHolderAppGrants(
        pb.ListHolderAppGrantsRequest(app=app)
    )
    assert list(listed.grants) == []
    err = await rpc_error(
        operator.admin.RevokeHolderApp(
            pb.RevokeHolderAppRequest(app=app, type_code=dept.type_code)
        )
    )
    assert err.code() is grpc.StatusCode.NOT_FOUND
    rows = await issuer.pool.fetch(
        "select actor, action, details from audit_log where subject = $1 order by id",
        app,
    )
    assert [(r["actor"], r["action"]) for r in rows] == [
        ("operator:admin", "holder_app.grant"),
        ("operator:admin", "holder_app.grant"),
        ("operator:admin", "holder_app.revoke"),
    ]
    # a type code no type can have is a mistake, not a grant to look for
    for typed in (dept.type_code[:-1], f" {dept.type_code}", "x"):
        err = await rpc_error(
            operator.admin.RevokeHolderApp(
                pb.RevokeHolderAppRequest(app=app, type_code=typed)
            )
        )
        assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, err.details()
        assert err.details().startswith("type_code: "), err.details()


@pytest.mark.parametrize(
    "app",
    [
        "integrator:police",  # an integrator is never a holder app
        "dept:91350100M000100Y43",
        "app:",
        "app:has space",
        "wallet",
        "app:" + "x" * 65,
    ],
)
async def test_a_grant_names_a_holder_app(operator, dept, app):
    err = await rpc_error(
        operator.admin.GrantHolderApp(
            pb.GrantHolderAppRequest(app=app, type_code=dept.type_code)
        )
    )
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT and field_of(err) == "app"


async def test_a_grant_names_a_registered_type_and_only_operators_grant(operator, dept):
    err = await rpc_error(
        operator.admin.GrantHolderApp(
            pb.GrantHolderAppRequest(app=fresh_app(), type_code="NOPE")
        )
    )
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field_of(err) == "type_code"
    err = await rpc_error(
        dept.clients.admin.GrantHolderApp(
            pb.GrantHolderAppRequest(app=fresh_app(), type_code=dept.type_code)
        )
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_holder_app_reads_only_the_named_holders_licence(world, issuer):
    stub, mine = world["stub"], world["mine"]
    got = (
        await stub.GetLicence(
            pb.GetLicenceRequest(identifier=mine.identifier, holder=world["a"])
        )
    ).licence
    assert got.identifier == mine.identifier
    assert got.holder.name == "李小明" and got.holder.id_number == world["a"].id_number
    assert got.fields["address"].string_value == "深圳市福田区"  # personal, its own
    # by lineage too
    lineage = identifiers.parse_licence_id(mine.identifier).lineage
    by_lineage = await stub.GetLicence(
        pb.GetLicenceRequest(identifier=lineage, holder=world["a"])
    )
    assert by_lineage.licence.identifier == mine.identifier

    # another holder's licence, a licence of a type not granted, and a licence that
    # does not exist: the same NOT_FOUND, naming only what was asked
    absent = absent_identifier(mine.identifier)
    answers = {}
    for name, identifier, who in (
        ("theirs", world["theirs"].identifier, world["a"]),
        ("mine as B", mine.identifier, world["b"]),
        ("ungranted", world["ungranted"].identifier, world["a"]),
        ("absent", absent, world["a"]),
    ):
        err = await rpc_error(
            stub.GetLicence(pb.GetLicenceRequest(identifier=identifier, holder=who))
        )
        assert err.code() is grpc.StatusCode.NOT_FOUND, name
        # the same words but what was asked (the holder's number masked, audit42)
        answers[name] = (
            err.details()
            .replace(identifier, "<asked>")
            .replace(masked_number(who.id_number), "<holder>")
        )
    assert len(set(answers.values())) == 1, answers
    # the holder is required
    err = await rpc_error(stub.GetLicence(pb.GetLicenceRequest(identifier=lineage)))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT and field_of(err) == "holder"


async def test_holder_app_lists_one_holders_granted_licences(world):
    stub = world["stub"]
    listed = await stub.ListLicences(pb.ListLicencesRequest(holder=world["a"]))
    # holder A also has the ungranted type's licence: not shown
    assert [x.identifier for x in listed.licences] == [world["mine"].identifier]
    listed = await stub.ListLicences(pb.ListLicencesRequest(holder=world["b"]))
    assert [x.identifier for x in listed.licences] == [world["theirs"].identifier]
    err = await rpc_error(
        stub.ListLicences(pb.ListLicencesRequest(type_code=world["dept"].type_code))
    )
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT and field_of(err) == "holder"
    err = await rpc_error(
        stub.ListLicences(
            pb.ListLicencesRequest(
                holder=world["a"], type_code=world["ungranted"].type_code
            )
        )
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_holder_app_mints_codes_only_for_the_holders_granted_licences(world):
    stub, mine = world["stub"], world["mine"]
    code = await stub.GetLicenceCode(
        pb.GetLicenceCodeRequest(identifier=mine.identifier, holder=world["a"])
    )
    assert code.text.startswith("LC1:")
    shown = await stub.CreatePresentationCode(
        pb.CreatePresentationCodeRequest(identifier=mine.identifier, holder=world["a"])
    )
    assert shown.text.startswith("PC1:")
    for identifier, who in (
        (world["theirs"].identifier, world["a"]),
        (mine.identifier, world["b"]),
        (world["ungranted"].identifier, world["a"]),
    ):
        for call in (
            stub.GetLicenceCode(
                pb.GetLicenceCodeRequest(identifier=identifier, holder=who)
            ),
            stub.CreatePresentationCode(
                pb.CreatePresentationCodeRequest(identifier=identifier, holder=who)
            ),
        ):
            err = await rpc_error(call)
            assert err.code() is grpc.StatusCode.NOT_FOUND


async def test_holder_app_changes_nothing(world):
    stub, mine = world["stub"], world["mine"]
    dept = world["dept"]
    for call in (
        stub.IssueLicence(issue_request(dept, id_number=world["a"].id_number)),
        stub.SuspendLicence(pb.SuspendLicenceRequest(identifier=mine.identifier)),
        stub.RevokeLicence(
            pb.RevokeLicenceRequest(
                identifier=mine.identifier,
                reason="x",
                kind=pb.REVOCATION_KIND_REVOKE,
            )
        ),
        stub.RenewLicence(pb.RenewLicenceRequest(identifier=mine.identifier)),
    ):
        err = await rpc_error(call)
        assert err.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_every_holder_app_read_leaves_an_audit_row(world, issuer):
    stub, mine = world["stub"], world["mine"]
    await stub.GetLicence(
        pb.GetLicenceRequest(identifier=mine.identifier, holder=world["a"])
    )
    await stub.ListLicences(pb.ListLicencesRequest(holder=world["a"]))
    await stub.GetLicenceCode(
        pb.GetLicenceCodeRequest(identifier=mine.identifier, holder=world["a"])
    )
    await rpc_error(
        stub.GetLicence(
            pb.GetLicenceRequest(identifier=mine.identifier, holder=world["b"])
        )
    )
    rows = await issuer.pool.fetch(
        "select action, subject, outcome, details::text as details from audit_log "
        "where actor = $1 order by id",
        world["app"],
    )
    assert [(r["action"], r["outcome"]) for r in rows] == [
        ("licence.get", "ok"),
        ("licence.list", "ok"),
        ("licence.code", "ok"),
        ("licence.get", "denied"),
    ]
    assert rows[0]["subject"] == rows[2]["subject"] == mine.identifier
    for row in rows:  # the holder as its pseudonym, never the identity number
        assert world["a"].id_number not in row["details"]
        assert world["b"].id_number not in row["details"]
        assert '"holder"' in row["details"]
    assert mine.identifier in rows[1]["details"]  # what the listing returned


async def test_an_app_without_a_grant_reads_nothing(world, connect, operator):
    stranger = connect(fresh_app()).issuer
    mine = world["mine"]
    for call in (
        stranger.GetLicence(
            pb.GetLicenceRequest(identifier=mine.identifier, holder=world["a"])
        ),
        stranger.ListLicences(pb.ListLicencesRequest(holder=world["a"])),
        stranger.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=mine.identifier, holder=world["a"])
        ),
        stranger.CreatePresentationCode(
            pb.CreatePresentationCodeRequest(
                identifier=mine.identifier, holder=world["a"]
            )
        ),
    ):
        err = await rpc_error(call)
        assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    # a withdrawn grant takes effect on the next request
    await operator.admin.RevokeHolderApp(
        pb.RevokeHolderAppRequest(app=world["app"], type_code=world["dept"].type_code)
    )
    err = await rpc_error(
        world["stub"].GetLicence(
            pb.GetLicenceRequest(identifier=mine.identifier, holder=world["a"])
        )
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_integrators_have_no_access_to_the_issuer(world, connect):
    integrator = connect("integrator:police")
    mine = world["mine"]
    for call in (
        integrator.issuer.GetLicence(
            pb.GetLicenceRequest(identifier=mine.identifier, holder=world["a"])
        ),
        integrator.issuer.ListLicences(pb.ListLicencesRequest(holder=world["a"])),
        integrator.admin.ListLicenceTypes(pb.ListLicenceTypesRequest()),
    ):
        err = await rpc_error(call)
        assert err.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_the_grants_table_comes_with_an_in_place_upgrade(config, tmp_path):
    """A database made by the previous version (issuer migrations up to 0001) upgrades
    in place: its licences stay, and holder apps have no grant until the operator
    gives one."""
    cfg, pool = await previous_main_database(config, tmp_path, last=1)
    try:
        assert await pool.fetchval("select to_regclass('holder_app_grants')") is None
        await pool.execute(
            "insert into departments values ('91350100M000100Y43', 'x', '{issuer}', "
            "now())"
        )
        applied = await applied_by_an_issuer(cfg, pool, "issuer")
        assert {"0001_issuer.sql", "0002_holder_app_grants.sql"} <= applied
        assert await pool.fetchval("select count(*) from holder_app_grants") == 0
        assert await pool.fetchval(
            "select count(*) from departments where code = '91350100M000100Y43'"
        )
    finally:
        await pool.close()
