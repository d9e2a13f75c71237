"""The issuer's ``certseal`` commands: departments, licence types, signing keys,
holder-app grants and licences (as a department, with its dev identity).

Each calls the Issuer or IssuerAdmin gRPC API as the CLI's operator identity, or as the
department named by ``licence --as CODE``.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from certseal.calls import call_service
from certseal.cli import load, ts
from certseal.cli_options import aware_time, checked, whole_number
from certseal.dev_identities import department_identity, dev_identity
from certseal.errors import CertsealError, ErrorKind
from certseal.identifiers import validate_type_code, validate_uscc
from services.issuer.cli_call import call_issuer
from services.issuer.holder_cli import register_holder
from services.issuer.licence_cli import register_licence
from services.issuer.limits import (
    DEFAULT_KEY_VALIDITY_DAYS,
    DEFAULT_REPUBLISH_EVENTS,
    MAX_KEY_VALIDITY_DAYS,
    MAX_REPUBLISH_EVENTS,
)
from services.issuer.type_cli import register_types

_ROLES = {"issuer": 1, "counter": 2, "seal_owner": 3, "integrator": 4}


def _call(
    args: argparse.Namespace,
    call: Callable[[Any], Awaitable[Any]],
    *,
    admin: bool = True,
) -> Any:
    """Call the issuer as the operator, or (``--as CODE``) as a department; an
    error about a request field names the command's option instead (``_OPTIONS``)."""
    department = getattr(args, "as_department", None)
    if department:  # its form before the configuration is read (trial53)
        validate_uscc(department, "as")
    return call_issuer(
        args,
        "IssuerAdmin" if admin else "Issuer",
        call,
        identity=(
            (lambda cfg: department_identity(cfg, department)) if department else None
        ),
        options=_OPTIONS.get(args.command),
    )


#: per command, a request field IssuerAdmin names in an error -> the option that
#: gives it, where their names differ (nu24: 'error: department_code: ...')
_OPTIONS = {
    "type": {
        "type_code": "code",
        "issuer_codes": "issuers",
        "default_validity_days": "validity-days",
        "fields": "field",
    },
    "key": {"department_code": "department"},
    "holder-app": {"type_code": "type"},
}


def _roles(text: str) -> list[Any]:
    """The proto roles of ``--roles`` (comma-separated names of :data:`_ROLES`);
    INVALID_ARGUMENT (field ``roles``) naming one that is not a role."""
    names = [role.strip() for role in text.split(",") if role.strip()]
    if not names:
        raise CertsealError(
            ErrorKind.INVALID_ARGUMENT,
            f"give at least one role of {', '.join(_ROLES)}",
            field="roles",
        )
    roles: list[Any] = []
    for role in names:
        if role not in _ROLES:
            raise CertsealError(
                ErrorKind.INVALID_ARGUMENT,
                f"unknown role {role!r}; expected {', '.join(_ROLES)}",
                field="roles",
            )
        roles.append(_ROLES[role])
    return roles


def _role_names(department: Any) -> str:
    names = {v: k for k, v in _ROLES.items()}
    return ", ".join(names[r] for r in department.roles)


def cmd_department_add(args: argparse.Namespace) -> int:
    """Onboard a department."""
    from certseal.v1 import issuer_pb2 as pb

    roles = _roles(args.roles)
    reply = _call(
        args,
        lambda s: s.OnboardDepartment(
            pb.OnboardDepartmentRequest(code=args.code, name=args.name, roles=roles)
        ),
    )
    print(f"onboarded {reply.department.code} {reply.department.name}")
    if args.dev_identity:
        cert, key = dev_identity(load(args), f"dept:{args.code}", "dev_identity")
        print(f"dev mTLS identity dept:{args.code}: {cert} {key}")
    return 0


def cmd_department_list(args: argparse.Namespace) -> int:
    """List departments."""
    from certseal.v1 import issuer_pb2 as pb

    reply = _call(args, lambda s: s.ListDepartments(pb.ListDepartmentsRequest()))
    for d in reply.departments:
        print(f"{d.code}  {d.name}  [{_role_names(d)}]")
    return 0


def cmd_department_roles(args: argparse.Namespace) -> int:
    """Replace an onboarded department's roles; prints them as they are now."""
    from certseal.v1 import issuer_pb2 as pb

    roles = _roles(args.roles)
    reply = _call(
        args,
        lambda s: s.SetDepartmentRoles(
            pb.SetDepartmentRolesRequest(code=args.code, roles=roles)
        ),
    )
    d = reply.department
    print(f"{d.code}  {d.name}  [{_role_names(d)}]")
    return 0


def _print_key(key: Any) -> None:
    status = {1: "active", 2: "retired", 3: "revoked"}.get(key.status, "?")
    print(
        f"{key.kid}  {key.department_code}  {key.suite:8} {status:8} "
        f"{key.key_store or 'software':8} "
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
        if args.at is not None:
            stamp = Timestamp()
            stamp.FromDatetime(args.at)
            request.revoked_at.CopyFrom(stamp)
        try:
            _print_key(_call(args, lambda s: s.RevokeSigningKey(request)).key)
        except CertsealError as exc:
            if exc.field != "revoked_at":
                raise
            # the request's field is this command's --at
            raise CertsealError(exc.kind, exc.message, field="at") from None
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


def _republish(restart: bool, max_events: int, stub: Any) -> Any:
    from certseal.v1 import issuer_pb2 as pb

    return stub.Republish(pb.RepublishRequest(restart=restart, max_events=max_events))


def _republish_seals(restart: bool, max_events: int, channel: Any) -> Any:
    from certseal.v1 import seal_pb2 as spb
    from certseal.v1 import seal_pb2_grpc

    return seal_pb2_grpc.SealStub(channel).RepublishSeals(
        spb.RepublishSealsRequest(restart=restart, max_events=max_events)
    )


def cmd_republish(args: argparse.Namespace) -> int:
    """Republish every signing key and lineage (the issuer) and every seal (the seal
    service) from PostgreSQL, as the operator, one bounded call at a time until each
    run is done; an interrupted run resumes (docs/operations.md, "Kafka lost")."""
    restart = bool(args.restart)
    while True:
        run = _call(args, functools.partial(_republish, restart, args.max_events))
        if restart or run.resumed:
            how = "restarted" if restart else "resumed"
            print(f"run {run.run_id} {how} (started {ts(run.started_at)})")
        restart = False
        print(f"run {run.run_id}: {run.part}, {run.published} events written")
        if run.done:
            break
    cfg = load(args)
    restart = bool(args.restart)
    while True:
        seals = call_service(
            cfg,
            cfg.cli.seal_target,
            functools.partial(_republish_seals, restart, args.max_events),
            service="seal",
        )
        if restart or seals.resumed:
            print(f"seal run {seals.run_id} {'restarted' if restart else 'resumed'}")
        restart = False
        print(f"seal run {seals.run_id}: {seals.published} events written")
        if seals.done:
            break
    print("done: the outbox relay publishes them; watch certseal_outbox_backlog")
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
        "--roles",
        required=True,
        help="comma-separated, of "
        + ",".join(_ROLES)
        + " (every role it will need, e.g. issuer,seal_owner to issue licences "
        "and own seals; 'certseal department roles' changes them later)",
    )
    add.add_argument(
        "--dev-identity",
        action="store_true",
        help="also issue its mTLS certificate from the dev CA",
    )
    add.set_defaults(func=cmd_department_add)
    dept.add_parser(
        "list", help="every onboarded department with its roles"
    ).set_defaults(func=cmd_department_list)
    setroles = dept.add_parser(
        "roles", help="replace an onboarded department's roles (audited)"
    )
    setroles.add_argument("code")
    setroles.add_argument(
        "--roles",
        required=True,
        help="comma-separated, of " + ",".join(_ROLES) + ": the whole new set",
    )
    setroles.set_defaults(func=cmd_department_roles)

    register_types(sub, _call)

    keys = sub.add_parser("key", help="signing keys").add_subparsers(
        dest="key_command", required=True
    )
    for name, what in (
        ("create", "create a department's signing key"),
        ("rotate", "a new active key; the department's others of the suite retire"),
    ):
        k = keys.add_parser(name, help=what)
        k.add_argument("department")
        k.add_argument("--suite", required=True, help="sm2, es256 or ed25519")
        k.add_argument(
            "--validity-days",
            type=whole_number(
                MAX_KEY_VALIDITY_DAYS, unit=f" days (0: {DEFAULT_KEY_VALIDITY_DAYS})"
            ),
            default=0,
            help=f"the key's validity, 1 to {MAX_KEY_VALIDITY_DAYS:,} days "
            f"(default 0: {DEFAULT_KEY_VALIDITY_DAYS} days)",
        )
    keys.add_parser(
        "retire", help="stop signing with a key (what it signed stays valid)"
    ).add_argument("kid")
    revoke = keys.add_parser(
        "revoke", help="untrust a key's signatures from a time on (compromise)"
    )
    revoke.add_argument("kid")
    revoke.add_argument("--reason", required=True)
    revoke.add_argument(
        "--at",
        type=aware_time,
        help="ISO 8601 time with its UTC offset (Z, +08:00) from which its signatures "
        "are untrusted (default: now); a revoked key's may be moved earlier",
    )
    keys.add_parser("list", help="a department's signing keys").add_argument(
        "department"
    )
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
        command.add_argument(
            "--type",
            required=True,
            type=checked(validate_type_code),
            help="licence type code",
        )
    apps.add_parser("list", help="the grants").add_argument(
        "app", nargs="?", help="app:<name> (default: every app)"
    )
    for command in apps.choices.values():
        command.set_defaults(func=cmd_holder_app)

    register_licence(sub)
    register_holder(sub)

    again = sub.add_parser(
        "republish",
        help="rebuild the licence, trust and seal topics from PostgreSQL (Kafka lost)",
    )
    again.add_argument(
        "--restart", action="store_true", help="start afresh, not where a run stopped"
    )
    again.add_argument(
        "--max-events",
        type=whole_number(
            MAX_REPUBLISH_EVENTS, unit=f" (0: {DEFAULT_REPUBLISH_EVENTS:,})"
        ),
        default=DEFAULT_REPUBLISH_EVENTS,
        help=f"events per call, at most {MAX_REPUBLISH_EVENTS:,} (default "
        f"{DEFAULT_REPUBLISH_EVENTS:,})",
    )
    again.set_defaults(func=cmd_republish)
