"""``certseal run``'s configuration layers: the ``config.toml`` each start writes, the
operator's ``local.toml`` over it, and the addresses that follow a listen moved there.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

from certseal.cli import LOCAL_OVERLAY
from certseal.cli_options import whole_number
from certseal.config import read_layers, where_set
from certseal.errors import CertsealError, invalid
from certseal.events import LICENCE_USAGE
from certseal.kafka import group_offsets, offset_clients
from certseal.listen import bind_error, bind_problem, ports_clash, split_listen
from services.config import Config, load
from services.run_processes import say
from services.verifier.config import check_settings

#: the two verifier groups' metrics endpoints under ``make run``, unless local.toml
#: sets ``[verifier] metrics_listen`` (dept-demo's; region-demo's the port above it)
VERIFIER_METRICS = {"dept-demo": "127.0.0.1:9494", "region-demo": "127.0.0.1:9495"}
#: the second verifier group's address unless ``[cli] verifier_groups`` moves it
REGION_LISTEN = "127.0.0.1:50055"
#: the embedded broker's port unless ``--broker-port`` (or BROKER_PORT) says otherwise
DEFAULT_BROKER_PORT = 9092
#: a broker port as ``--broker-port`` and ``$BROKER_PORT`` take it: 0 (any free) to 65535
BROKER_PORT_TYPE = whole_number(65535)


def config_layers(home: Path, config_file: str) -> list[str]:
    """The configuration files every service of ``make run`` reads, in order: the
    ``config.toml`` that each start writes anew, then the operator's own settings in
    ``<home>/local.toml`` (e.g. ``[feed] webhook_ca_file``) when it exists, which
    ``make run`` never writes, so an edit there is kept across starts."""
    overlay = home / LOCAL_OVERLAY
    return [config_file, *([str(overlay)] if overlay.exists() else [])]


def overlay_problem(home: Path) -> str:
    """Why ``<home>/local.toml`` cannot be run with ('' when it can): it does not
    load (a typo, a wrong type, not TOML), a ``[verifier]`` setting every verifier
    worker checks first is wrong (:func:`~services.verifier.config.check_settings`),
    or its verifier metrics or probe address, from which region-demo's are derived,
    is not host:port. Every service (or both verifier groups) would say the same and exit
    2, after the stack had started for nothing: said once here instead, naming
    the file."""
    overlay = home / LOCAL_OVERLAY
    if not overlay.exists():
        return ""
    try:
        loaded = load([str(overlay)])
        check_settings(loaded.verifier)
        for name in ("metrics_listen", "probe_listen"):  # region-demo's follow them
            if address := getattr(loaded.verifier, name):
                try:
                    split_listen(address)
                except ValueError as exc:
                    raise invalid(f"verifier.{name}", str(exc)) from None
    except CertsealError as exc:  # the file, for the settings it gives
        field = exc.field or ""
        where = f" (set in {overlay})" if field == "configuration" else ""
        return f"error: {exc}{where or where_set(str(overlay), field, alone=True)}"
    return ""


def region_metrics(
    dept_metrics: str, cfg: Config | None = None, taken: Iterable[str] = ()
) -> dict[str, str]:
    """The two groups' metrics endpoints: dept-demo's ``[verifier] metrics_listen``,
    region-demo's the first port above it (else below it) from 1,024 to 65,535 that
    no listen of ``cfg`` uses, the issuer's supervised children's metrics ports
    included (dept-demo's moved to 9463 would otherwise put region-demo on the issuer's
    9464), nor an address of ``taken``. Port 0 (any free port) gives region-demo port
    0 too. The same rule places region-demo's ``probe_listen``."""
    host, _, port = dept_metrics.rpartition(":")
    listens = [dept_metrics, *taken]
    if cfg is not None:
        listens += _listens(cfg).values()
        listens += cfg.issuer.child_metrics_listens()
    used = {found for a in listens if (found := _port(a)) is not None}
    if int(port) == 0:
        return {"dept-demo": dept_metrics, "region-demo": f"{host}:0"}
    above, below = range(int(port) + 1, 65_536), range(int(port) - 1, 1_023, -1)
    free = next(p for p in itertools.chain(above, below) if p not in used)
    return {"dept-demo": dept_metrics, "region-demo": f"{host}:{free}"}


def _port(address: str) -> int | None:
    """``address``'s port; None for '' or a form its service names as wrong."""
    try:
        return split_listen(address)[1]
    except ValueError:
        return None


def group_probes(
    cfg: Config, verifier_metrics: dict[str, str]
) -> dict[str, tuple[str, ...]]:
    """Each verifier group's ``--probe-listen`` arguments under ``make run``: none
    without ``[verifier] probe_listen`` (local.toml); with it, dept-demo's is that
    address and region-demo's the next free port beside it (:func:`region_metrics`,
    clear of the groups' metrics ports ``verifier_metrics``). Both groups read the
    same setting: they bound one port and the second group's start failed."""
    if not cfg.verifier.probe_listen:
        return {"dept-demo": (), "region-demo": ()}
    probes = region_metrics(
        cfg.verifier.probe_listen, cfg, taken=verifier_metrics.values()
    )
    return {group: ("--probe-listen", address) for group, address in probes.items()}


def port_problems(cfg: Config, home: Path, dept_metrics: str) -> list[str]:
    """Every port ``make run``'s services could not have, known before any starts:
    :func:`malformed_listens` (then alone: the ports derived from them cannot be
    told), else :func:`port_clashes`, then :func:`ports_held`; [] when there is
    none."""
    if malformed := malformed_listens(cfg, home):
        return malformed
    return port_clashes(cfg, home, dept_metrics) + ports_held(cfg, home, dept_metrics)


def malformed_listens(cfg: Config, home: Path) -> list[str]:
    """The error line of every address ``make run``'s services would listen on that
    is not ``host:port`` (:func:`certseal.listen.split_listen`), in the order of the
    settings, naming the setting and where it is set (:func:`where_to_move`). Left
    to its service, a malformed port was said at its start, after the stack and the
    other services had started, and a port derived from it (the console's metrics
    source of the seal) was blamed on ``config.toml``, which make run writes."""
    overlay = home / LOCAL_OVERLAY
    lines = []
    for name, address in _listens(cfg).items():
        setting = "cli.verifier_groups" if name == "region" else name
        try:
            if address:
                split_listen(address)
        except ValueError as exc:
            lines.append(
                f"error: {setting}: {exc}{where_to_move(cfg, overlay, setting)}"
            )
    return lines


def port_clashes(cfg: Config, home: Path, dept_metrics: str) -> list[str]:
    """The error line of every two addresses that ``make run``'s processes, all on
    this machine, would bind on one port (:func:`certseal.listen.ports_clash`), in
    the order of the settings; [] when none do. Each service checks its own settings,
    not another's (``[seal] metrics_listen`` on the issuer's metrics port: the
    issuer, started first, failed blaming "another process"), and a run that said
    one clash at a time took as many runs as there were clashes. Of two settings the
    one ``<home>/local.toml`` gives is blamed, the issuer's worker processes' ports
    on ``[issuer] workers``; a setting blamed once is not blamed again. Where to
    move it as :func:`where_to_move`."""
    addresses = _run_addresses(cfg, dept_metrics)
    overlay = home / LOCAL_OVERLAY
    given = {name: _given(overlay, name.partition(" ")[0]) for name in addresses}
    names, lines, blamed_once = list(addresses), [], set()
    for at, one in enumerate(names):
        for other in names[at + 1 :]:
            if not ports_clash(addresses[one], addresses[other]):
                continue
            blamed, taken = (
                (other, one) if given[other] or not given[one] else (one, other)
            )
            if blamed in blamed_once:
                continue
            blamed_once.add(blamed)
            setting, what = blamed.partition(" ")[0], addresses[blamed]
            if setting == "issuer.workers":  # the ports follow metrics_listen's
                what = (
                    f"{cfg.issuer.workers} worker processes and a relay, each on a "
                    f"metrics port above issuer.metrics_listen's, one of them "
                    f"{addresses[blamed]},"
                )
            lines.append(
                f"error: {setting}: {what} takes the port of {taken.partition(' ')[0]} "
                f"({addresses[taken]}); make run starts every service on this machine: "
                f"give each its own port{where_to_move(cfg, overlay, setting)}"
            )
    return lines


def ports_held(cfg: Config, home: Path, dept_metrics: str) -> list[str]:
    """The error line of every address ``make run``'s processes would bind that
    cannot be bound now (:func:`certseal.listen.bind_error`: another process holds
    its port, its host is not this machine's), in the order of the settings, each
    address once; [] when all can. Said before any service starts: each service
    stops at its first such port, and ``make run`` with the first service that
    stops, so a run told one port and the next run the next. An address given in a
    form its service refuses is left to the service. A port derived from a setting
    (region-demo's, the issuer's worker processes') is told by that setting, which
    moves it; where to move it as :func:`where_to_move`."""
    overlay = home / LOCAL_OVERLAY
    addresses = _run_addresses(cfg, dept_metrics)
    region = region_metrics(dept_metrics, cfg)
    addresses["region-demo metrics"] = region["region-demo"]
    if probe := group_probes(cfg, region)["region-demo"]:
        addresses["region-demo probe"] = probe[1]
    lines, told = [], set()
    for name, address in addresses.items():
        problem = bind_error(address)
        if not isinstance(problem, OSError) or address in told:
            continue
        told.add(address)
        setting, note = _DERIVED.get(name.partition(" (")[0], (name, ""))
        shown = f"{address} ({note})" if note else address
        lines.append(
            f"error: {setting}: {bind_problem(shown, problem)}"
            f"{where_to_move(cfg, overlay, setting)}"
        )
    return lines


#: an address of :func:`ports_held` that no setting gives -> (the setting that moves
#: it, what the address is)
_DERIVED = {
    "issuer.workers": (
        "issuer.metrics_listen",
        "a metrics port of the issuer's worker and relay processes, the ports above "
        "issuer.metrics_listen's",
    ),
    "region-demo metrics": (
        "verifier.metrics_listen",
        "region-demo's metrics port, which make run picks above "
        "verifier.metrics_listen's",
    ),
    "region-demo probe": (
        "verifier.probe_listen",
        "region-demo's probe port, which make run picks beside verifier.probe_listen's",
    ),
    "cli.verifier_groups": ("cli.verifier_groups", "region-demo's address"),
}


def where_to_move(cfg: Config, overlay: Path, setting: str) -> str:
    """Where the operator changes ``setting`` (``section.name``) for ``make run``:
    `` (set in <home>/local.toml)`` when that file gives it, else `` (not set in
    the files: make run's default; to move it, set [section] name in
    <home>/local.toml)`` (``config.toml`` is written anew at each start)."""
    if _given(overlay, setting):
        return f" (set in {overlay})"
    section, _, name = setting.partition(".")
    what = f"[{section}] {name}"
    if setting == "cli.verifier_groups":  # a table: both groups (README)
        dept = cfg.cli.verifier_groups.get("dept-demo", "")
        what += (
            f' = {{ "dept-demo" = "{dept}", "region-demo" = "<host:port>" }}'
            if dept
            else ' with its "region-demo" entry'
        )
    return (
        f" (not set in the files: make run's default; to move it, set {what} in "
        f"{overlay})"
    )


def _given(overlay: Path, setting: str) -> bool:
    """Whether ``<home>/local.toml`` gives ``setting`` (``section.name``;
    ``cli.verifier_groups``: its ``region-demo`` entry, region-demo's address being
    make run's otherwise)."""
    section, _, name = setting.partition(".")
    try:
        given = read_layers(overlay).get(section, {}) if overlay.exists() else {}
    except CertsealError:  # a file that no longer reads gives nothing
        return False
    if not isinstance(given, dict):
        return False
    if setting == "cli.verifier_groups":
        return isinstance(groups := given.get(name), dict) and "region-demo" in groups
    return name in given


def _run_addresses(cfg: Config, dept_metrics: str) -> dict[str, str]:
    """Every address a ``make run`` process binds that a setting gives, by setting
    (``cli.verifier_groups``: region-demo's; ``issuer.workers (N)``: the issuer's
    worker and relay processes' metrics ports)."""
    listens = _listens(cfg)
    listens["cli.verifier_groups"] = listens.pop("region")  # region-demo's
    addresses = {setting: address for setting, address in listens.items() if address}
    addresses["verifier.metrics_listen"] = dept_metrics
    for index, child in enumerate(cfg.issuer.child_metrics_listens()):
        addresses[f"issuer.workers ({index})"] = child
    return addresses


def follow_local_listens(cfg: Config, home: Path, config_file: Path) -> Config:
    """The configuration as the services read it (``<home>/local.toml`` on top), after
    ``config_file`` is rewritten so that every address a listen moved in local.toml
    had (in the CLI's targets, the console's, the services' targets of one another,
    the console's metrics sources) names where it moved: a service moved off a busy
    port is then found by everything that calls it."""
    layered = _as_services_read_it(cfg, home, str(config_file))
    before, after = _listens(cfg), _listens(layered)
    moves = {
        before[key]: client_address(after[key])
        for key in before
        if before[key] and after[key] and after[key] != before[key]
    }
    if not moves:
        return layered
    # one pass: a service moved to a port another one left is not moved again
    olds = "|".join(re.escape(old) for old in sorted(moves, key=len, reverse=True))
    text = re.sub(
        rf"(?<![\w.])(?:{olds})(?!\d)",
        lambda found: moves[found.group()],
        config_file.read_text(encoding="utf-8"),
    )
    config_file.write_text(text, encoding="utf-8")
    return _as_services_read_it(cfg, home, str(config_file))


def _listens(cfg: Config) -> dict[str, str]:
    """Where ``cfg`` has each service listen (``{"issuer.listen": "host:port", …}``)."""
    found = {}
    for section in ("issuer", "verifier", "seal", "feed", "tlog", "console"):
        for setting in ("listen", "metrics_listen", "probe_listen"):
            found[f"{section}.{setting}"] = getattr(getattr(cfg, section), setting, "")
    found["seal.tsa_listen"] = cfg.seal.tsa_listen
    found["region"] = cfg.cli.verifier_groups.get("region-demo", REGION_LISTEN)
    return found


def client_address(listen: str) -> str:
    """Where a client reaches a server listening on ``listen`` on this machine."""
    host, _, port = listen.rpartition(":")
    # every interface: its loopback, which the dev certificates name
    local = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "[::]": "[::1]"}
    return f"{local.get(host, host)}:{port}"


def _as_services_read_it(cfg: Config, home: Path, config_file: str) -> Config:
    """The configuration with ``<home>/local.toml`` layered on top, as the services
    read it (e.g. ``[issuer] workers``, whose processes have metrics ports of their
    own); ``cfg`` when the layers do not load (the services then say why)."""
    try:
        return load(config_layers(home, config_file))
    except CertsealError:
        return cfg


#: what ``make run`` stops first: the services that publish usage records (the console
#: verifies through the groups), so the issuer reads their last ones (:func:`usage_read`)
USAGE_PUBLISHERS = ("console", "dept-demo", "region-demo")


def usage_read(
    cfg: Config,
    within_s: float = 5.0,
    give_up: Callable[[], bool] = lambda: False,
) -> bool:
    """Wait, at most ``within_s`` seconds in all, until the issuer's usage consumer (its
    group ``[issuer] usage_consumer_group``) has committed every partition of the usage
    topic to its end; whether it did (a broker that does not answer, or ``give_up()``
    true at a poll, every 0.1 s: False).

    At a ``make run`` stop, between the verifier groups' stop, which hands their last
    gathered uses to the broker, and the issuer's: the embedded broker keeps its topics
    in memory and usage records have no outbox, so a record the issuer had not read
    when everything stopped was lost (a holder's 用证记录 without the last checks)."""

    async def caught_up() -> bool:
        settings = cfg.kafka.settings("certseal-run-stop")
        group = cfg.issuer.usage_consumer_group
        async with offset_clients(settings) as (consumer, admin):
            while not give_up():
                ends, done = await group_offsets(
                    consumer, admin, group, [LICENCE_USAGE]
                )
                if all(end == 0 or done.get(tp, -1) >= end for tp, end in ends.items()):
                    return True
                await asyncio.sleep(0.1)
            return False

    try:
        return asyncio.run(asyncio.wait_for(caught_up(), within_s))
    except Exception:  # the broker away or stopped, or not within the bound
        return False


#: what ``make run`` says when the issuer had not read the last usage records in time
UNREAD_USAGE = (
    "the issuer had not read the last usage records within {within:g} s (it or the "
    "broker is slow or hangs): the embedded broker keeps them in memory only, and "
    "usage records have no outbox to send them again, so those the issuer does not "
    "read as it stops are lost with the broker: the holders' usage records (用证记录) "
    "will lack those uses"
)


def settle_usage(
    cfg: Config, issuer: subprocess.Popen[bytes], within_s: float = 5.0
) -> bool:
    """``make run``'s wait between its two waves of stops (:func:`usage_read`, for at
    most ``within_s`` s), unless ``issuer`` has exited (or a second Ctrl-C kills it
    meanwhile); one line before, and one (:data:`UNREAD_USAGE`) when the issuer,
    still running, had not read them by then (trial: the wait ended in silence)."""

    def gone() -> bool:
        return issuer.poll() is not None

    if gone():
        return False
    say("waiting for the issuer to read the last usage records")
    if usage_read(cfg, within_s, give_up=gone):
        return True
    if not gone():
        say(UNREAD_USAGE.format(within=within_s))
    return False


def broker_port_from_environment() -> int:
    """``$BROKER_PORT`` (``make run BROKER_PORT=N`` sets ``--broker-port`` instead),
    else :data:`DEFAULT_BROKER_PORT`. Read when ``run`` runs, not when the parser is
    made: a stale export must not break every other command. INVALID_ARGUMENT
    (``BROKER_PORT``, exit 2) unless it is a port, 0 (any free port) to 65535."""
    text = os.environ.get("BROKER_PORT", "")
    if not text.strip():
        return DEFAULT_BROKER_PORT
    try:
        return BROKER_PORT_TYPE(text)
    except argparse.ArgumentTypeError as exc:
        raise invalid(
            "BROKER_PORT",
            f"{exc}; the environment variable gives the embedded broker's port "
            "(0: any free port): set a port or unset it",
        ) from None
