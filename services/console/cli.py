"""The console's ``certseal`` commands: ``console account add|list|disable|enable|password``.

They work on the console's tables in PostgreSQL directly (``[database]``), as the
operator at the platform's own terminal; each change leaves an audit row naming
``cli:<login name>``. Passwords come from a file (``--password-file``), standard input
(``--password-stdin``) or, on a terminal, a prompt; never from the command line, where
other users of the machine could read them.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from certseal.calls import run_unformatted
from certseal.cli import database_unreachable, load
from certseal.errors import invalid
from certseal.timestamps import utcnow
from services.console.accounts import Account
from services.console.service import ConsoleAccounts
from services.console.storage import ConsoleStore

T = TypeVar("T")


def _with_accounts(
    args: argparse.Namespace, work: Callable[[ConsoleAccounts], Awaitable[T]]
) -> T:
    cfg = load(args)

    async def run() -> T:
        dsn = cfg.database.dsn()
        try:
            store = await ConsoleStore.open(dsn, max_size=1)
        except OSError as exc:  # after connecting (its migrations)
            raise database_unreachable(dsn, exc) from None
        try:
            return await work(ConsoleAccounts.configured(cfg.console, store, utcnow))
        finally:
            await store.close()

    return run_unformatted(run())


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _ask(prompt: str) -> str:
    """A password typed at ``prompt``, unechoed. Ctrl-C ends the line the prompt
    left open before the command stops (exit 130): the shell's prompt would
    otherwise follow ``password: `` on the same line (a new user's trial 10)."""
    try:
        return getpass.getpass(prompt)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        raise


def _password(args: argparse.Namespace, *, required: bool) -> str | None:
    """The password from the file, standard input or a prompt (None: none given)."""
    if args.password_file:
        from certseal.bounds import MAX_SMALL_FILE_BYTES
        from certseal.files import read_input_file

        raw = read_input_file(args.password_file, "password-file", MAX_SMALL_FILE_BYTES)
        try:
            return raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise invalid("password-file", "is not UTF-8 text") from None
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not required:
        return None
    if not sys.stdin.isatty():
        raise invalid("password", "give --password-file or --password-stdin")
    first = _ask("password: ")
    if first != _ask("again: "):
        raise invalid("password", "the two entries differ")
    return first


def _line(account: Account) -> str:
    ways = [w for w, on in (("password", account.has_password),) if on]
    if account.certificate:
        ways.append(f"certificate {account.certificate}")
    return (
        f"{account.name:<24} {account.role.value:<9} {account.counter:<24} "
        f"{'disabled' if account.disabled else 'enabled':<9} {', '.join(ways)}"
    )


def cmd_account_add(args: argparse.Namespace) -> int:
    """Add a clerk or operator account."""
    password = _password(args, required=not args.certificate)
    account = _with_accounts(
        args,
        lambda accounts: accounts.add(
            args.name,
            department=args.department,
            role=args.role,
            password=password,
            certificate=args.certificate,
            by=_actor(),
        ),
    )
    print(f"added {_line(account)}")
    return 0


def cmd_account_list(args: argparse.Namespace) -> int:
    """Print every account."""
    for account in _with_accounts(args, lambda accounts: accounts.accounts()):
        print(_line(account))
    return 0


def cmd_account_disable(args: argparse.Namespace) -> int:
    """Disable or enable an account (disabling signs it out everywhere)."""
    disable = args.account_command == "disable"
    account = _with_accounts(
        args, lambda accounts: accounts.set_disabled(args.name, disable, by=_actor())
    )
    print(f"{args.account_command}d {_line(account)}")
    return 0


def cmd_account_password(args: argparse.Namespace) -> int:
    """Set an account's password (its sessions end)."""
    password = _password(args, required=True)
    account = _with_accounts(
        args, lambda accounts: accounts.set_password(args.name, password, by=_actor())
    )
    print(f"password set: {_line(account)}")
    return 0


def _password_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--password-file", help="read the password from this file")
    source.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password's line from stdin",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``console account add|list|disable|enable|password``."""
    console = sub.add_parser("console", help="the counter console").add_subparsers(
        dest="console_command", required=True
    )
    account = console.add_parser(
        "account", help="clerk and operator accounts"
    ).add_subparsers(dest="account_command", required=True)

    add = account.add_parser("add", help="add an account")
    add.add_argument("name", help="1-64 ASCII letters, digits and . _ @ -")
    add.add_argument(
        "--department",
        required=True,
        help="the unified social credit code of the counter's department",
    )
    add.add_argument("--role", required=True, choices=["clerk", "operator"])
    add.add_argument(
        "--certificate",
        help="common name of a browser client certificate that signs in as this account",
    )
    _password_options(add)
    add.set_defaults(func=cmd_account_add)

    account.add_parser("list", help="list the accounts").set_defaults(
        func=cmd_account_list
    )
    for name, text in (
        ("disable", "disable an account and end its sessions"),
        ("enable", "enable a disabled account"),
    ):
        change = account.add_parser(name, help=text)
        change.add_argument("name")
        change.set_defaults(func=cmd_account_disable)

    password = account.add_parser(
        "password", help="set an account's password (its sessions end)"
    )
    password.add_argument("name")
    _password_options(password)
    password.set_defaults(func=cmd_account_password)
