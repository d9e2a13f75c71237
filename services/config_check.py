"""``certseal config check``: a configuration checked as each service's start checks
it, without starting anything or contacting anything.

Beside the composition roots: it knows every service, and takes from each the checks
its start makes that need no network (:meth:`certseal.process.ServiceProcess.
offline_checks`, :func:`services.console.app.config_checks`,
:func:`services.verifier.start_checks.config_checks`). Those are the functions the
services' starts call, never a second version of them: a service stops at its first
failure, this command runs every check and reports each failure. What needs the
database, the broker, a PKCS#11 token opened or a port bound is left to the start
(docs/operations.md, "Checking a configuration").
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Callable, Sequence

from certseal.calls import check_cli_identity
from certseal.cli import config_paths
from certseal.config import SettingCheck, read_layers, where_set
from certseal.errors import CertsealError, invalid
from certseal.startfail import naming_the_setting
from services.config import Config, renamed_settings
from services.verifier.config import flagged_settings

#: the services a configuration is checked for, in the order they are reported
SERVICES = ("issuer", "verifier", "seal", "feed", "console", "tlog")
#: what ``--service`` names: the services, and the ``certseal`` commands' ``[cli]``
#: (checked by default only when a file gives that section: a service's pod has none)
CHECKED = (*SERVICES, "cli")
#: the sections of an operator's own file, read by the ``certseal`` commands alone
WORKSTATION_SECTIONS = {"cli", "tls"}
#: the ``[cli]`` settings that are a service's address
CLI_TARGETS = (
    "issuer_target",
    "verifier_target",
    "seal_target",
    "feed_target",
    "tlog_target",
)


def cli_checks(cfg: Config) -> list[SettingCheck]:
    """The checks of ``[cli]``, what the ``certseal`` commands read: its certificate
    and key form a client identity the services accept in the handshake
    (:func:`certseal.calls.check_cli_identity`) and name a certseal caller
    (``operator:<name>``, …); every target is an address a client dials
    (:func:`certseal.listen.check_target`), each of ``verifier_groups`` too; a
    ``log_key`` is a note verifier key (C2SP signed-note). Each failure is
    INVALID_ARGUMENT naming its setting."""
    from certseal.checkpoints import NoteVerifier
    from certseal.files import certificate_common_name
    from certseal.listen import check_target
    from certseal.rpc import Caller

    cli = cfg.cli

    def identity() -> None:
        if not cli.cert_file:
            raise invalid(
                "cli.cert_file",
                "give the certificate the certseal commands present (a platform "
                "operator's, common name operator:<name>), and its key_file",
            )
        check_cli_identity(cfg)
        name = certificate_common_name(cli.cert_file, "cli.cert_file")
        try:
            Caller.parse(name)
        except CertsealError as exc:
            raise invalid("cli.cert_file", exc.message) from None

    checks: list[SettingCheck] = [identity]
    targets = {f"cli.{name}": getattr(cli, name) for name in CLI_TARGETS}
    targets |= {f"cli.verifier_groups.{g}": t for g, t in cli.verifier_groups.items()}
    checks += [functools.partial(check_target, *item) for item in targets.items()]
    if cli.log_key:
        checks.append(functools.partial(NoteVerifier.parse, cli.log_key, "cli.log_key"))
    return checks


def service_checks(name: str, cfg: Config) -> list[SettingCheck]:
    """The checks of service ``name`` (one of :data:`CHECKED`) over ``cfg``.
    Imported here, not at the top: each service's modules are imported only when
    it is checked."""
    if name == "cli":
        return cli_checks(cfg)
    if name == "verifier":
        from services.verifier.start_checks import config_checks

        return config_checks(cfg)
    if name == "console":
        from services.console.app import config_checks as console_checks

        return console_checks(cfg)
    if name == "issuer":
        from services.issuer.app import IssuerApp

        return IssuerApp(cfg).offline_checks()
    if name == "seal":
        from services.seal.app import SealApp

        return SealApp(cfg).offline_checks()
    if name == "feed":
        from services.feed.app import FeedApp

        return FeedApp(cfg).offline_checks()
    from services.tlog.app import TlogApp

    return TlogApp(cfg).offline_checks()


def problem(
    exc: BaseException,
    cfg: Config,
    service: str,
    where: Callable[[str], str] = lambda field: "",
) -> str:
    """``exc`` as ``<field>: <problem>``: a CertsealError by its field (``service``
    when it names none) and ``where(field)`` after it (the file that gives the
    setting), an OSError about a file a setting names by that setting
    (:func:`certseal.startfail.naming_the_setting`), anything else by ``service``."""
    exc = naming_the_setting(exc, cfg)
    if isinstance(exc, CertsealError):
        return f"{exc.field or service}: {exc.message}{where(exc.field or '')}"
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{service}: {exc.filename}: {exc.strerror or exc}"
    return f"{service}: {type(exc).__name__}: {exc}"


def problems(
    checks: Sequence[Callable[[], object]],
    cfg: Config,
    service: str,
    where: Callable[[str], str] = lambda field: "",
) -> list[str]:
    """Run every one of ``checks``; each failure as :func:`problem` words it."""
    found = []
    for check in checks:
        try:
            check()
        except Exception as exc:  # every failure is one line, never a traceback
            found.append(problem(exc, cfg, service, where))
    return found


def verifier_options(cfg: Config, args: argparse.Namespace) -> str:
    """The worker's options over ``[verifier]``, as its process takes them; how the
    ``ok`` line names the worker (``group a, worker verifier-a-0``)."""
    from services.verifier.config import apply_worker_options

    apply_worker_options(
        cfg.verifier,
        group=args.group,
        worker=args.worker,
        group_size=args.group_size,
        peers=args.peers,
    )
    worker = f", worker {cfg.verifier.worker}" if cfg.verifier.worker else ""
    return f"group {cfg.verifier.group}{worker}"


def cmd_config_check(args: argparse.Namespace) -> int:
    """Check the configuration for each service of ``--service`` (default: all);
    ``ok: <service>`` for each that passes, ``error: <field>: <problem>`` for
    every problem found (each once, also when several services read the setting),
    exit 2 when there is one."""
    # what a check only warns of (a missing font: licence files off) as one line
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    paths = config_paths(args)
    cfg: Config = args.load_config(paths)  # a schema error ends here: exit 2
    layers = read_layers(paths)
    for old, new, ignored in renamed_settings(layers):
        words = (
            f"ignored: {new}, its name now, is given too and wins; remove {old}"
            if ignored
            else f"read as {new}, its name now; the old name still works"
        )
        print(f"note: {old}: {words}", file=sys.stderr)
    # of several files, the one that gives a setting at fault (not an option's)
    given = flagged_settings(args)

    def where(field: str) -> str:  # a default is said to be one (nu25)
        return "" if field in given else where_set(paths, field, defaults=True)

    default: tuple[str, ...] = (*SERVICES, "cli") if "cli" in layers else SERVICES
    if "cli" in layers and set(layers) <= WORKSTATION_SECTIONS and not args.service:
        # an operator's own file: the services' settings are the stack's, not in it
        # (nu24: it reported every service's missing secrets)
        default = ("cli",)
        print(
            "note: the files give no service's settings, only [cli] (and [tls]): "
            "checking the certseal commands' (--service NAME checks a service's)",
            file=sys.stderr,
        )
    chosen = [name for name in CHECKED if name in (args.service or default)]
    said: set[str] = set()
    failed = False
    for name in chosen:
        detail = f" ({verifier_options(cfg, args)})" if name == "verifier" else ""
        try:
            found = problems(service_checks(name, cfg), cfg, name, where)
        except Exception as exc:  # the checks could not even be listed
            found = [problem(exc, cfg, name, where)]
        if not found:
            print(f"ok: {name}{detail}")
            continue
        failed = True
        for line in found:
            if line not in said:
                said.add(line)
                print(f"error: {line}", file=sys.stderr)
    return 2 if failed else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``certseal config check``."""
    config = sub.add_parser("config", help="the configuration").add_subparsers(
        dest="config_command", required=True
    )
    check = config.add_parser(
        "check",
        help="check the --config files as each service's start would, contacting "
        "nothing (exit 2 naming every setting at fault)",
    )
    check.add_argument(
        "--service",
        action="append",
        choices=CHECKED,
        help="check only the settings this service's process reads, or cli: the "
        "certseal commands' [cli] (repeatable; default: every service, and cli when "
        "a file gives [cli])",
    )
    check.add_argument("--group", help="the verifier's --group (default [verifier])")
    check.add_argument("--worker", help="the verifier's --worker (default [verifier])")
    check.add_argument(
        "--group-size",
        type=int,
        help="the verifier's --group-size (default [verifier])",
    )
    check.add_argument("--peers", help="the verifier's --peers (default [verifier])")
    check.set_defaults(func=cmd_config_check)
