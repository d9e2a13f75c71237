"""``certseal run``: the embedded stack and every service, until Ctrl-C.

A composition of the whole platform for a laptop or CI: the kernel's embedded PostgreSQL
and broker (:class:`services.devstack.DevStack`), then each service as its own process
(``python -m services.<name>``), two verifier groups among them, each waited for until
it reports SERVING.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from certseal import logs
from certseal.calls import channel
from certseal.cli import DEFAULT_HOME, LOCAL_OVERLAY
from certseal.cli_parser import given
from certseal.devstack import AlreadyRunning, RunLock
from certseal.devstack_pg import process_alive
from certseal.errors import invalid
from certseal.events import default_topics
from certseal.secretfiles import dsn_has_password, redact_dsn
from services.config import Config
from services.devstack import DevStack
from services.run_keeper import (
    RUN_TAG,
    Keeper,
    end_leftovers,
    home_problem,
    leftover_problem,
    run_tag,
    started_from,
)
from services.run_layers import (
    BROKER_PORT_TYPE,
    REGION_LISTEN,
    USAGE_PUBLISHERS,
    VERIFIER_METRICS,
    broker_port_from_environment,
    client_address,
    config_layers,
    follow_local_listens,
    group_probes,
    overlay_problem,
    port_problems,
    region_metrics,
    settle_usage,
)
from services.run_platform import platform_seal_line
from services.run_processes import (
    exited_lines,
    kill_session,
    not_started,
    run_status,
    running,
    say,
    service_state,
    shut_down,
    start_service,
)
from services.run_walk import walk_through
from services.verifier.config import worker_data_dir

#: how long a killed run's services have to stop before they are killed, as at Ctrl-C
KEEPER_GRACE_S = 15.0


def cmd_run(args: argparse.Namespace) -> int:
    """Run the embedded stack and the services until Ctrl-C.

    Refused at once, touching nothing, while another run holds ``<home>/run.lock``:
    INVALID_ARGUMENT (``home``: exit 2) naming the running one's pid; also when
    ``home`` cannot be a data folder (:func:`home_problem`). A lock held by what a
    killed run left (its keeper, stopping them) is waited for, and processes a killed
    run left are ended (:func:`~services.run_keeper.end_leftovers`) before anything
    starts.
    """
    if args.broker_port is None:
        args.broker_port = broker_port_from_environment()
    home = Path(args.home)
    if problem := home_problem(home):
        raise invalid("home", problem)
    lock = RunLock(home)
    try:
        try:
            lock.acquire()
        except AlreadyRunning as exc:
            if exc.pid is None or process_alive(exc.pid):
                raise
            say(f"waiting for what a killed run (pid {exc.pid}) left to stop")
            lock.acquire(wait_s=KEEPER_GRACE_S + 30)
    except AlreadyRunning as exc:
        raise invalid("home", f"{exc}; stop it first: Ctrl-C in its terminal") from None
    assert lock.fd is not None
    keeper = Keeper(home, lock.fd, grace_s=KEEPER_GRACE_S)
    try:
        if ended := end_leftovers(home, KEEPER_GRACE_S, signal_leaders=True):
            say(
                f"stopped {len(ended)} processes a killed run of {home.resolve()} "
                f"had left running (pids {' '.join(map(str, ended))})"
            )
        code = _run(args, home)
        keeper.dismiss()  # not after an exception: the keeper's checks are cheap
        return code
    finally:
        lock.release()


def _run(args: argparse.Namespace, home: Path) -> int:
    # one readable line per log record for a person watching a terminal; the
    # services started below inherit it through the environment
    os.environ["CERTSEAL_LOG_FORMAT"] = "text"
    if problem := overlay_problem(home):
        print(problem, file=sys.stderr)
        return 2
    logs.configure("INFO")
    stack = DevStack(home, broker_port=args.broker_port)
    stack.config.verifier.data_dir = str(home.resolve() / "verifier")
    stack.config.verifier.group = "dept-demo"
    # a second verifier group, as another region runs one
    stack.config.console.verifier_targets = [
        stack.config.verifier.listen,
        REGION_LISTEN,
    ]
    stack.config.cli.verifier_groups = {
        "dept-demo": stack.config.verifier.listen,
        "region-demo": REGION_LISTEN,
    }
    stopping = starting = False
    services: dict[str, subprocess.Popen[bytes]] = {}
    settle: Callable[[], object] | None = None  # the issuer reads the last usage

    shutting = False  # the run's own stop has begun (a service ended, say)
    killing = False  # a second Ctrl-C came: what starts still is killed too

    def stop(*_: Any) -> None:
        nonlocal stopping, killing
        if starting:  # PostgreSQL's first initdb takes seconds: stop it halfway
            raise KeyboardInterrupt
        # marked before anything is said: a Ctrl-C that came while the first one's
        # line was being written ran this handler inside it and was taken for a
        # first one again (a CI run)
        again, stopping = stopping, True
        if again:  # a second Ctrl-C: the shutdown waits for no one any more
            killing = True
            if alive := [n for n, p in services.items() if running(p)]:
                say(f"a second Ctrl-C: killing {', '.join(alive)}")  # trial53
            for process in services.values():  # exited or not: its session's rest
                kill_session(process)
        elif shutting:  # trial: the first Ctrl-C of a stop the run began was unsaid
            say("a stop is already under way; another Ctrl-C kills at once")

    # SIGHUP: the terminal closed; the services, in sessions of their own, get
    # nothing from it and would outlive the run. Set before the stack starts: a
    # signal then stops PostgreSQL too (finally below), once it has started.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        starting = True
        try:
            cfg = asyncio.run(stack.start())
        except KeyboardInterrupt:
            return 0  # finally: the stack stops what it had started
        finally:
            starting = False
        # every service (and what it starts) is then provably this run's: the keeper
        # and the next run end what a killed run left (services.run_keeper)
        os.environ[RUN_TAG] = run_tag(home)
        config = str(stack.config_file)
        cfg = follow_local_listens(cfg, home, stack.config_file)

        def settle_now(cfg: Config = cfg) -> bool:  # the issuer is started by then
            return settle_usage(cfg, services["issuer"])

        settle = settle_now
        region = cfg.cli.verifier_groups.get("region-demo", REGION_LISTEN)
        # not in config.toml: a group started from it (README, pair-demo) would clash
        dept_metrics = cfg.verifier.metrics_listen or VERIFIER_METRICS["dept-demo"]
        if problems := port_problems(cfg, home, dept_metrics):  # finally: stack stops
            if earlier := started_from(stack.config_file):  # not provably leftovers
                problems = [leftover_problem(home, earlier)]
            say("\n".join(problems), sys.stderr)
            return 2
        verifier_metrics = region_metrics(dept_metrics, cfg)
        probe = group_probes(cfg, verifier_metrics)

        layers = [
            arg for path in config_layers(home, config) for arg in ("--config", path)
        ]

        def service(name: str, module: str, *extra: str) -> subprocess.Popen[bytes]:
            # its log lines name it in the terminal all services share
            env = {**os.environ, "CERTSEAL_LOG_NAME": name}
            return start_service([sys.executable, "-m", module, *layers, *extra], env)

        starts = {
            "issuer": ("services.issuer",),
            "dept-demo": (
                "services.verifier",
                *("--metrics-listen", verifier_metrics["dept-demo"]),
                *probe["dept-demo"],
            ),
            "region-demo": (
                "services.verifier",
                *("--group", "region-demo", "--listen", region),
                *("--metrics-listen", verifier_metrics["region-demo"]),
                *probe["region-demo"],
            ),
            "seal": ("services.seal",),
            "feed": ("services.feed",),
            "tlog": ("services.tlog",),
            "console": ("services.console",),
        }
        for name, argv in starts.items():
            # Ctrl-C while they start: none more (atk70: the rest started all the
            # same, after a second Ctrl-C had killed those before, and the stop
            # waited its grace for them); finally stops those started
            if stopping:
                return 0
            services[name] = service(name, *argv)
            if killing:  # one whose start the second Ctrl-C came in
                kill_session(services[name])
        targets = {
            "issuer": cfg.cli.issuer_target,
            "dept-demo": cfg.cli.verifier_target,
            "region-demo": region,
            "seal": cfg.cli.seal_target,
            "feed": cfg.cli.feed_target,
            "tlog": cfg.cli.tlog_target,
        }

        def give_up() -> bool:  # Ctrl-C, or a service already dead: wait no longer
            return stopping or any(p.poll() is not None for p in services.values())

        def waited(wait: Callable[..., bool], *args: Any) -> bool | None:
            """None: not waited for, or the wait cut short by the run's end (a
            service that was listening is not "NOT READY", trial53)."""
            if give_up():
                return None
            return wait(cfg, *args, give_up) or (None if give_up() else False)

        ready = {n: waited(_wait_serving, services[n], t) for n, t in targets.items()}
        console_url = f"https://{client_address(cfg.console.listen)}/"
        ready["console"] = waited(_wait_https, services["console"], console_url)
        if stopping:  # Ctrl-C while waiting: no banner, stop what started
            return 0
        # redeeming an authorisation needs it (README, holder walk-through)
        if ready["seal"] and ready["issuer"]:
            copies = platform_seal_line(cfg)
        elif give_up():
            copies = "not set up: not every service started"
        else:
            copies = "not set up: the seal service or the issuer did not become ready"
        state = {n: service_state(ok, services[n]) for n, ok in ready.items()}
        ca = cfg.tls.ca_file
        topics = topic_lines()
        metrics = "\n               ".join(
            f"http://{listen}/metrics  {name}"
            for name, listen in metrics_endpoints(cfg, verifier_metrics).items()
        )
        kafka = cfg.kafka.bootstrap_servers
        if stack.broker_port_taken:
            kafka += (
                f"   (port {args.broker_port} was in use: this run took a free port; "
                "clients configured for it must follow)"
            )
        exited = {
            name: code
            for name, process in services.items()
            if (code := process.poll()) is not None
        }
        walk = (
            not_started(exited, home / LOCAL_OVERLAY)
            if exited
            else walk_through(cfg, stack.config_file, console_url)
        )
        dsn = cfg.database.dsn()
        withheld = "password withheld; " if dsn_has_password(dsn) else ""
        complete = not exited and all(ready.values())
        headline = "is running" if complete else "did not start completely"
        print(
            f"""
certseal {headline} on the embedded defaults (data in {home.resolve()}).

  PostgreSQL   {redact_dsn(dsn)} ({withheld}in {cfg.database.dsn_file})
  Kafka        {kafka}
               topics: {topics}
  Issuer gRPC  {cfg.issuer.listen} (mTLS; CA {ca})   {state["issuer"]}
  Verifier     {cfg.verifier.listen} (group {cfg.verifier.group}, index in {worker_data_dir(cfg.verifier)})   {state["dept-demo"]}
               {region} (group region-demo)   {state["region-demo"]}
  Seal gRPC    {cfg.seal.listen} (seal CA {cfg.seal.ca_cert_file}; SM2 {cfg.seal.sm2_ca_cert_file or "none"})   {state["seal"]}
  TSA          {cfg.seal.tsa_url or "none: seals carry no timestamp"} (RFC 3161 over HTTP, a room of the seal process)
  Platform     {copies}
  Event feed   {cfg.feed.listen} (integrators integrator:<name>; operators see all)   {state["feed"]}
  Log          {cfg.tlog.listen} (transparency log {cfg.tlog.origin})   {state["tlog"]}
  Console      {console_url} (counter page; operations at {console_url}operator)   {state["console"]}
               the browser must trust the dev CA {ca}
  Metrics      {metrics}
  Logs         the services' in this terminal; the broker's in {stack.home / "broker.log"};
               PostgreSQL's in {stack.home / "pg" / "log"}
  Config       {stack.config_file}
               with {home / LOCAL_OVERLAY} layered on top when it exists (your own
               settings; make run never writes it)

{walk}""",
            flush=True,
        )
        # the embedded broker is watched as the services are: dead, it left every
        # service NOT_SERVING for good, and the run said nothing (nu21)
        watched = {**services, **broker_of(stack)}
        while not stopping and all(p.poll() is None for p in watched.values()):
            time.sleep(0.2)
        for line in exited_lines(watched):
            say(line, sys.stderr)
        return 0 if stopping else run_status(watched)
    finally:
        shutting = True
        shut_down(services, stack.stop, first=USAGE_PUBLISHERS, between=settle)


def broker_of(stack: DevStack) -> dict[str, subprocess.Popen[bytes]]:
    """The embedded broker's process, under the name :func:`exited_lines` gives it
    (it keeps topics in memory: the next run starts a new one, re-seeded with every
    retained event)."""
    if stack.broker is None:
        return {}
    return {f"the embedded broker (its log: {stack.home / 'broker.log'})": stack.broker}


def topic_lines() -> str:
    """Every topic the platform creates, two to a banner line."""
    names = [t.name for t in default_topics()]
    return ",\n                       ".join(
        ", ".join(names[i : i + 2]) for i in range(0, len(names), 2)
    )


def metrics_endpoints(cfg: Config, verifiers: dict[str, str]) -> dict[str, str]:
    """Every process's Prometheus endpoint (host:port), by process name."""
    endpoints = {"issuer": cfg.issuer.metrics_listen}
    *workers, relay = cfg.issuer.child_metrics_listens() or [""]
    for index, child in enumerate(workers):  # services.issuer's children
        endpoints[f"issuer worker {index}"] = child
    endpoints["issuer relay"] = relay
    endpoints.update({f"verifier {g}": listen for g, listen in verifiers.items()})
    endpoints.update(
        {
            "seal": cfg.seal.metrics_listen,
            "feed": cfg.feed.metrics_listen,
            "tlog": cfg.tlog.metrics_listen,
            "console": cfg.console.metrics_listen,
        }
    )
    return {name: listen for name, listen in endpoints.items() if listen}


def _wait_serving(
    cfg: Config,
    process: subprocess.Popen[bytes],
    target: str,
    give_up: Callable[[], bool],
) -> bool:
    """Whether the service at ``target`` answers SERVING within 2 minutes; False at
    once when its process exits or ``give_up()`` (Ctrl-C, another service dead)."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async def poll() -> bool:
        async with channel(cfg, target) as chan:
            stub = health_pb2_grpc.HealthStub(chan)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if process.poll() is not None or give_up():
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


def _wait_https(
    cfg: Config,
    process: subprocess.Popen[bytes],
    url: str,
    give_up: Callable[[], bool],
) -> bool:
    """Whether ``url`` answers within a minute; False as :func:`_wait_serving`."""
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context(cafile=cfg.tls.ca_file)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None or give_up():
            return False
        try:
            with urllib.request.urlopen(url, context=context, timeout=1):
                return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    return False


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``run``."""
    run = sub.add_parser("run", help="run the embedded stack and the services")
    run.add_argument(
        "--home",
        default=str(DEFAULT_HOME),
        type=given("a folder"),
        help=f"the folder of the data and local.toml (default {DEFAULT_HOME})",
    )
    run.add_argument(
        "--broker-port",
        type=BROKER_PORT_TYPE,
        default=None,  # then $BROKER_PORT, read by cmd_run
        help="the embedded broker's port, 0 to 65535 (default $BROKER_PORT, else "
        "9092; 0: any free port); a free port is taken instead when it is in use",
    )
    run.set_defaults(func=cmd_run)
