"""audit42: a new user's trial of the holder side (授权用证) found the audit trail
saying otherwise than what happened. A second withdrawal of a withdrawn authorisation
was refused but audited ``ok`` (the read of the licence it made wrote its own ok
row); a withdrawal with a wrong id number, or of an unknown authorisation, left no row
at all; each authorisation and withdrawal wrote two ``ok`` rows with one request id.
Now each LicenceHolder call, ListLicenceUsage and RedeemAuthorisation leaves exactly
one audit row per attempt: ``ok`` for a success, ``denied`` with the reason
(``why``) for a refusal of any kind. Over gRPC, against the real database; the rows
are counted per actor (each test's holder app and departments are its own).

Also from the trial: a licence not found for the holder says what to check (the
identifier, the id type and the id number, the number masked); a withdrawal's
reason keeps the purpose's character rule; an over-long purpose says its length."""

import datetime as dt

import grpc
import pytest

from certseal import identifiers
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import issuer_pb2_grpc, licence_pb2
from services.issuer.service.reading import masked_number
from tests.issuer.holder_world import make_holder_world

PURPOSE = "开立银行账户"


@pytest.fixture
async def world(issuer, operator, connect):
    """A licence valid now, its holder's app granted the type (its LicenceHolder
    and Issuer stubs), and the department to authorise (its Redemption stub)."""
    made = await make_holder_world(issuer, operator, connect, address="深圳")
    app, other, holder, licence = made.app, made.other, made.holder, made.licence
    channel = connect(app).channel
    return {
        "app": app,
        "other": other,
        "holder": holder,
        "licence": licence,
        "holder_stub": issuer_pb2_grpc.LicenceHolderStub(channel),
        "issuer_stub": issuer_pb2_grpc.IssuerStub(channel),
        "redemption": issuer_pb2_grpc.RedemptionStub(other.clients.channel),
        "issuer": issuer,
        "seen": 0,
    }


async def new_rows(w, actor: str) -> list[tuple[str, str, str]]:
    """The audit rows of ``actor`` since the last call: (action, outcome, why)."""
    rows = await w["issuer"].pool.fetch(
        "select id, action, outcome, details from audit_log "
        "where actor = $1 and id > $2 order by id",
        actor,
        w["seen"],
    )
    if rows:
        w["seen"] = max(w["seen"], rows[-1]["id"])
    return [(r["action"], r["outcome"], r["details"].get("why", "")) for r in rows]


def holder_of(w, number: str | None = None) -> licence_pb2.Holder:
    id_type, id_number = w["holder"]
    return licence_pb2.Holder(id_type=id_type, id_number=number or id_number)


def wrong_number(w) -> str:
    other = identifiers.random_resident_id()
    return other if other != w["holder"][1] else identifiers.random_resident_id()


def authorise_request(w, **changes) -> pb.AuthoriseUseRequest:
    request = pb.AuthoriseUseRequest(
        identifier=w["licence"].identifier,
        holder=holder_of(w),
        department_code=w["other"].code,
        purpose=PURPOSE,
        fields=["class"],
    )
    request.expires_at.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=7))
    for name, value in changes.items():
        if isinstance(value, licence_pb2.Holder):
            request.holder.CopyFrom(value)
        else:
            setattr(request, name, value)
    return request


async def refused(call, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() is code, err.value.details()
    return err.value.details()


async def test_each_authorisation_and_withdrawal_attempt_is_one_audit_row(world):
    w = world
    stub, app = w["holder_stub"], w["app"]
    await new_rows(w, app)

    # a success: one ok row (not the read's and the change's)
    made = await stub.AuthoriseUse(authorise_request(w))
    au = made.authorisation.authorisation_id
    assert await new_rows(w, app) == [("licence.authorise", "ok", "")]

    # refusals of any kind: one denied row each, with the reason
    await refused(
        stub.AuthoriseUse(authorise_request(w, holder=holder_of(w, wrong_number(w)))),
        grpc.StatusCode.NOT_FOUND,
    )
    [(action, outcome, why)] = await new_rows(w, app)
    assert (action, outcome) == ("licence.authorise", "denied") and why
    said = await refused(
        stub.AuthoriseUse(authorise_request(w, purpose="p" * 65)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert said == "purpose: is 65 characters; the limit is 64"
    [(action, outcome, why)] = await new_rows(w, app)
    assert (action, outcome) == ("licence.authorise", "denied")
    assert why == "INVALID_ARGUMENT: purpose: is 65 characters; the limit is 64"

    def withdraw(authorisation_id: str, number: str | None = None, reason: str = ""):
        return stub.RevokeAuthorisation(
            pb.RevokeAuthorisationRequest(
                authorisation_id=authorisation_id,
                holder=holder_of(w, number),
                reason=reason,
            )
        )

    # a withdrawal with a wrong id number, and of an unknown authorisation
    await refused(withdraw(au, wrong_number(w)), grpc.StatusCode.NOT_FOUND)
    assert [r[:2] for r in await new_rows(w, app)] == [
        ("licence.authorisation_revoke", "denied")
    ]
    await refused(withdraw("au-0000000000000000"), grpc.StatusCode.NOT_FOUND)
    assert [r[:2] for r in await new_rows(w, app)] == [
        ("licence.authorisation_revoke", "denied")
    ]
    # text no authorisation can have (the code given for the id, cut short): a
    # mistake said as such, not "not found", and audited as the others
    for typed in ("au-123", "AU-7KQ2M9XW4R8T", au.upper()):
        said = await refused(withdraw(typed), grpc.StatusCode.INVALID_ARGUMENT)
        assert said.startswith("authorisation_id: is not an authorisation id"), said
        assert [r[:2] for r in await new_rows(w, app)] == [
            ("licence.authorisation_revoke", "denied")
        ]
    # a reason with a line break: refused as in the purpose, and audited
    said = await refused(withdraw(au, reason="a\nb"), grpc.StatusCode.INVALID_ARGUMENT)
    assert said.startswith("reason: contains U+000A"), said
    assert [r[:2] for r in await new_rows(w, app)] == [
        ("licence.authorisation_revoke", "denied")
    ]

    # the withdrawal: one ok row; a second: one denied row saying why
    await withdraw(au, reason="不再需要")
    assert await new_rows(w, app) == [("licence.authorisation_revoke", "ok", "")]
    said = await refused(withdraw(au), grpc.StatusCode.FAILED_PRECONDITION)
    assert said == f"authorisation_id: authorisation {au} was already withdrawn"
    assert await new_rows(w, app) == [
        (
            "licence.authorisation_revoke",
            "denied",
            f"FAILED_PRECONDITION: {said}",
        )
    ]


async def test_a_file_listing_and_redemption_attempt_is_one_audit_row(world):
    w = world
    app, dept = w["app"], f"dept:{w['other'].code}"
    await new_rows(w, app)
    await refused(
        w["holder_stub"].GetLicenceDocument(
            pb.GetLicenceDocumentRequest(
                identifier=w["licence"].identifier, holder=holder_of(w, wrong_number(w))
            )
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    assert [r[:2] for r in await new_rows(w, app)] == [("licence.document", "denied")]

    listing = w["issuer_stub"].ListLicenceUsage
    request = pb.ListLicenceUsageRequest(
        identifier=w["licence"].identifier, holder=holder_of(w)
    )
    await listing(request)
    assert [r[:2] for r in await new_rows(w, app)] == [("licence.usage", "ok")]
    request.page_token = "not a token"
    await refused(listing(request), grpc.StatusCode.INVALID_ARGUMENT)
    assert [r[:2] for r in await new_rows(w, app)] == [("licence.usage", "denied")]

    # a text that cannot be a code (refused before any look-up) is audited too
    await new_rows(w, dept)
    await refused(
        w["redemption"].RedeemAuthorisation(pb.RedeemAuthorisationRequest(code="AU-")),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert [r[:2] for r in await new_rows(w, dept)] == [
        ("authorisation.redeem", "denied")
    ]
    # an unknown code: its one row (no second from the call)
    await refused(
        w["redemption"].RedeemAuthorisation(
            pb.RedeemAuthorisationRequest(code="AU-7KQ2M9XW4R8T")
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    assert [r[:2] for r in await new_rows(w, dept)] == [
        ("authorisation.redeem", "denied")
    ]


async def test_a_licence_not_found_for_the_holder_says_what_to_check(world):
    w = world
    number = wrong_number(w)
    said = await refused(
        w["holder_stub"].AuthoriseUse(
            authorise_request(w, holder=holder_of(w, number))
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    assert said == (
        f"identifier: no licence {w['licence'].identifier} of a type this app is "
        f"granted for the holder 111 {masked_number(number)}: check the identifier, "
        "the id type and the id number"
    )
    assert number not in said and masked_number(number).count("*") == 11


def test_an_id_number_is_masked_to_its_ends():
    assert masked_number("110101199003071234") == "110***********1234"
    assert masked_number("E1234") == "***34"


async def test_a_caller_kind_the_holder_side_refuses_is_one_audit_row(world, operator):
    """An operator calling AuthoriseUse is refused by the interceptor (the holder
    side serves departments and apps), before any use case: one denied row too."""
    w = world
    actor = "operator:admin"
    await new_rows(w, actor)
    stub = issuer_pb2_grpc.LicenceHolderStub(operator.channel)
    await refused(
        stub.AuthoriseUse(authorise_request(w)), grpc.StatusCode.PERMISSION_DENIED
    )
    rows = await w["issuer"].pool.fetch(
        "select action, subject, outcome from audit_log where actor = $1 and id > $2",
        actor,
        w["seen"],
    )
    # (the subject as a refused caller's text is recorded: certseal.audit.recordable)
    assert [(r["action"], r["outcome"]) for r in rows] == [
        ("licence.authorise", "denied")
    ]
