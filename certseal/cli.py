"""The ``certseal`` command line: run the embedded stack, administer, check identifiers,
verify the audit trail. Admin commands call the IssuerAdmin RPCs over mTLS with the
operator identity named in the configuration, so they are subject to the same checks.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

from certseal import identifiers, logs
from certseal.config import Config, load_config
from certseal.errors import CertsealError, ErrorKind, invalid
from certseal.timestamps import utcnow

DEFAULT_HOME = Path(".certseal")


def _load(args: argparse.Namespace) -> Config:
    path = Path(args.config) if args.config else DEFAULT_HOME / "config.toml"
    if not path.exists():
        raise CertsealError(
            ErrorKind.FAILED_PRECONDITION,
            f"no configuration at {path}: start the stack with 'make run' or pass --config",
        )
    return load_config(path)


async def _call(
    args: argparse.Namespace,
    call: Callable[[Any], Awaitable[Any]],
    *,
    admin: bool = True,
) -> Any:
    """Call the issuer as the operator, or (``--as CODE``) as a department."""
    from certseal.devpki import DevCA
    from certseal.rpc import error_from_rpc, secure_channel
    from certseal.v1 import issuer_pb2_grpc

    cfg = _load(args)
    cert, key = cfg.cli.cert_file, cfg.cli.key_file
    if getattr(args, "as_department", None):
        ident = DevCA(Path(cfg.tls.ca_file).parent).identity(
            f"dept:{args.as_department}"
        )
        cert, key = str(ident.cert_file), str(ident.key_file)
    async with secure_channel(
        cfg.cli.issuer_target, cfg.tls.ca_file, cert, key
    ) as channel:
        stub = (
            issuer_pb2_grpc.IssuerAdminStub(channel)
            if admin
            else issuer_pb2_grpc.IssuerStub(channel)
        )
        try:
            return await call(stub)
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from None


def _ts(value: Any) -> str:
    return value.ToDatetime(tzinfo=dt.UTC).isoformat() if value.seconds else "-"


# -- id check -------------------------------------------------------------------


def cmd_id_check(args: argparse.Namespace) -> int:
    """Exit 0 when well-formed and correct, 1 for a wrong check character, 2 malformed."""
    try:
        parsed = identifiers.parse_licence_id(args.identifier)
        status = 0
    except identifiers.CheckCharacterError as exc:
        parsed, status = exc.parsed, 1
        print(f"error: {exc}", file=sys.stderr)
    except CertsealError as exc:
        print(f"error: malformed identifier: {exc}", file=sys.stderr)
        return 2
    print(f"type code:       {parsed.type_code}")
    print(f"authority code:  {parsed.authority_code}")
    print(f"serial:          {parsed.serial}")
    print(f"version:         {parsed.version:03d}")
    print(f"check character: {parsed.check_char}")
    print(f"lineage:         {parsed.lineage}")
    return status


# -- administration ---------------------------------------------------------------

_ROLES = {"issuer": 1, "counter": 2, "seal_owner": 3, "integrator": 4}


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
    reply = asyncio.run(
        _call(
            args,
            lambda s: s.OnboardDepartment(
                pb.OnboardDepartmentRequest(code=args.code, name=args.name, roles=roles)
            ),
        )
    )
    print(f"onboarded {reply.department.code} {reply.department.name}")
    if args.dev_identity:
        _dev_identity(args, f"dept:{args.code}")
    return 0


def cmd_department_list(args: argparse.Namespace) -> int:
    """List departments."""
    from certseal.v1 import issuer_pb2 as pb

    reply = asyncio.run(
        _call(args, lambda s: s.ListDepartments(pb.ListDepartmentsRequest()))
    )
    names = {v: k for k, v in _ROLES.items()}
    for d in reply.departments:
        print(f"{d.code}  {d.name}  [{', '.join(names[r] for r in d.roles)}]")
    return 0


_FIELD_TYPES = {"string": 1, "integer": 2, "boolean": 3, "date": 4}


def _field_spec(text: str) -> Any:
    from certseal.v1 import licence_pb2

    name, _, rest = text.partition(":")
    parts = rest.split(":") if rest else ["string"]
    kind, flags = parts[0], set(parts[1:])
    unknown = flags - {"required", "public", "personal"}
    if kind not in _FIELD_TYPES or unknown:
        raise argparse.ArgumentTypeError(
            f"{text!r}: use NAME:TYPE[:required][:public][:personal], TYPE one of "
            f"{', '.join(_FIELD_TYPES)}"
        )
    return licence_pb2.FieldSpec(
        name=name,
        type=_FIELD_TYPES[kind],  # type: ignore[arg-type]
        required="required" in flags,
        public="public" in flags,
        personal="personal" in flags,
    )


def cmd_type_add(args: argparse.Namespace) -> int:
    """Register a licence type."""
    from certseal.v1 import issuer_pb2 as pb

    reply = asyncio.run(
        _call(
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
    )
    print(f"registered {reply.licence_type.type_code} {reply.licence_type.name}")
    return 0


def _print_key(key: Any) -> None:
    status = {1: "active", 2: "retired", 3: "revoked"}.get(key.status, "?")
    print(
        f"{key.kid}  {key.department_code}  {key.suite:8} {status:8} "
        f"valid {_ts(key.not_before)} .. {_ts(key.not_after)}"
        + (
            f"  revoked at {_ts(key.revoked_at)}: {key.revocation_reason}"
            if key.status == 3
            else ""
        )
    )


def cmd_key(args: argparse.Namespace) -> int:
    """Create, rotate, retire, revoke or list signing keys."""
    from google.protobuf.timestamp_pb2 import Timestamp

    from certseal.v1 import issuer_pb2 as pb

    if args.key_command == "create":
        reply = asyncio.run(
            _call(
                args,
                lambda s: s.CreateSigningKey(
                    pb.CreateSigningKeyRequest(
                        department_code=args.department,
                        suite=args.suite,
                        validity_days=args.validity_days,
                    )
                ),
            )
        )
        _print_key(reply.key)
    elif args.key_command == "rotate":
        reply = asyncio.run(
            _call(
                args,
                lambda s: s.RotateSigningKey(
                    pb.RotateSigningKeyRequest(
                        department_code=args.department,
                        suite=args.suite,
                        validity_days=args.validity_days,
                    )
                ),
            )
        )
        _print_key(reply.key)
        for key in reply.retired:
            _print_key(key)
    elif args.key_command == "retire":
        reply = asyncio.run(
            _call(
                args,
                lambda s: s.RetireSigningKey(pb.RetireSigningKeyRequest(kid=args.kid)),
            )
        )
        _print_key(reply.key)
    elif args.key_command == "revoke":
        request = pb.RevokeSigningKeyRequest(kid=args.kid, reason=args.reason)
        if args.at:
            stamp = Timestamp()
            stamp.FromDatetime(dt.datetime.fromisoformat(args.at))
            request.revoked_at.CopyFrom(stamp)
        reply = asyncio.run(_call(args, lambda s: s.RevokeSigningKey(request)))
        _print_key(reply.key)
    else:
        reply = asyncio.run(
            _call(
                args,
                lambda s: s.ListSigningKeys(
                    pb.ListSigningKeysRequest(department_code=args.department)
                ),
            )
        )
        for key in reply.keys:
            _print_key(key)
    return 0


def _print_licence(licence: Any) -> None:
    statuses = {
        1: "valid 01",
        2: "suspended 02",
        3: "revoked 03",
        4: "cancelled 04",
        5: "expired 05",
        6: "transferred out 06",
        7: "revoked as sanction 07",
    }
    print(f"identifier  {licence.identifier}")
    print(
        f"status      {statuses.get(licence.status, licence.status)}"
        + (f" ({licence.status_reason})" if licence.status_reason else "")
    )
    print(f"holder      {licence.holder.name or licence.holder_display_name}")
    print(f"valid       {_ts(licence.valid_from)} .. {_ts(licence.valid_until)}")
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
            holder=licence_pb2.Holder(
                name=args.holder_name, id_type=args.id_type, id_number=args.id_number
            ),
        )
        for item in args.field or []:
            name, sep, value = item.partition("=")
            if not sep:
                print(f"error: --field {item!r}: use NAME=VALUE", file=sys.stderr)
                return 2
            if value.lstrip("-").isdigit():
                request.fields[name].integer_value = int(value)
            else:
                request.fields[name].string_value = value
        reply = asyncio.run(_call(args, lambda s: s.IssueLicence(request), admin=False))
        _print_licence(reply.licence)
        return 0
    if command == "code":
        code = asyncio.run(
            _call(
                args,
                lambda s: s.GetLicenceCode(
                    pb.GetLicenceCodeRequest(identifier=args.identifier)
                ),
                admin=False,
            )
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
    reply = asyncio.run(_call(args, calls[command], admin=False))
    _print_licence(reply.licence)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify a code (text) or a QR image; exit 0 only when VALID.

    Online at the verifier, or with ``--offline --bundle FILE`` from a trust bundle
    alone (no network).
    """
    if not args.code and not args.image:
        print("error: give the scanned text or --image FILE", file=sys.stderr)
        return 2
    if not args.image and _is_file(args.code):  # CODE_OR_IMAGE
        args.image, args.code = args.code, ""
    image = Path(args.image).read_bytes() if args.image else b""
    if args.offline:
        return _verify_offline(args, image)
    if not args.purpose:
        raise invalid("purpose", "is required: the purpose of use (用证事由)")
    from certseal.rpc import error_from_rpc
    from certseal.v1 import verifier_pb2, verifier_pb2_grpc

    cfg = _load(args)

    async def call() -> Any:
        async with _cli_channel(cfg, cfg.cli.verifier_target) as channel:
            stub = verifier_pb2_grpc.VerifierStub(channel)
            try:
                if args.image:
                    return (
                        await stub.VerifyImage(
                            verifier_pb2.VerifyImageRequest(
                                image=image,
                                purpose=args.purpose,
                            )
                        )
                    ).result
                return (
                    await stub.VerifyCode(
                        verifier_pb2.VerifyCodeRequest(
                            code=args.code, purpose=args.purpose
                        )
                    )
                ).result
            except grpc.aio.AioRpcError as exc:
                raise error_from_rpc(exc) from None

    result = asyncio.run(call())
    return _print_verdict(
        verifier_pb2.Verdict.Name(result.verdict).removeprefix("VERDICT_"),
        result.identifier,
        result.holder_display_name,
        dict(result.fields),
        [(c.name, c.passed, c.detail) for c in result.checks],
    )


def _cli_channel(cfg: Config, target: str) -> grpc.aio.Channel:
    """An mTLS channel to ``target`` as the CLI's configured identity."""
    from certseal.rpc import secure_channel

    return secure_channel(target, cfg.tls.ca_file, cfg.cli.cert_file, cfg.cli.key_file)


def _is_file(text: str) -> bool:
    """Whether ``text`` names a file (a scanned code never does)."""
    if text.startswith(("LC1:", "PC1:")):
        return False
    try:
        return Path(text).is_file()
    except OSError:  # e.g. longer than a file name may be
        return False


def _verify_offline(args: argparse.Namespace, image: bytes) -> int:
    from certseal.codes import read_qr_image
    from services.verifier.bundle import open_bundle, read_bundle_file, verify_offline

    if not args.bundle:
        raise invalid("bundle", "--offline needs --bundle FILE (certseal bundle fetch)")
    cfg = _load(args)
    now = utcnow()
    bundle = open_bundle(
        read_bundle_file(Path(args.bundle)),
        ca_pem=Path(cfg.tls.ca_file).read_bytes(),
        now=now,
    )
    text = read_qr_image(image) if image else args.code
    result = verify_offline(text, bundle, now)
    print(
        f"offline     bundle {bundle.version} of {bundle.group}, signed by "
        f"{bundle.signer}, valid until {bundle.valid_until.isoformat()}"
    )
    return _print_verdict(
        result.verdict.value,
        result.identifier,
        result.holder_display_name,
        {k: str(v) for k, v in result.fields.items()},
        [(c.name, c.outcome.value == "passed", c.detail) for c in result.checks],
    )


def _print_verdict(
    verdict: str,
    identifier: str,
    holder: str,
    fields: dict[str, str],
    checks: list[tuple[str, bool, str]],
) -> int:
    print(f"verdict     {verdict}")
    if identifier:
        print(f"identifier  {identifier}")
    if holder:
        print(f"holder      {holder}")
    for name, value in sorted(fields.items()):
        print(f"  {name} = {value}")
    for name, passed, detail in checks:
        print(f"  [{'ok' if passed else 'FAILED'}] {name}: {detail}")
    return 0 if verdict == "VALID" else 1


def cmd_bundle_fetch(args: argparse.Namespace) -> int:
    """Fetch an offline trust bundle, or the delta to the one in FILE."""
    from certseal.rpc import error_from_rpc
    from certseal.v1 import verifier_pb2, verifier_pb2_grpc
    from services.verifier.bundle import (
        OfflineBundle,
        open_bundle,
        read_bundle_file,
        write_bundle_file,
    )

    cfg = _load(args)
    out = Path(args.out)
    ca_pem = Path(cfg.tls.ca_file).read_bytes()
    held: OfflineBundle | None = None
    if out.exists() and not args.full:
        try:
            held = open_bundle(read_bundle_file(out), ca_pem=ca_pem, now=utcnow())
        except CertsealError as exc:
            print(f"{out}: {exc}; fetching a full bundle", file=sys.stderr)
    if held is not None and len(held.messages) > args.max_deltas:
        held = None  # start afresh rather than carry a long chain

    async def call(since: OfflineBundle | None) -> Any:
        async with _cli_channel(cfg, cfg.cli.verifier_target) as channel:
            stub = verifier_pb2_grpc.VerifierStub(channel)
            request = verifier_pb2.ExportTrustBundleRequest(
                since_version=since.version if since else 0,
                group=since.group if since else "",
            )
            try:
                return await stub.ExportTrustBundle(request)
            except grpc.aio.AioRpcError as exc:
                raise error_from_rpc(exc) from None

    try:
        reply = asyncio.run(call(held))
    except CertsealError as exc:
        if held is None or exc.kind.value != "FAILED_PRECONDITION":
            raise
        print(f"{exc}; fetching a full bundle", file=sys.stderr)
        held, reply = None, asyncio.run(call(None))
    messages = [*(held.messages if held and reply.base_version else ()), reply.bundle]
    bundle = open_bundle(messages, ca_pem=ca_pem, now=utcnow())
    write_bundle_file(out, bundle.messages)
    kind = f"delta from {reply.base_version}" if reply.base_version else "full"
    print(
        f"{out}: bundle {bundle.version} of group {bundle.group} ({kind}, "
        f"{reply.listed_licences} lineages in this message); lists "
        f"{len(bundle.content.licences)} lineages and {len(bundle.content.keys)} keys; "
        f"valid until {bundle.valid_until.isoformat()}"
    )
    return 0


def cmd_events_tail(args: argparse.Namespace) -> int:
    """Print the event feed as it happens (operators see every event)."""
    from certseal.rpc import error_from_rpc
    from certseal.v1 import events_pb2, feed_pb2_grpc
    from certseal.v1 import feed_pb2 as pb

    cfg = _load(args)
    request = pb.SubscribeRequest(
        event_types=args.type or [],
        departments=args.department or [],
        licence_types=args.licence_type or [],
    )
    if args.token:
        request.token = args.token
    elif args.since == "earliest":
        request.earliest = True
    else:
        request.latest = True

    def summary(event: Any) -> str:
        if event.topic == "certseal.licence-events.v1":
            licence = events_pb2.LicenceEvent.FromString(event.data)
            return f"{licence.identifier} status {licence.status:02d} {licence.reason}"
        if event.topic == "certseal.seal-events.v1":
            seal = events_pb2.SealEvent.FromString(event.data)
            return f"{seal.seal_id} {seal.status} {seal.document_digest[:16]}"
        key = events_pb2.TrustEvent.FromString(event.data)
        return f"key {key.kid} {key.suite}"

    async def tail() -> None:
        async with _cli_channel(cfg, cfg.cli.feed_target) as channel:
            try:
                async for event in feed_pb2_grpc.EventFeedStub(channel).Subscribe(
                    request
                ):
                    when = event.time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")
                    print(
                        f"{when}  {event.type:<22} {event.source.rsplit('/', 1)[-1]:<18} "
                        f"{summary(event)}",
                        flush=True,
                    )
                    if args.show_token:
                        print(f"  token {event.token}", flush=True)
            except grpc.aio.AioRpcError as exc:
                raise error_from_rpc(exc) from None

    asyncio.run(tail())
    return 0


def cmd_feed_kafka_users(args: argparse.Namespace) -> int:
    """Print Strimzi KafkaUser manifests matching the integrators' entitlements."""
    from certseal import db
    from services.feed.domain import Entitlement, kafka_user_manifest

    async def run() -> list[Entitlement]:
        conn = await db.connect(_load(args).database.dsn())
        try:
            rows = await conn.fetch("select * from feed_entitlements order by 1")
        finally:
            await conn.close()
        return [
            Entitlement(
                r["integrator"],
                frozenset(r["departments"]),
                frozenset(r["licence_types"]),
                frozenset(r["event_types"]),
            )
            for r in rows
        ]

    manifests = [kafka_user_manifest(e, args.cluster) for e in asyncio.run(run())]
    print("---\n".join(manifests), end="")
    return 0


def cmd_feed(args: argparse.Namespace) -> int:
    """Operator commands of the event feed: entitlements, webhooks, parked deliveries."""
    from certseal.rpc import error_from_rpc
    from certseal.v1 import feed_pb2 as pb
    from certseal.v1 import feed_pb2_grpc

    cfg = _load(args)
    secret = (
        Path(args.secret_file).read_bytes().strip()
        if args.feed_command == "webhook"
        else b""
    )

    async def call() -> Any:
        async with _cli_channel(cfg, cfg.cli.feed_target) as channel:
            admin = feed_pb2_grpc.EventFeedAdminStub(channel)
            try:
                if args.feed_command == "entitle":
                    return await admin.SetEntitlement(
                        pb.SetEntitlementRequest(
                            entitlement=pb.Entitlement(
                                integrator=args.integrator,
                                departments=args.department or [],
                                licence_types=args.licence_type or [],
                                event_types=args.type or [],
                            )
                        )
                    )
                if args.feed_command == "webhook":
                    return await admin.RegisterWebhook(
                        pb.RegisterWebhookRequest(
                            name=args.name,
                            integrator=args.integrator,
                            url=args.url,
                            secret=secret,
                            event_types=args.type or [],
                            departments=args.department or [],
                            licence_types=args.licence_type or [],
                        )
                    )
                if args.feed_command == "parked":
                    return await admin.ListParkedDeliveries(
                        pb.ListParkedDeliveriesRequest(webhook=args.name)
                    )
                return await admin.ReplayParkedDeliveries(
                    pb.ReplayParkedDeliveriesRequest(webhook=args.name)
                )
            except grpc.aio.AioRpcError as exc:
                raise error_from_rpc(exc) from None

    reply = asyncio.run(call())
    if args.feed_command == "entitle":
        e = reply.entitlement
        print(
            f"{e.integrator}: departments {', '.join(e.departments) or '-'}; "
            f"licence types {', '.join(e.licence_types) or '-'}; "
            f"events {', '.join(e.event_types) or '-'}"
        )
    elif args.feed_command == "webhook":
        print(f"webhook {reply.name} registered")
    elif args.feed_command == "parked":
        for p in reply.parked:
            print(f"{p.dead_letter_offset:>8}  {p.type:<20} {p.subject}  {p.reason}")
        print(f"{len(reply.parked)} parked")
    else:
        print(f"{reply.delivered} delivered, {reply.still_failing} still failing")
        return 0 if reply.still_failing == 0 else 1
    return 0


def cmd_seal_inspect(args: argparse.Namespace) -> int:
    """Print an SESeal or SES_Signature field by field."""
    from services.seal.inspect import describe

    path = Path(args.file)
    if not path.is_file():
        raise invalid("file", f"{path} does not exist")
    for line in describe(path.read_bytes()):
        print(line)
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Recompute the audit hash chain; exit 1 when it was tampered with."""
    from certseal import db
    from certseal.audit import verify_chain

    async def run() -> int:
        conn = await db.connect(_load(args).database.dsn())
        try:
            report = await verify_chain(conn)
        finally:
            await conn.close()
        for problem in report.problems:
            print(f"TAMPERED: {problem}")
        print(
            f"{report.rows_checked} rows checked, {report.unsealed} not sealed yet: "
            + ("chain intact" if report.ok else "chain BROKEN")
        )
        return 0 if report.ok else 1

    return asyncio.run(run())


def cmd_kek_rewrap(args: argparse.Namespace) -> int:
    """Re-wrap every key under a new key-encryption key (services stopped)."""
    from certseal import db
    from certseal.crypto import KeyWrapper, read_secret_file
    from certseal.kek import rewrap_all

    cfg = _load(args)
    current = KeyWrapper(read_secret_file(Path(cfg.secrets.kek_file)))
    new = KeyWrapper(read_secret_file(Path(args.new_kek)))

    async def run() -> dict[str, int]:
        conn = await db.connect(cfg.database.dsn())
        try:
            return await rewrap_all(conn, current, new)
        finally:
            await conn.close()

    counts = asyncio.run(run())
    for table, count in counts.items():
        print(f"{table}: {count} re-wrapped")
    print(
        f"every key is now wrapped under {args.new_kek}: install it as the KEK "
        "([secrets] kek_file) and start the services"
    )
    return 0


def _dev_identity(args: argparse.Namespace, common_name: str) -> None:
    from certseal.devpki import DevCA

    cfg = _load(args)
    ident = DevCA(Path(cfg.tls.ca_file).parent).identity(common_name)
    print(f"dev mTLS identity {common_name}: {ident.cert_file} {ident.key_file}")


def cmd_dev_identity(args: argparse.Namespace) -> int:
    """Issue a dev mTLS certificate (embedded stack only)."""
    _dev_identity(args, args.common_name)
    return 0


# -- run ----------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    """Run the embedded stack and the services until Ctrl-C."""
    from certseal.devstack import EmbeddedStack

    logs.configure("INFO")
    home = Path(args.home)
    stack = EmbeddedStack(home)
    stack.config.verifier.data_dir = str(home.resolve() / "verifier")
    stack.config.verifier.group = "dept-demo"
    region = "127.0.0.1:50055"  # a second verifier group, as another region runs one
    stack.config.console.verifier_targets = [stack.config.verifier.listen, region]
    cfg = asyncio.run(stack.start())
    config = str(stack.config_file)

    def service(module: str, *extra: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", module, "--config", config, *extra]
        )

    services = {
        "issuer": service("services.issuer"),
        "verifier": service("services.verifier", "--metrics-listen", "127.0.0.1:9494"),
        "region": service(
            "services.verifier",
            *("--group", "region-demo", "--listen", region),
            *("--metrics-listen", "127.0.0.1:9495"),
        ),
        "seal": service("services.seal"),
        "feed": service("services.feed"),
        "console": service("services.console"),
    }
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    targets = {
        "issuer": cfg.cli.issuer_target,
        "verifier": cfg.cli.verifier_target,
        "region": region,
        "seal": cfg.cli.seal_target,
        "feed": cfg.cli.feed_target,
    }
    ready = {
        name: _wait_serving(cfg, services[name], target)
        for name, target in targets.items()
    }
    console_url = f"https://{cfg.console.listen}/"
    ready["console"] = _wait_https(cfg, services["console"], console_url)
    state = {n: "SERVING" if ok else "NOT READY" for n, ok in ready.items()}
    ca = cfg.tls.ca_file
    print(
        f"""
certseal is running on the embedded defaults (data in {home.resolve()}).

  PostgreSQL   {cfg.database.dsn()}
  Kafka        {cfg.kafka.bootstrap_servers}   topics: certseal.licence-events.v1,
               certseal.trust-events.v1, certseal.seal-events.v1
  Issuer gRPC  {cfg.issuer.listen} (mTLS; CA {ca})   {state["issuer"]}
  Verifier     {cfg.verifier.listen} (group {cfg.verifier.group}, index in {cfg.verifier.data_dir})   {state["verifier"]}
               {region} (group region-demo)   {state["region"]}
  Seal gRPC    {cfg.seal.listen} (seal CA {cfg.seal.ca_cert_file})   {state["seal"]}
  Event feed   {cfg.feed.listen} (integrators app:<name>; operators see all)   {state["feed"]}
  Console      {console_url} (counter page; operations at {console_url}operator)   {state["console"]}
               the browser must trust the dev CA {ca}
  Metrics      http://{cfg.issuer.metrics_listen}/metrics
  Config       {stack.config_file}

Try, in another terminal (the CLI finds {stack.config_file}):
  .venv/bin/certseal department add 91350100M000100Y43 --name 示例交警支队 --roles issuer --dev-identity
  .venv/bin/certseal key create 91350100M000100Y43 --suite sm2
  .venv/bin/certseal type add --code 91350100M000100Y43001 --name 机动车驾驶证 \\
      --issuers 91350100M000100Y43 --field class:string:required:public --field address:string:personal
  .venv/bin/certseal licence --as 91350100M000100Y43 issue --type 91350100M000100Y43001 \\
      --holder-name 张三 --id-number 440301199001011234 --field class=C1 --field address=深圳
  .venv/bin/certseal licence --as 91350100M000100Y43 code IDENTIFIER --png code.png
  .venv/bin/certseal verify --purpose 窗口办事 LC1:...      (or --image code.png)
  .venv/bin/certseal bundle fetch --out counter.bundle   (then, with no network:)
  .venv/bin/certseal verify --offline --bundle counter.bundle LC1:...
  .venv/bin/certseal seal inspect FILE.ses               (any SESeal or SES_Signature)
  .venv/bin/certseal events tail --since earliest        (the live event feed)
  .venv/bin/certseal id check IDENTIFIER
  .venv/bin/certseal audit verify
gRPC reflection is on: grpcurl -cacert {ca} -cert ... -key ... {cfg.issuer.listen} list

Ctrl-C stops everything; running again reuses the data.
""",
        flush=True,
    )
    try:
        while not stopping and all(p.poll() is None for p in services.values()):
            time.sleep(0.2)
    finally:
        for process in services.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in services.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        stack.stop()
        print("stopped.")
    return 0 if stopping else 1


def _wait_serving(cfg: Config, process: subprocess.Popen[bytes], target: str) -> bool:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async def poll() -> bool:
        async with _cli_channel(cfg, target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for _ in range(600):
                if process.poll() is not None:
                    return False
                try:
                    reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return True
                except grpc.aio.AioRpcError:
                    pass
                await asyncio.sleep(0.2)
        return False

    return asyncio.run(poll())


def _wait_https(cfg: Config, process: subprocess.Popen[bytes], url: str) -> bool:
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context(cafile=cfg.tls.ca_file)
    for _ in range(300):
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, context=context, timeout=1):
                return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    return False


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    parser = argparse.ArgumentParser(prog="certseal", description=__doc__)
    parser.add_argument(
        "--config", help="configuration file (default .certseal/config.toml)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the embedded stack and the services")
    run.add_argument("--home", default=str(DEFAULT_HOME))
    run.set_defaults(func=cmd_run)

    ident = sub.add_parser("id", help="licence identifiers").add_subparsers(
        dest="id_command", required=True
    )
    check = ident.add_parser("check", help="parse and check an identifier")
    check.add_argument("identifier")
    check.set_defaults(func=cmd_id_check)

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
        help="NAME:TYPE[:required][:public][:personal], repeatable",
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

    verify = sub.add_parser("verify", help="verify a scanned code or QR image")
    verify.add_argument(
        "code", nargs="?", default="", help="the scanned text, or a PNG/JPEG of the QR"
    )
    verify.add_argument("--image", help="a PNG or JPEG of the QR code instead")
    verify.add_argument("--purpose", help="the purpose of use (用证事由), online")
    verify.add_argument(
        "--offline", action="store_true", help="verify with a trust bundle, no network"
    )
    verify.add_argument("--bundle", help="the trust bundle file for --offline")
    verify.set_defaults(func=cmd_verify)

    bundles = sub.add_parser("bundle", help="offline trust bundles").add_subparsers(
        dest="bundle_command", required=True
    )
    fetch = bundles.add_parser(
        "fetch", help="fetch a bundle from the verifier, or update the one in --out"
    )
    fetch.add_argument("--out", required=True, help="the bundle file")
    fetch.add_argument("--full", action="store_true", help="never a delta")
    fetch.add_argument(
        "--max-deltas",
        type=int,
        default=50,
        help="fetch a full bundle once the file holds this many deltas",
    )
    fetch.set_defaults(func=cmd_bundle_fetch)

    events = sub.add_parser("events", help="the event feed").add_subparsers(
        dest="events_command", required=True
    )
    tail = events.add_parser("tail", help="print events as they happen")
    tail.add_argument("--type", action="append", help="e.g. licence.revoked, seal.*")
    tail.add_argument("--department", action="append", help="department code")
    tail.add_argument("--licence-type", action="append", help="licence type code")
    tail.add_argument("--since", choices=["latest", "earliest"], default="latest")
    tail.add_argument("--token", help="continue after the event with this token")
    tail.add_argument("--show-token", action="store_true")
    tail.set_defaults(func=cmd_events_tail)

    feed = sub.add_parser("feed", help="event feed administration").add_subparsers(
        dest="feed_command", required=True
    )
    entitle = feed.add_parser("entitle", help="set what an integrator may receive")
    entitle.add_argument("integrator", help="app:<name>")
    hook = feed.add_parser("webhook", help="register or replace a webhook")
    hook.add_argument("name")
    hook.add_argument("--integrator", required=True, help="app:<name>")
    hook.add_argument("--url", required=True, help="https://...")
    hook.add_argument("--secret-file", required=True, help="the HMAC secret")
    for command in (entitle, hook):
        command.add_argument("--department", action="append", help="code or *")
        command.add_argument("--licence-type", action="append", help="code or *")
        command.add_argument("--type", action="append", help="e.g. licence.* or *")
    for name in ("parked", "replay"):
        feed.add_parser(name, help=f"{name} parked deliveries").add_argument("name")
    for command in feed.choices.values():
        command.set_defaults(func=cmd_feed)
    users = feed.add_parser(
        "kafka-users", help="KafkaUser manifests (Strimzi) for the entitlements"
    )
    users.add_argument("--cluster", default="certseal", help="the Strimzi Kafka name")
    users.set_defaults(func=cmd_feed_kafka_users)

    seal = sub.add_parser("seal", help="electronic seals").add_subparsers(
        dest="seal_command", required=True
    )
    inspect = seal.add_parser(
        "inspect", help="print an SESeal or SES_Signature (DER) field by field"
    )
    inspect.add_argument("file")
    inspect.set_defaults(func=cmd_seal_inspect)

    audit = sub.add_parser("audit", help="audit trail").add_subparsers(
        dest="audit_command", required=True
    )
    audit.add_parser("verify", help="recompute the hash chain").set_defaults(
        func=cmd_audit_verify
    )

    kek = sub.add_parser("kek", help="the key-encryption key").add_subparsers(
        dest="kek_command", required=True
    )
    rewrap = kek.add_parser(
        "rewrap", help="re-wrap every key under a new KEK (stop the services first)"
    )
    rewrap.add_argument("--new-kek", required=True, help="file with the new 32 bytes")
    rewrap.set_defaults(func=cmd_kek_rewrap)

    dev = sub.add_parser("dev", help="embedded-stack helpers").add_subparsers(
        dest="dev_command", required=True
    )
    di = dev.add_parser("identity", help="issue a dev mTLS certificate")
    di.add_argument("common_name", help="dept:<code>, operator:<name> or app:<name>")
    di.set_defaults(func=cmd_dev_identity)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; errors print as 'error: field: message' with a non-zero exit."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CertsealError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if exc.kind.value == "INVALID_ARGUMENT" else 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the output was piped into head or similar
        return 0
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
