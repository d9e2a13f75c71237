"""The authorisation matrix (docs/operations.md, "Security model"), table-driven.

Every RPC of every certseal gRPC service, enumerated from the proto descriptors (so a
new RPC without a row in the table fails here), is called as every caller kind against
the running services: the session's issuer, a seal service, an event feed and a
verifier group. An allowed caller gets an answer (OK, with a request built to succeed);
a refused one PERMISSION_DENIED, UNAUTHENTICATED or NOT_FOUND (an unknown kind exactly
UNAUTHENTICATED). Also here: the integrator transition from ``app:<name>`` certificates
across an upgrade, and the seal-owner role with its audited refusals.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import hashlib
import importlib
import secrets
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from certseal import qr
from certseal.config import dump_config
from certseal.identifiers import random_resident_id
from certseal.rpc import secure_channel
from certseal.storage.pool import create_pool, migrate_service
from certseal.v1 import feed_pb2 as fpb
from certseal.v1 import feed_pb2_grpc, issuer_pb2_grpc, seal_pb2_grpc
from certseal.v1 import issuer_pb2 as ipb
from certseal.v1 import licence_pb2 as lpb
from certseal.v1 import seal_pb2 as spb
from certseal.v1 import tlog_pb2 as tpb
from certseal.v1 import verifier_pb2 as vpb
from services.feed.app import FeedApp
from services.feed.storage import MIGRATIONS as FEED_MIGRATIONS
from services.tlog.app import TlogApp
from tests.conftest import (
    VerifierProcess,
    blank_pdf,
    fresh_uscc,
    issue_request,
    make_department,
    onboarded,
    own_database,
    seal_owner,
)
from tests.seal.ofd_samples import make_ofd

ROOT = Path(__file__).resolve().parents[2]
DENIED = {"PERMISSION_DENIED", "UNAUTHENTICATED", "NOT_FOUND"}
PURPOSE = "授权矩阵测试"
CLERK = "authz-clerk"
WEBHOOK_URL = "https://93.184.216.34/certseal"  # global unicast; nothing is delivered


# -- the table and the RPCs ---------------------------------------------------------


def read_matrix() -> tuple[list[str], dict[str, set[str]]]:
    """The columns (caller kinds) and, per ``Service/Method``, the kinds allowed, from
    the table under "### Authorisation matrix" in docs/operations.md."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("### Authorisation matrix", 1)[1]
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    table = []
    for line in lines:  # the first table of the section
        table.append(line)
        if len(table) > 2 and not line.startswith("| `"):
            table.pop()
            break
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in table]
    columns = [c.strip("`") for c in cells[0][1:]]
    rows = {}
    for row in cells[2:]:
        assert set(row[1:]) <= {"✓", "–"}, row
        rows[row[0].strip("`")] = {
            c for c, v in zip(columns, row[1:], strict=True) if v == "✓"
        }
    return columns, rows


def every_rpc() -> list[tuple[ServiceDescriptor, MethodDescriptor]]:
    """Every method of every service in certseal/v1's generated modules."""
    found = []
    for path in sorted((ROOT / "certseal" / "v1").glob("*_pb2.py")):
        module = importlib.import_module(f"certseal.v1.{path.stem}")
        for service in module.DESCRIPTOR.services_by_name.values():
            found.extend((service, method) for method in service.methods)
    return found


COLUMNS, MATRIX = read_matrix()
RPCS = every_rpc()


def rpc_name(service: ServiceDescriptor, method: MethodDescriptor) -> str:
    return f"{service.name}/{method.name}"


def test_the_matrix_has_a_row_for_every_rpc_and_no_other():
    names = {rpc_name(s, m) for s, m in RPCS}
    assert len(names) > 40
    assert names - set(MATRIX) == set(), "RPCs without a row in docs/operations.md"
    assert set(MATRIX) - names == set(), "rows of RPCs that do not exist"
    assert set(COLUMNS) == set(IDENTITIES)


# -- the world the calls run in ------------------------------------------------------


@dataclass
class World:
    """The running services, and one of everything the requests name."""

    stack: Any
    operator: Any
    ports: dict[str, int]
    issuing: Any  # conftest.Dept
    receiver: Any
    counter: str
    owner: str
    nobody: str
    holder: lpb.Holder
    app_granted: str
    app_ungranted: str
    integrator: str
    seal_id: str = ""
    seal_stub: Any = None
    signature: bytes = b""
    document: bytes = b"authorisation matrix" * 10
    sealed_pdf: bytes = b""
    sealed_ofd: bytes = b""
    webhook: str = ""
    code: str = ""
    group: str = ""
    channels: dict[tuple[str, int], grpc.aio.Channel] = field(default_factory=dict)

    def channel(self, identity: str, port: int) -> grpc.aio.Channel:
        if (identity, port) not in self.channels:
            ident = self.stack.ca.identity(identity)
            self.channels[(identity, port)] = secure_channel(
                f"localhost:{port}",
                str(self.stack.ca.ca_file),
                str(ident.cert_file),
                str(ident.key_file),
            )
        return self.channels[(identity, port)]

    async def licence(self, **changes: Any) -> lpb.Licence:
        request = issue_request(self.issuing, id_number=self.holder.id_number)
        for name, value in changes.items():
            setattr(request, name, value)
        reply = await self.issuing.clients.issuer.IssueLicence(request)
        return reply.licence


def identities(w: World) -> dict[str, tuple[str, tuple[tuple[str, str], ...]]]:
    """Per column: the certificate common name and the metadata sent."""
    return {
        "dept:issuer": (f"dept:{w.issuing.code}", ()),
        "dept:counter": (f"dept:{w.counter}", ()),
        "dept:seal-owner": (f"dept:{w.owner}", ()),
        "dept:no-role": (f"dept:{w.nobody}", ()),
        "operator": ("operator:admin", ()),
        "app:granted": (w.app_granted, ()),
        "app:no-grant": (w.app_ungranted, ()),
        "integrator": (w.integrator, ()),
        "service:console": ("service:console", ()),
        "console→counter": (
            "service:console",
            (("x-certseal-counter", f"dept:{w.counter}"), ("x-certseal-clerk", CLERK)),
        ),
        "service:other": ("service:authz-probe", ()),
        "auditor": ("auditor:authz", ()),
        "unknown": ("robot:authz", ()),
    }


IDENTITIES = (
    "dept:issuer",
    "dept:counter",
    "dept:seal-owner",
    "dept:no-role",
    "operator",
    "app:granted",
    "app:no-grant",
    "integrator",
    "service:console",
    "console→counter",
    "service:other",
    "auditor",
    "unknown",
)


@pytest.fixture(scope="module")
async def feed_app(config, issuer):
    app = FeedApp(config, listen="127.0.0.1:0")
    await app.start()
    yield app
    await app.stop(grace=1)


@pytest.fixture(scope="module")
async def tlog_app(config, issuer):
    config.tlog.metrics_listen = ""
    app = TlogApp(config, listen="127.0.0.1:0")
    await app.start()
    yield app
    await app.stop(grace=1)


@pytest.fixture(scope="module")
async def world(
    stack,
    config,
    issuer,
    operator,
    connect,
    seal_app,
    feed_app,
    tlog_app,
    tmp_path_factory,
):
    receiver = await make_department(operator, connect)
    # the issuing department also owns seals: its official seal seals licence files
    issuing = await make_department(
        operator,
        connect,
        type_issuers=[receiver.code],
        roles=(lpb.DEPARTMENT_ROLE_ISSUER, lpb.DEPARTMENT_ROLE_SEAL_OWNER),
    )
    w = World(
        stack=stack,
        operator=operator,
        ports={
            "issuer": issuer.port,
            "seal": seal_app.port,
            "feed": feed_app.port,
            "tlog": tlog_app.port,
        },
        issuing=issuing,
        receiver=receiver,
        counter=await onboarded(operator, lpb.DEPARTMENT_ROLE_COUNTER),
        owner=await seal_owner(operator),
        nobody=fresh_uscc(),
        holder=lpb.Holder(
            name="赵六",
            id_type="111",
            id_number=random_resident_id(),
        ),
        app_granted=f"app:authz-{secrets.token_hex(3)}",
        app_ungranted=f"app:authz-{secrets.token_hex(3)}",
        integrator=f"integrator:authz-{secrets.token_hex(3)}",
    )
    await operator.admin.GrantHolderApp(
        ipb.GrantHolderAppRequest(app=w.app_granted, type_code=issuing.type_code)
    )
    admin = feed_pb2_grpc.EventFeedAdminStub(w.channel("operator:admin", feed_app.port))
    await admin.SetEntitlement(
        fpb.SetEntitlementRequest(
            entitlement=fpb.Entitlement(
                integrator=w.integrator,
                departments=["*"],
                licence_types=["*"],
                event_types=["*"],
            )
        )
    )
    w.webhook = f"authz-{secrets.token_hex(3)}"
    await admin.RegisterWebhook(
        fpb.RegisterWebhookRequest(
            name=w.webhook,
            integrator=w.integrator,
            url=WEBHOOK_URL,
            secret=secrets.token_bytes(32),
            departments=[fresh_uscc()],  # matches no event: nothing is delivered
            event_types=["seal.revoked"],
        )
    )
    w.seal_stub = seal_pb2_grpc.SealStub(w.channel(f"dept:{w.owner}", seal_app.port))
    seal = (
        await w.seal_stub.RegisterSeal(
            spb.RegisterSealRequest(name="授权测试专用章", suite="es256")
        )
    ).seal
    w.seal_id = seal.seal_id
    w.signature = (
        await w.seal_stub.SealDocument(
            spb.SealDocumentRequest(seal_id=w.seal_id, document=w.document)
        )
    ).signature
    w.sealed_pdf = (
        await w.seal_stub.SealPdf(
            spb.SealPdfRequest(seal_id=w.seal_id, pdf=blank_pdf())
        )
    ).pdf
    w.sealed_ofd = (
        await w.seal_stub.SealOfd(spb.SealOfdRequest(seal_id=w.seal_id, ofd=make_ofd()))
    ).ofd
    # licence files and annotated copies (docs/holder.md): the issuing department's
    # and the platform's official seals, usable by the issuer
    await seal_pb2_grpc.SealStub(
        w.channel(f"dept:{issuing.code}", seal_app.port)
    ).RegisterSeal(
        spb.RegisterSealRequest(
            seal_type="official",
            name="授权测试发证机关",
            suite="es256",
            signers=[f"dept:{issuing.code}", "service:issuer"],
        )
    )
    await seal_pb2_grpc.SealStub(
        w.channel("operator:admin", seal_app.port)
    ).RegisterSeal(
        spb.RegisterSealRequest(
            owner_code=config.platform.code,
            seal_type="official",
            name="电子证照平台",
            suite="es256",
            signers=["service:issuer"],
        )
    )
    licence = await w.licence()
    w.code = (
        await issuing.clients.issuer.GetLicenceCode(
            ipb.GetLicenceCodeRequest(identifier=licence.identifier)
        )
    ).text
    # the log holds the issuing department's key by now (proofs need a leaf)
    async with asyncio.timeout(30):
        while True:
            if await tlog_app.store.size():
                break
            await asyncio.sleep(0.1)  # the log's sequencer runs in the background
    # a verifier group whose counter allow-list names the counter department only
    home = tmp_path_factory.mktemp("authz-verifier")
    cfg = copy.deepcopy(config)
    cfg.verifier.data_dir = str(home / "data")
    cfg.verifier.counters = [w.counter]
    cfg.verifier.bundle_refresh_s = 0
    (home / "config.toml").write_text(dump_config(cfg))
    w.group = f"authz-{secrets.token_hex(3)}"
    verifier = VerifierProcess(stack, home / "config.toml", home, w.group)
    await verifier.start()
    try:
        await verifier.wait_serving()
        w.ports["verifier"] = verifier.port
        yield w
    finally:
        await verifier.stop()
        for channel in w.channels.values():
            await channel.close()


# -- one request per RPC, built so that an allowed caller succeeds -------------------

Builder = Callable[[World, str], Awaitable[Any]]
BUILDERS: dict[str, Builder] = {}


def builds(*names: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        for name in names:
            BUILDERS[name] = fn
        return fn

    return register


def dept_code(w: World, kind: str) -> str:
    """The department a ``dept:*`` column acts as (the seal owner for the others)."""
    return {
        "dept:issuer": w.issuing.code,
        "dept:counter": w.counter,
        "dept:seal-owner": w.owner,
        "dept:no-role": w.nobody,
    }.get(kind, w.owner)


@builds("Issuer/IssueLicence")
async def _issue(w: World, kind: str) -> Any:
    return issue_request(w.issuing, id_number=w.holder.id_number)


@builds("Issuer/IssueLicences")
async def _issue_many(w: World, kind: str) -> Any:
    return ipb.IssueLicencesRequest(
        items=[issue_request(w.issuing, id_number=w.holder.id_number)]
    )


@builds("Issuer/GetLicence")
async def _get(w: World, kind: str) -> Any:
    licence = await w.licence()
    return ipb.GetLicenceRequest(identifier=licence.identifier, holder=w.holder)


@builds("Issuer/ListLicences")
async def _list(w: World, kind: str) -> Any:
    return ipb.ListLicencesRequest(holder=w.holder)


@builds("Issuer/RenewLicence")
async def _renew(w: World, kind: str) -> Any:
    return ipb.RenewLicenceRequest(identifier=(await w.licence()).identifier)


@builds("Issuer/AmendLicence")
async def _amend(w: World, kind: str) -> Any:
    request = ipb.AmendLicenceRequest(
        identifier=(await w.licence()).identifier, reason="变更"
    )
    request.fields["class"].string_value = "B1"
    return request


@builds("Issuer/SuspendLicence")
async def _suspend(w: World, kind: str) -> Any:
    return ipb.SuspendLicenceRequest(
        identifier=(await w.licence()).identifier, reason="检查"
    )


@builds("Issuer/UnsuspendLicence")
async def _unsuspend(w: World, kind: str) -> Any:
    identifier = (await w.licence()).identifier
    await w.issuing.clients.issuer.SuspendLicence(
        ipb.SuspendLicenceRequest(identifier=identifier, reason="检查")
    )
    return ipb.UnsuspendLicenceRequest(identifier=identifier, reason="发还")


@builds("Issuer/RevokeLicence")
async def _revoke(w: World, kind: str) -> Any:
    return ipb.RevokeLicenceRequest(
        identifier=(await w.licence()).identifier,
        reason="撤销",
        kind=ipb.REVOCATION_KIND_REVOKE,
    )


@builds("Issuer/CancelLicence")
async def _cancel(w: World, kind: str) -> Any:
    return ipb.CancelLicenceRequest(
        identifier=(await w.licence()).identifier, reason="注销"
    )


@builds("Issuer/TransferLicence")
async def _transfer(w: World, kind: str) -> Any:
    return ipb.TransferLicenceRequest(
        identifier=(await w.licence()).identifier,
        to_department_code=w.receiver.code,
        reason="转出",
    )


@builds("Issuer/GetLicenceCode")
async def _code(w: World, kind: str) -> Any:
    licence = await w.licence()
    return ipb.GetLicenceCodeRequest(identifier=licence.identifier, holder=w.holder)


@builds("Issuer/CreatePresentationCode")
async def _present(w: World, kind: str) -> Any:
    licence = await w.licence()
    return ipb.CreatePresentationCodeRequest(
        identifier=licence.identifier, holder=w.holder
    )


@builds("Issuer/ListLicenceUsage")
async def _usage(w: World, kind: str) -> Any:
    licence = await w.licence()
    return ipb.ListLicenceUsageRequest(identifier=licence.identifier, holder=w.holder)


async def _fresh_key_department(w: World) -> str:
    return await onboarded(w.operator, lpb.DEPARTMENT_ROLE_ISSUER)


async def _fresh_kid(w: World) -> str:
    reply = await w.operator.admin.CreateSigningKey(
        ipb.CreateSigningKeyRequest(
            department_code=await _fresh_key_department(w), suite="es256"
        )
    )
    return reply.key.kid


@builds("IssuerAdmin/OnboardDepartment")
async def _onboard(w: World, kind: str) -> Any:
    return ipb.OnboardDepartmentRequest(
        code=fresh_uscc(), name="授权测试", roles=[lpb.DEPARTMENT_ROLE_COUNTER]
    )


@builds("IssuerAdmin/SetDepartmentRoles")
async def _set_roles(w: World, kind: str) -> Any:
    code = fresh_uscc()
    await w.operator.admin.OnboardDepartment(
        ipb.OnboardDepartmentRequest(
            code=code, name="授权测试", roles=[lpb.DEPARTMENT_ROLE_COUNTER]
        )
    )
    return ipb.SetDepartmentRolesRequest(
        code=code, roles=[lpb.DEPARTMENT_ROLE_ISSUER, lpb.DEPARTMENT_ROLE_SEAL_OWNER]
    )


@builds("IssuerAdmin/ListDepartments")
async def _departments(w: World, kind: str) -> Any:
    return ipb.ListDepartmentsRequest()


@builds("IssuerAdmin/RegisterLicenceType")
async def _register_type(w: World, kind: str) -> Any:
    return ipb.RegisterLicenceTypeRequest(
        type_code=fresh_uscc() + f"{secrets.randbelow(1000):03d}",
        name="授权测试证",
        default_validity_days=30,
        issuer_codes=[w.issuing.code],
        fields=[lpb.FieldSpec(name="x", type=lpb.FIELD_TYPE_STRING)],
    )


@builds("IssuerAdmin/SetLicenceTypeIssuers")
async def _set_type_issuers(w: World, kind: str) -> Any:
    registered = await w.operator.admin.RegisterLicenceType(
        await _register_type(w, kind)
    )
    return ipb.SetLicenceTypeIssuersRequest(
        type_code=registered.licence_type.type_code, issuer_codes=[w.issuing.code]
    )


@builds("IssuerAdmin/ListLicenceTypes")
async def _types(w: World, kind: str) -> Any:
    return ipb.ListLicenceTypesRequest()


@builds("IssuerAdmin/CreateSigningKey")
async def _create_key(w: World, kind: str) -> Any:
    return ipb.CreateSigningKeyRequest(
        department_code=await _fresh_key_department(w), suite="es256"
    )


@builds("IssuerAdmin/RotateSigningKey")
async def _rotate_key(w: World, kind: str) -> Any:
    code = await _fresh_key_department(w)
    await w.operator.admin.CreateSigningKey(
        ipb.CreateSigningKeyRequest(department_code=code, suite="es256")
    )
    return ipb.RotateSigningKeyRequest(department_code=code, suite="es256")


@builds("IssuerAdmin/RetireSigningKey")
async def _retire_key(w: World, kind: str) -> Any:
    return ipb.RetireSigningKeyRequest(kid=await _fresh_kid(w))


@builds("IssuerAdmin/RevokeSigningKey")
async def _revoke_key(w: World, kind: str) -> Any:
    return ipb.RevokeSigningKeyRequest(kid=await _fresh_kid(w), reason="测试")


@builds("IssuerAdmin/ListSigningKeys")
async def _keys(w: World, kind: str) -> Any:
    return ipb.ListSigningKeysRequest(department_code=w.issuing.code)


@builds("IssuerAdmin/GrantHolderApp")
async def _grant(w: World, kind: str) -> Any:
    return ipb.GrantHolderAppRequest(
        app=f"app:authz-{secrets.token_hex(3)}", type_code=w.issuing.type_code
    )


@builds("IssuerAdmin/RevokeHolderApp")
async def _ungrant(w: World, kind: str) -> Any:
    request = await _grant(w, kind)
    await w.operator.admin.GrantHolderApp(request)
    return ipb.RevokeHolderAppRequest(app=request.app, type_code=request.type_code)


@builds("IssuerAdmin/ListHolderAppGrants")
async def _grants(w: World, kind: str) -> Any:
    return ipb.ListHolderAppGrantsRequest(app=w.app_granted)


@builds("IssuerAdmin/Republish")
async def _republish(w: World, kind: str) -> Any:
    return ipb.RepublishRequest(max_events=1)  # one event of the session's run


@builds("Seal/RegisterSeal")
async def _register_seal(w: World, kind: str) -> Any:
    # a department registers for itself: the role decides
    return spb.RegisterSealRequest(
        owner_code=dept_code(w, kind), name="授权测试章", suite="es256"
    )


@builds("Seal/RepublishSeals")
async def _republish_seals(w: World, kind: str) -> Any:
    return spb.RepublishSealsRequest(max_events=1)  # one seal of the session's run


@builds("Seal/GetSeal")
async def _get_seal(w: World, kind: str) -> Any:
    return spb.GetSealRequest(seal_id=w.seal_id)


@builds("Seal/ListSeals")
async def _list_seals(w: World, kind: str) -> Any:
    return spb.ListSealsRequest(owner_code=dept_code(w, kind))


@builds("Seal/RevokeSeal")
async def _revoke_seal(w: World, kind: str) -> Any:
    seal = (
        await w.seal_stub.RegisterSeal(
            spb.RegisterSealRequest(name="待撤销章", suite="es256")
        )
    ).seal
    return spb.RevokeSealRequest(seal_id=seal.seal_id, reason="测试")


@builds("Seal/SealDocument")
async def _seal_document(w: World, kind: str) -> Any:
    return spb.SealDocumentRequest(
        seal_id=w.seal_id, document_digest=hashlib.sha256(w.document).digest()
    )


@builds("Seal/VerifySealedDocument")
async def _verify_sealed(w: World, kind: str) -> Any:
    return spb.VerifySealedDocumentRequest(signature=w.signature, document=w.document)


@builds("Seal/InspectSes")
async def _inspect_ses(w: World, kind: str) -> Any:
    return spb.InspectSesRequest(data=w.signature)


@builds("Seal/SealPdf")
async def _seal_pdf(w: World, kind: str) -> Any:
    return spb.SealPdfRequest(seal_id=w.seal_id, pdf=blank_pdf())


@builds("Seal/VerifyPdf")
async def _verify_pdf(w: World, kind: str) -> Any:
    return spb.VerifyPdfRequest(pdf=w.sealed_pdf)


@builds("Seal/SealOfd")
async def _seal_ofd(w: World, kind: str) -> Any:
    return spb.SealOfdRequest(seal_id=w.seal_id, ofd=make_ofd())


@builds("Seal/VerifyOfd")
async def _verify_ofd(w: World, kind: str) -> Any:
    return spb.VerifyOfdRequest(ofd=w.sealed_ofd)


@builds("EventFeed/Subscribe")
async def _subscribe(w: World, kind: str) -> Any:
    return fpb.SubscribeRequest(earliest=True)


@builds("EventFeedAdmin/SetEntitlement")
async def _entitle(w: World, kind: str) -> Any:
    return fpb.SetEntitlementRequest(
        entitlement=fpb.Entitlement(
            integrator=f"integrator:authz-{secrets.token_hex(3)}",
            departments=[w.issuing.code],
            licence_types=["*"],
            event_types=["licence.*"],
        )
    )


@builds("EventFeedAdmin/RemoveEntitlement")
async def _unentitle(w: World, kind: str) -> Any:
    entitle = await _entitle(w, kind)  # a fresh integrator, entitled to withdraw
    admin = feed_pb2_grpc.EventFeedAdminStub(
        w.channel("operator:admin", w.ports["feed"])
    )
    await admin.SetEntitlement(entitle)
    return fpb.RemoveEntitlementRequest(integrator=entitle.entitlement.integrator)


@builds("EventFeedAdmin/GetEntitlement")
async def _entitlement(w: World, kind: str) -> Any:
    return fpb.GetEntitlementRequest(integrator=w.integrator)


@builds("EventFeedAdmin/ListEntitlements")
async def _entitlements(w: World, kind: str) -> Any:
    return fpb.ListEntitlementsRequest(page_size=5)


@builds("EventFeedAdmin/RegisterWebhook")
async def _webhook(w: World, kind: str) -> Any:
    return fpb.RegisterWebhookRequest(
        name=f"authz-{secrets.token_hex(3)}",
        integrator=w.integrator,
        url=WEBHOOK_URL,
        secret=secrets.token_bytes(32),
        departments=[fresh_uscc()],
        event_types=["seal.revoked"],
    )


@builds("EventFeedAdmin/ListWebhooks")
async def _webhooks(w: World, kind: str) -> Any:
    return fpb.ListWebhooksRequest(integrator=w.integrator)


@builds("EventFeedAdmin/RemoveWebhook")
async def _unhook(w: World, kind: str) -> Any:
    register = await _webhook(w, kind)  # a fresh webhook to remove
    admin = feed_pb2_grpc.EventFeedAdminStub(
        w.channel("operator:admin", w.ports["feed"])
    )
    await admin.RegisterWebhook(register)
    return fpb.RemoveWebhookRequest(name=register.name)


@builds("EventFeedAdmin/ListParkedDeliveries")
async def _parked(w: World, kind: str) -> Any:
    return fpb.ListParkedDeliveriesRequest(webhook=w.webhook)


@builds("EventFeedAdmin/ReplayParkedDeliveries")
async def _replay(w: World, kind: str) -> Any:
    return fpb.ReplayParkedDeliveriesRequest(webhook=w.webhook)


@builds("Verifier/VerifyCode")
async def _verify_code(w: World, kind: str) -> Any:
    return vpb.VerifyCodeRequest(code=w.code, purpose=PURPOSE)


@builds("Verifier/VerifyImage")
async def _verify_image(w: World, kind: str) -> Any:
    return vpb.VerifyImageRequest(image=qr.qr_png(w.code), purpose=PURPOSE)


@builds("Verifier/VerifyCodes")
async def _verify_codes(w: World, kind: str) -> Any:
    return vpb.VerifyCodesRequest(codes=[w.code], purpose=PURPOSE)


@builds("Verifier/GetIndexStatus")
async def _index_status(w: World, kind: str) -> Any:
    return vpb.GetIndexStatusRequest()


@builds("Verifier/ExportTrustBundle")
async def _bundle(w: World, kind: str) -> Any:
    return vpb.ExportTrustBundleRequest(group=w.group)


@builds("VerifierPeer/LookupEntries")
async def _peer_lookup(w: World, kind: str) -> Any:
    return vpb.LookupEntriesRequest(lineages=[b"x"], group=w.group, group_size=1)


@builds("TransparencyLog/GetCheckpoint")
async def _log_checkpoint(w: World, kind: str) -> Any:
    return tpb.GetCheckpointRequest()


@builds("TransparencyLog/GetInclusionProof")
async def _log_inclusion(w: World, kind: str) -> Any:
    return tpb.GetInclusionProofRequest(leaf_index=0)


@builds("TransparencyLog/GetConsistencyProof")
async def _log_consistency(w: World, kind: str) -> Any:
    return tpb.GetConsistencyProofRequest(first_tree_size=1)


@builds("TransparencyLog/GetEntries")
async def _log_entries(w: World, kind: str) -> Any:
    return tpb.GetEntriesRequest(start=0, count=1)


@builds("TransparencyLog/FindEntries")
async def _log_find(w: World, kind: str) -> Any:
    return tpb.FindEntriesRequest(subject=w.issuing.kid)


async def _authorisation(w: World, department: str) -> ipb.Authorisation:
    """A fresh authorisation of ``department`` for a fresh licence of the holder."""
    request = ipb.AuthoriseUseRequest(
        identifier=(await w.licence()).identifier,
        holder=w.holder,
        department_code=department,
        purpose=PURPOSE,
        fields=["class"],
    )
    request.expires_at.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=7))
    stub = issuer_pb2_grpc.LicenceHolderStub(
        w.channel(w.app_granted, w.ports["issuer"])
    )
    return (await stub.AuthoriseUse(request)).authorisation


@builds("LicenceHolder/GetLicenceDocument")
async def _document(w: World, kind: str) -> Any:
    licence = await w.licence()
    return ipb.GetLicenceDocumentRequest(identifier=licence.identifier, holder=w.holder)


@builds("LicenceHolder/AuthoriseUse")
async def _authorise(w: World, kind: str) -> Any:
    request = ipb.AuthoriseUseRequest(
        identifier=(await w.licence()).identifier,
        holder=w.holder,
        department_code=w.counter,
        purpose=PURPOSE,
        fields=["class"],
    )
    request.expires_at.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=7))
    return request


@builds("LicenceHolder/RevokeAuthorisation")
async def _withdraw(w: World, kind: str) -> Any:
    auth = await _authorisation(w, w.counter)
    return ipb.RevokeAuthorisationRequest(
        authorisation_id=auth.authorisation_id, holder=w.holder, reason="撤回"
    )


@builds("Redemption/RedeemAuthorisation")
async def _redeem(w: World, kind: str) -> Any:
    """Made out to the column's own department where it has one (never onboarded:
    nothing can be made out to it), else to the counter department."""
    department = {
        "dept:issuer": w.issuing.code,
        "dept:seal-owner": w.owner,
    }.get(kind, w.counter)
    auth = await _authorisation(w, department)
    return ipb.RedeemAuthorisationRequest(code=auth.code)


_PORT_OF = {
    "TransparencyLog": "tlog",
    "LicenceHolder": "issuer",
    "Redemption": "issuer",
    "Issuer": "issuer",
    "IssuerAdmin": "issuer",
    "Seal": "seal",
    "EventFeed": "feed",
    "EventFeedAdmin": "feed",
    "Verifier": "verifier",
    "VerifierPeer": "verifier",
}


async def call(
    w: World,
    service: ServiceDescriptor,
    method: MethodDescriptor,
    kind: str,
    request: Any,
) -> str:
    """Call ``method`` as ``kind``: "OK" or the status code's name. A stream is OK
    once its first message arrives."""
    identity, metadata = identities(w)[kind]
    channel = w.channel(identity, w.ports[_PORT_OF[service.name]])
    path = f"/{service.full_name}/{method.name}"
    reply = message_factory.GetMessageClass(method.output_type)
    try:
        if method.server_streaming:
            stream = channel.unary_stream(
                path,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=reply.FromString,
            )(request, metadata=metadata, timeout=60)
            async for _ in stream:
                break
            stream.cancel()
        else:
            await channel.unary_unary(
                path,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=reply.FromString,
            )(request, metadata=metadata, timeout=60)
    except grpc.aio.AioRpcError as exc:
        return f"{exc.code().name} ({exc.details()})"
    return "OK"


@pytest.mark.parametrize(
    ("service", "method"), RPCS, ids=[rpc_name(s, m) for s, m in RPCS]
)
async def test_every_caller_kind_gets_exactly_what_the_matrix_says(
    world, service, method
):
    name = rpc_name(service, method)
    assert name in MATRIX, f"{name} has no row in docs/operations.md"
    assert name in BUILDERS, f"{name} has no request builder here"
    wrong = []
    for kind in COLUMNS:
        request = await BUILDERS[name](world, kind)
        outcome = await call(world, service, method, kind, request)
        code = outcome.split(" ", 1)[0]
        if kind == "unknown":
            expected_ok = code == "UNAUTHENTICATED"
        elif kind in MATRIX[name]:
            expected_ok = code == "OK"
        else:
            expected_ok = code in DENIED
        if not expected_ok:
            allowed = "allowed" if kind in MATRIX[name] else "refused"
            wrong.append(f"{kind} ({allowed}): {outcome}")
    assert not wrong, f"{name}:\n  " + "\n  ".join(wrong)


# -- seals need the seal-owner role ---------------------------------------------------


async def test_registering_a_seal_needs_the_seal_owner_role_and_refusals_are_audited(
    world, issuer
):
    """The issue's example: any dept: certificate registered official seals, also for
    a department never onboarded or one without the role."""
    for code in (world.nobody, world.receiver.code, world.counter):
        stub = seal_pb2_grpc.SealStub(
            world.channel(f"dept:{code}", world.ports["seal"])
        )
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.RegisterSeal(
                spb.RegisterSealRequest(seal_type="official", name="冒用公章")
            )
        assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert "seal_owner role" in err.value.details()
        row = await issuer.pool.fetchrow(
            "select outcome, details from audit_log where actor = $1 "
            "and action = 'seal.register' order by id desc limit 1",
            f"dept:{code}",
        )
        assert row is not None and row["outcome"] == "denied"
    # an operator cannot register for a department without the role either
    operator = seal_pb2_grpc.SealStub(
        world.channel("operator:admin", world.ports["seal"])
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await operator.RegisterSeal(
            spb.RegisterSealRequest(owner_code=world.nobody, name="冒用公章")
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert dict(err.value.trailing_metadata())["certseal-error-field"] == "owner_code"
    # and an integrator is never a seal's signer
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await world.seal_stub.RegisterSeal(
            spb.RegisterSealRequest(name="章", signers=[world.integrator])
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


# -- the integrator transition across an upgrade -------------------------------------


async def first_event(channel: grpc.aio.Channel) -> str:
    """ "OK" once a subscription delivers its first event, else the status code."""
    stream = feed_pb2_grpc.EventFeedStub(channel).Subscribe(
        fpb.SubscribeRequest(earliest=True), timeout=60
    )
    try:
        async for _ in stream:
            return "OK"
    except grpc.aio.AioRpcError as exc:
        return exc.code().name
    finally:
        stream.cancel()
    return "ENDED"


async def test_integrators_keyed_app_keep_working_after_the_upgrade(
    stack, config, issuer, tmp_path
):
    """A feed database made by the previous version (migrations up to 0002), whose
    integrator was ``app:legacy``: after the upgrade, with ``legacy`` listed in
    ``[feed] legacy_app_integrators``, the integrator reads the feed with its old
    certificate and with a new ``integrator:`` one, its webhook names the new
    identity; any other ``app:`` caller is a holder app and refused, and entitlements
    are set and read under ``integrator:`` names only."""
    cfg = await own_database(config, tmp_path, "feed_upgrade")
    previous = tmp_path / "previous"
    previous.mkdir()
    for migration in ("0001_feed.sql", "0002_webhooks.sql"):
        shutil.copy(FEED_MIGRATIONS / migration, previous)
    legacy = f"legacy{secrets.token_hex(3)}"
    pool = await create_pool(cfg.database.dsn(), min_size=1, max_size=2)
    try:
        await migrate_service(pool, "feed", previous)
        await pool.execute(
            "insert into feed_entitlements values ($1, '{*}', '{*}', '{licence.*}', "
            "now(), 'operator:admin')",
            f"app:{legacy}",
        )
        await pool.execute(
            "insert into feed_webhooks values ('legacy-hook', $1, $2, $3, '{}', "
            "'{seal.revoked}', '\\x00', now(), 'operator:admin')",
            f"app:{legacy}",
            WEBHOOK_URL,
            [fresh_uscc()],
        )
        cfg.feed.legacy_app_integrators = [legacy]
        app = FeedApp(cfg, listen="127.0.0.1:0")
        await app.start()
        try:
            rows = await pool.fetch(
                "select integrator from feed_entitlements order by 1"
            )
            assert [r["integrator"] for r in rows] == [
                f"app:{legacy}",  # the previous version's pods still read it
                f"integrator:{legacy}",
            ]
            assert (
                await pool.fetchval(
                    "select integrator from feed_webhooks where name = 'legacy-hook'"
                )
                == f"integrator:{legacy}"
            )

            def channel(identity: str) -> grpc.aio.Channel:
                ident = stack.ca.identity(identity)
                return secure_channel(
                    f"localhost:{app.port}",
                    str(stack.ca.ca_file),
                    str(ident.cert_file),
                    str(ident.key_file),
                )

            for identity, expected in (
                (
                    f"app:{legacy}",
                    "OK",
                ),  # the old certificate, as the operator lists it
                (f"integrator:{legacy}", "OK"),
                (f"app:other{legacy}", "PERMISSION_DENIED"),  # a holder app
                (f"integrator:other{legacy}", "PERMISSION_DENIED"),
            ):
                async with channel(identity) as chan:
                    assert await first_event(chan) == expected, identity
            async with channel("operator:admin") as chan:
                stub = feed_pb2_grpc.EventFeedAdminStub(chan)
                got = await stub.GetEntitlement(
                    fpb.GetEntitlementRequest(integrator=f"integrator:{legacy}")
                )
                assert got.entitlement.integrator == f"integrator:{legacy}"
                bad_names = ("dept:91350100M000100Y43", "operator:x", "integrator:")
                for bad in (*bad_names, f"app:new{legacy}", f"app:{legacy}"):
                    with pytest.raises(grpc.aio.AioRpcError) as err:
                        await stub.SetEntitlement(
                            fpb.SetEntitlementRequest(
                                entitlement=fpb.Entitlement(integrator=bad)
                            )
                        )
                    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        finally:
            await app.stop(grace=1)
    finally:
        await pool.close()
