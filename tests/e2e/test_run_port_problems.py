"""``make run`` and the ports its services need, as a new user met them:

- with several ports taken, each run said one (the first service to stop on its first
  busy port, or the first of two settings on one port): fix it, run again, meet the
  next. Now every port it can know before any service starts is said in one run:
  every two settings on one port and every address another process holds.
- a port no file sets (make run's default) was worded as set in local.toml. Now it
  is said to be the default, with the setting to put in local.toml to move it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from certseal.cli import LOCAL_OVERLAY
from certseal.config import dump_config
from certseal.devstack import free_port
from services.config import Config, load
from services.devstack import DevStack
from services.run import not_started
from services.run_layers import (
    config_layers,
    overlay_problem,
    port_clashes,
    port_problems,
    ports_held,
    region_metrics,
)

REPO = Path(__file__).resolve().parents[2]
IN_USE = "is already in use (another process listens there)"


@contextmanager
def held(count: int) -> Iterator[list[str]]:
    """``count`` ``127.0.0.1:port`` addresses another process (this test) listens on,
    each from below the ephemeral range (:func:`free_port`) with the port above it
    free too: region-demo's metrics take the port above dept-demo's, and a port the
    kernel picks for bind(0) has a neighbour any process may hold (a CI run met one)."""
    with ExitStack() as holders:
        sockets = [
            holders.enter_context(
                socket.create_server(("127.0.0.1", _with_free_next()))
            )
            for _ in range(count)
        ]
        yield [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]


def _with_free_next() -> int:
    """A free port (:func:`free_port`) whose next port is free as well."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise OSError("no free port with a free port above it in 50 tries")


def free_config() -> Config:
    """make run's configuration with every address on a port free now (not the
    defaults, which a run on this machine may hold)."""
    cfg = Config()
    # below the kernel's ephemeral range: an outgoing connection of this session (or
    # another test's bind(0)) never takes one of them between here and the check (a
    # CI run saw a port bind(0) had found free held again moments later)
    ports = [f"127.0.0.1:{free_port()}" for _ in range(13)]
    for section in ("issuer", "verifier", "seal", "feed", "tlog", "console"):
        for setting in ("listen", "metrics_listen"):
            setattr(getattr(cfg, section), setting, ports.pop())
    cfg.cli.verifier_groups = {
        "dept-demo": cfg.verifier.listen,
        "region-demo": ports.pop(),
    }
    return cfg


def default(home: Path, setting: str) -> str:
    section, _, name = setting.partition(".")
    return (
        "; choose another address in the configuration (not set in the files: make "
        f"run's default; to move it, set [{section}] {name} in {home / LOCAL_OVERLAY})"
    )


def test_every_port_another_process_holds_is_said_in_one_run(tmp_path):
    cfg = free_config()
    cfg.verifier.metrics_listen = ""  # make run's dept-demo metrics: not in the files
    with held(3) as (issuer, seal_metrics, dept_metrics):
        cfg.issuer.listen, cfg.seal.metrics_listen = issuer, seal_metrics
        lines = ports_held(cfg, tmp_path, dept_metrics)
    assert lines == [
        f"error: issuer.listen: {issuer} {IN_USE}" + default(tmp_path, "issuer.listen"),
        f"error: seal.metrics_listen: {seal_metrics} {IN_USE}"
        + default(tmp_path, "seal.metrics_listen"),
        f"error: verifier.metrics_listen: {dept_metrics} {IN_USE}"
        + default(tmp_path, "verifier.metrics_listen"),
    ]
    assert ports_held(cfg, tmp_path, dept_metrics) == []  # let go: nothing to say


def test_a_held_port_local_toml_gives_is_said_to_be_set_there(tmp_path):
    cfg = free_config()
    with held(1) as (feed,):
        (tmp_path / LOCAL_OVERLAY).write_text(f'[feed]\nlisten = "{feed}"\n')
        cfg.feed.listen = feed
        lines = ports_held(cfg, tmp_path, cfg.verifier.metrics_listen)
    assert lines == [
        f"error: feed.listen: {feed} {IN_USE}; choose another address in the "
        f"configuration (set in {tmp_path / LOCAL_OVERLAY})"
    ]


def _hold_region_metrics(cfg) -> tuple[str, socket.socket]:
    """region-demo's metrics address as make run picks it, and a socket holding it:
    picked again if another process (a parallel test) took the free port first."""
    for _ in range(20):
        region = region_metrics(cfg.verifier.metrics_listen, cfg)["region-demo"]
        host, _, port = region.rpartition(":")
        try:
            return region, socket.create_server((host, int(port)))
        except OSError:  # taken between the pick and the bind
            continue
    raise AssertionError("no free port above verifier.metrics_listen stayed free")


def test_a_held_port_no_setting_names_is_told_by_the_setting_that_moves_it(tmp_path):
    """region-demo's metrics port is the first free one above dept-demo's; its
    address in [cli] verifier_groups is make run's unless local.toml gives the
    region-demo entry (a table giving dept-demo alone does not)."""
    cfg = free_config()
    (tmp_path / LOCAL_OVERLAY).write_text(
        f'[cli]\nverifier_groups = {{ "dept-demo" = "{cfg.verifier.listen}" }}\n'
    )
    region, holder = _hold_region_metrics(cfg)
    with holder, held(1) as (group,):
        cfg.cli.verifier_groups["region-demo"] = group
        lines = ports_held(cfg, tmp_path, cfg.verifier.metrics_listen)
    local = tmp_path / LOCAL_OVERLAY
    assert lines == [
        f"error: cli.verifier_groups: {group} (region-demo's address) {IN_USE}; "
        "choose another address in the configuration (not set in the files: make "
        f'run\'s default; to move it, set [cli] verifier_groups = {{ "dept-demo" = '
        f'"{cfg.verifier.listen}", "region-demo" = "<host:port>" }} in {local})',
        f"error: verifier.metrics_listen: {region} (region-demo's metrics port, "
        f"which make run picks above verifier.metrics_listen's) {IN_USE}"
        + default(tmp_path, "verifier.metrics_listen"),
    ]


@pytest.fixture
def run_home(tmp_path):
    """A ``make run`` home: its config.toml as a start writes it, no local.toml."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(dump_config(DevStack(home).config))
    return home


def test_every_two_settings_on_one_port_are_said_in_one_run(run_home):
    base = load([str(run_home / "config.toml")])
    (run_home / LOCAL_OVERLAY).write_text(
        f'[seal]\nmetrics_listen = "{base.issuer.metrics_listen}"\n'
        f'[feed]\nlisten = "{base.issuer.listen}"\n'
        f'[tlog]\nmetrics_listen = "{base.issuer.metrics_listen}"\n'
    )
    cfg = load(config_layers(run_home, str(run_home / "config.toml")))
    lines = port_clashes(cfg, run_home, "127.0.0.1:9494")
    local = f"(set in {run_home / LOCAL_OVERLAY})"
    assert [line.split(" takes the port of ")[0] for line in lines] == [
        f"error: feed.listen: {base.issuer.listen}",
        f"error: seal.metrics_listen: {base.issuer.metrics_listen}",
        f"error: tlog.metrics_listen: {base.issuer.metrics_listen}",
    ], lines
    assert all(line.endswith(local) for line in lines), lines


def test_two_defaults_on_one_port_name_the_default_and_where_to_move_it(run_home):
    cfg = load([str(run_home / "config.toml")])
    cfg.tlog.metrics_listen = cfg.feed.metrics_listen  # neither in local.toml
    (run_home / LOCAL_OVERLAY).write_text("[issuer]\nworkers = 0\n")
    (line,) = port_clashes(cfg, run_home, "127.0.0.1:9494")
    assert line.startswith("error: tlog.metrics_listen: "), line
    assert "set in" not in line.replace("not set in the files", ""), line
    assert line.endswith(
        "give each its own port (not set in the files: make run's default; to move "
        f"it, set [tlog] metrics_listen in {run_home / LOCAL_OVERLAY})"
    ), line


def test_both_kinds_are_said_together(tmp_path):
    cfg = free_config()
    cfg.console.metrics_listen = cfg.seal.metrics_listen
    with held(1) as (issuer,):
        cfg.issuer.listen = issuer
        lines = port_problems(cfg, tmp_path, cfg.verifier.metrics_listen)
    said = [line.split(": ")[1] for line in lines]
    assert said == ["console.metrics_listen", "issuer.listen"], lines  # clash first


def test_the_banner_of_a_failed_start_no_longer_says_every_setting_is_in_local_toml(
    tmp_path,
):
    text = not_started({"issuer": 2}, tmp_path / LOCAL_OVERLAY)
    assert f"set in {tmp_path / LOCAL_OVERLAY}" not in text
    assert "make run's\ndefault" in text and str(tmp_path / LOCAL_OVERLAY) in text


_HELD_RUN = """
import sys
import services.run as run
from services import cli
from tests.e2e.atk10_run_child import ConfigOnly

class Held(ConfigOnly):
    async def start(self):
        self.config.issuer.listen, self.config.seal.metrics_listen = sys.argv[2:4]
        return await super().start()

def refuse(argv):
    raise SystemExit(f"a service was started: {argv}")

run.DevStack, run.start_service = Held, refuse
sys.exit(cli.main(["run", "--home", sys.argv[1], "--broker-port", "0"]))
"""


def test_make_run_says_every_held_port_and_starts_no_service(tmp_path):
    """``certseal run`` itself (on the dev stack's configuration, without PostgreSQL
    or a broker: tests/e2e/atk10_run_child.py) with two of its ports held."""
    home = tmp_path / "data"
    with held(2) as (issuer, seal_metrics):
        done = subprocess.run(
            [sys.executable, "-c", _HELD_RUN, str(home), issuer, seal_metrics],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 2, done.stderr
    errors = done.stderr.splitlines()
    assert (
        f"error: issuer.listen: {issuer} {IN_USE}" + default(home, "issuer.listen")
        in errors
    ), done.stderr
    assert (
        f"error: seal.metrics_listen: {seal_metrics} {IN_USE}"
        + default(home, "seal.metrics_listen")
        in errors
    ), done.stderr
    assert "a service was started" not in done.stderr and "Traceback" not in (
        done.stderr
    )
    assert "stack stopped" in done.stdout  # what had started is stopped


@pytest.mark.parametrize("name", ["metrics_listen", "probe_listen"])
def test_a_verifier_address_region_demo_follows_is_checked_before_the_ports(
    tmp_path, name
):
    """atk28: ``[verifier] probe_listen = "x"`` in local.toml was a traceback
    (region-demo's port is derived from it) instead of one line naming it."""
    (tmp_path / LOCAL_OVERLAY).write_text(f'[verifier]\n{name} = "x"\n')
    problem = overlay_problem(tmp_path)
    assert problem.startswith(f"error: verifier.{name}: ")
    assert str(tmp_path / LOCAL_OVERLAY) in problem


def test_every_malformed_port_is_said_before_any_service_starts(run_home):
    """nu28: ``[seal] metrics_listen = "127.0.0.1:99999"`` in local.toml passed the
    check, the services started, and the console then blamed a metrics source in
    config.toml that make run derives from it. Now each malformed address is said,
    naming its setting and local.toml, and the port checks wait for them."""
    (run_home / LOCAL_OVERLAY).write_text(
        '[seal]\nmetrics_listen = "127.0.0.1:99999"\n'
        '[feed]\nlisten = "nonsense"\n'
        '[cli.verifier_groups]\nregion-demo = "localhost:x"\n'
    )
    cfg = load(config_layers(run_home, str(run_home / "config.toml")))
    lines = port_problems(cfg, run_home, cfg.verifier.metrics_listen)
    local = f"(set in {run_home / LOCAL_OVERLAY})"
    assert [line.split(": ")[1] for line in lines] == [
        "seal.metrics_listen",
        "feed.listen",
        "cli.verifier_groups",
    ], lines
    assert all(line.endswith(local) and "not host:port" in line for line in lines)
