"""The event feed's ``certseal`` commands: ``events tail`` for anyone entitled, and
``feed`` for the operator (entitlements, webhooks, parked deliveries, KafkaUsers)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from certseal.calls import call_service, run_unformatted
from certseal.cli import (
    database_unreachable,
    load,
)
from certseal.cli_options import say
from certseal.cli_parser import given
from certseal.errors import CertsealError, invalid
from certseal.files import certificate_common_name
from certseal.statuses import status_label
from certseal.text import one_line, shown_name
from services.feed.cli_as import check_tail_as, tail_identity
from services.feed.cli_receiver import register_receiver_cert
from services.feed.cli_shown import print_entitlement, print_page, print_webhook
from services.feed.cli_tail import opened
from services.feed.domain import EVENT_TOPICS, SUBSCRIBED
from services.feed.filters import check_event_types
from services.feed.identities import integrator_identity


def _usage_line(used: Any) -> str:
    """One request's usage record (its codes of one department and type): the first
    three codes and how many more, who verified them and why."""
    from certseal.events import uses_of

    uses: list[Any] = list(uses_of(used)) or [used]
    named = ", ".join(f"{u.identifier} {u.verdict}" for u in uses[:3])
    more = f" and {len(uses) - 3} more" if len(uses) > 3 else ""
    return f"{named}{more} by {used.counter} ({used.purpose})"


def _seal_line(event: Any) -> str:
    """A seal event: the seal, its kind and suite (the event carries no name), its
    status, and the reason or the sealed document's digest when there is one."""
    parts = (event.seal_id, event.seal_type, event.suite, event.status, event.reason)
    return " ".join(p for p in (*parts, event.document_digest[:16]) if p)


def _summary(event: Any) -> str:
    """One line for any event the feed sends: decoded by its topic's value type; an
    unknown topic or an undecodable value is shown as such, never a traceback."""
    from google.protobuf.message import DecodeError

    from certseal.v1 import events_pb2

    decoders: dict[str, tuple[Any, Any]] = {
        "certseal.licence-events.v1": (
            events_pb2.LicenceEvent,
            lambda e: f"{e.identifier} {status_label(e.status)} {e.reason}".rstrip(),
        ),
        "certseal.seal-events.v1": (
            events_pb2.SealEvent,
            _seal_line,
        ),
        "certseal.licence-usage.v1": (
            events_pb2.LicenceUsedEvent,
            _usage_line,
        ),
        "certseal.trust-events.v1": (
            events_pb2.TrustEvent,
            lambda e: f"key {e.kid} {e.suite}",
        ),
    }
    directory = getattr(events_pb2, "DirectoryEvent", None)
    if directory is not None:
        decoders["certseal.directory-events.v1"] = (
            directory,
            lambda e: f"{e.code} {e.name}",
        )
    known = decoders.get(event.topic)
    if known is None:
        return f"{event.subject} ({event.topic}, {len(event.data)} bytes)"
    message, line = known
    try:
        return str(line(message.FromString(event.data)))
    except (DecodeError, ValueError) as exc:
        return f"{event.subject} (undecodable {event.topic} value: {exc})"


def cmd_events_tail(args: argparse.Namespace) -> int:
    """Print the event feed as it happens (operators see every event)."""
    from certseal.v1 import feed_pb2 as pb
    from certseal.v1 import feed_pb2_grpc

    # a type the platform never publishes is refused here; one outside the caller's
    # entitlement by the feed (field event_types, shown as the option's name)
    check_event_types(args.type or [], frozenset({"*"}), field="type")
    if args.token and args.since:
        raise invalid(
            "since",
            "has no effect with --token (the subscription continues after the "
            "token's event): give one of them",
        )
    if args.as_identity:
        check_tail_as(args.as_identity)
    cfg = load(args)
    identity = tail_identity(cfg, args.as_identity) if args.as_identity else None
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

    async def tail(chan: Any) -> None:
        stream = await opened(feed_pb2_grpc.EventFeedStub(chan), request)
        # the feed sends its headers once the stream is open; a refusal has none
        if SUBSCRIBED in tuple(await stream.initial_metadata() or ()):
            print(_subscribed(args, cfg), file=sys.stderr, flush=True)
        async for event in stream:
            say(_line(event), flush=True)
            if args.show_token:
                print(f"  token {event.token}", flush=True)

    call_service(
        cfg,
        cfg.cli.feed_target,
        tail,
        service="feed",
        identity=identity,
        options=_OPTIONS,
    )
    return 0


#: the type column: as wide as the longest type the feed carries
_TYPE_WIDTH = max(map(len, EVENT_TOPICS))


def _line(event: Any) -> str:
    """One event as ``events tail`` prints it: time, type, department, summary."""
    when = event.time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")
    kind = event.type.removeprefix("cn.gov.certseal.")
    department = event.source.rsplit("/", 1)[-1]
    line = f"{when}  {kind:<{_TYPE_WIDTH}} {department:<18} {_summary(event)}"
    return line.rstrip()


def _subscribed(args: argparse.Namespace, cfg: Any) -> str:
    """The line ``events tail`` prints (stderr) once its subscription is open: who
    (``--as``, else the name in ``[cli] cert_file``), what and from where, so a
    subscription that receives nothing is no hang."""
    try:  # read by the channel already: a file unreadable now names no one
        name = certificate_common_name(cfg.cli.cert_file, "cli.cert_file")
    except CertsealError:
        name = ""
    who = args.as_identity or f"{name or 'the CLI identity'} ([cli] cert_file)"
    what = ", ".join(args.type or []) or "every event type it may receive"
    for option, values in (
        ("department", args.department),
        ("licence type", args.licence_type),
    ):
        if values:
            what += f" of {option} {', '.join(values)}"
    if args.token:
        since = "after the token's event"
    else:
        since = "the earliest kept" if args.since == "earliest" else "now"
        since = f"from {since}"
    return f"subscribed as {who} to {what} {since}; waiting for events (Ctrl-C stops)"


def cmd_feed_kafka_users(args: argparse.Namespace) -> int:
    """Print Strimzi KafkaUser manifests matching the integrators' entitlements."""
    from certseal.storage.pool import create_pool
    from services.feed.domain import Entitlement, kafka_user_manifest
    from services.feed.storage import FeedStore

    async def run() -> list[Entitlement]:
        dsn = load(args).database.dsn()
        try:
            pool = await create_pool(dsn, min_size=1, max_size=1)
        except OSError as exc:  # after connecting (its migrations)
            raise database_unreachable(dsn, exc) from None
        try:
            return await FeedStore(pool).entitlements()
        finally:
            await pool.close()

    # one KafkaUser per integrator: an integrator:<name> row wins over the app:<name>
    # row it was copied from (feed migration 0003), which is still stored
    latest = {
        "integrator:" + e.integrator.partition(":")[2]: e
        for e in sorted(
            run_unformatted(run()), key=lambda e: e.integrator.startswith("integrator:")
        )
    }
    manifests = [kafka_user_manifest(e, args.cluster) for e in latest.values()]
    print("---\n".join(manifests), end="")
    return 0


def webhook_secret(path: Path) -> bytes:
    """A webhook secret: the file's bytes exactly, as the receiver uses them.

    INVALID_ARGUMENT (``secret-file``) for a file that starts or ends with white space
    (``echo`` adds a line break): stripping it here and not at the receiver, or the
    other way round, would make every signature fail, so neither side strips
    (docs/events.md, "Verifying a delivery").
    """
    from certseal.bounds import MAX_SMALL_FILE_BYTES
    from certseal.files import read_input_file

    secret = read_input_file(path, "secret-file", MAX_SMALL_FILE_BYTES)
    if secret != secret.strip():
        raise invalid(
            "secret-file",
            f"{shown_name(path)} starts or ends with white space (a line break from echo?): "
            "the secret is the file's exact bytes; write it with printf '%s'",
        )
    return secret


def cmd_feed(args: argparse.Namespace) -> int:
    """Operator commands of the event feed: entitlements, webhooks, parked deliveries."""
    from certseal.v1 import feed_pb2 as pb
    from certseal.v1 import feed_pb2_grpc

    command = args.feed_command
    if command == "entitle":
        _check_entitlement(args)
    elif command in ("entitlement", "revoke"):
        integrator_identity(args.integrator)
    cfg = load(args)
    if command == "entitle":
        request: Any = pb.SetEntitlementRequest(
            entitlement=pb.Entitlement(
                integrator=args.integrator,
                departments=args.department or [],
                licence_types=args.licence_type or [],
                event_types=args.type or [],
            )
        )
    elif command == "webhook":
        request = pb.RegisterWebhookRequest(
            name=args.name,
            integrator=args.integrator,
            url=args.url,
            secret=webhook_secret(Path(args.secret_file)),
            event_types=args.type or [],
            departments=args.department or [],
            licence_types=args.licence_type or [],
        )
    elif command == "entitlement":
        request = pb.GetEntitlementRequest(integrator=args.integrator)
    elif command == "entitlements":
        request = pb.ListEntitlementsRequest(page_token=args.page_token or "")
    elif command == "revoke":
        request = pb.RemoveEntitlementRequest(integrator=args.integrator)
    elif command == "parked":
        request = pb.ListParkedDeliveriesRequest(webhook=args.name)
    elif command == "webhooks":
        request = pb.ListWebhooksRequest(
            integrator=args.integrator or "", page_token=args.page_token or ""
        )
    elif command == "remove-webhook":
        request = pb.RemoveWebhookRequest(name=args.name)
    else:
        request = pb.ReplayParkedDeliveriesRequest(webhook=args.name)
    method = {
        "entitle": "SetEntitlement",
        "entitlement": "GetEntitlement",
        "entitlements": "ListEntitlements",
        "revoke": "RemoveEntitlement",
        "webhook": "RegisterWebhook",
        "parked": "ListParkedDeliveries",
        "webhooks": "ListWebhooks",
        "remove-webhook": "RemoveWebhook",
        "replay": "ReplayParkedDeliveries",
    }[command]
    reply = call_service(
        cfg,
        cfg.cli.feed_target,
        lambda chan: getattr(feed_pb2_grpc.EventFeedAdminStub(chan), method)(request),
        service="feed",
        options=_OPTIONS,
    )
    if command == "revoke":
        print(
            f"{reply.entitlement.integrator}: every right withdrawn (its "
            "subscriptions end within seconds; its webhooks post nothing more)"
        )
    elif command in ("entitle", "entitlement"):
        print_entitlement(reply.entitlement)
        for hook in reply.webhooks_outside if command == "entitle" else ():
            print(
                one_line(
                    f"warning: webhook {hook.webhook} asks for what the entitlement of "
                    f"{reply.entitlement.integrator} does not let through: {hook.why}. "
                    "It posts only the events both let through, which may be none: "
                    "register it again with a filter within the entitlement, or "
                    "widen the entitlement"
                ),
                file=sys.stderr,
            )
    elif command == "entitlements":
        for entitlement in reply.entitlements:
            print_entitlement(entitlement)
        print_page(len(reply.entitlements), "integrator", reply, args)
    elif command == "webhook":
        print(f"webhook {reply.name} registered")
        if reply.warning:
            print(one_line(f"warning: {reply.warning}"), file=sys.stderr)
    elif command == "webhooks":
        for hook in reply.webhooks:
            print_webhook(hook)
        print_page(len(reply.webhooks), "webhook", reply, args)
    elif command == "remove-webhook":
        print(f"webhook {reply.name} removed (its deliveries stop within a second)")
    elif command == "parked":
        for p in reply.parked:
            say(f"{p.dead_letter_offset:>8}  {p.type:<20} {p.subject}  {p.reason}")
        print(f"{len(reply.parked)} parked")
    else:
        print(
            f"{reply.delivered} delivered, {reply.still_failing} still failing, "
            f"{reply.skipped} skipped (no longer entitled or filtered out)"
        )
        return 0 if reply.still_failing == 0 else 1
    return 0


def _check_entitlement(args: argparse.Namespace) -> None:
    """The feed's checks of ``entitle``'s entitlement, before any call, naming the
    option: one that lets no event through was taken, and nothing came (trial2b)."""
    from certseal.calls import as_options
    from certseal.errors import CertsealError
    from services.feed.domain import Entitlement
    from services.feed.filters import check_entitlement

    try:
        check_entitlement(
            Entitlement(
                integrator_identity(args.integrator),
                frozenset(args.department or ()),
                frozenset(args.licence_type or ()),
                frozenset(args.type or ()),
            )
        )
    except CertsealError as exc:
        raise as_options(exc, _OPTIONS) from None


#: a request field the feed names in an error -> the option that gives it, where
#: their names differ (the user typed the option)
_OPTIONS = {
    "event_types": "type",
    "departments": "department",
    "licence_types": "licence_type",
    "webhook": "name",
    "secret": "secret_file",
    # the request's oneof start: only a token can be refused (earliest, latest are
    # flags), and the user gave it as --token
    "start": "token",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``events tail`` and ``feed``."""
    events = sub.add_parser("events", help="the event feed").add_subparsers(
        dest="events_command", required=True
    )
    tail = events.add_parser("tail", help="print events as they happen")
    tail.add_argument(
        "--as",
        dest="as_identity",
        type=given("an identity, integrator:<name> or operator:<name>"),
        metavar="IDENTITY",
        help="subscribe as this identity, e.g. integrator:acme: one the stack knows, "
        "entitled (make run's dev CA then issues its certificate) or made with "
        "'certseal dev identity'; default: the CLI's operator, who sees every event",
    )
    tail.add_argument(
        "--type",
        action="append",
        help="an event type or pattern, repeatable: "
        + ", ".join(sorted(EVENT_TOPICS))
        + ", prefix.* or *",
    )
    tail.add_argument(
        "--department",
        action="append",
        help="only events of this department (its code), repeatable",
    )
    tail.add_argument(
        "--licence-type",
        action="append",
        help="only licence events of this licence type (its code), repeatable",
    )
    tail.add_argument(
        "--since",
        choices=["latest", "earliest"],
        help="latest: only events published from now on (the default); earliest: "
        "every event the topics still keep, then new ones; not with --token",
    )
    tail.add_argument(
        "--token",
        help="continue after the event with this token (printed by --show-token)",
    )
    tail.add_argument(
        "--show-token",
        action="store_true",
        help="print each event's position token too (to resume with --token)",
    )
    tail.set_defaults(func=cmd_events_tail)

    feed = sub.add_parser("feed", help="event feed administration").add_subparsers(
        dest="feed_command", required=True
    )
    entitle = feed.add_parser(
        "entitle",
        help="set what an integrator may receive, replacing its entitlement: give "
        "every department, licence type and event type (each option repeatable)",
    )
    entitle.add_argument("integrator", help="integrator:<name>")
    for name, what in (
        ("entitlement", "show an integrator's entitlement"),
        ("revoke", "withdraw every right of an integrator (audited)"),
    ):
        feed.add_parser(name, help=what).add_argument(
            "integrator", help="integrator:<name>"
        )
    hook = feed.add_parser("webhook", help="register or replace a webhook")
    hook.add_argument("name")
    hook.add_argument("--integrator", required=True, help="integrator:<name>")
    hook.add_argument("--url", required=True, help="https://...")
    hook.add_argument("--secret-file", required=True, help="the HMAC secret")
    for command, left_out in (
        (entitle, ""),
        (hook, "; left out: every one the integrator's entitlement lets through"),
    ):
        for option, what in (
            ("--department", "a department code or *"),
            ("--licence-type", "a licence type code or *"),
            ("--type", "an event type or pattern, e.g. licence.* or *"),
        ):
            command.add_argument(
                option, action="append", help=f"{what}, repeatable{left_out}"
            )
    listing = feed.add_parser("entitlements", help="every integrator's entitlement")
    listing.add_argument("--page-token", help="the next page, as the last one said")
    hooks = feed.add_parser(
        "webhooks", help="the registered webhooks, each said outside its entitlement"
    )
    hooks.add_argument("--integrator", help="integrator:<name>: its webhooks only")
    hooks.add_argument("--page-token", help="the next page, as the last one said")
    for name, what in (
        ("parked", "list a webhook's parked deliveries"),
        ("replay", "deliver a webhook's parked deliveries again"),
        ("remove-webhook", "remove a webhook: its deliveries stop (audited)"),
    ):
        feed.add_parser(name, help=what).add_argument("name", help="the webhook")
    for command in feed.choices.values():
        command.set_defaults(func=cmd_feed)
    users = feed.add_parser(
        "kafka-users", help="KafkaUser manifests (Strimzi) for the entitlements"
    )
    users.add_argument(
        "--cluster",
        default="certseal",
        help="the Strimzi Kafka name (default certseal)",
    )
    users.set_defaults(func=cmd_feed_kafka_users)
    register_receiver_cert(feed)
