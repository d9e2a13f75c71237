"""What every ``certseal`` subcommand shares, and the kernel's own commands.

The command itself is composed in ``services/cli.py`` from each service's ``cli.py``
(``register(subparsers)``); this module knows no service. A command reads the layered
``--config`` files through :func:`load`, calls a service through
:func:`certseal.calls.call_service`,
and reports bad input as ``error: <field>: <problem>`` with exit status 2
(:func:`run_command`; a bad command line, one argparse refuses, as
:mod:`certseal.cli_parser` says it). How an option's value is read (a licence status, a whole
number) is :mod:`certseal.cli_options`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from certseal import identifiers
from certseal.calls import run_unformatted
from certseal.cli_help import fill_help
from certseal.cli_keys import add_key_options, command, say_kept, say_key
from certseal.cli_names import (
    readable_positionals,
    run_chosen,
    shown_field,
    shown_names,
)
from certseal.cli_options import aware_time, check_outputs, whole_number
from certseal.cli_parser import Parser, given
from certseal.config import where_set
from certseal.dev_identities import dev_identity
from certseal.errors import CertsealError, ErrorKind
from certseal.interrupt import command_ended, interrupted, reader_gone
from certseal.text import one_line, shown_name

#: where ``make run`` keeps its data and configuration
DEFAULT_HOME = Path(".certseal")
#: the operator's own settings over ``make run``'s configuration, layered after it by
#: every service and command; ``make run`` never writes it (README, "make run")
LOCAL_OVERLAY = "local.toml"

T = TypeVar("T")

#: (subparsers) -> None: adds a group of commands to the ``certseal`` parser
Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def load(args: argparse.Namespace) -> Any:
    """The configuration the command runs with: the files of :func:`config_paths`
    layered in order, decoded by the composition root's schema. Errors as
    :func:`config_paths`, and the schema's (INVALID_ARGUMENT naming the setting)."""
    return args.load_config(config_paths(args))


def config_paths(args: argparse.Namespace) -> list[Path]:
    """The files the command's configuration is read from: the ``--config`` files
    in order (default ``.certseal/config.toml``, then ``.certseal/local.toml`` when
    it exists).

    Raises CertsealError(FAILED_PRECONDITION) when the stack's default configuration
    is missing, INVALID_ARGUMENT (field ``config``) when a ``--config`` file is.
    """
    overlay = DEFAULT_HOME / LOCAL_OVERLAY
    paths = [Path(p) for p in args.config or [DEFAULT_HOME / "config.toml"]]
    if not args.config and overlay.exists():
        paths.append(overlay)
    for path in paths:
        if not args.config and not path.exists():
            raise CertsealError(
                ErrorKind.FAILED_PRECONDITION,
                f"no configuration at {path.absolute()} (the default, "
                f"{shown_name(path)}, is looked for in the current folder): {_to_find_it()}",
                field="config",
            )
        if not path.exists():  # a device or a FIFO is refused where it is read
            raise CertsealError(
                ErrorKind.INVALID_ARGUMENT,
                f"{shown_name(path)}: no such file",
                field="config",
            )
    return paths


def _to_find_it() -> str:
    """How to give the command the stack's configuration: the checkout whose
    ``.venv`` runs this command, when it has one, else any checkout's."""
    checkout = Path(sys.prefix).parent
    found = checkout / DEFAULT_HOME / "config.toml"
    if found.is_file():
        return (
            f"run certseal from {checkout}, or pass --config {found} (repeatable: "
            f"then --config {found.parent / LOCAL_OVERLAY} for its local settings)"
        )
    return (
        "run certseal from the checkout where 'make run' runs (start the stack "
        "there with 'make run' first), or pass --config FILE"
    )


async def connect_database(cfg: Any) -> Any:
    """A connection to the platform's PostgreSQL (``[database]``); UNAVAILABLE naming
    where PostgreSQL was expected and how to start it when nobody answers."""
    from certseal.storage.pool import connect, naming_the_dsn_file

    dsn = cfg.database.dsn()
    with naming_the_dsn_file(dsn):  # a file is told as the file's problem, a
        # connection refused or a socket missing as the connection's
        return await connect(dsn)


def database_unreachable(dsn: str, exc: OSError | None = None) -> CertsealError:
    """UNAVAILABLE (field ``database``) naming where PostgreSQL was expected (never
    the password), why (``exc``) and how to start it; for a command whose
    connection failed after it was made (applying migrations)."""
    from certseal.storage.pool import cannot_connect

    return cannot_connect(dsn, exc or ConnectionError("the connection was lost"))


def ts(value: Any) -> str:
    """A protobuf Timestamp as ISO 8601 in UTC, or ``-`` when unset."""
    return value.ToDatetime(tzinfo=dt.UTC).isoformat() if value.seconds else "-"


# -- the kernel's commands -----------------------------------------------------------


def cmd_id_check(args: argparse.Namespace) -> int:
    """Exit 0 when well-formed and correct, 1 for a wrong check character, 2 malformed
    (GB/T 36904 identifiers). Only a correct identifier's parts are printed: an
    identifier with a wrong check character is not a licence's, and a listing of its
    parts would read like success."""
    try:
        parsed = identifiers.parse_licence_id(args.identifier)
    except identifiers.CheckCharacterError as exc:
        print(f"error: {exc}: a character is mistyped", file=sys.stderr)
        return 1
    except CertsealError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"type code:       {parsed.type_code}")
    print(f"authority code:  {parsed.authority_code}")
    print(f"serial:          {parsed.serial}")
    print(f"version:         {parsed.version:03d}")
    print(f"check character: {parsed.check_char}")
    print(f"lineage:         {parsed.lineage}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Recompute the audit hash chain; exit 1 when it was tampered with."""
    from certseal.storage.audit import verify_chain

    async def run() -> int:
        conn = await connect_database(load(args))
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

    return run_unformatted(run())


def cmd_audit_list(args: argparse.Namespace) -> int:
    """Show the audit log's rows, newest first (filters: ``--actor``, ``--action``,
    ``--subject``, ``--outcome``, ``--since``; ``--limit``, 50): one line each, its
    time, actor, action, subject, outcome, details, request id and whether it is
    sealed into the chain yet, separated by tabs, every control character (a tab
    too) escaped and a backslash doubled (:func:`certseal.audit.printable`: a row
    may hold a refused caller's text)."""
    from certseal.audit import COUNTED_ACTION, printable
    from certseal.storage.audit import audit_actions, audit_rows

    async def run() -> tuple[list[Any], list[str]]:
        conn = await connect_database(load(args))
        try:
            rows = await audit_rows(
                conn,
                actor=args.actor,
                action=args.action,
                subject=args.subject,
                outcome=args.outcome,
                since=args.since,
                limit=args.limit,
            )
            actions = await audit_actions(conn) if args.action and not rows else []
            return rows, actions
        finally:
            await conn.close()

    rows, actions = run_unformatted(run())
    for row in rows:
        details = row["details"]
        shown = (
            details
            if isinstance(details, str)
            else json.dumps(details, ensure_ascii=False)
        )
        cells = [
            row["occurred_at"].isoformat(timespec="seconds"),
            row["actor"],
            row["action"],
            row["subject"],
            row["outcome"],
            shown,
            f"request {row['request_id'] or '-'}",
            "sealed" if row["seq"] is not None else "not sealed yet",
        ]
        print(
            "\t".join(printable(str(cell)) for cell in cells)
        )  # a tab: escaped in cells
    if not rows:
        print("no audit rows match", file=sys.stderr)
    # a name mistyped, not no rows (an action the platform writes on its own, such
    # as refusal.counted, is no typo even before its first row)
    if actions and args.action not in actions and args.action != COUNTED_ACTION:
        print(
            f"the log has no action {printable(args.action)!r}; its actions: "
            + ", ".join(map(printable, actions)),
            file=sys.stderr,
        )
    return 0


def cmd_kek_rewrap(args: argparse.Namespace) -> int:
    """Re-wrap every key under a new key-encryption key (services stopped)."""
    from certseal.crypto import KeyWrapper
    from certseal.secretfiles import KEK, read_secret_file
    from certseal.storage.kek import rewrap_all

    cfg = load(args)
    current = KeyWrapper(read_secret_file(Path(cfg.secrets.kek_file), KEK))
    new = KeyWrapper(read_secret_file(Path(args.new_kek), "new-kek"))

    async def run() -> dict[str, int]:
        conn = await connect_database(cfg)
        try:
            return await rewrap_all(conn, current, new)
        finally:
            await conn.close()

    counts = run_unformatted(run())
    for table, count in counts.items():
        print(f"{table}: {count} re-wrapped")
    print(
        f"every key is now wrapped under {shown_name(args.new_kek)}: install it as "
        "the KEK ([secrets] kek_file) and start the services"
    )
    return 0


def cmd_dev_identity(args: argparse.Namespace) -> int:
    """Issue a dev mTLS certificate (embedded stack only) for an identity
    ``kind:value`` of a known caller kind; INVALID_ARGUMENT (exit 2) otherwise, with
    nothing issued."""
    from certseal.rpc import check_identity

    check_identity(args.common_name, "common_name")
    cert, key = dev_identity(load(args), args.common_name, "common_name")
    print(f"dev mTLS identity {args.common_name}: {cert} {key}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The kernel's commands: ``id check``, ``audit verify``, ``kek rewrap``,
    ``dev identity``."""
    ident = sub.add_parser("id", help="licence identifiers").add_subparsers(
        dest="id_command", required=True
    )
    check = ident.add_parser("check", help="parse and check an identifier")
    check.add_argument("identifier")
    check.set_defaults(func=cmd_id_check)

    audit = sub.add_parser("audit", help="audit trail").add_subparsers(
        dest="audit_command", required=True
    )
    audit.add_parser("verify", help="recompute the hash chain").set_defaults(
        func=cmd_audit_verify
    )
    listing = audit.add_parser("list", help="the audit log's rows, newest first")
    listing.add_argument("--actor", help="e.g. dept:<code>, operator:<name>")
    listing.add_argument("--action", help="e.g. department.roles, licence.revoke")
    listing.add_argument(
        "--subject", help="what it was done to: a code, a licence, ..."
    )
    listing.add_argument("--outcome", choices=("ok", "denied", "failed"))
    listing.add_argument(
        "--since",
        type=aware_time,
        help="ISO 8601 time with its UTC offset (Z, +08:00)",
    )
    listing.add_argument(
        "--limit",
        type=whole_number(10_000, minimum=1),
        default=50,
        help="rows, 1 to 10,000 (default 50)",
    )
    listing.set_defaults(func=cmd_audit_list)

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
    di = dev.add_parser(
        "identity",
        help="issue a dev mTLS certificate: the way to make an identity new to the "
        "stack (--as makes none for a name it does not know)",
    )
    di.add_argument(
        "common_name",
        metavar="identity",
        help="KIND:VALUE, one of the caller kinds (certseal.rpc.CALLER_KINDS): "
        "dept:<code>, operator:<name>, app:<name>, integrator:<name>, "
        "service:<name>, auditor:<name>",
    )
    di.set_defaults(func=cmd_dev_identity)


def _version() -> str:
    """The installed package's version (pyproject.toml's), or "unknown" when run
    from a checkout that was never installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("certseal")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser(
    description: str,
    load_config: Callable[[Sequence[Path]], Any],
    groups: Sequence[Register],
    changing: Sequence[str] = (),
) -> argparse.ArgumentParser:
    """The ``certseal`` parser: ``--config`` (repeatable, layered), the kernel's
    commands and each of ``groups``; ``load_config`` decodes the layered files.
    ``changing`` names the commands that make changes (``"licence issue"``), each
    given ``--idempotency-key`` (:func:`certseal.cli_keys.add_key_options`)."""
    parser: argparse.ArgumentParser = Parser(prog="certseal", description=description)
    parser.add_argument(
        "--config",
        action="append",
        type=given("a configuration file"),
        help="configuration file (default .certseal/config.toml); repeatable: the files "
        "are layered, later over earlier",
    )
    parser.add_argument("--version", action="version", version=f"certseal {_version()}")
    parser.set_defaults(load_config=load_config)
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    for group in groups:
        group(sub)
    add_key_options(parser, changing)
    readable_positionals(parser)
    fill_help(parser)
    return parser


def _option_dests(parser: argparse.ArgumentParser) -> set[str]:
    """The destinations of every option (``--x-mm`` -> ``x_mm``) of ``parser`` and
    its subcommands; positional arguments are named as their usage shows them."""
    dests: set[str] = set()
    for action in parser._actions:
        if action.option_strings:
            dests.add(action.dest)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                dests |= _option_dests(sub)
    return dests


def _where_given(args: argparse.Namespace, field: str) -> str:
    """Which of the configuration files gives ``field`` (:func:`where_set`); a
    default at fault while ``--config`` files leave out the stack's own
    configuration says so: a newcomer's one ``--config`` file replaces it, not
    layers over it (nu29: an operator's ``[cli]`` file alone met the built-in
    ``tls.ca_file``)."""
    paths = config_paths(args)
    stack = DEFAULT_HOME / "config.toml"
    replaced = bool(args.config) and stack.exists()
    replaced = replaced and stack.resolve() not in {p.resolve() for p in paths}
    where = where_set(paths, field, defaults=replaced)
    if replaced and where.startswith(" (not set"):
        return (
            f" (not set in the --config files: its default; --config files replace "
            f"{stack}: give it first, then yours, to layer yours over it)"
        )
    return where


def run_command(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Run the chosen command; errors print as ``error: <field>: <problem>`` with exit
    status 2 for bad input and 1 otherwise, never a traceback."""
    args = parser.parse_args(argv)
    with command(getattr(args, "idempotency_key", None)) as keys:
        try:
            check_outputs(args)  # a file it cannot write, said before anything is done
            status = int(run_chosen(args))  # GBK text refused, named
            say_kept(keys)
            return command_ended(status)
        except CertsealError as exc:
            # every service error names its field (tests/kernel/test_floor_plan.py); one
            # that does not is still printed as <field>: <problem>, about the command. A
            # field that is an option's (x_mm of --x-mm) is named as the option is typed
            field = exc.field or args.command
            argv = list(sys.argv[1:] if argv is None else argv)
            shown = shown_field(field, shown_names(parser, argv, args))
            if shown is not None:
                field = shown
            elif field in _option_dests(parser):
                field = field.replace("_", "-")
            where = ""  # of several --config files, the one giving a setting at fault
            if "." in field:
                with contextlib.suppress(Exception):
                    where = _where_given(args, field)
            print(one_line(f"error: {field}: {exc.message}{where}"), file=sys.stderr)
            status = 2 if exc.kind is ErrorKind.INVALID_ARGUMENT else 1
        except KeyboardInterrupt:
            say_key(keys, args, interrupted=True)
            return interrupted()
        except BrokenPipeError:
            status = reader_gone()
        except OSError as exc:
            # a file named on the command line (missing, a folder, not readable) is bad
            # input: name it, exit 2, no raw "[Errno 2]"
            if exc.filename is not None:
                problem = exc.strerror.lower() if exc.strerror else "cannot be read"
                print(f"error: {shown_name(exc.filename)}: {problem}", file=sys.stderr)
            else:
                what = exc.strerror or exc
                print(one_line(f"error: {args.command}: {what}"), file=sys.stderr)
            status = 1 if exc.filename is None else 2
        say_key(keys, args, interrupted=False)  # after any failure (atk48 F7, atk48b)
        return command_ended(status)
