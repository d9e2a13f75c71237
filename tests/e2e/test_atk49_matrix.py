"""Outside review atk49: least privilege for identities that are almost right.

tests/e2e/test_authorization.py calls every RPC as every column of the authorisation
matrix (docs/operations.md, "Security model"). This calls every RPC (enumerated from
the proto descriptors, with that module's requests and running services) as the
identities beside those columns: a department of another verifier group, another
issuing department, another seal owner, a ``dept:`` whose code is lower-cased, has a
wrong check character, a trailing space, ``*`` or an identity number; a common name
of no kind by a hair (``Operator:admin``, ``operator:``); the platform's own service
identities; a holder app granted another type; an integrator with no entitlement; the
console naming a counter of another group; a department naming itself as the
console would; the seal service naming a counter. Every cell asserts the documented
outcome; every refusal also that it is no INTERNAL or UNKNOWN, that no answer or error
carries the holder's name, identity number or personal field, and that a refused
privileged change left its ``denied`` audit row (found by the call's request id).
Beside the matrix: a holder app naming another holder, a department reading another's
licence, and certificates with no common name or from another CA.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from dataclasses import dataclass

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from google.protobuf import message_factory

from certseal.devpki import DevCA
from certseal.identifiers import mint_serial, parse_licence_id, random_resident_id
from certseal.rpc import secure_channel
from certseal.v1 import issuer_pb2 as ipb
from certseal.v1 import issuer_pb2_grpc
from certseal.v1 import licence_pb2 as lpb
from tests.conftest import make_department, onboarded, seal_owner
from tests.e2e import test_authorization as base
from tests.e2e.test_authorization import feed_app, tlog_app, world  # noqa: F401

#: the holder the matrix's requests name (test_authorization's World.holder) and the
#: personal field its licences carry (conftest.issue_request)
NAME, ADDRESS = "赵六", "深圳市福田区"

PUBLIC_SEAL_READS = {
    "Seal/GetSeal",
    "Seal/VerifySealedDocument",
    "Seal/InspectSes",
    "Seal/VerifyPdf",
    "Seal/VerifyOfd",
}
#: holder-bound reads and holder-side calls: a holder app granted another type gets
#: NOT_FOUND, the answer for a licence that does not exist (docs/operations.md)
HOLDER_BOUND = {
    "Issuer/GetLicence",
    "Issuer/GetLicenceCode",
    "Issuer/CreatePresentationCode",
    "Issuer/ListLicenceUsage",
    "LicenceHolder/GetLicenceDocument",
    "LicenceHolder/AuthoriseUse",
    "LicenceHolder/RevokeAuthorisation",
}
#: the refusals docs/operations.md ("Refusals in the audit log") says are audited:
#: every change of IssuerAdmin, EventFeedAdmin, the Issuer and the seal service, every
#: holder-side attempt and redemption, and every holder app's read
AUDITED = {
    f"{service}/{rpc}"
    for service, rpcs in {
        "IssuerAdmin": "OnboardDepartment SetDepartmentRoles RegisterLicenceType "
        "SetLicenceTypeIssuers CreateSigningKey RotateSigningKey RetireSigningKey "
        "RevokeSigningKey GrantHolderApp RevokeHolderApp Republish",
        "EventFeedAdmin": "SetEntitlement RemoveEntitlement RegisterWebhook "
        "RemoveWebhook ReplayParkedDeliveries",
        "Issuer": "IssueLicence IssueLicences RenewLicence AmendLicence "
        "SuspendLicence UnsuspendLicence RevokeLicence CancelLicence TransferLicence",
        "LicenceHolder": "GetLicenceDocument AuthoriseUse RevokeAuthorisation",
        "Redemption": "RedeemAuthorisation",
        "Seal": "RegisterSeal RevokeSeal SealDocument SealPdf SealOfd RepublishSeals",
    }.items()
    for rpc in rpcs.split()
}
#: the action a refusal of these is recorded as, whoever is refused (the docs' list;
#: a lifecycle change's is ``licence.<action>``)
ACTIONS = {
    "IssuerAdmin/OnboardDepartment": "department.onboard",
    "IssuerAdmin/SetDepartmentRoles": "department.roles",
    "IssuerAdmin/RegisterLicenceType": "licence_type.register",
    "IssuerAdmin/SetLicenceTypeIssuers": "licence_type.issuers",
    "IssuerAdmin/CreateSigningKey": "key.create",
    "IssuerAdmin/RotateSigningKey": "key.rotate",
    "IssuerAdmin/RetireSigningKey": "key.retired",
    "IssuerAdmin/RevokeSigningKey": "key.revoked",
    "IssuerAdmin/GrantHolderApp": "holder_app.grant",
    "IssuerAdmin/RevokeHolderApp": "holder_app.revoke",
    "IssuerAdmin/Republish": "republish.start",
    "EventFeedAdmin/SetEntitlement": "feed.entitle",
    "EventFeedAdmin/RemoveEntitlement": "feed.unentitle",
    "EventFeedAdmin/RegisterWebhook": "feed.webhook",
    "EventFeedAdmin/RemoveWebhook": "feed.unhook",
    "EventFeedAdmin/ReplayParkedDeliveries": "feed.replay",
    "Issuer/IssueLicence": "licence.issue",
    "Issuer/IssueLicences": "licence.issue",
    "Issuer/RenewLicence": "licence.renew",
    "Issuer/AmendLicence": "licence.amend",
    "Issuer/SuspendLicence": "licence.suspend",
    "Issuer/UnsuspendLicence": "licence.unsuspend",
    "Issuer/RevokeLicence": "licence.revoke",
    "Issuer/CancelLicence": "licence.cancel",
    "Issuer/TransferLicence": "licence.transfer",
    "Seal/RegisterSeal": "seal.register",
    "Seal/SealDocument": "seal.use",
    "Seal/SealPdf": "seal.use",
    "Seal/SealOfd": "seal.use",
    "Seal/RepublishSeals": "seal.republish.start",
}
#: what a holder app's refused read is audited as (every read leaves a row)
APP_READS = HOLDER_BOUND | {"Issuer/ListLicences"}


@dataclass(frozen=True)
class Near:
    """A column beside the matrix's: the certificate's common name, the metadata
    sent, and whether its audit rows are asserted (not for ``service:console``,
    which the matrix's own columns also use: in one process a caller's refusals past
    60 a minute are counted in one row, docs/operations.md)."""

    cn: str
    metadata: tuple[tuple[str, str], ...] = ()
    audited: bool = True


@dataclass
class Extra:
    elsewhere: str  # a counter department the group's allow-list does not name
    other: object  # conftest.Dept: an issuing department of another type
    owner2: str  # a seal owner that owns none of the world's seals
    app_other: str  # a holder app granted the other department's type only
    integrator: str  # an integrator with no entitlement
    probe: str  # the name of this module's operator and auditor


def near_columns(w: base.World, x: Extra) -> dict[str, Near]:
    code = w.issuing.code
    wrong_check = code[:-1] + ("0" if code[-1] != "0" else "1")
    clerk = ("x-certseal-clerk", base.CLERK)
    return {
        "dept:counter-elsewhere": Near(f"dept:{x.elsewhere}"),
        "dept:other-issuer": Near(f"dept:{x.other.code}"),  # type: ignore[attr-defined]
        "dept:other-owner": Near(f"dept:{x.owner2}"),
        "dept:lower-case": Near(f"dept:{code.lower()}"),
        "dept:wrong-check": Near(f"dept:{wrong_check}"),
        "dept:trailing-space": Near(f"dept:{code} "),
        "dept:star": Near("dept:*"),
        "dept:id-number": Near(f"dept:{random_resident_id()}"),
        "Operator:admin": Near("Operator:admin"),
        "operator:": Near("operator:"),
        "service:issuer": Near("service:issuer"),
        "service:seal": Near("service:seal"),
        "service:verifier": Near("service:verifier"),
        "service:feed": Near("service:feed"),
        "service:Console": Near("service:Console"),
        "app:other-type": Near(x.app_other),
        "integrator:unentitled": Near(x.integrator),
        "console→elsewhere": Near(
            "service:console",
            (("x-certseal-counter", f"dept:{x.elsewhere}"), clerk),
            audited=False,
        ),
        "auditor": Near(f"auditor:{x.probe}"),
        "dept:counter-names-itself": Near(
            f"dept:{w.counter}", (("x-certseal-counter", f"dept:{w.counter}"), clerk)
        ),
        "service:seal→counter": Near(
            "service:seal", (("x-certseal-counter", f"dept:{w.counter}"),)
        ),
        # last: what it may do changes what the request names
        "operator": Near(f"operator:{x.probe}"),
    }


def expected(rpc: str, column: str, cn: str) -> str:
    """The documented outcome of ``rpc`` called as ``column`` (docs/operations.md,
    "Caller kinds" and "Authorisation matrix"): OK, or the refusal's status."""
    kind = cn.partition(":")[0]
    service = rpc.partition("/")[0]
    if kind not in {"dept", "operator", "app", "integrator", "service", "auditor"}:
        return "UNAUTHENTICATED"  # a common name of no kind, by a hair
    if cn.partition(":")[2] == "":
        return "UNAUTHENTICATED"
    if column == "operator":  # as the matrix's operator column
        return "OK" if "operator" in base.MATRIX[rpc] else "DENIED"
    if service == "TransparencyLog":
        return "OK"  # every kind reads the log: it holds no personal data
    if rpc in PUBLIC_SEAL_READS:
        return "OK" if kind in {"dept", "app", "operator", "service"} else "DENIED"
    if rpc == "Verifier/VerifyCode" and cn == "service:seal":
        return "OK"  # a licence file's code, for the party it names
    if rpc == "VerifierPeer/LookupEntries" and cn == "service:verifier":
        return "OK"  # the embedded stack's shared verifier identity
    if rpc == "Redemption/RedeemAuthorisation":
        if kind == "dept" and column != "dept:counter-names-itself":
            return "NOT_FOUND"  # a code made out to another department
        if column == "console→elsewhere":
            return "NOT_FOUND"  # a code made out to another counter
        return "DENIED"
    if column == "app:other-type":
        if rpc in HOLDER_BOUND:
            return "NOT_FOUND"  # as for a licence that does not exist
        if rpc == "Issuer/ListLicences":
            return "OK"  # and lists none of the holder's licences
    if column == "dept:other-issuer":
        if rpc == "Issuer/ListLicences":
            return "OK"  # its own: none of the holder's
        if rpc == "Issuer/IssueLicences":
            return "OK"  # each item refused on its own (below)
    return "DENIED"


@dataclass
class Cell:
    code: str
    details: str
    said: str  # details, trailers and the reply's bytes, as text
    reply: object


async def call(w: base.World, service, method, near: Near, request, rid: str) -> Cell:
    channel = w.channel(near.cn, w.ports[base._PORT_OF[service.name]])
    path = f"/{service.full_name}/{method.name}"
    reply_class = message_factory.GetMessageClass(method.output_type)
    metadata = (*near.metadata, ("x-request-id", rid))
    kwargs = {
        "request_serializer": lambda m: m.SerializeToString(),
        "response_deserializer": reply_class.FromString,
    }
    try:
        if method.server_streaming:
            stream = channel.unary_stream(path, **kwargs)(
                request, metadata=metadata, timeout=60
            )
            reply = None
            async for first in stream:
                reply = first
                break
            stream.cancel()
        else:
            reply = await channel.unary_unary(path, **kwargs)(
                request, metadata=metadata, timeout=60
            )
    except grpc.aio.AioRpcError as exc:
        trailers = repr(exc.trailing_metadata())
        details = exc.details() or ""
        return Cell(exc.code().name, details, details + trailers, None)
    said = reply.SerializeToString().decode("utf-8", "replace") if reply else ""
    return Cell("OK", "", said, reply)


@pytest.fixture(scope="module")
async def extra(world, operator, connect):  # noqa: F811
    other = await make_department(operator, connect)
    x = Extra(
        elsewhere=await onboarded(operator, lpb.DEPARTMENT_ROLE_COUNTER),
        other=other,
        owner2=await seal_owner(operator),
        app_other=f"app:atk49-{secrets.token_hex(3)}",
        integrator=f"integrator:atk49-{secrets.token_hex(3)}",
        probe=f"atk49-{secrets.token_hex(3)}",
    )
    await operator.admin.GrantHolderApp(
        ipb.GrantHolderAppRequest(app=x.app_other, type_code=other.type_code)
    )
    return x


@pytest.mark.parametrize(
    ("service", "method"), base.RPCS, ids=[base.rpc_name(s, m) for s, m in base.RPCS]
)
async def test_identities_beside_the_matrix_get_what_the_docs_say(
    world,  # noqa: F811
    extra,
    issuer,
    service,
    method,
):
    rpc = base.rpc_name(service, method)
    # one request per RPC, made to succeed for the seal owner (test_authorization):
    # every identity but a reader is refused it, so what it names changes only for
    # the operator, the last to call
    request = await base.BUILDERS[rpc](world, "dept:seal-owner")
    secrets_of_holder = (NAME, ADDRESS, world.holder.id_number)
    wrong = []
    for column, near in near_columns(world, extra).items():
        rid = f"atk49-{secrets.token_hex(6)}"
        cell = await call(world, service, method, near, request, rid)
        want = expected(rpc, column, near.cn)
        got = "DENIED" if cell.code == "PERMISSION_DENIED" else cell.code
        if got != want:
            wrong.append(f"{column}: {want} expected, got {cell.code} ({cell.details})")
            continue
        leaked = [s for s in secrets_of_holder if s in cell.said]
        if leaked:
            wrong.append(f"{column}: the holder's {leaked} in {cell.said[:300]!r}")
        if rpc == "Issuer/IssueLicences" and cell.code == "OK":
            items = [r.error.code for r in cell.reply.results]  # type: ignore[attr-defined]
            if items != ["PERMISSION_DENIED"]:
                wrong.append(f"{column}: its items {items}, not PERMISSION_DENIED")
        listed = rpc == "Issuer/ListLicences" and cell.code == "OK"
        if listed and cell.reply.licences:  # type: ignore[attr-defined]
            wrong.append(f"{column}: listed another's licences")
        app_read = column == "app:other-type" and rpc in APP_READS
        if cell.code == "OK":  # its item refused, or a holder app's read
            batch = rpc == "Issuer/IssueLicences"
            outcome, audited = ("denied" if batch else "ok"), batch or app_read
        else:
            outcome, audited = "denied", rpc in AUDITED or app_read
        if audited and near.audited and cell.code != "UNAUTHENTICATED":
            row = await issuer.pool.fetchrow(
                "select actor, action from audit_log where request_id = $1 "
                "and outcome = $2",
                rid,
                outcome,
            )
            if row is None or row["actor"] != near.cn:
                wrong.append(f"{column}: {cell.code} left no {outcome} audit row")
            elif row["action"] != ACTIONS.get(rpc, row["action"]):
                wrong.append(f"{column}: recorded as {row['action']}")
    assert not wrong, f"{rpc}:\n  " + "\n  ".join(wrong)


# -- beside the matrix: holders, departments, certificates ---------------------------


async def test_a_holder_app_naming_another_holder_learns_nothing(world):  # noqa: F811
    """A holder app granted the type, naming holder B, asks for holder A's licence:
    NOT_FOUND in the same words as for a licence that does not exist, and a listing
    for B shows none of A's (docs/operations.md, ``app:<name>``)."""
    mine = await world.licence()
    other = lpb.Holder(id_type="111", id_number=random_resident_id())
    app = issuer_pb2_grpc.IssuerStub(
        world.channel(world.app_granted, world.ports["issuer"])
    )
    parsed = parse_licence_id(mine.identifier)
    absent = str(dataclasses.replace(parsed, serial=mint_serial()))  # none issued
    said = {}
    for name, identifier in (("theirs", mine.identifier), ("absent", absent)):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await app.GetLicence(
                ipb.GetLicenceRequest(identifier=identifier, holder=other)
            )
        said[name] = (
            err.value.code(),
            err.value.details().replace(identifier, "<id>"),
        )
    assert said["theirs"] == said["absent"]
    assert said["theirs"][0] is grpc.StatusCode.NOT_FOUND
    listing = await app.ListLicences(ipb.ListLicencesRequest(holder=other))
    assert list(listing.licences) == []


async def test_a_department_reading_anothers_licence_learns_only_the_identifier(
    world,  # noqa: F811
    extra,
):
    """Another issuing department reading a licence: refused, in words that name
    nothing the identifier does not carry (no holder, no field)."""
    licence = await world.licence()
    other = extra.other.clients.issuer  # type: ignore[attr-defined]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await other.GetLicence(ipb.GetLicenceRequest(identifier=licence.identifier))
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
    said = err.value.details() + repr(err.value.trailing_metadata())
    for secret in (NAME, ADDRESS, world.holder.id_number):
        assert secret not in said


def _no_common_name(ca: DevCA, folder) -> tuple[str, str]:
    """A client certificate of the platform CA whose subject has no common name."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "x")]))
        .issuer_name(ca._ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("operator.admin")]), False
        )
        .sign(ca._ca_key, hashes.SHA256())
    )
    cert_file, key_file = folder / "no-cn.pem", folder / "no-cn.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


async def test_a_certificate_without_a_common_name_or_from_another_ca_is_refused(
    world,  # noqa: F811
    tmp_path,
):
    """No common name: UNAUTHENTICATED at every service, before any RPC runs; a
    certificate of another CA naming an operator: no call at all (the handshake)."""
    ca = world.stack.ca
    no_cn = _no_common_name(ca, tmp_path)
    stranger = DevCA(tmp_path / "stranger").identity("operator:admin")
    got = {}
    for label, (cert, key) in {
        "no-cn": no_cn,
        "other-ca": (str(stranger.cert_file), str(stranger.key_file)),
    }.items():
        for port_of in ("issuer", "seal", "feed", "tlog", "verifier"):
            rpc = {
                "issuer": "IssuerAdmin/ListDepartments",
                "seal": "Seal/RepublishSeals",
                "feed": "EventFeedAdmin/GetEntitlement",
                "tlog": "TransparencyLog/GetCheckpoint",
                "verifier": "Verifier/GetIndexStatus",
            }[port_of]
            service, method = next(
                (s, m) for s, m in base.RPCS if base.rpc_name(s, m) == rpc
            )
            request = await base.BUILDERS[rpc](world, "operator")
            async with secure_channel(
                f"localhost:{world.ports[port_of]}", str(ca.ca_file), cert, key
            ) as channel:
                reply_class = message_factory.GetMessageClass(method.output_type)
                try:
                    await channel.unary_unary(
                        f"/{service.full_name}/{method.name}",
                        request_serializer=lambda m: m.SerializeToString(),
                        response_deserializer=reply_class.FromString,
                    )(request, timeout=10)
                    got[(label, port_of)] = "OK"
                except grpc.aio.AioRpcError as exc:
                    got[(label, port_of)] = exc.code().name
    assert {k: v for k, v in got.items() if k[0] == "no-cn"} == {
        ("no-cn", p): "UNAUTHENTICATED"
        for p in ("issuer", "seal", "feed", "tlog", "verifier")
    }
    assert {v for k, v in got.items() if k[0] == "other-ca"} == {"UNAVAILABLE"}
