"""The issuer's ``certseal`` commands: departments, licence types, signing keys,
holder-app grants and licences (as a department, with its dev identity).

Each calls the Issuer or IssuerAdmin gRPC API as the CLI's operator identity, or as the
department named by ``licence --as CODE``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from certseal.cli import call_service, dev_identity, load, ts
from certseal.errors import CertsealError, ErrorKind
from certseal.identifiers import validate_uscc

_ROLES = {"issuer": 1, "counter": 2, "seal_owner": 3, "integrator": 4}
_FIELD_TYPES = {"string": 1, "integer": 2, "boolean": 3, "date": 4}
_STATUSES = {
    1: "valid 01",
    2: "suspended 02",
    3: "revoked 03",
    4: "cancelled 04",
    5: "expired 05",
    6: "transferred out 06",
    7: "revoked as sanction 07",
}


def _call(
    args: argparse.Namespace,
    call: Callable[[Any], Awaitable[Any]],
    *,
    admin: bool = True,
) -> Any:
    """Call the issuer as the operator, or (``--as CODE``) as a department."""
    from certseal.v1 import issuer_pb2_grpc

    cfg = load(args)
    identity = None
    if getattr(args, "as_department", None):
        # checked first: a mistyped or unknown code must not leave a dev identity
        # behind
        validate_uscc(args.as_department, "as")
        _require_department(cfg, args.as_department)
        identity = dev_identity(cfg, f"dept:{args.as_department}")
    stub = issuer_pb2_grpc.IssuerAdminStub if admin else issuer_pb2_grpc.IssuerStub
    return call_service(
        cfg, cfg.cli.issuer_target, lambda chan: call(stub(chan)), identity=identity
    )


def _require_department(cfg: Any, code: str) -> None:
    """NOT_FOUND (field ``as``) unless the issuer knows department ``code``; asked as
    the CLI's operator before any dev identity is made for it."""
    from certseal.v1 import issuer_pb2 as pb
    from certseal.v1 import issuer_pb2_grpc

    reply = call_service(
        cfg,
        cfg.cli.issuer_target,
        lambda chan: issuer_pb2_grpc.IssuerAdminStub(chan).ListDepartments(
            pb.ListDepartmentsRequest()
        ),
    )
    if not any(d.code == code for d in reply.departments):
        raise CertsealError(
            ErrorKind.INVALID_ARGUMENT,
            f"no department {code} is onboarded: add it first with 'certseal "
            "department add'",
            field="as",
        )


def cmd_department_add(args: argparse.Namespace) -> int:
    """Onboard a department."""
    from certseal.v1 import issuer_pb2 as pb

    roles: list[Any] = []
    for role in args.roles.split(","):
        if role.strip() not in _ROLES:
            print(
                f"error: roles: unknown role {role!r}; expected {', '.join(_ROLES)}",
                file=sys.stderr,
            )
            return 2
        roles.append(_ROLES[role.strip()])
    reply = _call(
        args,
        lambda s: s.OnboardDepartment(
            pb.OnboardDepartmentRequest(code=args.code, name=args.name, roles=roles)
        ),
    )
    print(f"onboarded {reply.department.code} {reply.department.name}")
    if args.dev_identity:
        cert, key = dev_identity(load(args), f"dept:{args.code}")
        print(f"dev mTLS identity dept:{args.code}: {cert} {key}")
    return 0


def cmd_department_list(args: argparse.Namespace) -> int:
    """List departments."""
    from certseal.v1 import issuer_pb2 as pb

    reply = _call(args, lambda s: s.ListDepartments(pb.ListDepartmentsRequest()))
    names = {v: k for k, v in _ROLES.items()}
    for d in reply.departments:
        print(f"{d.code}  {d.name}  [{', '.join(names[r] for r in d.roles)}]")
    return 0


def _field_spec(text: str) -> Any:
    from certseal.v1 import licence_pb2

    name, _, rest = text.partition(":")
    parts = rest.split(":") if rest else ["string"]
    kind, flags = parts[0], set(parts[1:])
    titles = [f.removeprefix("title=") for f in flags if f.startswith("title=")]
    unknown = (
        flags - {"required", "public", "personal"} - {f"title={t}" for t in titles}
    )
    if kind not in _FIELD_TYPES or unknown or len(titles) > 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: use NAME:TYPE[:required][:public][:personal][:title=TITLE], "
            f"TYPE one of {', '.join(_FIELD_TYPES)}"
        )
    return licence_pb2.FieldSpec(
        name=name,
        type=_FIELD_TYPES[kind],  # type: ignore[arg-type]
        required="required" in flags,
        public="public" in flags,
        personal="personal" in flags,
        title=titles[0] if titles else "",
    )


def cmd_type_add(args: argparse.Namespace) -> int:
    """Register a licence type."""
    from certseal.v1 import issuer_pb2 as pb

    reply = _call(
        args,
        lambda s: s.RegisterLicenceType(
            pb.RegisterLicenceTypeRequest(
                type_code=args.code,
                name=args.name,
                fields=args.field or [],
                default_validity_days=args.validity_days,
                issuer_codes=args.issuers.split(","),
            )
        ),
    )
    print(f"registered {reply.licence_type.type_code} {reply.licence_type.name}")
    return 0


def _print_key(key: Any) -> None:
    status = {1: "active", 2: "retired", 3: "revoked"}.get(key.status, "?")
    print(
        f"{key.kid}  {key.department_code}  {key.suite:8} {status:8} "
        f"valid {ts(key.not_before)} .. {ts(key.not_after)}"
        + (
            f"  revoked at {ts(key.revoked_at)}: {key.revocation_reason}"
            if key.status == 3
            else ""
        )
    )


def cmd_key(args: argparse.Namespace) -> int:
    """Create, rotate, retire, revoke or list signing keys."""
    from google.protobuf.timestamp_pb2 import Timestamp

    from certseal.v1 import issuer_pb2 as pb

    command = args.key_command
    if command in ("create", "rotate"):
        fields = {
            "department_code": args.department,
            "suite": args.suite,
            "validity_days": args.validity_days,
        }
        if command == "create":
            reply = _call(
                args, lambda s: s.CreateSigningKey(pb.CreateSigningKeyRequest(**fields))
            )
        else:
            reply = _call(
                args, lambda s: s.RotateSigningKey(pb.RotateSigningKeyRequest(**fields))
            )
        _print_key(reply.key)
        for key in getattr(reply, "retired", ()):
            _print_key(key)
    elif command == "retire":
        reply = _call(
            args,
            lambda s: s.RetireSigningKey(pb.RetireSigningKeyRequest(kid=args.kid)),
        )
        _print_key(reply.key)
    elif command == "revoke":
        request = pb.RevokeSigningKeyRequest(kid=args.kid, reason=args.reason)
        if args.at:
            stamp = Timestamp()
            stamp.FromDatetime(dt.datetime.fromisoformat(args.at))
            request.revoked_at.CopyFrom(stamp)
        _print_key(_call(args, lambda s: s.RevokeSigningKey(request)).key)
    else:
        reply = _call(
            args,
            lambda s: s.ListSigningKeys(
                pb.ListSigningKeysRequest(department_code=args.department)
            ),
        )
        for key in reply.keys:
            _print_key(key)
    return 0


def cmd_holder_app(args: argparse.Namespace) -> int:
    """Grant, revoke or list holder apps' rights to licence types (as the operator)."""
    from certseal.v1 import issuer_pb2 as pb

    command = args.holder_app_command
    if command == "list":
        reply = _call(
            args,
            lambda s: s.ListHolderAppGrants(
                pb.ListHolderAppGrantsRequest(app=args.app or "")
            ),
        )
        for g in reply.grants:
            print(
                f"{g.app}  {g.type_code}  granted {ts(g.granted_at)} by {g.granted_by}"
            )
        print(f"{len(reply.grants)} grants")
        return 0
    if command == "grant":
        grant = _call(
            args,
            lambda s: s.GrantHolderApp(
                pb.GrantHolderAppRequest(app=args.app, type_code=args.type)
            ),
        ).grant
        print(
            f"{grant.app} may read {grant.type_code} licences for the holder it names"
        )
        return 0
    grant = _call(
        args,
        lambda s: s.RevokeHolderApp(
            pb.RevokeHolderAppRequest(app=args.app, type_code=args.type)
        ),
    ).grant
    print(f"{grant.app} may no longer read {grant.type_code} licences")
    return 0


def _print_licence(licence: Any, suite: str = "") -> None:
    print(f"identifier  {licence.identifier}")
    print(
        f"status      {_STATUSES.get(licence.status, licence.status)}"
        + (f" ({licence.status_reason})" if licence.status_reason else "")
    )
    print(f"holder      {licence.holder.name or licence.holder_display_name}")
    print(f"valid       {ts(licence.valid_from)} .. {ts(licence.valid_until)}")
    if licence.kid:  # which of the department's keys signed this version
        print(f"signed by   key {licence.kid}{f' ({suite})' if suite else ''}")
    for name, value in sorted(licence.fields.items()):
        print(
            f"  {name} = {getattr(value, value.WhichOneof('value') or 'string_value')}"
        )
    if licence.superseded_by:
        print(f"superseded by {licence.superseded_by}")


def cmd_licence(args: argparse.Namespace) -> int:
    """Department operations on licences (with the department's dev identity)."""
    from certseal.v1 import issuer_pb2 as pb
    from certseal.v1 import licence_pb2

    command = args.licence_command
    if command == "issue":
        request = pb.IssueLicenceRequest(
            type_code=args.type,
            idempotency_key=args.idempotency_key or "",
            suite=args.suite or "",
            holder=licence_pb2.Holder(
                name=args.holder_name, id_type=args.id_type, id_number=args.id_number
            ),
        )
        for item in args.field or []:
            name, sep, value = item.partition("=")
            if not sep:
                print(f"error: field: {item!r}: use NAME=VALUE", file=sys.stderr)
                return 2
            if value.lstrip("-").isdigit():
                request.fields[name].integer_value = int(value)
            else:
                request.fields[name].string_value = value
        reply = _call(args, lambda s: s.IssueLicence(request), admin=False)
        _print_licence(reply.licence, request.suite)
        return 0
    if command == "code":
        code = _call(
            args,
            lambda s: s.GetLicenceCode(
                pb.GetLicenceCodeRequest(identifier=args.identifier)
            ),
            admin=False,
        )
        print(code.text)
        if args.png:
            Path(args.png).write_bytes(code.png)
            print(f"QR code written to {args.png}")
        return 0
    ident, reason = args.identifier, getattr(args, "reason", "")
    calls: dict[str, Callable[[Any], Awaitable[Any]]] = {
        "get": lambda s: s.GetLicence(pb.GetLicenceRequest(identifier=ident)),
        "suspend": lambda s: s.SuspendLicence(
            pb.SuspendLicenceRequest(identifier=ident, reason=reason)
        ),
        "unsuspend": lambda s: s.UnsuspendLicence(
            pb.UnsuspendLicenceRequest(identifier=ident, reason=reason)
        ),
        "revoke": lambda s: s.RevokeLicence(
            pb.RevokeLicenceRequest(
                identifier=ident,
                reason=reason,
                kind=pb.REVOCATION_KIND_SANCTION
                if args.sanction
                else pb.REVOCATION_KIND_REVOKE,
            )
        ),
        "cancel": lambda s: s.CancelLicence(
            pb.CancelLicenceRequest(identifier=ident, reason=reason)
        ),
        "renew": lambda s: s.RenewLicence(pb.RenewLicenceRequest(identifier=ident)),
    }
    reply = _call(args, calls[command], admin=False)
    _print_licence(reply.licence)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``department``, ``type``, ``key``, ``holder-app`` and ``licence``."""
    dept = sub.add_parser("department", help="departments").add_subparsers(
        dest="department_command", required=True
    )
    add = dept.add_parser("add", help="onboard a department")
    add.add_argument("code")
    add.add_argument("--name", required=True)
    add.add_argument(
        "--roles", required=True, help="comma-separated: " + ",".join(_ROLES)
    )
    add.add_argument(
        "--dev-identity",
        action="store_true",
        help="also issue its mTLS certificate from the dev CA",
    )
    add.set_defaults(func=cmd_department_add)
    dept.add_parser("list").set_defaults(func=cmd_department_list)

    types = sub.add_parser("type", help="licence types").add_subparsers(
        dest="type_command", required=True
    )
    tadd = types.add_parser("add", help="register a licence type")
    tadd.add_argument("--code", required=True)
    tadd.add_argument("--name", required=True)
    tadd.add_argument(
        "--field",
        action="append",
        type=_field_spec,
        help="NAME:TYPE[:required][:public][:personal][:title=TITLE], repeatable "
        "(the title counters see, e.g. class:string:required:public:title=准驾车型)",
    )
    tadd.add_argument("--validity-days", type=int, default=365 * 6)
    tadd.add_argument(
        "--issuers", required=True, help="comma-separated department codes"
    )
    tadd.set_defaults(func=cmd_type_add)

    keys = sub.add_parser("key", help="signing keys").add_subparsers(
        dest="key_command", required=True
    )
    for name in ("create", "rotate"):
        k = keys.add_parser(name)
        k.add_argument("department")
        k.add_argument("--suite", required=True, help="sm2, es256 or ed25519")
        k.add_argument("--validity-days", type=int, default=0)
    keys.add_parser("retire").add_argument("kid")
    revoke = keys.add_parser("revoke")
    revoke.add_argument("kid")
    revoke.add_argument("--reason", required=True)
    revoke.add_argument("--at", help="ISO time from which its signatures are untrusted")
    keys.add_parser("list").add_argument("department")
    for action in keys.choices.values():
        action.set_defaults(func=cmd_key)

    apps = sub.add_parser(
        "holder-app", help="holder apps' rights to licence types (holder-bound reads)"
    ).add_subparsers(dest="holder_app_command", required=True)
    for name, text in (("grant", "let"), ("revoke", "no longer let")):
        command = apps.add_parser(
            name, help=f"{text} a holder app read a licence type for its holders"
        )
        command.add_argument("app", help="app:<name>")
        command.add_argument("--type", required=True, help="licence type code")
    apps.add_parser("list", help="the grants").add_argument(
        "app", nargs="?", help="app:<name> (default: every app)"
    )
    for command in apps.choices.values():
        command.set_defaults(func=cmd_holder_app)

    lic = sub.add_parser("licence", help="licences, as a department (dev identity)")
    lic.add_argument(
        "--as",
        dest="as_department",
        required=True,
        metavar="CODE",
        help="the department to act as",
    )
    lics = lic.add_subparsers(dest="licence_command", required=True)
    issue = lics.add_parser("issue", help="issue a licence")
    issue.add_argument("--type", required=True)
    issue.add_argument("--holder-name", required=True)
    issue.add_argument("--id-type", default="111")
    issue.add_argument("--id-number", required=True)
    issue.add_argument("--field", action="append", help="NAME=VALUE, repeatable")
    issue.add_argument("--idempotency-key")
    issue.add_argument(
        "--suite",
        help="sign with the department's active key of this suite (sm2, es256, "
        "ed25519); default its newest active key",
    )
    for name in ("get", "code", "suspend", "unsuspend", "revoke", "cancel", "renew"):
        command = lics.add_parser(name)
        command.add_argument("identifier", help="an identifier or a lineage")
        if name == "code":
            command.add_argument("--png", help="also write the QR code to this file")
        if name in ("suspend", "unsuspend", "revoke", "cancel"):
            command.add_argument("--reason", default="", required=name == "revoke")
        if name == "revoke":
            command.add_argument(
                "--sanction",
                action="store_true",
                help="吊销 (07) rather than 撤销 (03)",
            )
    lic.set_defaults(func=cmd_licence)
