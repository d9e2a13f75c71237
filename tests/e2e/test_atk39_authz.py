"""Outside review atk39authz: what an identity gets beyond what it needs, and where a
holder's personal data leaves the place the holder chose for it.

Each test asserts the documented rule the review found broken (fixed since). The stack is the session's
(tests/conftest.py); every test makes its own departments, holders and apps.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets

import grpc
import pypdfium2
import pytest

from certseal import identifiers
from certseal.licencefile import read_licence_metadata
from certseal.rpc import secure_channel
from certseal.rpcerrors import error_from_rpc
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import issuer_pb2_grpc, licence_pb2, tlog_pb2, tlog_pb2_grpc
from certseal.v1 import seal_pb2 as seal_pb
from services.issuer.usage import UsageEntry, UsageKind
from services.tlog.app import TlogApp
from tests.conftest import issue_request, make_department, onboarded

PURPOSE = "开立银行账户"
HOLDER_NAME = "欧阳建国"
ADDRESS = "深圳市福田区"  # the type's personal field 'address' (issue_request)


class HolderSide:
    """The holder-side stubs of one identity at the session's issuer."""

    def __init__(self, channel: grpc.aio.Channel):
        self.issuer = issuer_pb2_grpc.IssuerStub(channel)
        self.holder = issuer_pb2_grpc.LicenceHolderStub(channel)
        self.redemption = issuer_pb2_grpc.RedemptionStub(channel)


@pytest.fixture
def holder_side(connect, seal_app, config):
    """``holder_side(identity)``: the issuer's stubs as ``identity`` (the issuer
    pointed at the session's seal service first)."""
    config.issuer.seal_target = f"localhost:{seal_app.port}"
    return lambda identity: HolderSide(connect(identity).channel)


@pytest.fixture
async def world(request, operator, connect, seal_stub, holder_side, config):
    """An issuing department whose official seal the issuer may use, the platform's
    copy seal, a licence of a fresh holder, a holder app granted the licence's type,
    and a second department (the one the holder authorises). Parametrized
    indirectly, the type's field titles (none otherwise)."""
    dept = await make_department(
        operator,
        connect,
        roles=(
            licence_pb2.DEPARTMENT_ROLE_ISSUER,
            licence_pb2.DEPARTMENT_ROLE_SEAL_OWNER,
        ),
        titles=getattr(request, "param", None),
    )
    await seal_stub(f"dept:{dept.code}").RegisterSeal(
        seal_pb.RegisterSealRequest(
            seal_type="official",
            name="攻击测试发证机关",
            suite="es256",
            signers=[f"dept:{dept.code}", "service:issuer"],
        )
    )
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
        await dept.clients.issuer.IssueLicence(
            issue_request(dept, name=HOLDER_NAME, id_number=number)
        )
    ).licence
    app = f"app:atk39-wallet-{secrets.token_hex(3)}"
    await operator.admin.GrantHolderApp(
        pb.GrantHolderAppRequest(app=app, type_code=dept.type_code)
    )
    other = await onboarded(operator, licence_pb2.DEPARTMENT_ROLE_COUNTER)
    return {
        "dept": dept,
        "licence": licence,
        "holder": licence_pb2.Holder(id_type="111", id_number=number),
        "app": holder_side(app),
        "app_name": app,
        "other": other,
    }


def authorise(world, **overrides) -> pb.AuthoriseUseRequest:
    request = pb.AuthoriseUseRequest(
        identifier=world["licence"].identifier,
        holder=world["holder"],
        department_code=world["other"],
        purpose=PURPOSE,
        fields=["class"],
    )
    request.expires_at.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=7))
    for key, value in overrides.items():
        setattr(request, key, value)
    return request


def pdf_text(pdf: bytes) -> str:
    """Every page's text as a PDF reader shows it."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


async def test_the_annotated_copy_shows_only_the_fields_the_holder_shared(
    world, holder_side
):
    """授权用证: the holder authorises a department "sharing the fields the holder
    chooses (which may include personal ones)" (docs/holder.md); the department
    "receives the shared fields and the annotated copy". The RPC's ``fields`` hold
    only the chosen ones, but the copy, sealed by the platform so that it counts as
    the licence, is rendered from every public, restricted and personal field and the
    holder's unmasked name (``HolderSide.redeem`` → ``_render`` → ``_visible``). Here
    the holder shares 'class' only; the department also gets the personal
    'address' and the name, in a document sealed as an official copy."""
    auth = (await world["app"].holder.AuthoriseUse(authorise(world))).authorisation
    department = holder_side(f"dept:{world['other']}")
    reply = await department.redemption.RedeemAuthorisation(
        pb.RedeemAuthorisationRequest(code=auth.code)
    )
    assert sorted(reply.fields) == ["class"]  # held: the RPC's own fields
    copy = pdf_text(reply.annotated_copy)
    assert "C1" in copy  # the shared field is on the copy
    assert ADDRESS not in copy, "a personal field the holder did not share"
    assert HOLDER_NAME not in copy, "the holder's unmasked name was not shared"
    assert "欧**国" in copy  # the name masked, as the licence's display name is
    # nor in its metadata (XMP, keywords), which carries no field and no name
    meta = read_licence_metadata(reply.annotated_copy)
    assert meta["identifier"] == world["licence"].identifier
    for value in meta.values():
        assert ADDRESS not in value and HOLDER_NAME not in value, meta
    # the holder's own file is unchanged: every visible field, the full name
    own = await world["app"].holder.GetLicenceDocument(
        pb.GetLicenceDocumentRequest(
            identifier=world["licence"].identifier, holder=world["holder"]
        )
    )
    whole = pdf_text(own.document)
    assert ADDRESS in whole and HOLDER_NAME in whole and "C1" in whole


async def test_a_shared_personal_field_is_on_the_annotated_copy(world, holder_side):
    """What the holder shares, personal or not, is drawn: the copy shows ``auth.fields``
    and nothing less."""
    request = authorise(world)
    request.ClearField("fields")
    request.fields.extend(["address"])
    auth = (await world["app"].holder.AuthoriseUse(request)).authorisation
    department = holder_side(f"dept:{world['other']}")
    reply = await department.redemption.RedeemAuthorisation(
        pb.RedeemAuthorisationRequest(code=auth.code)
    )
    copy = pdf_text(reply.annotated_copy)
    assert ADDRESS in copy and HOLDER_NAME not in copy
    assert "class" not in copy  # the field not shared (titled by its name)


@pytest.mark.parametrize(
    "world", [{"class": "准驾车型", "address": "住址"}], indirect=True
)
async def test_the_redemption_reply_names_what_the_counter_shows(world, holder_side):
    """The counter page shows a redemption by the reply alone (trial39b, words39c):
    the type's name, the shared fields' titles (only theirs), the holder's masked
    name and the authorising department's name, as the issuer fills them."""
    auth = (await world["app"].holder.AuthoriseUse(authorise(world))).authorisation
    department = holder_side(f"dept:{world['other']}")
    reply = await department.redemption.RedeemAuthorisation(
        pb.RedeemAuthorisationRequest(code=auth.code)
    )
    assert sorted(reply.fields) == ["class"]
    assert dict(reply.field_titles) == {"class": "准驾车型"}  # not address's
    assert reply.type_name == "机动车驾驶证"
    assert reply.type_code == world["dept"].type_code
    assert reply.holder_display_name == "欧**国"
    assert reply.authorisation.department_name == f"单位 {world['other'][-4:]}"
    copy = pdf_text(reply.annotated_copy)
    assert "准驾车型" in copy and "住址" not in copy and ADDRESS not in copy


@pytest.mark.parametrize("clerk", ["c1%00x", "c1%0Ax", "%E5%BC%A0", "a" * 65, " c1"])
async def test_a_clerk_that_is_no_console_account_is_refused(world, holder_side, clerk):
    """The console names the clerk a redemption is made at (``x-certseal-clerk``,
    percent-encoded); the issuer stores it in the holder's record and the audit
    trail. A name no console account can have (a NUL, a line break, non-ASCII, over
    64 characters, a leading space) is INVALID_ARGUMENT before anything is done:
    a NUL failed the record's insert after the copy was sealed (refused40 3), and
    a long name was cut to another clerk's."""
    auth = (await world["app"].holder.AuthoriseUse(authorise(world))).authorisation
    console = holder_side("service:console")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await console.redemption.RedeemAuthorisation(
            pb.RedeemAuthorisationRequest(code=auth.code),
            metadata=(
                ("x-certseal-counter", f"dept:{world['other']}"),
                ("x-certseal-clerk", clerk),
            ),
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "x-certseal-clerk: is no console account" in refused.value.details()
    # nothing was redeemed: the code still works at the counter
    reply = await console.redemption.RedeemAuthorisation(
        pb.RedeemAuthorisationRequest(code=auth.code),
        metadata=(
            ("x-certseal-counter", f"dept:{world['other']}"),
            ("x-certseal-clerk", "c1"),
        ),
    )
    assert sorted(reply.fields) == ["class"]


async def test_a_refused_redemption_names_its_case_beside_its_status(
    world, holder_side
):
    """FAILED_PRECONDITION covers a withdrawn code, an expired one and a licence no
    longer or not yet valid: the issuer names the case in the trailing metadata
    ``certseal-error-reason``, which the typed error reads back (the console's words
    come from it, not from the message's shape)."""
    auth = (await world["app"].holder.AuthoriseUse(authorise(world))).authorisation
    department = holder_side(f"dept:{world['other']}")
    reasons = []
    for _ in range(2):  # before and after the withdrawal
        try:
            await department.redemption.RedeemAuthorisation(
                pb.RedeemAuthorisationRequest(code="AU-0000-0000-0000")
            )
        except grpc.aio.AioRpcError as exc:
            reasons.append(error_from_rpc(exc).reason)
        if len(reasons) == 1:
            await world["app"].holder.RevokeAuthorisation(
                pb.RevokeAuthorisationRequest(
                    authorisation_id=auth.authorisation_id, holder=world["holder"]
                )
            )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await department.redemption.RedeemAuthorisation(
            pb.RedeemAuthorisationRequest(code=auth.code)
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert dict(refused.value.trailing_metadata())["certseal-error-reason"] == (
        "withdrawn"
    )
    assert error_from_rpc(refused.value).reason == "withdrawn"
    assert reasons == ["not_found", "not_found"]  # an unknown code: no case of anyone's


async def test_an_app_cannot_read_the_usage_record_without_leaving_a_view(world):
    """ "Each first page read is itself a use: it adds a viewed entry to the record
    (the citizen sees that the app read it)" (docs/holder.md, 用证记录). The issuer
    decides "first page" by an empty ``page_token`` (``UsageRecord.list``:
    ``view=not page_token``), and a page token is only a page key hex-encoded
    (``certseal.paging``): an app that sends the key of a time before any entry
    reads the first page, every entry, and the record never shows the read."""
    app, holder = world["app"], world["holder"]
    identifier = world["licence"].identifier
    await app.holder.GetLicenceDocument(
        pb.GetLicenceDocumentRequest(identifier=identifier, holder=holder)
    )
    crafted = f"{0:020d}|0".encode().hex()  # before every entry: 1970, id "0"
    quiet = await app.issuer.ListLicenceUsage(
        pb.ListLicenceUsageRequest(
            identifier=identifier, holder=holder, page_token=crafted
        )
    )
    downloads = [u for u in quiet.uses if u.kind == pb.LICENCE_USAGE_KIND_DOWNLOADED]
    # the crafted token is refused, or the read shows in the record
    after = await app.issuer.ListLicenceUsage(
        pb.ListLicenceUsageRequest(identifier=identifier, holder=holder)
    )
    views = [u for u in after.uses if u.kind == pb.LICENCE_USAGE_KIND_VIEWED]
    assert not downloads or len(views) >= 2, (
        f"read {len(quiet.uses)} entries with a crafted token; the record shows "
        f"{len(views)} view(s) (the honest listing's own)"
    )


async def usage_views(issuer, world) -> list[str]:
    """The app's listing views (action ``licence.usage``) in the licence's record, as
    stored (read from the database: a listing would add one)."""
    rows = await issuer.pool.fetch(
        """select actor from licence_usage
            where lineage = $1 and kind = 'viewed' and action = 'licence.usage'""",
        identifiers.parse_licence_id(world["licence"].identifier).lineage,
    )
    return [r["actor"] for r in rows]


async def test_a_crafted_token_of_an_app_that_never_read_page_one_leaves_a_view(
    world, issuer
):
    """The first read of the record by an app, by any page token, is a view."""
    assert await usage_views(issuer, world) == []
    crafted = f"{0:020d}|0".encode().hex()
    await world["app"].issuer.ListLicenceUsage(
        pb.ListLicenceUsageRequest(
            identifier=world["licence"].identifier,
            holder=world["holder"],
            page_token=crafted,
        )
    )
    assert await usage_views(issuer, world) == [world["app_name"]]


async def test_an_app_paging_through_the_record_leaves_one_view(world, issuer):
    """An honest app reading page after page (the tokens the issuer returned) leaves
    one view, not one per page."""
    lineage = identifiers.parse_licence_id(world["licence"].identifier).lineage
    base = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    await issuer.service.usage.record(
        [
            UsageEntry(
                entry_id=f"test:{secrets.token_hex(8)}",
                lineage=lineage,
                identifier=world["licence"].identifier,
                kind=UsageKind.VERIFIED,
                occurred_at=base + dt.timedelta(seconds=n),
                purpose=f"p{n}",
            )
            for n in range(5)
        ]
    )
    seen, token, pages = [], "", 0
    while True:
        reply = await world["app"].issuer.ListLicenceUsage(
            pb.ListLicenceUsageRequest(
                identifier=world["licence"].identifier,
                holder=world["holder"],
                page_size=2,
                page_token=token,
            )
        )
        pages += 1
        seen += [
            u.purpose for u in reply.uses if u.kind == pb.LICENCE_USAGE_KIND_VERIFIED
        ]
        token = reply.next_page_token
        if not token:
            break
    assert seen == [f"p{n}" for n in range(5)] and pages >= 3
    assert await usage_views(issuer, world) == [world["app_name"]]


@pytest.fixture(scope="module")
async def tlog_app(config, issuer):
    config.tlog.metrics_listen = ""
    config.tlog.poll_interval_s = 0.2
    app = TlogApp(config, listen="127.0.0.1:0")
    await app.start()
    yield app
    await app.stop(grace=1)


async def test_the_transparency_log_holds_no_holder_authorisations(
    world, tlog_app, stack, issuer
):
    """The log keeps "every licence issuance and status change, every key change and
    every seal registration" (README, "The transparency log"); it is read by every
    caller kind and by ``auditor:<name>`` identities, and searched by subject, a
    licence's lineage, which every counter that verified the licence's code has seen.
    A holder's authorisation (授权用证) and its withdrawal are neither an issuance nor
    a status change (their events keep the lineage_version unchanged): they are
    entries of the usage record (用证记录), which "no other caller kind" than the
    holder's app reads (docs/operations.md, Caller kinds). The outbox trigger of
    ``certseal/storage/migrations/0004_tlog_queue.sql`` queues every row of the
    licence topic, so the log holds them for ever, dated, beside the lineage."""
    app, holder = world["app"], world["holder"]
    auth = (await app.holder.AuthoriseUse(authorise(world))).authorisation
    await app.holder.RevokeAuthorisation(
        pb.RevokeAuthorisationRequest(
            authorisation_id=auth.authorisation_id, holder=holder, reason="不用了"
        )
    )
    lineage = identifiers.parse_licence_id(world["licence"].identifier).lineage
    ident = stack.ca.identity(f"auditor:atk39-{secrets.token_hex(3)}")
    channel = secure_channel(
        f"localhost:{tlog_app.port}",
        str(stack.ca.ca_file),
        str(ident.cert_file),
        str(ident.key_file),
    )
    auditor = tlog_pb2_grpc.TransparencyLogStub(channel)
    async with asyncio.timeout(30):  # everything queued so far is in the log
        while True:
            if not await issuer.pool.fetchval("select count(*) from tlog_queue"):
                break
            await asyncio.sleep(0.1)  # the sequencer has not run yet
    leaves = (
        await auditor.FindEntries(tlog_pb2.FindEntriesRequest(subject=lineage))
    ).leaves
    types = [
        line.split(" ", 1)[1].removeprefix("cn.gov.certseal.")
        for leaf in leaves
        for line in leaf.leaf_data.decode().splitlines()
        if line.startswith("type ")
    ]
    await channel.close()
    assert "licence.issued" in types  # held: the issuance is logged
    assert not {"licence.authorised", "licence.authorisation_revoked"} & set(types), (
        types
    )
