"""Issue 16, the holder's side: the licence file (GetLicenceDocument) and 授权用证
(AuthoriseUse, RevokeAuthorisation, RedeemAuthorisation), on the real stack."""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
import io
import re
import secrets
import ssl
import zipfile
from pathlib import Path

import aiohttp
import grpc
import pytest

from certseal import identifiers
from certseal.events import LICENCE_EVENTS
from certseal.licencefile import read_licence_metadata
from certseal.rpc import Caller, secure_channel
from certseal.v1 import events_pb2, issuer_pb2_grpc, licence_pb2, verifier_pb2
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import seal_pb2 as seal_pb
from services.console.access import COOKIE
from services.console.app import ConsoleApp
from tests.conftest import (
    EventWatcher,
    blank_pdf,
    issue_request,
    make_department,
    running,
    text_field,
    verdict_everywhere,
    verifier_process,
)
from tests.pdffonts import drawn_characters

RARE_NAME = "王𠈌𪚥"  # CJK Extension B characters, outside the BMP


async def rpc_error(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


class HolderClients:
    def __init__(self, channel: grpc.aio.Channel):
        self.holder = issuer_pb2_grpc.LicenceHolderStub(channel)
        self.redemption = issuer_pb2_grpc.RedemptionStub(channel)


@pytest.fixture(scope="session")
def holder_stubs(stack, issuer, seal_app, config):
    """``holder_stubs(identity, metadata=())``; points the issuer at the session's
    seal service first."""
    config.issuer.seal_target = f"localhost:{seal_app.port}"

    def make(identity: str) -> HolderClients:
        ident = stack.ca.identity(identity)
        channel = secure_channel(
            f"localhost:{issuer.port}",
            str(stack.ca.ca_file),
            str(ident.cert_file),
            str(ident.key_file),
        )
        return HolderClients(channel)

    return make


_platform_sealed: list[str] = []


async def platform_seal(seal_stub, config) -> str:
    """A new official seal of the platform, usable by the issuer, for the module that
    asks (its ``world``): the issuer seals with the newest, and other modules
    (tests/e2e/test_authorization.py, test_hostile_values.py) register their own, so
    one made once per session was not the one used after them (failed CI once, when
    a module sorted before them used this fixture first)."""
    seal = (
        await seal_stub("operator:admin").RegisterSeal(
            seal_pb.RegisterSealRequest(
                owner_code=config.platform.code,
                seal_type="official",
                name="电子证照平台",
                suite="es256",
                signers=["service:issuer"],
            )
        )
    ).seal
    _platform_sealed[:] = [seal.seal_id]
    return seal.seal_id


@pytest.fixture
async def world(operator, connect, seal_stub, holder_stubs, config):
    """A department with an official seal the issuer may use, a licence of holder
    RARE_NAME, an app granted the type, and a second department."""
    dept = await make_department(
        operator,
        connect,
        roles=(
            licence_pb2.DEPARTMENT_ROLE_ISSUER,
            licence_pb2.DEPARTMENT_ROLE_SEAL_OWNER,
            licence_pb2.DEPARTMENT_ROLE_COUNTER,
        ),
    )
    seal = (
        await seal_stub(f"dept:{dept.code}").RegisterSeal(
            seal_pb.RegisterSealRequest(
                seal_type="official",
                name="测试市市场监督管理局",
                suite="es256",
                signers=[f"dept:{dept.code}", "service:issuer"],
            )
        )
    ).seal
    await platform_seal(seal_stub, config)
    id_number = identifiers.random_resident_id()
    licence = (
        await dept.clients.issuer.IssueLicence(
            issue_request(dept, name=RARE_NAME, id_number=id_number)
        )
    ).licence
    app = f"app:wallet-{secrets.token_hex(4)}"
    await operator.admin.GrantHolderApp(
        pb.GrantHolderAppRequest(app=app, type_code=dept.type_code)
    )
    other = await make_department(operator, connect)
    return {
        "dept": dept,
        "seal": seal,
        "licence": licence,
        "holder": licence_pb2.Holder(id_type="111", id_number=id_number),
        "app": holder_stubs(app),
        "app_name": app,
        "issuer_stub": connect(app).issuer,
        "other": other,
    }


async def test_document_is_sealed_carries_metadata_and_rare_glyphs(world, seal_stub):
    licence = world["licence"]
    reply = await world["app"].holder.GetLicenceDocument(
        pb.GetLicenceDocumentRequest(
            identifier=licence.identifier, holder=world["holder"]
        )
    )
    assert reply.media_type == "application/pdf" and reply.document.startswith(b"%PDF")
    assert reply.seal_id == world["seal"].seal_id
    assert reply.status == licence_pb2.LICENCE_STATUS_VALID  # the CLI warns otherwise
    verified = await seal_stub("operator:admin").VerifyPdf(
        seal_pb.VerifyPdfRequest(pdf=reply.document)
    )
    assert [(s.seal_id, s.verdict) for s in verified.seals] == [
        (world["seal"].seal_id, "VALID")
    ]
    meta = read_licence_metadata(reply.document)
    assert meta["identifier"] == licence.identifier
    assert meta["type_code"] == licence.type_code
    assert meta["issuer_code"] == licence.issuer_code
    assert meta["version"] == str(licence.version)
    assert (
        meta["holder_ref"]
        and identifiers.random_resident_id()[:6] not in meta["holder_ref"]
    )
    assert dt.datetime.fromisoformat(meta["valid_until"]) == (
        licence.valid_until.ToDatetime(dt.UTC)
    )
    drawn = drawn_characters(reply.document)
    for char in "𠈌𪚥":
        assert drawn.get(char, "").endswith("+HanaMinB"), (char, drawn.get(char))
    for char in "王机动车驾驶证":
        assert drawn.get(char, "").endswith("+NotoSansSC"), (char, drawn.get(char))


async def test_the_department_writes_the_licence_file_with_the_cli(
    world, cli, tmp_path
):
    """``certseal licence --as CODE document ID --out FILE`` (a new user found no
    command for it): the PDF or the OFD written whole; another department refused,
    nothing written."""
    licence, dept, other = world["licence"], world["dept"], world["other"]

    async def document(code: str, out: Path, *more: str) -> tuple[int, str]:
        return await cli(
            *("licence", "--as", code, "document", licence.identifier),
            *("--out", str(out), *more),
        )

    pdf = tmp_path / "licence.pdf"
    status, out = await document(dept.code, pdf)
    assert status == 0, out
    assert out.startswith(f"PDF written to {pdf} (")
    assert read_licence_metadata(pdf.read_bytes())["identifier"] == licence.identifier
    ofd = tmp_path / "licence.ofd"
    status, out = await document(dept.code, ofd, "--format", "ofd")
    assert status == 0, out
    assert zipfile.is_zipfile(ofd) and "OFD.xml" in zipfile.ZipFile(ofd).namelist()
    refused = tmp_path / "other.pdf"
    status, out = await document(other.code, refused)
    assert status == 1 and out.startswith("error: as: "), out  # refused, no bad input
    assert "may not read" in out and not refused.exists()


async def test_the_issuing_department_gets_the_file_and_others_do_not(world):
    licence = world["licence"]
    dept_holder = HolderFromClients(world["dept"].clients.channel)
    reply = await dept_holder.holder.GetLicenceDocument(
        pb.GetLicenceDocumentRequest(identifier=licence.identifier)
    )
    assert read_licence_metadata(reply.document)["identifier"] == licence.identifier
    other = HolderFromClients(world["other"].clients.channel)
    err = await rpc_error(
        other.holder.GetLicenceDocument(
            pb.GetLicenceDocumentRequest(identifier=licence.identifier)
        )
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    # another holder's app request for this licence: NOT_FOUND, nothing revealed
    err = await rpc_error(
        world["app"].holder.GetLicenceDocument(
            pb.GetLicenceDocumentRequest(
                identifier=licence.identifier,
                holder=licence_pb2.Holder(
                    id_type="111", id_number=identifiers.random_resident_id()
                ),
            )
        )
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND


def HolderFromClients(channel: grpc.aio.Channel) -> HolderClients:
    return HolderClients(channel)


def in_days(days: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=days)


def authorise_request(world, **overrides) -> pb.AuthoriseUseRequest:
    request = pb.AuthoriseUseRequest(
        identifier=world["licence"].identifier,
        holder=world["holder"],
        department_code=world["other"].code,
        purpose="开立银行账户",
        fields=["class", "address"],
    )
    request.expires_at.FromDatetime(in_days(7))
    for key, value in overrides.items():
        setattr(request, key, value)
    return request


async def test_authorise_redeem_elsewhere_withdraw(
    world, seal_stub, stack, config, issuer
):
    async with EventWatcher(stack, LICENCE_EVENTS) as watcher:
        auth = (
            await world["app"].holder.AuthoriseUse(authorise_request(world))
        ).authorisation
        assert auth.code.startswith("AU-") and auth.status == "active"
        assert auth.department_code == world["other"].code
        redeemer = HolderFromClients(world["other"].clients.channel)
        reply = await redeemer.redemption.RedeemAuthorisation(
            pb.RedeemAuthorisationRequest(code=auth.code.lower())
        )
        assert dict(reply.fields) == {
            "class": licence_pb2.FieldValue(string_value="C1"),
            "address": licence_pb2.FieldValue(string_value="深圳市福田区"),
        }
        assert not reply.authorisation.code  # shown once, to the holder
        verified = await seal_stub("operator:admin").VerifyPdf(
            seal_pb.VerifyPdfRequest(pdf=reply.annotated_copy)
        )
        assert [s.verdict for s in verified.seals] == ["VALID"]
        assert verified.seals[0].seal_id == _platform_sealed[0]
        # the platform seals the copy in the issuer's stead: the licence is named,
        # with its status, and the file is said to be a copy
        assert verified.licence.identifier == world["licence"].identifier
        assert verified.licence.detail.startswith(
            f"an annotated copy (加注件) sealed by the platform {config.platform.code}"
        ), verified.licence
        assert reply.seal_id == _platform_sealed[0]
        # the overlay is inside the signed bytes: a changed copy is no longer VALID
        tampered = reply.annotated_copy.replace(b"/Annots", b"/Annotz", 1)
        if tampered == reply.annotated_copy:
            cut = len(reply.annotated_copy) // 3
            tampered = (
                reply.annotated_copy[:cut]
                + bytes([reply.annotated_copy[cut] ^ 1])
                + reply.annotated_copy[cut + 1 :]
            )
        again = await seal_stub("operator:admin").VerifyPdf(
            seal_pb.VerifyPdfRequest(pdf=tampered)
        )
        assert [s.verdict for s in again.seals] != ["VALID"]
        # the issuing department is not the one authorised: refused, nothing revealed
        err = await rpc_error(
            HolderFromClients(
                world["dept"].clients.channel
            ).redemption.RedeemAuthorisation(
                pb.RedeemAuthorisationRequest(code=auth.code)
            )
        )
        assert err.code() == grpc.StatusCode.NOT_FOUND
        revoked = (
            await world["app"].holder.RevokeAuthorisation(
                pb.RevokeAuthorisationRequest(
                    authorisation_id=auth.authorisation_id,
                    holder=world["holder"],
                    reason="办完了",
                )
            )
        ).authorisation
        assert revoked.status == "revoked" and revoked.HasField("revoked_at")
        err = await rpc_error(
            redeemer.redemption.RedeemAuthorisation(
                pb.RedeemAuthorisationRequest(code=auth.code)
            )
        )
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "withdrawn" in err.details()

        def changes(records):
            found = {}
            for record in records:
                event = events_pb2.LicenceEvent.FromString(record.value)
                if event.authorisation.authorisation_id == auth.authorisation_id:
                    found[event.type] = (record, event)
            return found

        await watcher.wait_for(lambda records: len(changes(records)) == 2)
        found = changes(watcher.records)
    assert set(found) == {"licence.authorised", "licence.authorisation_revoked"}
    async with issuer.pool.acquire() as conn:
        audited = await conn.fetch(
            "select actor, action, outcome, details from audit_log "
            "where details->>'authorisation' = $1 or subject = $1 order by id",
            auth.authorisation_id,
        )
    trail = [(r["action"], r["outcome"]) for r in audited]
    assert trail == [
        ("licence.authorise", "ok"),
        ("licence.redeemed", "ok"),
        ("authorisation.redeem", "denied"),  # the issuing department, not authorised
        ("licence.authorisation_revoke", "ok"),
        ("authorisation.redeem", "denied"),  # withdrawn
    ], trail
    for row in audited:  # the holder only as its pseudonym
        assert world["holder"].id_number not in row["details"]
        assert RARE_NAME not in row["details"]
    for record, event in found.values():
        headers = dict(record.headers)
        assert headers["ce_type"].endswith(event.type.encode())
        assert record.key == world["licence"].lineage.encode()
        assert event.lineage_version == world["licence"].lineage_version
        assert list(event.authorisation.fields) == ["class", "address"]
        # no personal data in clear: neither the name, the ID number nor the values
        for secret in (
            RARE_NAME,
            world["holder"].id_number,
            "深圳市福田区",
        ):
            assert secret.encode() not in record.value
            assert all(secret.encode() not in v for _, v in record.headers)


async def test_redemption_after_expiry_is_refused(world, issuer):
    auth = (
        await world["app"].holder.AuthoriseUse(
            authorise_request(world, purpose="租房备案")
        )
    ).authorisation
    expiry = auth.expires_at.ToDatetime(dt.UTC)
    other = Caller("dept", world["other"].code)
    for at, allowed in (
        (expiry - dt.timedelta(microseconds=1), True),
        (expiry, False),
        (expiry + dt.timedelta(seconds=1), False),
    ):
        service = issuer.make_service(lambda at=at: at)
        if allowed:
            redeemed = await service.holder.redeem(other, auth.code, counter="")
            assert redeemed.authorisation.authorisation_id == auth.authorisation_id
        else:
            with pytest.raises(Exception) as err:
                await service.holder.redeem(other, auth.code, counter="")
            assert "expired" in str(err.value)


async def test_authorise_rejects_bad_input(world):
    app = world["app"].holder
    for overrides, field in (
        ({"purpose": ""}, "purpose"),
        ({"purpose": "长" * 65}, "purpose"),
        # printed on the sealed annotated copy: held to what a display name is held to
        ({"purpose": "开立\u200f账户"}, "purpose"),  # right-to-left mark
        ({"purpose": "租房\u2028仅供任何人"}, "purpose"),  # line separator
        ({"purpose": "租\u200b房"}, "purpose"),  # zero-width space
        ({"purpose": "\u3164\u3164"}, "purpose"),  # blank-looking filler
        ({"department_code": "not-a-code"}, "department_code"),
    ):
        err = await rpc_error(app.AuthoriseUse(authorise_request(world, **overrides)))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, overrides
        assert dict(err.trailing_metadata())["certseal-error-field"] == field
    bad_field = authorise_request(world)
    bad_field.fields.append("points_nowhere")
    err = await rpc_error(app.AuthoriseUse(bad_field))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "points_nowhere" in err.details()
    for expires in (in_days(-1), in_days(91)):
        request = authorise_request(world)
        request.expires_at.FromDatetime(expires)
        err = await rpc_error(app.AuthoriseUse(request))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert dict(err.trailing_metadata())["certseal-error-field"] == "expires_at"
    # another holder cannot authorise this licence: NOT_FOUND
    stranger = authorise_request(world)
    stranger.holder.id_number = identifiers.random_resident_id()
    err = await rpc_error(app.AuthoriseUse(stranger))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    # an unknown code: NOT_FOUND, as for a code made out to another department
    redeemer = HolderFromClients(world["other"].clients.channel).redemption
    err = await rpc_error(
        redeemer.RedeemAuthorisation(
            pb.RedeemAuthorisationRequest(code="AU-000000000000")
        )
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    # a text that cannot be a code says so (it tells nothing about anyone's)
    err = await rpc_error(
        redeemer.RedeemAuthorisation(pb.RedeemAuthorisationRequest(code="garbage"))
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().startswith("code: is not an authorisation code (AU- and 12")


async def test_an_unknown_document_format_is_refused_by_name(world):
    """nu17: a format number this version does not know (7) was answered with a PDF,
    where every other enum of a request is INVALID_ARGUMENT naming its field."""
    licence = world["licence"]
    err = await rpc_error(
        world["app"].holder.GetLicenceDocument(
            pb.GetLicenceDocumentRequest(
                identifier=licence.identifier, holder=world["holder"], format=7
            )
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert dict(err.trailing_metadata())["certseal-error-field"] == "format"


RPCS = {
    "GetLicenceDocument": ("holder", pb.GetLicenceDocumentRequest),
    "AuthoriseUse": ("holder", pb.AuthoriseUseRequest),
    "RevokeAuthorisation": ("holder", pb.RevokeAuthorisationRequest),
    "RedeemAuthorisation": ("redemption", pb.RedeemAuthorisationRequest),
}
#: caller kind -> the RPCs it passes the rights check of (others: PERMISSION_DENIED)
MATRIX = {
    "operator:admin": set(),
    "integrator:feed-test": set(),
    "service:other": set(),
    "service:console": {"RedeemAuthorisation"},
    "app:wallet": {"GetLicenceDocument", "AuthoriseUse", "RevokeAuthorisation"},
    "dept": {"GetLicenceDocument", "RedeemAuthorisation"},
}


@pytest.mark.parametrize("identity", sorted(MATRIX))
async def test_least_privilege_matrix(identity, world, holder_stubs):
    name = f"dept:{world['other'].code}" if identity == "dept" else identity
    stubs = holder_stubs(name)
    for rpc, (service, request_type) in RPCS.items():
        call = getattr(getattr(stubs, service), rpc)(request_type())
        err = await rpc_error(call)
        if rpc in MATRIX[identity]:
            # admitted: refused for the empty request's content, not for who calls
            assert err.code() != grpc.StatusCode.PERMISSION_DENIED or (
                "may not" not in err.details()
            ), (identity, rpc, err.details())
        else:
            assert err.code() == grpc.StatusCode.PERMISSION_DENIED, (identity, rpc)


@pytest.fixture(scope="module")
async def verifier_group(stack, config, issuer, seal_app, tmp_path_factory):
    """One verifier group process; the seal service asks it for licence statuses."""
    group = verifier_process(
        stack, config, tmp_path_factory.mktemp("holder-verifier"), "h"
    )
    async with running(group):
        config.seal.verifier_target = f"localhost:{group.port}"
        yield group


async def revoked_at_the_group(dept, verifier_group, licence, code: str) -> None:
    """Revoke ``licence``, then wait until the verifier group (the one the seal service
    asks) answers REVOKED for its ``code``."""
    await dept.clients.issuer.RevokeLicence(
        pb.RevokeLicenceRequest(
            identifier=licence.identifier,
            reason="测试撤销",
            kind=pb.REVOCATION_KIND_REVOKE,
        )
    )
    await verdict_everywhere(
        {"g": verifier_group.stub}, code, verifier_pb2.VERDICT_REVOKED, within=30
    )


async def test_a_revoked_licence_file_verifies_with_status_revoked(
    world, seal_stub, verifier_group
):
    licence = world["licence"]
    document = (
        await world["app"].holder.GetLicenceDocument(
            pb.GetLicenceDocumentRequest(
                identifier=licence.identifier, holder=world["holder"]
            )
        )
    ).document
    code = read_licence_metadata(document)["licence_code"]
    expected = (
        await world["dept"].clients.issuer.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=licence.identifier)
        )
    ).text
    assert code == expected
    await verdict_everywhere(
        {"g": verifier_group.stub}, code, verifier_pb2.VERDICT_VALID, within=30
    )
    verified = await seal_stub("operator:admin").VerifyPdf(
        seal_pb.VerifyPdfRequest(pdf=document)
    )
    assert [s.verdict for s in verified.seals] == ["VALID"]
    assert verified.licence.identifier == licence.identifier
    assert verified.licence.verdict == "VALID", verified.licence.detail
    await revoked_at_the_group(world["dept"], verifier_group, licence, code)
    verified = await seal_stub(f"dept:{world['other'].code}").VerifyPdf(
        seal_pb.VerifyPdfRequest(pdf=document)
    )
    assert [s.verdict for s in verified.seals] == ["VALID"]  # the seal is intact
    assert verified.licence.verdict == "REVOKED", verified.licence.detail
    # with the status in the words every command uses (trial33: REVOKED alone did
    # not tell a revocation from a revocation as a sanction)
    assert verified.licence.detail == "revoked (03)"
    assert verified.licence.identifier == licence.identifier
    # a PDF that is no licence file has no licence status
    plain = await seal_stub("operator:admin").VerifyPdf(
        seal_pb.VerifyPdfRequest(pdf=blank_pdf())
    )
    assert not plain.HasField("licence")


# -- the counter console: redeeming a code, and a licence file's status -------------

PASSWORD = "holder-e2e-password"


@pytest.fixture(scope="module")
async def console(stack, config, issuer, seal_app, verifier_group):
    """A console whose clerks' departments redeem at the session's issuer."""
    cfg = copy.deepcopy(config)
    cfg.console.verifier_targets = [f"127.0.0.1:{verifier_group.port}"]
    cfg.console.seal_target = f"127.0.0.1:{seal_app.port}"
    cfg.console.issuer_target = f"127.0.0.1:{issuer.port}"
    cfg.console.metrics_listen = ""
    cfg.console.operator_page = False
    app = ConsoleApp(cfg, listen="127.0.0.1:0")
    await app.start()
    yield app
    await app.stop()


async def clerk_session(console, config, department: str) -> aiohttp.ClientSession:
    name = f"clerk-{secrets.token_hex(3)}"
    await console.accounts.add(
        name, department=department, role="clerk", password=PASSWORD, by="operator:e2e"
    )
    session = aiohttp.ClientSession(
        base_url=f"https://localhost:{console.port}",
        connector=aiohttp.TCPConnector(
            ssl=ssl.create_default_context(cafile=config.tls.ca_file)
        ),
        cookie_jar=aiohttp.DummyCookieJar(),
    )
    async with session.post(
        "/api/login", json={"name": name, "password": PASSWORD}
    ) as reply:
        assert reply.status == 200, await reply.text()
        session.headers["Cookie"] = f"{COOKIE}={reply.cookies[COOKIE].value}"
    return session


async def test_the_console_redeems_a_code_and_shows_a_revoked_file(
    world, console, config, seal_stub, verifier_group
):
    auth = (
        await world["app"].holder.AuthoriseUse(authorise_request(world))
    ).authorisation
    document = (
        await world["app"].holder.GetLicenceDocument(
            pb.GetLicenceDocumentRequest(
                identifier=world["licence"].identifier, holder=world["holder"]
            )
        )
    ).document
    ofd = (
        await world["app"].holder.GetLicenceDocument(
            pb.GetLicenceDocumentRequest(
                identifier=world["licence"].identifier,
                holder=world["holder"],
                format=pb.DOCUMENT_FORMAT_OFD,
            )
        )
    ).document
    redeeming = await clerk_session(console, config, world["other"].code)
    stranger = await clerk_session(console, config, world["dept"].code)
    try:
        async with stranger.post("/api/redeem", json={"code": auth.code}) as reply:
            assert reply.status == 404, await reply.text()
            assert (await reply.json())["refusal"] == "not_found"
        async with redeeming.post("/api/redeem", json={"code": ""}) as reply:
            assert reply.status == 400
            assert (await reply.json())["field"] == "code"
        async with redeeming.post("/api/redeem", json={"code": auth.code}) as reply:
            assert reply.status == 200, await reply.text()
            view = await reply.json()
        assert view["authorisation_id"] == auth.authorisation_id
        assert view["fields"] == {"address": "深圳市福田区", "class": "C1"}
        assert view["purpose"] == "开立银行账户"
        copy_pdf = base64.b64decode(view["annotated_copy"])
        code = read_licence_metadata(document)["licence_code"]
        await verdict_everywhere(
            {"g": verifier_group.stub}, code, verifier_pb2.VERDICT_VALID, within=30
        )
        verified = await seal_stub("operator:admin").VerifyPdf(
            seal_pb.VerifyPdfRequest(pdf=copy_pdf)
        )
        assert [s.verdict for s in verified.seals] == ["VALID"]
        # the copy, sealed by the platform, carries the licence's status too
        copy_note = (
            f"an annotated copy (加注件) sealed by the platform {config.platform.code}"
        )
        assert verified.licence.verdict == "VALID", verified.licence.detail
        assert verified.licence.detail == copy_note
        await revoked_at_the_group(
            world["dept"], verifier_group, world["licence"], code
        )
        again = await seal_stub("operator:admin").VerifyPdf(
            seal_pb.VerifyPdfRequest(pdf=copy_pdf)
        )
        assert (again.licence.verdict, again.licence.detail) == (
            "REVOKED",
            f"{copy_note}; revoked (03)",
        )
        headers = {"Content-Type": "application/pdf"}
        async with redeeming.post(
            "/api/verify-pdf", data=document, headers=headers
        ) as reply:
            assert reply.status == 200, await reply.text()
            seen = await reply.json()
        assert [s["verdict"] for s in seen["seals"]] == ["VALID"]
        assert seen["licence"]["verdict"] == "REVOKED"
        assert seen["licence"]["identifier"] == world["licence"].identifier
        # the OFD form, dropped on the console, says the same
        async with redeeming.post(
            "/api/verify-ofd", data=ofd, headers={"Content-Type": "application/ofd"}
        ) as reply:
            assert reply.status == 200, await reply.text()
            seen = await reply.json()
        assert [s["verdict"] for s in seen["seals"]] == ["VALID"]
        assert seen["licence"]["verdict"] == "REVOKED"
        assert seen["licence"]["identifier"] == world["licence"].identifier
        # a licence no longer valid is not redeemed any more
        async with redeeming.post("/api/redeem", json={"code": auth.code}) as reply:
            assert reply.status == 400, await reply.text()
            assert "no longer valid" in (await reply.json())["error"]
    finally:
        await redeeming.close()
        await stranger.close()


async def test_every_holder_side_use_is_in_the_usage_record(world, issuer):
    """用证记录 (issue 16): the download, the authorisation, its redemption and its
    withdrawal are each one entry of the licence's record, in order; the holder-side
    calls are not also recorded as views."""
    app, holder = world["app"], world["holder"]
    identifier = world["licence"].identifier
    await app.holder.GetLicenceDocument(
        pb.GetLicenceDocumentRequest(identifier=identifier, holder=holder)
    )
    auth = (await app.holder.AuthoriseUse(authorise_request(world))).authorisation
    redeemer = HolderFromClients(world["other"].clients.channel)
    await redeemer.redemption.RedeemAuthorisation(
        pb.RedeemAuthorisationRequest(code=auth.code)
    )
    await app.holder.RevokeAuthorisation(
        pb.RevokeAuthorisationRequest(
            authorisation_id=auth.authorisation_id, holder=holder, reason="办完了"
        )
    )
    wanted = [
        pb.LICENCE_USAGE_KIND_DOWNLOADED,
        pb.LICENCE_USAGE_KIND_AUTHORISED,
        pb.LICENCE_USAGE_KIND_REDEEMED,
        pb.LICENCE_USAGE_KIND_AUTHORISATION_REVOKED,
    ]
    request = pb.ListLicenceUsageRequest(identifier=identifier, holder=holder)
    async with asyncio.timeout(10):
        while True:
            committed = issuer.usage_consumer.next_commit()
            uses = (await world["issuer_stub"].ListLicenceUsage(request)).uses
            if [u.kind for u in uses if u.kind in wanted] == wanted:
                break
            await committed.wait()
    by_kind = {u.kind: u for u in uses}
    assert by_kind[pb.LICENCE_USAGE_KIND_DOWNLOADED].actor == world["app_name"]
    for kind in wanted[1:]:
        use = by_kind[kind]
        assert use.reference == auth.authorisation_id
        assert use.department_code == world["other"].code
        assert use.purpose == "开立银行账户"
    assert by_kind[pb.LICENCE_USAGE_KIND_REDEEMED].actor == (
        f"dept:{world['other'].code}"
    )
    views = [u.action for u in uses if u.kind == pb.LICENCE_USAGE_KIND_VIEWED]
    assert set(views) == {"licence.usage"}
    for use in uses:
        assert RARE_NAME not in str(use) and holder.id_number not in str(use)
        assert "深圳市福田区" not in str(use)


async def test_authorise_use_honours_an_idempotency_key(world, issuer):
    request = authorise_request(world, purpose="公积金提取")
    key = (("idempotency-key", f"au-{secrets.token_hex(8)}"),)
    first = await world["app"].holder.AuthoriseUse(request, metadata=key)
    second = await world["app"].holder.AuthoriseUse(request, metadata=key)
    assert second == first
    async with issuer.pool.acquire() as conn:
        rows = await conn.fetchval(
            "select count(*) from licence_authorisations where identifier = $1 "
            "and purpose = $2",
            world["licence"].identifier,
            "公积金提取",
        )
    assert rows == 1
    third = await world["app"].holder.AuthoriseUse(request)  # no key: a new one
    assert third.authorisation.authorisation_id != first.authorisation.authorisation_id


async def test_the_ofd_file_is_sealed_sm2_carries_metadata_and_says_revoked(
    world, seal_stub, verifier_group
):
    """Issue → OFD licence file (sealed with the department's sm2 official seal,
    VerifyOfd VALID, GB/T 36903 metadata read back, the rare-character name as text in
    the embedded HanaMinB subset) → revoke → VerifyOfd says REVOKED, seal intact."""
    import io
    import zipfile

    from fontTools import ttLib

    from services.seal.licence_files import ofd_licence_metadata
    from services.seal.ofd import open_document
    from services.seal.ofd_package import read_package

    licence = world["licence"]
    dept = world["dept"]
    sm2 = (
        await seal_stub(f"dept:{dept.code}").RegisterSeal(
            seal_pb.RegisterSealRequest(
                seal_type="official",
                name="测试市市场监督管理局",
                suite="sm2",
                signers=[f"dept:{dept.code}", "service:issuer"],
            )
        )
    ).seal
    reply = await world["app"].holder.GetLicenceDocument(
        pb.GetLicenceDocumentRequest(
            identifier=licence.identifier,
            holder=world["holder"],
            format=pb.DOCUMENT_FORMAT_OFD,
        )
    )
    assert reply.media_type == "application/ofd"
    assert reply.seal_id == sm2.seal_id  # sm2 preferred for OFD over the es256 seal
    ofd = reply.document
    document = open_document(read_package(ofd))  # the seal service's bounded reader
    assert len(document.pages) == 1
    meta = ofd_licence_metadata(ofd)
    assert meta["identifier"] == licence.identifier
    assert meta["type_code"] == licence.type_code
    assert meta["issuer_code"] == licence.issuer_code
    assert meta["version"] == str(licence.version)
    code = meta["licence_code"]
    expected = (
        await dept.clients.issuer.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=licence.identifier)
        )
    ).text
    assert code == expected
    # the rare characters are text of the page, in a font embedded in the package
    files = zipfile.ZipFile(io.BytesIO(ofd))
    page = files.read("Doc_0/Pages/Page_0/Content.xml").decode()
    assert "𠈌𪚥" in page and "王" in page
    public = files.read("Doc_0/PublicRes.xml").decode()
    assert "<ofd:FontFile>HanaMinB.ttf</ofd:FontFile>" in public
    rare = ttLib.TTFont(io.BytesIO(files.read("Doc_0/Res/HanaMinB.ttf")))
    assert {ord("𠈌"), ord("𪚥")} <= set(rare.getBestCmap())
    await verdict_everywhere(
        {"g": verifier_group.stub}, code, verifier_pb2.VERDICT_VALID, within=30
    )
    verified = await seal_stub("operator:admin").VerifyOfd(
        seal_pb.VerifyOfdRequest(ofd=ofd)
    )
    assert [(s.seal_id, s.verdict, s.intact) for s in verified.signatures] == [
        (sm2.seal_id, "VALID", True)
    ]
    assert {r.file for r in verified.signatures[0].references} >= {
        "/OFD.xml",  # the metadata is under the seal
        "/Doc_0/Pages/Page_0/Content.xml",
        "/Doc_0/Res/HanaMinB.ttf",
    }
    assert verified.licence.identifier == licence.identifier
    assert verified.licence.verdict == "VALID", verified.licence.detail
    await revoked_at_the_group(dept, verifier_group, licence, code)
    verified = await seal_stub(f"dept:{world['other'].code}").VerifyOfd(
        seal_pb.VerifyOfdRequest(ofd=ofd)
    )
    assert [s.verdict for s in verified.signatures] == ["VALID"]  # seal intact
    assert verified.licence.verdict == "REVOKED", verified.licence.detail
    assert verified.licence.detail == "revoked (03)"


async def test_the_file_of_a_superseded_version_names_the_current_one(world):
    """trial45: the holder's file of an amended licence's old version came with no
    word of the new one (its code does: GetLicenceCodeResponse.current_identifier)."""
    dept, id_number = world["dept"], identifiers.random_resident_id()
    licence = (
        await dept.clients.issuer.IssueLicence(
            issue_request(dept, name="张三", id_number=id_number)
        )
    ).licence
    amended = (
        await dept.clients.issuer.AmendLicence(
            pb.AmendLicenceRequest(
                identifier=licence.identifier,
                fields={"class": text_field("A1")},
                reason="增驾",
            )
        )
    ).licence
    holder = licence_pb2.Holder(id_type="111", id_number=id_number)
    for asked, current in (
        (licence.identifier, amended.identifier),
        (amended.identifier, ""),
    ):
        reply = await world["app"].holder.GetLicenceDocument(
            pb.GetLicenceDocumentRequest(identifier=asked, holder=holder)
        )
        assert reply.current_identifier == current, asked


async def test_a_licence_of_long_values_is_an_ofd_of_pages_sealed_whole(
    world, seal_stub
):
    """A value longer than a page goes on over the OFD's pages (it ran off the one
    page's foot): the sealed package opens with every page A4, its seal VALID and
    intact over every page's content, and the value whole across the pages."""
    from services.seal.ofd import open_document
    from services.seal.ofd_package import read_package

    dept, id_number = world["dept"], identifiers.random_resident_id()
    request = issue_request(dept, name="张三", id_number=id_number)
    long = "深圳市福田区福华一路一号大中华国际交易广场西座三十层" * 40
    request.fields["address"].CopyFrom(text_field(long[:1000]))
    licence = (await dept.clients.issuer.IssueLicence(request)).licence
    reply = await world["app"].holder.GetLicenceDocument(
        pb.GetLicenceDocumentRequest(
            identifier=licence.identifier,
            holder=licence_pb2.Holder(id_type="111", id_number=id_number),
            format=pb.DOCUMENT_FORMAT_OFD,
        )
    )
    document = open_document(read_package(reply.document))
    assert len(document.pages) >= 2
    assert {(p.width_mm, p.height_mm) for p in document.pages} == {(210.0, 297.0)}
    verified = await seal_stub("operator:admin").VerifyOfd(
        seal_pb.VerifyOfdRequest(ofd=reply.document)
    )
    assert [(s.verdict, s.intact) for s in verified.signatures] == [("VALID", True)]
    signed = {r.file for r in verified.signatures[0].references}
    assert {f"/{p.path}" for p in document.pages} <= signed
    assert verified.licence.identifier == licence.identifier
    pages = zipfile.ZipFile(io.BytesIO(reply.document))
    text = "".join(
        re.sub(r"<[^>]+>", "", pages.read(p.path).decode()).strip()
        for p in document.pages
    )
    assert long[:1000] in text


async def test_an_ofd_without_a_usable_official_seal_is_a_failed_precondition(
    operator, connect, seal_stub, holder_stubs
):
    """A department without an official seal the issuer may use gets
    FAILED_PRECONDITION for the OFD form as for the PDF, naming the owner."""
    dept = await make_department(
        operator,
        connect,
        roles=(
            licence_pb2.DEPARTMENT_ROLE_ISSUER,
            licence_pb2.DEPARTMENT_ROLE_SEAL_OWNER,
        ),
    )
    await seal_stub(f"dept:{dept.code}").RegisterSeal(  # the issuer may not use it
        seal_pb.RegisterSealRequest(
            seal_type="official",
            name="某局",
            suite="sm2",
            signers=[f"dept:{dept.code}"],
        )
    )
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    own = HolderFromClients(dept.clients.channel)
    err = await rpc_error(
        own.holder.GetLicenceDocument(
            pb.GetLicenceDocumentRequest(
                identifier=licence.identifier, format=pb.DOCUMENT_FORMAT_OFD
            )
        )
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "sm2 or es256 or ed25519" in err.details(), err.details()


def pdf_with_keywords(keywords: str) -> bytes:
    """An unsealed one-page PDF whose /Keywords claim licence metadata."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (595, 842), "white").save(out, "PDF", keywords=keywords)
    return out.getvalue()


async def licence_file_once_valid(world, verifier_group) -> tuple[bytes, dict]:
    """The holder's licence file (PDF) and its metadata, once the group answers
    VALID for the licence code it carries."""
    document = (
        await world["app"].holder.GetLicenceDocument(
            pb.GetLicenceDocumentRequest(
                identifier=world["licence"].identifier, holder=world["holder"]
            )
        )
    ).document
    meta = read_licence_metadata(document)
    await verdict_everywhere(
        {"g": verifier_group.stub},
        meta["licence_code"],
        verifier_pb2.VERDICT_VALID,
        within=30,
    )
    return document, meta


async def test_a_forged_file_cannot_borrow_a_valid_licences_status(
    world, seal_stub, verifier_group
):
    """A licence's status is given only to a file sealed by the issuing department,
    whose metadata names the licence the code is of: an unsealed copy of the
    metadata, or a genuine code beside another identifier, gets no verdict."""
    from certseal.licencefile import keywords_text

    document, meta = await licence_file_once_valid(world, verifier_group)
    stub = seal_stub("operator:admin")
    genuine = await stub.VerifyPdf(seal_pb.VerifyPdfRequest(pdf=document))
    assert genuine.licence.verdict == "VALID", genuine.licence.detail
    # the genuine metadata copied onto an unsealed page
    copied = await stub.VerifyPdf(
        seal_pb.VerifyPdfRequest(pdf=pdf_with_keywords(keywords_text(meta)))
    )
    assert list(copied.seals) == []
    assert copied.licence.verdict == "", copied.licence
    assert "seal" in copied.licence.detail
    # a genuine licence code beside another licence's identifier
    other = dict(meta, identifier=meta["identifier"][:-4] + "9999")
    borrowed = await stub.VerifyPdf(
        seal_pb.VerifyPdfRequest(pdf=pdf_with_keywords(keywords_text(other)))
    )
    assert borrowed.licence.verdict == "", borrowed.licence


async def test_metadata_changed_after_the_seal_gets_no_licence_status(
    world, seal_stub, verifier_group
):
    """An incremental update after the issuer's seal may rewrite /Info and drop the
    XMP while the seal stays VALID: the status is of the metadata the seal signed,
    so a changed one gets no verdict (else a revoked licence's file could be made to
    claim another licence of the same issuer)."""
    import io

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    from certseal.licencefile import keywords_text

    licence = world["licence"]
    document = (
        await world["app"].holder.GetLicenceDocument(
            pb.GetLicenceDocumentRequest(
                identifier=licence.identifier, holder=world["holder"]
            )
        )
    ).document
    meta = read_licence_metadata(document)
    writer = IncrementalPdfFileWriter(io.BytesIO(document))
    info = writer.trailer["/Info"].get_object()
    info["/Keywords"] = generic.TextStringObject(
        keywords_text(dict(meta, identifier=meta["identifier"][:-4] + "9999"))
    )
    writer.update_container(info)
    del writer.root["/Metadata"]
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    forged = out.getvalue()
    assert read_licence_metadata(forged)["identifier"] != meta["identifier"]
    verified = await seal_stub("operator:admin").VerifyPdf(
        seal_pb.VerifyPdfRequest(pdf=forged)
    )
    assert [s.verdict for s in verified.seals] == ["VALID"]  # pyHanko allows it
    assert verified.licence.verdict == "", verified.licence
    assert "changed after the issuer's seal" in verified.licence.detail


async def test_a_forged_or_altered_ofd_file_gets_no_licence_status(
    world, seal_stub, verifier_group
):
    """The OFD form holds to the same rule as the PDF: the genuine metadata in an OFD
    without the issuer's seal, or metadata changed after that seal (OFD.xml is under
    it), gets no verdict, while the genuine file gets VALID."""
    import re as regex

    from services.seal.licence_files import ofd_licence_metadata
    from tests.seal.ofd_samples import changed, unzip, zip_files

    licence = world["licence"]
    ofd = (
        await world["app"].holder.GetLicenceDocument(
            pb.GetLicenceDocumentRequest(
                identifier=licence.identifier,
                holder=world["holder"],
                format=pb.DOCUMENT_FORMAT_OFD,
            )
        )
    ).document
    meta = ofd_licence_metadata(ofd)
    await verdict_everywhere(
        {"g": verifier_group.stub},
        meta["licence_code"],
        verifier_pb2.VERDICT_VALID,
        within=30,
    )
    stub = seal_stub("operator:admin")
    genuine = await stub.VerifyOfd(seal_pb.VerifyOfdRequest(ofd=ofd))
    assert genuine.licence.verdict == "VALID", genuine.licence.detail
    # the same package with its signatures taken out: the metadata alone
    files = {
        name: data
        for name, data in unzip(ofd).items()
        if not name.startswith("Doc_0/Signs/")
    }
    files["OFD.xml"] = regex.sub(
        rb"<ofd:Signatures>[^<]*</ofd:Signatures>", b"", files["OFD.xml"]
    )
    unsealed = await stub.VerifyOfd(seal_pb.VerifyOfdRequest(ofd=zip_files(files)))
    assert list(unsealed.signatures) == []
    assert unsealed.licence.identifier == licence.identifier
    assert unsealed.licence.verdict == "", unsealed.licence
    assert "seal" in unsealed.licence.detail
    # the metadata rewritten under the issuer's seal: MODIFIED, and no status
    other = meta["identifier"][:-4] + "9999"
    altered = changed(
        ofd,
        "OFD.xml",
        lambda old: old.replace(meta["identifier"].encode(), other.encode()),
    )
    answer = await stub.VerifyOfd(seal_pb.VerifyOfdRequest(ofd=altered))
    assert [s.verdict for s in answer.signatures] == ["MODIFIED"]
    assert answer.licence.identifier == other
    assert answer.licence.verdict == "", answer.licence


async def test_a_seal_leaving_ofd_xml_out_gives_its_metadata_no_licence_status(
    world, seal_stub, verifier_group
):
    """The issuer's own seal, VALID over everything drawn but with references that
    leave OFD.xml (where the metadata is) out, as e-invoice producers seal: the
    metadata is not sealed, so it gets no licence verdict."""
    import re as regex

    from services.seal.licence_files import ofd_licence_metadata
    from tests.seal.ofd_samples import unzip, zip_files

    licence = world["licence"]
    ofd = (
        await world["app"].holder.GetLicenceDocument(
            pb.GetLicenceDocumentRequest(
                identifier=licence.identifier,
                holder=world["holder"],
                format=pb.DOCUMENT_FORMAT_OFD,
            )
        )
    ).document
    await verdict_everywhere(
        {"g": verifier_group.stub},
        ofd_licence_metadata(ofd)["licence_code"],
        verifier_pb2.VERDICT_VALID,
        within=30,
    )
    stub = seal_stub("operator:admin")
    [genuine] = (await stub.VerifyOfd(seal_pb.VerifyOfdRequest(ofd=ofd))).signatures
    files = unzip(ofd)
    path = genuine.signature_path.lstrip("/")
    xml = regex.sub(
        rb'<ofd:Reference FileRef="/?OFD\.xml">.*?</ofd:Reference>',
        b"",
        files[path],
        flags=regex.DOTALL,
    )
    assert xml != files[path]
    value = regex.search(rb"<ofd:SignedValue>/?([^<]+)</ofd:SignedValue>", xml)
    assert value is not None
    files[path] = xml
    files[value.group(1).decode()] = (
        await seal_stub(f"dept:{world['dept'].code}").SealDocument(
            seal_pb.SealDocumentRequest(
                seal_id=genuine.seal_id, document=xml, property_info="/" + path
            )
        )
    ).signature
    answer = await stub.VerifyOfd(seal_pb.VerifyOfdRequest(ofd=zip_files(files)))
    [resealed] = answer.signatures
    assert (resealed.verdict, resealed.intact) == ("VALID", True), resealed.checks
    assert {r.file: r.status for r in resealed.references}["/OFD.xml"] == (
        "entry unsigned"
    )
    assert answer.licence.identifier == licence.identifier
    assert answer.licence.verdict == "", answer.licence
    assert "seal" in answer.licence.detail
