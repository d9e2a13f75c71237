"""Hostile values in every field of every request end in a client error, never INTERNAL.

Issue 13, kind 4. The RPCs and their request fields come from the generated
descriptors in ``certseal/v1``, so a new service, RPC or field is covered without
touching this file (a new service or RPC also needs a valid base request in
:data:`BASES`; :func:`test_every_rpc_has_a_valid_base_request` says which).

Each case starts from a VALID request (fresh departments, licences and seals, so the
hostile value reaches the handler, not an early "not found") and changes ONE field,
recursively into sub-messages up to :data:`MAX_DEPTH`:

- strings: NUL, control characters, a lone surrogate (invalid UTF-8 on the wire: python
  protobuf refuses to encode one, so a same-length ASCII marker is swapped for the raw
  bytes after serialisation), a right-to-left override, 1 MB;
- integers: the type's minimum and maximum, -1; floats: the extremes, -1, NaN, +-inf;
  enums: unknown values; booleans: flipped;
- timestamps: year 0, year 10000, negative nanos, nanos of a whole second;
- bytes: empty and oversized (just under the service's request limit);
- repeated fields and maps: too many entries.

The answer must be OK or a client error, and it must reach the client (not one whose
details echo the hostile value past the client's metadata limit, see :func:`lost`);
afterwards every service still says SERVING.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import importlib
import math
import pkgutil
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor as d
from google.protobuf import message_factory
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

import certseal.v1
from certseal.rpc import secure_channel
from certseal.timestamps import ts
from certseal.v1 import feed_pb2 as fpb
from certseal.v1 import issuer_pb2 as ipb
from certseal.v1 import licence_pb2 as lpb
from certseal.v1 import seal_pb2 as spb
from certseal.v1 import tlog_pb2 as tpb
from certseal.v1 import verifier_pb2 as vpb
from services.feed.app import FeedApp
from services.tlog.app import TlogApp
from tests.conftest import (
    blank_pdf,
    fresh_uscc,
    issue_request,
    make_department,
    onboarded,
    running,
    text_field,
    verifier_process,
)
from tests.seal.ofd_samples import make_ofd

MAX_DEPTH = 3
CLIENT_ERRORS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.ALREADY_EXISTS,
}
# which process serves each gRPC service
SERVERS = {
    "certseal.v1.Issuer": "issuer",
    "certseal.v1.IssuerAdmin": "issuer",
    "certseal.v1.LicenceHolder": "issuer",
    "certseal.v1.Redemption": "issuer",
    "certseal.v1.Seal": "seal",
    "certseal.v1.Verifier": "verifier",
    "certseal.v1.VerifierPeer": "verifier",
    "certseal.v1.EventFeed": "feed",
    "certseal.v1.EventFeedAdmin": "feed",
    "certseal.v1.TransparencyLog": "tlog",
}
STREAM_WAIT_S = 0.3  # a subscription that delivers nothing this long was accepted
CALL_DEADLINE_S = 20.0
"""Each call's deadline. The guard against a hang: a call not answered by then ends
in DEADLINE_EXCEEDED, which is no client error, so the hostile value that hung is
named in the failure. Per call rather than a total wall time, which a loaded machine
stretches (the slowest legitimate call here, a SealOfd or RegisterSeal, takes well
under a second alone); performance is measured in ``make bench``."""

# A lone surrogate cannot be set on a protobuf string: the field is set to this ASCII
# marker and its bytes are swapped for as many bytes holding ED A0 80 (U+D800 as
# UTF-8 would be, which is not UTF-8) once serialised, so every length prefix holds.
_MARKER = "lone-surrogate-marker"
_SURROGATE = b"lone-\xed\xa0\x80-surrogate-mk"
assert len(_MARKER.encode()) == len(_SURROGATE)

_INT_RANGES = {
    d.FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    d.FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    d.FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    d.FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    d.FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    d.FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    d.FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    d.FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    d.FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    d.FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_FLOATS = {
    d.FieldDescriptor.TYPE_DOUBLE: sys.float_info.max,
    d.FieldDescriptor.TYPE_FLOAT: 3.4e38,
}
_YEAR_0 = -62167219200  # 0000-01-01T00:00:00Z
_YEAR_10000 = 253402300800  # 10000-01-01T00:00:00Z


def services() -> Iterator[d.ServiceDescriptor]:
    """Every gRPC service in the generated ``certseal.v1`` modules."""
    for module in pkgutil.iter_modules(certseal.v1.__path__):
        if module.name.endswith("_pb2"):
            pb2 = importlib.import_module(f"certseal.v1.{module.name}")
            yield from pb2.DESCRIPTOR.services_by_name.values()


def rpcs() -> list[d.MethodDescriptor]:
    """Every RPC certseal serves."""
    return [m for s in services() for m in s.methods]


def rpc_name(method: d.MethodDescriptor) -> str:
    return f"{method.containing_service.name}.{method.name}"


# -- hostile values ---------------------------------------------------------------


@dataclass
class Hostile:
    """One change to a valid request: ``apply`` sets ``path`` to a hostile value."""

    path: str
    label: str
    apply: Callable[[Message], None]
    raw_surrogate: bool = False


Getter = Callable[[Message], Any]


def _string_values(big: int) -> list[tuple[str, str | None]]:
    """(label, value); None stands for the lone surrogate (see :data:`_MARKER`)."""
    return [
        ("NUL", "a\x00b"),
        ("control characters", "a\x01\x08\x1b[2J\x7fb\r\n"),
        ("lone surrogate", None),
        ("right-to-left override", "\u202egpj.exe\u200f"),
        (f"{big} characters", "x" * big),
    ]


def _scalar_values(f: d.FieldDescriptor, big: int) -> list[tuple[str, Any]]:
    """Hostile values of a scalar field's type."""
    if f.type == d.FieldDescriptor.TYPE_STRING:
        return [
            (label, _MARKER if v is None else v) for label, v in _string_values(big)
        ]
    if f.type == d.FieldDescriptor.TYPE_BYTES:
        return [("empty", b""), (f"{big} bytes", b"\xff" * big)]
    if f.type in _INT_RANGES:
        low, high = _INT_RANGES[f.type]
        values = [("minimum", low), ("maximum", high)]
        return [*values, ("-1", -1)] if low < 0 else values
    if f.type in _FLOATS:
        top = _FLOATS[f.type]
        return [
            ("minimum", -top),
            ("maximum", top),
            ("-1", -1.0),
            ("NaN", math.nan),
            ("+inf", math.inf),
            ("-inf", -math.inf),
        ]
    if f.type == d.FieldDescriptor.TYPE_ENUM:
        return [("unknown enum value", 2**31 - 1), ("negative enum value", -7)]
    if f.type == d.FieldDescriptor.TYPE_BOOL:
        return [("true", True), ("false", False)]
    raise AssertionError(f"{f.full_name}: no hostile values for type {f.type}")


def _timestamp_values() -> list[tuple[str, int, int]]:
    now = int(time.time())
    return [
        ("the earliest instant", -62135596800, 0),  # 0001-01-01T00:00:00Z
        ("the latest instant", 253402300799, 999_999_999),  # 9999-12-31T23:59:59.9…
        ("year 0", _YEAR_0, 0),
        ("year 10000", _YEAR_10000, 0),
        ("negative nanos", now, -1),
        ("nanos of a whole second", now, 1_000_000_000),
    ]


def _is_timestamp(f: d.FieldDescriptor) -> bool:
    return (
        f.type == d.FieldDescriptor.TYPE_MESSAGE
        and f.message_type.full_name == "google.protobuf.Timestamp"
    )


def _is_map(f: d.FieldDescriptor) -> bool:
    return (
        f.type == d.FieldDescriptor.TYPE_MESSAGE
        and f.message_type.GetOptions().map_entry
    )


def _repeated(f: d.FieldDescriptor) -> bool:
    return bool(f.is_repeated)


def hostile_changes(
    descriptor: d.Descriptor,
    base: Message,
    *,
    big: int,
    get: Getter = lambda m: m,
    prefix: str = "",
    depth: int = 0,
) -> list[Hostile]:
    """Every hostile change to the message that ``get`` reaches in a request."""
    out: list[Hostile] = []
    for f in descriptor.fields:
        path = f"{prefix}{f.name}"

        def field_of(m: Message, name: str = f.name, get: Getter = get) -> Any:
            return getattr(get(m), name)

        if _is_map(f):
            out += _map_changes(f, base, big=big, get=field_of, path=path, depth=depth)
        elif _repeated(f):
            out += _repeated_changes(
                f, base, big=big, get=field_of, path=path, depth=depth
            )
        elif _is_timestamp(f):
            siblings = [
                g.name for g in descriptor.fields if _is_timestamp(g) and g is not f
            ]
            for label, seconds, nanos in _timestamp_values():

                def apply(m: Message, s=seconds, n=nanos, get=field_of) -> None:
                    get(m).seconds, get(m).nanos = s, n

                out.append(Hostile(path, label, apply))
                if siblings and "instant" in label:
                    # alone: the defaults of the other times are computed from it

                    def apply_alone(
                        m: Message, apply=apply, parent=get, names=tuple(siblings)
                    ) -> None:
                        apply(m)
                        for name in names:
                            parent(m).ClearField(name)

                    out.append(
                        Hostile(path, f"{label}, other times unset", apply_alone)
                    )
        elif f.type == d.FieldDescriptor.TYPE_MESSAGE:
            if depth < MAX_DEPTH:
                out += hostile_changes(
                    f.message_type,
                    base,
                    big=big,
                    get=field_of,
                    prefix=f"{path}.",
                    depth=depth + 1,
                )
        else:
            for label, value in _scalar_values(f, big):

                def apply(m: Message, v=value, name=f.name, get=get) -> None:
                    setattr(get(m), name, v)

                out.append(Hostile(path, label, apply, value is _MARKER))
    return out


def _too_many(f: d.FieldDescriptor, big: int) -> int:
    """Entries for "too many": over any sane limit, within the request size."""
    return 1_001 if f.type == d.FieldDescriptor.TYPE_MESSAGE else 10_001


def _repeated_changes(
    f: d.FieldDescriptor, base: Message, *, big: int, get: Getter, path: str, depth: int
) -> list[Hostile]:
    out: list[Hostile] = []
    many = _too_many(f, big)
    if f.type == d.FieldDescriptor.TYPE_MESSAGE:

        def first(m: Message, get: Getter = get) -> Message:
            items = get(m)
            return items[0] if len(items) else items.add()

        def apply_many(m: Message, get: Getter = get, first: Getter = first) -> None:
            item = first(m)
            get(m).extend([item] * (many - len(get(m))))

        out.append(Hostile(path, f"{many} entries", apply_many))
        if depth < MAX_DEPTH:
            out += hostile_changes(
                f.message_type,
                base,
                big=big,
                get=first,
                prefix=f"{path}[0].",
                depth=depth + 1,
            )
        return out

    def apply_many_scalars(m: Message, get: Getter = get) -> None:
        items = get(m)
        sample = items[0] if len(items) else _scalar_values(f, 8)[-1][1]
        items.extend([sample] * (many - len(items)))

    out.append(Hostile(path, f"{many} entries", apply_many_scalars))
    for label, value in _scalar_values(f, big):

        def apply(m: Message, v: Any = value, get: Getter = get) -> None:
            items = get(m)
            del items[:]
            items.append(v)

        out.append(Hostile(f"{path}[0]", label, apply, value is _MARKER))
    return out


def _map_changes(
    f: d.FieldDescriptor, base: Message, *, big: int, get: Getter, path: str, depth: int
) -> list[Hostile]:
    key_field = f.message_type.fields_by_name["key"]
    value_field = f.message_type.fields_by_name["value"]
    message_values = value_field.type == d.FieldDescriptor.TYPE_MESSAGE
    out: list[Hostile] = []

    def some_key(m: Message, get: Getter = get) -> Any:
        entries = get(m)
        return sorted(entries)[0] if len(entries) else "x"

    def put(m: Message, key: Any, value_from: Any, get: Getter = get) -> None:
        entries = get(m)
        if message_values:
            entries[key].CopyFrom(entries[value_from])
        else:
            entries[key] = entries.get(value_from, "")

    def apply_many(m: Message, get: Getter = get) -> None:
        key = some_key(m)
        for i in range(10_001):
            put(m, f"k{i}", key)

    out.append(Hostile(path, "10001 entries", apply_many))
    if key_field.type == d.FieldDescriptor.TYPE_STRING:
        for label, value in _scalar_values(key_field, big):

            def apply(m: Message, v: Any = value) -> None:
                put(m, v, some_key(m))

            out.append(Hostile(f"{path}<key>", label, apply, value is _MARKER))
    if message_values and depth < MAX_DEPTH:

        def value_of(m: Message, get: Getter = get) -> Message:
            return get(m)[some_key(m)]

        out += hostile_changes(
            value_field.message_type,
            base,
            big=big,
            get=value_of,
            prefix=f"{path}[].",
            depth=depth + 1,
        )
    elif not message_values:
        for label, value in _scalar_values(value_field, big):

            def apply_value(m: Message, v: Any = value, get: Getter = get) -> None:
                get(m)[some_key(m)] = v

            out.append(Hostile(f"{path}[]", label, apply_value, value is _MARKER))
    return out


def wire(request: Message, raw_surrogate: bool) -> bytes:
    """The request as sent: serialised, with the lone surrogate swapped in."""
    data = request.SerializeToString()
    if raw_surrogate:
        assert _MARKER.encode() in data
        data = data.replace(_MARKER.encode(), _SURROGATE)
    return data


# -- the platform under attack ----------------------------------------------------


@dataclass
class World:
    """Valid resources to build base requests from, and the servers to call."""

    operator: Any
    connect: Any
    stack: Any
    dept: Any  # an issuing department (also counter and seal owner)
    receiver_dept: Any  # may issue the same type: the target of transfers
    licence: lpb.Licence
    code: ipb.GetLicenceCodeResponse
    seal: spb.SealInfo
    signature: bytes
    sealed_pdf: bytes
    sealed_ofd: bytes
    integrator: str
    webhook: str
    group: str
    app: str  # a holder app granted dept's licence type (the LicenceHolder side)
    ports: dict[str, int]
    limits: dict[str, int]
    channels: dict[tuple[str, str], grpc.aio.Channel] = field(default_factory=dict)

    def channel(self, server: str, identity: str) -> grpc.aio.Channel:
        key = (server, identity)
        if key not in self.channels:
            ident = self.stack.ca.identity(identity)
            self.channels[key] = secure_channel(
                f"localhost:{self.ports[server]}",
                str(self.stack.ca.ca_file),
                str(ident.cert_file),
                str(ident.key_file),
            )
        return self.channels[key]

    @property
    def dept_identity(self) -> str:
        return f"dept:{self.dept.code}"

    @property
    def holder(self) -> lpb.Holder:
        """The holder of :attr:`licence` (id_type and id_number), as an app names it."""
        return lpb.Holder(
            id_type=self.licence.holder.id_type,
            id_number=self.licence.holder.id_number,
        )

    async def fresh_authorisation(self) -> ipb.Authorisation:
        """A new authorisation of :attr:`licence` made out to :attr:`dept`."""
        reply = await self.call(
            "certseal.v1.LicenceHolder",
            "AuthoriseUse",
            self.app,
            authorise_request(self),
        )
        return ipb.AuthoriseUseResponse.FromString(reply).authorisation

    async def fresh_licence(self) -> lpb.Licence:
        reply = await self.dept.clients.issuer.IssueLicence(issue_request(self.dept))
        return reply.licence

    async def fresh_key_department(self) -> str:
        code = fresh_uscc()
        await self.operator.admin.OnboardDepartment(
            ipb.OnboardDepartmentRequest(
                code=code, name="测试部门", roles=[lpb.DEPARTMENT_ROLE_ISSUER]
            )
        )
        return code

    async def fresh_key(self) -> str:
        code = await self.fresh_key_department()
        reply = await self.operator.admin.CreateSigningKey(
            ipb.CreateSigningKeyRequest(department_code=code, suite="es256")
        )
        return reply.key.kid

    async def fresh_seal(self) -> spb.SealInfo:
        reply = await self.call(
            "certseal.v1.Seal", "RegisterSeal", self.dept_identity, seal_request(self)
        )
        return spb.RegisterSealResponse.FromString(reply).seal

    async def call(
        self, service: str, method: str, identity: str, request: Message | bytes
    ) -> bytes:
        """A unary call; the raw response."""
        channel = self.channel(SERVERS[service], identity)
        data = request if isinstance(request, bytes) else request.SerializeToString()
        call = channel.unary_unary(
            f"/{service}/{method}",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        result: bytes = await call(data, timeout=CALL_DEADLINE_S)
        return result


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def authorise_request(w: World) -> ipb.AuthoriseUseRequest:
    return ipb.AuthoriseUseRequest(
        identifier=w.licence.identifier,
        holder=w.holder,
        department_code=w.dept.code,
        purpose="窗口办事",
        fields=["class"],
        expires_at=ts(now() + dt.timedelta(days=7)),
    )


def seal_request(world: World) -> spb.RegisterSealRequest:
    start = now()
    return spb.RegisterSealRequest(
        owner_code=world.dept.code,
        seal_type="official",
        name="示例市市场监督管理局",
        suite="es256",
        valid_start=ts(start),
        valid_end=ts(start + dt.timedelta(days=365)),
        signers=[world.dept_identity],
        picture=world.seal.picture if world.seal.picture else b"",
    )


Base = Callable[[World], Awaitable[tuple[str, Message]]]
BASES: dict[str, Base] = {}


def base(name: str) -> Callable[[Base], Base]:
    """Register the valid base request of RPC ``Service.Method``."""

    def register(fn: Base) -> Base:
        BASES[name] = fn
        return fn

    return register


# Issuer: the issuing department, on fresh licences wherever the RPC changes one


@base("Issuer.IssueLicence")
async def _(w: World):
    start = now()
    request = issue_request(
        w.dept,
        valid_from=ts(start),
        valid_until=ts(start + dt.timedelta(days=30)),
        idempotency_key=secrets.token_hex(8),
    )
    request.fields["points"].integer_value = 12
    request.fields["first_issued"].date_value = "2020-02-29"
    return w.dept_identity, request


@base("Issuer.IssueLicences")
async def _(w: World):
    return w.dept_identity, ipb.IssueLicencesRequest(items=[issue_request(w.dept)])


@base("Issuer.GetLicence")
async def _(w: World):
    return w.dept_identity, ipb.GetLicenceRequest(identifier=w.licence.identifier)


@base("Issuer.ListLicences")
async def _(w: World):
    return w.dept_identity, ipb.ListLicencesRequest(
        holder=lpb.Holder(
            id_type=w.licence.holder.id_type, id_number=w.licence.holder.id_number
        ),
        type_code=w.licence.type_code,
        status=lpb.LICENCE_STATUS_VALID,
        page_size=10,
        include_superseded=True,
    )


@base("Issuer.RenewLicence")
async def _(w: World):
    licence = await w.fresh_licence()
    end = licence.valid_until.ToDatetime(tzinfo=dt.UTC)
    return w.dept_identity, ipb.RenewLicenceRequest(
        identifier=licence.identifier,
        valid_from=licence.valid_from,  # a renewal is valid from now or earlier
        valid_until=ts(end + dt.timedelta(days=365)),
        idempotency_key=secrets.token_hex(8),
    )


@base("Issuer.AmendLicence")
async def _(w: World):
    licence = await w.fresh_licence()
    request = ipb.AmendLicenceRequest(
        identifier=licence.identifier,
        remove_fields=["address"],
        holder_name="张三",
        reason="升级",
        idempotency_key=secrets.token_hex(8),
    )
    request.fields["class"].CopyFrom(text_field("A1"))
    return w.dept_identity, request


@base("Issuer.SuspendLicence")
async def _(w: World):
    licence = await w.fresh_licence()
    return w.dept_identity, ipb.SuspendLicenceRequest(
        identifier=licence.identifier, reason="暂扣"
    )


@base("Issuer.UnsuspendLicence")
async def _(w: World):
    licence = await w.fresh_licence()
    await w.dept.clients.issuer.SuspendLicence(
        ipb.SuspendLicenceRequest(identifier=licence.identifier, reason="暂扣")
    )
    return w.dept_identity, ipb.UnsuspendLicenceRequest(
        identifier=licence.identifier, reason="发还"
    )


@base("Issuer.RevokeLicence")
async def _(w: World):
    licence = await w.fresh_licence()
    return w.dept_identity, ipb.RevokeLicenceRequest(
        identifier=licence.identifier, reason="伪造", kind=ipb.REVOCATION_KIND_REVOKE
    )


@base("Issuer.CancelLicence")
async def _(w: World):
    licence = await w.fresh_licence()
    return w.dept_identity, ipb.CancelLicenceRequest(
        identifier=licence.identifier, reason="注销"
    )


@base("Issuer.TransferLicence")
async def _(w: World):
    licence = await w.fresh_licence()
    return w.dept_identity, ipb.TransferLicenceRequest(
        identifier=licence.identifier,
        to_department_code=w.receiver_dept.code,
        reason="迁出",
    )


@base("Issuer.GetLicenceCode")
async def _(w: World):
    return w.dept_identity, ipb.GetLicenceCodeRequest(identifier=w.licence.identifier)


@base("Issuer.CreatePresentationCode")
async def _(w: World):
    return w.dept_identity, ipb.CreatePresentationCodeRequest(
        identifier=w.licence.identifier, ttl_seconds=60
    )


@base("Issuer.ListLicenceUsage")
async def _(w: World):
    return w.app, ipb.ListLicenceUsageRequest(
        identifier=w.licence.identifier,
        holder=w.holder,
        page_size=10,
        newest_first=True,
        kinds=[ipb.LICENCE_USAGE_KIND_VIEWED, ipb.LICENCE_USAGE_KIND_AUTHORISED],
    )


# LicenceHolder: the granted holder app, for the licence's holder; Redemption: the
# department the authorisation is made out to


@base("LicenceHolder.GetLicenceDocument")
async def _(w: World):
    return w.app, ipb.GetLicenceDocumentRequest(
        identifier=w.licence.identifier, holder=w.holder
    )


@base("LicenceHolder.AuthoriseUse")
async def _(w: World):
    request = authorise_request(w)
    request.counter = ""  # any counter of the department
    return w.app, request


@base("LicenceHolder.RevokeAuthorisation")
async def _(w: World):
    authorisation = await w.fresh_authorisation()
    return w.app, ipb.RevokeAuthorisationRequest(
        authorisation_id=authorisation.authorisation_id, holder=w.holder, reason="撤回"
    )


@base("Redemption.RedeemAuthorisation")
async def _(w: World):
    authorisation = await w.fresh_authorisation()
    return w.dept_identity, ipb.RedeemAuthorisationRequest(code=authorisation.code)


# IssuerAdmin: the operator, on fresh departments and keys


@base("IssuerAdmin.OnboardDepartment")
async def _(w: World):
    return "operator:admin", ipb.OnboardDepartmentRequest(
        code=fresh_uscc(), name="测试部门", roles=[lpb.DEPARTMENT_ROLE_ISSUER]
    )


@base("IssuerAdmin.SetDepartmentRoles")
async def _(w: World):
    code = await onboarded(w.operator, lpb.DEPARTMENT_ROLE_COUNTER)
    return "operator:admin", ipb.SetDepartmentRolesRequest(
        code=code,
        roles=[lpb.DEPARTMENT_ROLE_COUNTER, lpb.DEPARTMENT_ROLE_INTEGRATOR],
    )


@base("IssuerAdmin.ListDepartments")
async def _(w: World):
    return "operator:admin", ipb.ListDepartmentsRequest()


@base("IssuerAdmin.RegisterLicenceType")
async def _(w: World):
    return "operator:admin", ipb.RegisterLicenceTypeRequest(
        type_code=fresh_uscc() + f"{secrets.randbelow(1000):03d}",
        name="机动车驾驶证",
        default_validity_days=365,
        issuer_codes=[w.dept.code],
        fields=[
            lpb.FieldSpec(
                name="class",
                type=lpb.FIELD_TYPE_STRING,
                required=True,
                public=True,
                title="准驾车型",
            )
        ],
    )


@base("IssuerAdmin.SetLicenceTypeIssuers")
async def _(w: World):
    _, register = await BASES["IssuerAdmin.RegisterLicenceType"](w)
    registered = await w.operator.admin.RegisterLicenceType(register)
    return "operator:admin", ipb.SetLicenceTypeIssuersRequest(
        type_code=registered.licence_type.type_code, issuer_codes=[w.dept.code]
    )


@base("IssuerAdmin.ListLicenceTypes")
async def _(w: World):
    return "operator:admin", ipb.ListLicenceTypesRequest()


@base("IssuerAdmin.CreateSigningKey")
async def _(w: World):
    return "operator:admin", ipb.CreateSigningKeyRequest(
        department_code=await w.fresh_key_department(), suite="es256", validity_days=90
    )


@base("IssuerAdmin.RotateSigningKey")
async def _(w: World):
    kid = await w.fresh_key()
    keys = await w.operator.admin.ListSigningKeys(
        ipb.ListSigningKeysRequest(department_code=await _owner_of(w, kid))
    )
    return "operator:admin", ipb.RotateSigningKeyRequest(
        department_code=keys.keys[0].department_code, suite="es256", validity_days=90
    )


async def _owner_of(w: World, kid: str) -> str:
    for department in (
        await w.operator.admin.ListDepartments(ipb.ListDepartmentsRequest())
    ).departments:
        keys = await w.operator.admin.ListSigningKeys(
            ipb.ListSigningKeysRequest(department_code=department.code)
        )
        if any(k.kid == kid for k in keys.keys):
            return department.code
    raise AssertionError(f"no department holds key {kid}")


@base("IssuerAdmin.RetireSigningKey")
async def _(w: World):
    return "operator:admin", ipb.RetireSigningKeyRequest(kid=await w.fresh_key())


@base("IssuerAdmin.RevokeSigningKey")
async def _(w: World):
    kid = await w.fresh_key()
    return "operator:admin", ipb.RevokeSigningKeyRequest(
        kid=kid, reason="泄露", revoked_at=ts(now())
    )


@base("IssuerAdmin.ListSigningKeys")
async def _(w: World):
    return "operator:admin", ipb.ListSigningKeysRequest(department_code=w.dept.code)


@base("IssuerAdmin.GrantHolderApp")
async def _(w: World):
    return "operator:admin", ipb.GrantHolderAppRequest(
        app=f"app:holder-{secrets.token_hex(3)}", type_code=w.dept.type_code
    )


@base("IssuerAdmin.RevokeHolderApp")
async def _(w: World):
    grant = ipb.GrantHolderAppRequest(
        app=f"app:holder-{secrets.token_hex(3)}", type_code=w.dept.type_code
    )
    await w.operator.admin.GrantHolderApp(grant)
    return "operator:admin", ipb.RevokeHolderAppRequest(
        app=grant.app, type_code=grant.type_code
    )


@base("IssuerAdmin.ListHolderAppGrants")
async def _(w: World):
    return "operator:admin", ipb.ListHolderAppGrantsRequest(app="app:yueshengshi")


@base("IssuerAdmin.Republish")
async def _(w: World):
    return "operator:admin", ipb.RepublishRequest(max_events=1)


# Seal: the owning department, on fresh seals wherever the RPC changes one


@base("Seal.RegisterSeal")
async def _(w: World):
    return w.dept_identity, seal_request(w)


@base("Seal.GetSeal")
async def _(w: World):
    return w.dept_identity, spb.GetSealRequest(seal_id=w.seal.seal_id)


@base("Seal.ListSeals")
async def _(w: World):
    return w.dept_identity, spb.ListSealsRequest(owner_code=w.dept.code, page_size=5)


@base("Seal.RevokeSeal")
async def _(w: World):
    seal = await w.fresh_seal()
    return w.dept_identity, spb.RevokeSealRequest(seal_id=seal.seal_id, reason="停用")


DOCUMENT = b"a document to seal " * 40


@base("Seal.SealDocument")
async def _(w: World):
    return w.dept_identity, spb.SealDocumentRequest(
        seal_id=w.seal.seal_id, document=DOCUMENT, property_info="notice.pdf"
    )


@base("Seal.VerifySealedDocument")
async def _(w: World):
    return w.dept_identity, spb.VerifySealedDocumentRequest(
        signature=w.signature, document=DOCUMENT
    )


@base("Seal.InspectSes")
async def _(w: World):
    return w.dept_identity, spb.InspectSesRequest(data=w.signature)


@base("Seal.SealPdf")
async def _(w: World):
    return w.dept_identity, spb.SealPdfRequest(
        seal_id=w.seal.seal_id, pdf=BLANK_PDF, page=0, x_mm=20, y_mm=20, reason="盖章"
    )


@base("Seal.VerifyPdf")
async def _(w: World):
    return w.dept_identity, spb.VerifyPdfRequest(pdf=w.sealed_pdf)


@base("Seal.SealOfd")
async def _(w: World):
    return w.dept_identity, spb.SealOfdRequest(
        seal_id=w.seal.seal_id, ofd=make_ofd(), page=1, x_mm=20, y_mm=20
    )


@base("Seal.VerifyOfd")
async def _(w: World):
    return w.dept_identity, spb.VerifyOfdRequest(ofd=w.sealed_ofd)


@base("Seal.RepublishSeals")
async def _(w: World):
    return "operator:admin", spb.RepublishSealsRequest(max_events=1)


# Verifier: a counter department


@base("Verifier.VerifyCode")
async def _(w: World):
    return w.dept_identity, vpb.VerifyCodeRequest(code=w.code.text, purpose="窗口办事")


@base("Verifier.VerifyImage")
async def _(w: World):
    return w.dept_identity, vpb.VerifyImageRequest(image=w.code.png, purpose="窗口办事")


@base("Verifier.VerifyCodes")
async def _(w: World):
    return w.dept_identity, vpb.VerifyCodesRequest(
        codes=[w.code.text], purpose="窗口办事"
    )


@base("VerifierPeer.LookupEntries")
async def _(w: World):
    # a worker of the group (of one) asking for a licence's stored entry
    return "service:verifier", vpb.LookupEntriesRequest(
        lineages=[w.licence.lineage.encode()], group=w.group, group_size=1
    )


@base("Verifier.GetIndexStatus")
async def _(w: World):
    return w.dept_identity, vpb.GetIndexStatusRequest()


@base("Verifier.ExportTrustBundle")
async def _(w: World):
    return w.dept_identity, vpb.ExportTrustBundleRequest(since_version=0, group=w.group)


# EventFeed and EventFeedAdmin: an entitled integrator, the operator


@base("EventFeed.Subscribe")
async def _(w: World):
    return w.integrator, fpb.SubscribeRequest(
        event_types=["licence.*"],
        departments=[w.dept.code],
        licence_types=["*"],
        earliest=True,
    )


@base("EventFeedAdmin.SetEntitlement")
async def _(w: World):
    return "operator:admin", fpb.SetEntitlementRequest(
        entitlement=fpb.Entitlement(
            integrator=f"integrator:hostile-{secrets.token_hex(3)}",
            departments=[w.dept.code],
            licence_types=["*"],
            event_types=["licence.*"],
        )
    )


@base("EventFeedAdmin.RemoveEntitlement")
async def _(w: World):
    # a fresh integrator, entitled, so that each hostile change has one to withdraw
    identity, entitle = await BASES["EventFeedAdmin.SetEntitlement"](w)
    assert isinstance(entitle, fpb.SetEntitlementRequest)
    await w.call("certseal.v1.EventFeedAdmin", "SetEntitlement", identity, entitle)
    return "operator:admin", fpb.RemoveEntitlementRequest(
        integrator=entitle.entitlement.integrator
    )


@base("EventFeedAdmin.GetEntitlement")
async def _(w: World):
    return "operator:admin", fpb.GetEntitlementRequest(integrator=w.integrator)


@base("EventFeedAdmin.ListEntitlements")
async def _(w: World):
    return "operator:admin", fpb.ListEntitlementsRequest(page_size=3)


@base("EventFeedAdmin.RegisterWebhook")
async def _(w: World):
    return "operator:admin", webhook_request(f"hostile-{secrets.token_hex(4)}", w)


def webhook_request(name: str, w: World) -> fpb.RegisterWebhookRequest:
    return fpb.RegisterWebhookRequest(
        name=name,
        integrator=w.integrator,
        url="https://localhost:9/hook",
        secret=b"s" * 32,
        event_types=["licence.revoked"],
        departments=[w.dept.code],
        licence_types=["*"],
    )


@base("EventFeedAdmin.ListWebhooks")
async def _(w: World):
    return "operator:admin", fpb.ListWebhooksRequest(integrator=w.integrator)


@base("EventFeedAdmin.RemoveWebhook")
async def _(w: World):
    name = f"hostile-{secrets.token_hex(4)}"  # a fresh one: the world's stays
    await w.call(
        "certseal.v1.EventFeedAdmin",
        "RegisterWebhook",
        "operator:admin",
        webhook_request(name, w),
    )
    return "operator:admin", fpb.RemoveWebhookRequest(name=name)


@base("EventFeedAdmin.ListParkedDeliveries")
async def _(w: World):
    return "operator:admin", fpb.ListParkedDeliveriesRequest(webhook=w.webhook)


@base("EventFeedAdmin.ReplayParkedDeliveries")
async def _(w: World):
    return "operator:admin", fpb.ReplayParkedDeliveriesRequest(webhook=w.webhook)


# TransparencyLog: any known caller kind (a department here)


@base("TransparencyLog.GetCheckpoint")
async def _(w: World):
    return w.dept_identity, tpb.GetCheckpointRequest()


@base("TransparencyLog.GetInclusionProof")
async def _(w: World):
    return w.dept_identity, tpb.GetInclusionProofRequest(leaf_index=0, tree_size=1)


@base("TransparencyLog.GetConsistencyProof")
async def _(w: World):
    return w.dept_identity, tpb.GetConsistencyProofRequest(
        first_tree_size=1, second_tree_size=0
    )


@base("TransparencyLog.GetEntries")
async def _(w: World):
    return w.dept_identity, tpb.GetEntriesRequest(start=0, count=2)


@base("TransparencyLog.FindEntries")
async def _(w: World):
    return w.dept_identity, tpb.FindEntriesRequest(
        subject=w.dept.kid, after_leaf_index=-1, page_size=10
    )


BLANK_PDF = blank_pdf()


# -- fixtures ---------------------------------------------------------------------


@pytest.fixture(scope="module")
async def feed_app(config, issuer):
    cfg = copy.deepcopy(config)
    cfg.feed.webhook_allowed_hosts = ["localhost"]  # the base webhook's endpoint
    app = FeedApp(cfg, listen="127.0.0.1:0")
    await app.start()
    yield app
    await app.stop(grace=1)


@pytest.fixture(scope="module")
async def tlog_app(config, issuer):
    cfg = copy.deepcopy(config)
    cfg.tlog.metrics_listen = ""
    cfg.tlog.poll_interval_s = 0.2
    app = TlogApp(cfg, listen="127.0.0.1:0")
    await app.start()
    yield app
    await app.stop(grace=1)


@pytest.fixture(scope="module")
async def verifier(stack, config, issuer, tmp_path_factory):
    home = tmp_path_factory.mktemp("hostile-verifier")
    process = verifier_process(stack, config, home, "hostile")
    async with running(process):
        yield process


@pytest.fixture(scope="module")
async def world(
    stack, config, issuer, operator, connect, seal_app, feed_app, tlog_app, verifier
):
    roles = (
        lpb.DEPARTMENT_ROLE_ISSUER,
        lpb.DEPARTMENT_ROLE_COUNTER,
        lpb.DEPARTMENT_ROLE_SEAL_OWNER,
    )
    receiver = await make_department(operator, connect, roles=roles)
    dept = await make_department(
        operator, connect, roles=roles, type_issuers=[receiver.code]
    )
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    code = await dept.clients.issuer.GetLicenceCode(
        ipb.GetLicenceCodeRequest(identifier=licence.identifier)
    )
    w = World(
        operator=operator,
        connect=connect,
        stack=stack,
        dept=dept,
        receiver_dept=receiver,
        licence=licence,
        code=code,
        seal=spb.SealInfo(),
        signature=b"",
        sealed_pdf=b"",
        sealed_ofd=b"",
        integrator=f"integrator:hostile-{secrets.token_hex(3)}",
        webhook=f"hostile-{secrets.token_hex(4)}",
        group=verifier.group,
        app=f"app:hostile-{secrets.token_hex(3)}",
        ports={
            "issuer": issuer.port,
            "seal": seal_app.port,
            "feed": feed_app.port,
            "verifier": verifier.port,
            "tlog": tlog_app.port,
        },
        limits={
            "issuer": config.issuer.max_request_bytes,
            "seal": config.seal.max_request_bytes,
            "feed": config.feed.max_request_bytes,
            "verifier": config.verifier.max_request_bytes,
            "tlog": config.tlog.max_request_bytes,
        },
    )
    w.seal = await w.fresh_seal()
    w.signature = spb.SealDocumentResponse.FromString(
        await w.call(
            "certseal.v1.Seal",
            "SealDocument",
            w.dept_identity,
            spb.SealDocumentRequest(seal_id=w.seal.seal_id, document=DOCUMENT),
        )
    ).signature
    w.sealed_pdf = spb.SealPdfResponse.FromString(
        await w.call(
            "certseal.v1.Seal",
            "SealPdf",
            w.dept_identity,
            spb.SealPdfRequest(seal_id=w.seal.seal_id, pdf=BLANK_PDF),
        )
    ).pdf
    w.sealed_ofd = spb.SealOfdResponse.FromString(
        await w.call(
            "certseal.v1.Seal",
            "SealOfd",
            w.dept_identity,
            spb.SealOfdRequest(seal_id=w.seal.seal_id, ofd=make_ofd()),
        )
    ).ofd
    await w.call(
        "certseal.v1.EventFeedAdmin",
        "SetEntitlement",
        "operator:admin",
        fpb.SetEntitlementRequest(
            entitlement=fpb.Entitlement(
                integrator=w.integrator,
                departments=["*"],
                licence_types=["*"],
                event_types=["*"],
            )
        ),
    )
    await w.call(
        "certseal.v1.EventFeedAdmin",
        "RegisterWebhook",
        "operator:admin",
        webhook_request(w.webhook, w),
    )
    # the holder's side (docs/holder.md): licence files are sealed with the issuing
    # department's official seal naming the issuer as a signer, annotated copies with
    # the platform's; the app is granted the licence type
    await w.call(
        "certseal.v1.Seal",
        "RegisterSeal",
        w.dept_identity,
        spb.RegisterSealRequest(
            seal_type="official",
            name="示例市市场监督管理局",
            suite="es256",
            signers=[w.dept_identity, "service:issuer"],
        ),
    )
    await w.call(
        "certseal.v1.Seal",
        "RegisterSeal",
        "operator:admin",
        spb.RegisterSealRequest(
            owner_code=config.platform.code,
            seal_type="official",
            name="电子证照平台",
            suite="es256",
            signers=["service:issuer"],
        ),
    )
    await operator.admin.GrantHolderApp(
        ipb.GrantHolderAppRequest(app=w.app, type_code=dept.type_code)
    )
    # proofs need leaves: the log's sequencer appends the outbox in the background
    async with asyncio.timeout(30):
        while True:
            if await tlog_app.store.size() >= 2:
                break
            await asyncio.sleep(0.1)  # the sequencer is a background worker
    yield w
    for channel in w.channels.values():
        await channel.close()


# -- sending ----------------------------------------------------------------------


@dataclass
class Outcome:
    rpc: str
    path: str
    label: str
    code: grpc.StatusCode
    details: str

    def __str__(self) -> str:
        return f"{self.rpc} {self.path} = {self.label}: {self.code.name} {self.details}"


async def send(
    w: World, method: d.MethodDescriptor, identity: str, data: bytes
) -> tuple[grpc.StatusCode, str]:
    """Send ``data`` as the request of ``method``; the status and its details."""
    service = method.containing_service.full_name
    channel = w.channel(SERVERS[service], identity)
    path = f"/{service}/{method.name}"
    try:
        if method.server_streaming:
            stream = channel.unary_stream(
                path, request_serializer=lambda b: b, response_deserializer=lambda b: b
            )
            call = stream(data, timeout=STREAM_WAIT_S)
            try:
                async for _ in call:
                    break  # one event: the subscription was accepted
            finally:
                call.cancel()
        else:
            # an OK answer must be a well-formed response of the RPC
            response = message_factory.GetMessageClass(method.output_type)
            unary = channel.unary_unary(
                path,
                request_serializer=lambda b: b,
                response_deserializer=response.FromString,
            )
            await unary(data, timeout=CALL_DEADLINE_S)
    except grpc.aio.AioRpcError as exc:
        if method.server_streaming and exc.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
            return grpc.StatusCode.OK, "accepted (no event yet)"
        if exc.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
            return exc.code(), f"no answer within {CALL_DEADLINE_S:g} s: a hang"
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


def lost(code: grpc.StatusCode, details: str) -> bool:
    """The server's answer never reached the client: its status (details echoing the
    hostile value) was over the client's metadata limit, which the client reports as
    RESOURCE_EXHAUSTED, hiding the error the server meant to give."""
    return (
        code is grpc.StatusCode.RESOURCE_EXHAUSTED
        and "metadata size exceeds" in details
    )


def request_class(method: d.MethodDescriptor) -> type[Message]:
    cls: type[Message] = message_factory.GetMessageClass(method.input_type)
    return cls


async def base_request(w: World, method: d.MethodDescriptor) -> tuple[str, Message]:
    """The valid base of ``method``; an empty request as the operator when the table
    has none (so a new RPC is still attacked; the base test fails until it has one)."""
    factory = BASES.get(rpc_name(method))
    if factory is None:
        return "operator:admin", request_class(method)()
    identity, request = await factory(w)
    return identity, request


async def attack(w: World, method: d.MethodDescriptor) -> list[Outcome]:
    """Every hostile change of ``method``'s request; the outcomes that are not OK or
    a client error."""
    server = SERVERS[method.containing_service.full_name]
    # just under the service's request limit, so the value reaches the handler
    big = min(1024 * 1024, w.limits[server] - 64 * 1024)
    _, sample = await base_request(w, method)
    bad = []
    for change in hostile_changes(method.input_type, sample, big=big):
        try:
            # the base request's own calls (fresh seals, licences) have no deadline
            # of their own: a service left hanging by the previous value fails here
            async with asyncio.timeout(3 * CALL_DEADLINE_S):
                identity, request = await base_request(w, method)
        except TimeoutError:
            code, details = grpc.StatusCode.DEADLINE_EXCEEDED, "the base request hung"
        else:
            change.apply(request)
            data = wire(request, change.raw_surrogate)
            code, details = await send(w, method, identity, data)
        if (code is not grpc.StatusCode.OK and code not in CLIENT_ERRORS) or lost(
            code, details
        ):
            bad.append(
                Outcome(rpc_name(method), change.path, change.label, code, details)
            )
    return bad


# -- tests ------------------------------------------------------------------------


def test_every_service_is_served_and_every_field_is_attacked():
    """The descriptors name every service this test knows a server for, and every
    field of every request gets at least one hostile value."""
    assert {s.full_name for s in services()} == set(SERVERS)
    for method in rpcs():
        changes = hostile_changes(method.input_type, request_class(method)(), big=16)
        attacked = {c.path.split("[")[0].split("<")[0].split(".")[0] for c in changes}
        assert attacked == {f.name for f in method.input_type.fields}, rpc_name(method)


async def test_every_rpc_has_a_valid_base_request(world):
    """Each base request is answered OK: the hostile values reach the handlers."""
    failing = []
    for method in rpcs():
        if rpc_name(method) not in BASES:
            failing.append(f"{rpc_name(method)}: no base request in BASES")
            continue
        identity, request = await base_request(world, method)
        code, details = await send(world, method, identity, request.SerializeToString())
        if code is not grpc.StatusCode.OK:
            failing.append(f"{rpc_name(method)}: {code.name} {details}")
    assert not failing, "\n".join(failing)


async def test_no_hostile_value_ends_in_internal(world, verifier):
    """Every hostile value ends in OK or a client error, each call within
    :data:`CALL_DEADLINE_S` (a hang fails as DEADLINE_EXCEEDED naming the value)."""
    bad: list[Outcome] = []
    for method in rpcs():
        t0 = time.monotonic()
        found = await attack(world, method)
        print(f"{rpc_name(method)}: {time.monotonic() - t0:.1f} s, {len(found)} bad")
        bad += found
    # every service still serves
    for server in ("issuer", "seal", "feed", "verifier", "tlog"):
        health = health_pb2_grpc.HealthStub(world.channel(server, "operator:admin"))
        reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, server
    assert not bad, f"{len(bad)} hostile values ended in a server error:\n" + "\n".join(
        str(b) for b in bad
    )
