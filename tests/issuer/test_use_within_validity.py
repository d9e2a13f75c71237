"""A licence is used only within its validity (nu16 #9: the counter console redeemed an
authorisation of a version not yet valid, returning its fields and a sealed annotated
copy). Authorising (AuthoriseUse), redeeming (RedeemAuthorisation, which the console's
/api/redeem calls) and presenting (CreatePresentationCode) a licence not yet valid are
FAILED_PRECONDITION, as for one no longer valid; against the real database, with an
injected clock."""

import datetime as dt
import secrets

import grpc
import pytest

from certseal import identifiers
from certseal.errors import CertsealError, ErrorKind
from certseal.rpc import Caller
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import issuer_pb2_grpc
from services.issuer.domain import Action, Holder
from services.issuer.service.issuance import IssueInput
from tests.conftest import make_department

US = dt.timedelta(microseconds=1)


class FakeClock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
async def world(issuer, operator, connect):
    """A licence valid from tomorrow (its holder's app granted the type), the
    department to authorise, and a service on an injected clock."""
    dept = await make_department(operator, connect)
    other = await make_department(operator, connect)
    app = f"app:wallet-{secrets.token_hex(4)}"
    await operator.admin.GrantHolderApp(
        pb.GrantHolderAppRequest(app=app, type_code=dept.type_code)
    )
    clock = FakeClock()
    service = issuer.make_service(clock)
    holder = ("111", identifiers.random_resident_id())
    start = clock.now + dt.timedelta(days=1)
    licence = await service.issue(
        Caller("dept", dept.code),
        IssueInput(
            dept.type_code,
            Holder("张三", *holder),
            {"class": "C1", "address": "深圳"},
            valid_from=start,
            valid_until=start + dt.timedelta(days=30),
        ),
    )
    return {
        "dept": dept,
        "other": other,
        "app": Caller.parse(app),
        "holder": holder,
        "clock": clock,
        "service": service,
        "licence": licence,
    }


async def authorise(world):
    clock = world["clock"]
    return await world["service"].holder.authorise(
        world["app"],
        world["licence"].identifier,
        holder=world["holder"],
        department_code=world["other"].code,
        counter="",
        purpose="开立银行账户",
        fields=["class"],
        expires_at=clock.now + dt.timedelta(days=7),
    )


async def refused(call) -> CertsealError:
    with pytest.raises(CertsealError) as err:
        await call
    assert err.value.kind is ErrorKind.FAILED_PRECONDITION
    return err.value


async def test_a_licence_not_yet_valid_is_not_authorised_until_its_start(world):
    licence, clock = world["licence"], world["clock"]
    clock.now = licence.valid_from - US
    err = await refused(authorise(world))
    assert err.field == "identifier"
    assert err.message == (
        f"licence {licence.identifier} is not yet valid: it is valid from "
        f"{licence.valid_from.isoformat()}"
    )
    clock.now = licence.valid_from
    auth, code, _ = await authorise(world)
    assert auth.identifier == licence.identifier and code.startswith("AU-")


async def test_a_licence_not_yet_valid_is_not_redeemed_and_the_refusal_is_audited(
    world, issuer
):
    licence, clock = world["licence"], world["clock"]
    clock.now = licence.valid_from  # authorised once valid (a clock of its own) ...
    auth, code, _ = await authorise(world)
    other = Caller("dept", world["other"].code)
    clock.now = licence.valid_from - US  # ... redeemed before: refused
    err = await refused(world["service"].holder.redeem(other, code, counter=""))
    assert err.field == "code" and "is not yet valid" in err.message
    # over gRPC as the department (what the console's /api/redeem calls), now: the
    # licence starts tomorrow
    stub = issuer_pb2_grpc.RedemptionStub(world["other"].clients.channel)
    with pytest.raises(grpc.aio.AioRpcError) as rpc:
        await stub.RedeemAuthorisation(pb.RedeemAuthorisationRequest(code=code))
    assert rpc.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert rpc.value.details() == (
        f"code: licence {licence.identifier} is not yet valid: it is valid from "
        f"{licence.valid_from.isoformat()}"
    )
    rows = await issuer.pool.fetch(
        "select outcome, details from audit_log where action = 'authorisation.redeem' "
        "and subject = $1 order by id",
        auth.authorisation_id,
    )
    assert [(r["outcome"], r["details"]["why"]) for r in rows] == [
        ("denied", "licence_not_yet_valid"),
        ("denied", "licence_not_yet_valid"),
    ]
    used = await issuer.pool.fetchval(
        "select count(*) from audit_log where action = 'licence.redeemed' "
        "and subject = $1",
        licence.identifier,
    )
    assert used == 0


async def test_a_licence_no_longer_valid_is_not_authorised(world):
    licence, clock = world["licence"], world["clock"]
    clock.now = licence.valid_until
    err = await refused(authorise(world))
    assert "is no longer valid: it was valid until" in err.message
    clock.now = licence.valid_from
    await world["service"].change_status(
        Caller("dept", world["dept"].code), licence.identifier, Action.REVOKE, "伪造"
    )
    err = await refused(authorise(world))
    assert err.message == (
        f"licence {licence.identifier} is no longer valid: it is revoked (03)"
    )


async def test_a_licence_not_yet_valid_gets_no_presentation_code(world):
    licence, clock = world["licence"], world["clock"]
    clock.now = licence.valid_from - US
    err = await refused(
        world["service"].presentation_code(
            Caller("dept", world["dept"].code), licence.identifier, 0
        )
    )
    assert err.field == "identifier" and "is not yet valid" in err.message
