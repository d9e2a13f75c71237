"""Outside review atk-authz: least privilege per caller kind, and what refusals tell.

Each test here asserts the documented rule and is marked ``xfail(strict=True)`` while
the product breaks it: the reason says what was found. The stack is the session's
(tests/conftest.py); every test makes its own departments, holders and apps.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import grpc
import pytest

from certseal import identifiers
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import issuer_pb2_grpc, licence_pb2
from certseal.v1 import seal_pb2 as seal_pb
from tests.conftest import issue_request, make_department, onboarded, seal_owner

PURPOSE = "开立银行账户"
CLERK = "atk-clerk-a"


class HolderSide:
    """The holder-side stubs of one identity at the session's issuer."""

    def __init__(self, channel: grpc.aio.Channel):
        self.holder = issuer_pb2_grpc.LicenceHolderStub(channel)
        self.redemption = issuer_pb2_grpc.RedemptionStub(channel)


@pytest.fixture
def holder_side(connect, seal_app, config):
    """``holder_side(identity)``: LicenceHolder and Redemption stubs as ``identity``
    (the issuer pointed at the session's seal service first)."""
    config.issuer.seal_target = f"localhost:{seal_app.port}"
    return lambda identity: HolderSide(connect(identity).channel)


async def rpc_error(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


@pytest.fixture
async def world(operator, connect, seal_stub, holder_side, config):
    """An issuing department whose official seal the issuer may use, the platform's
    copy seal, a licence of a fresh holder, a holder app granted the licence's type,
    and a second department (the one the holder authorises)."""
    dept = await make_department(
        operator,
        connect,
        roles=(
            licence_pb2.DEPARTMENT_ROLE_ISSUER,
            licence_pb2.DEPARTMENT_ROLE_SEAL_OWNER,
        ),
    )
    await seal_stub(f"dept:{dept.code}").RegisterSeal(
        seal_pb.RegisterSealRequest(
            seal_type="official",
            name="攻击测试发证机关",
            suite="es256",
            signers=[f"dept:{dept.code}", "service:issuer"],
        )
    )
    # the issuer seals annotated copies with the platform's newest such seal
    await seal_stub("operator:admin").RegisterSeal(
        seal_pb.RegisterSealRequest(
            owner_code=config.platform.code,
            seal_type="official",
            name="电子证照平台",
            suite="es256",
            signers=["service:issuer"],
        )
    )
    number = identifiers.random_resident_id()
    licence = (
        await dept.clients.issuer.IssueLicence(issue_request(dept, id_number=number))
    ).licence
    app = f"app:atk-wallet-{secrets.token_hex(3)}"
    await operator.admin.GrantHolderApp(
        pb.GrantHolderAppRequest(app=app, type_code=dept.type_code)
    )
    other = await onboarded(operator, licence_pb2.DEPARTMENT_ROLE_COUNTER)
    return {
        "dept": dept,
        "licence": licence,
        "holder": licence_pb2.Holder(id_type="111", id_number=number),
        "app": holder_side(app),
        "other": other,
    }


def authorise(world, **overrides) -> pb.AuthoriseUseRequest:
    request = pb.AuthoriseUseRequest(
        identifier=world["licence"].identifier,
        holder=world["holder"],
        department_code=world["other"],
        purpose=PURPOSE,
        fields=["class", "address"],
    )
    request.expires_at.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=7))
    for key, value in overrides.items():
        setattr(request, key, value)
    return request


async def test_a_department_cannot_name_a_clerk_to_redeem_a_counter_bound_code(
    world, holder_side
):
    """The holder may narrow an authorisation to one counter of the department, named
    as the clerk's console account (docs/holder.md, "授权用证"); "made out to another
    counter of the department" is PERMISSION_DENIED (docs/holder.md, refusals table).
    Only ``service:console`` may say which counter and clerk a call is made at: the
    Caller kinds table (docs/operations.md) gives the console alone redemption "for
    it (the counter in x-certseal-counter)", and the verifier refuses both metadata
    entries from any other caller "so no department verifies, or records usage, in
    another's name" (services/verifier/access.py). RedeemAuthorisation refuses
    ``x-certseal-counter`` from a department but reads ``x-certseal-clerk`` from
    anyone (services/issuer/servicer.py), so the department's own certificate
    (a back-office system, not the counter the holder chose) redeems the code and
    receives the shared personal fields and the annotated copy."""
    auth = (
        await world["app"].holder.AuthoriseUse(authorise(world, counter=CLERK))
    ).authorisation
    department = holder_side(f"dept:{world['other']}")
    # held: without naming the counter, the department is refused
    err = await rpc_error(
        department.redemption.RedeemAuthorisation(
            pb.RedeemAuthorisationRequest(code=auth.code)
        )
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED, err.details()
    # the finding: the same department, saying it is the clerk, gets the fields
    try:
        reply = await department.redemption.RedeemAuthorisation(
            pb.RedeemAuthorisationRequest(code=auth.code),
            metadata=(("x-certseal-clerk", CLERK),),
        )
        outcome = f"OK, the shared fields {sorted(reply.fields)} handed over"
    except grpc.aio.AioRpcError as exc:
        outcome = exc.code().name
    assert outcome == "PERMISSION_DENIED"


async def test_an_app_without_a_grant_learns_nothing_from_revoke_authorisation(
    world, holder_side, issuer
):
    """The rule: "An app with no grant gets PERMISSION_DENIED" (docs/operations.md,
    Caller kinds, ``app:<name>``) and that refusal is audited ("a holder app without
    a grant", docs/operations.md, "Refusals in the audit log"); "Another holder's authorisation
    is NOT_FOUND" (docs/holder.md) is the answer for a *granted* app. Holder data is
    behind pseudonyms so that no reader can tie an event's ``holder_ref`` or
    authorisation to a person (docs/events.md, Types). An ungranted app's answer must
    not depend on whether the holder it names is the authorisation's."""
    auth = (await world["app"].holder.AuthoriseUse(authorise(world))).authorisation
    ungranted_name = f"app:atk-nogrant-{secrets.token_hex(3)}"
    ungranted = holder_side(ungranted_name)
    answers = {}
    for label, number in (
        ("the holder", world["holder"].id_number),
        ("a stranger", identifiers.random_resident_id()),
    ):
        err = await rpc_error(
            ungranted.holder.RevokeAuthorisation(
                pb.RevokeAuthorisationRequest(
                    authorisation_id=auth.authorisation_id,
                    holder=licence_pb2.Holder(id_type="111", id_number=number),
                    reason="试探",
                )
            )
        )
        answers[label] = err.code().name
    assert answers == {
        "the holder": "PERMISSION_DENIED",
        "a stranger": "PERMISSION_DENIED",
    }
    denied = await issuer.pool.fetchval(
        "select count(*) from audit_log where actor = $1 and outcome = 'denied'",
        ungranted_name,
    )
    assert denied == 2


async def test_an_issuance_refusal_does_not_name_another_types_issuers(
    operator, connect
):
    """Which departments issue a licence type is the operators' to read
    (``IssuerAdmin/ListLicenceTypes``: operator only, docs/operations.md,
    "Authorisation matrix") and is never published ("A change of ... a type's issuing
    departments publishes no event: who may issue is checked by the issuer alone",
    docs/events.md, Types). A refusal must not tell a caller what it may not know
    (the matrix: "NOT_FOUND where saying more would tell what exists"). Any
    department with the issuer role learns every type's issuers (the first three and
    how many more) from the PERMISSION_DENIED of an IssueLicence of that type."""
    owner = await make_department(operator, connect)
    prober = await make_department(operator, connect)
    request = issue_request(owner)  # owner's type, asked by the prober
    err = await rpc_error(prober.clients.issuer.IssueLicence(request))
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    said = err.details() + repr(err.trailing_metadata())
    assert owner.code not in said, said


async def test_an_operator_cannot_make_itself_a_signer_of_a_departments_seal(
    operator, seal_stub
):
    """Operators manage "seals of any seal owner" but hold "No licence contents"
    (docs/operations.md, Caller kinds), and the authorisation matrix refuses them
    ``Seal/SealDocument``, ``Seal/SealPdf`` and ``Seal/SealOfd`` (– in the operator
    column): a seal is used by its signers, the identities its owner names. The
    operator may register a seal for an owner, but with itself among the signers it
    gets a department's official seal on any document it likes (a licence file's
    PDF included: an official seal of the issuing department is what makes a file's
    licence status count, docs/holder.md)."""
    owner = await seal_owner(operator)
    admin = seal_stub("operator:admin")
    document = b"operator-made document" * 8
    try:
        seal = (
            await admin.RegisterSeal(
                seal_pb.RegisterSealRequest(
                    owner_code=owner,
                    seal_type="official",
                    name="攻击测试公章",
                    suite="es256",
                    signers=["operator:admin"],
                )
            )
        ).seal
    except grpc.aio.AioRpcError as exc:  # refusing the registration is fine too
        assert exc.code() in (
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.PERMISSION_DENIED,
        )
        return
    outcome = "OK"
    try:
        await admin.SealDocument(
            seal_pb.SealDocumentRequest(
                seal_id=seal.seal_id,
                document_digest=hashlib.sha256(document).digest(),
            )
        )
    except grpc.aio.AioRpcError as exc:
        outcome = exc.code().name
    assert outcome == "PERMISSION_DENIED", (
        f"operator:admin sealed a document with {owner}'s official seal"
    )
