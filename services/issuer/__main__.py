"""``python -m services.issuer --config FILE``: run the issuer until SIGTERM/SIGINT.

With ``[issuer] workers = N`` this process supervises N serving worker processes that
share the listen port (SO_REUSEPORT) and one process that runs only the outbox relay,
and itself runs the audit sealer, the expiry sweep and the usage record's consumer: so
publishing never queues behind request handling, nor behind that background work on
one event loop (commit -> topic, docs/architecture.md §2b).
"""

from __future__ import annotations

from certseal.interrupt import interrupt_ends_the_start

if __name__ == "__main__":  # run, not imported: before the imports below
    interrupt_ends_the_start()

import argparse
import asyncio
import contextlib
import logging
import sys
import time

from certseal import logs
from certseal.cli_actions import blank_means_none
from certseal.cli_parser import OneLineParser, given, log_level
from certseal.collector import settle_collector
from certseal.errors import CertsealError
from certseal.listen import check_listen
from certseal.startfail import leave, start_or_explain, stop_on_signals
from services.config import load
from services.issuer.app import IssuerApp
from services.issuer.config import IssuerSettings

log = logging.getLogger("services.issuer")


def _metrics_for_worker(cfg: IssuerSettings, index: int) -> str:
    return cfg.issuer.child_metrics_listen(index)


async def _supervise(
    args: argparse.Namespace, cfg: IssuerSettings, stop: asyncio.Event
) -> None:
    wrong_setting = False

    async def worker(index: int, role: str = "serve") -> None:
        nonlocal wrong_setting
        backoff = 1.0
        first = True
        while not stop.is_set():
            started = time.monotonic()
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "services.issuer",
                *(f"--config={path}" for path in args.config or ()),
                "--log-level",
                args.log_level,
                "--role",
                role,
                "--metrics-listen",
                _metrics_for_worker(cfg, index),
            )
            waiter = asyncio.ensure_future(process.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if stop.is_set():
                if process.returncode is None:
                    process.terminate()
                await waiter
                return
            if process.returncode == 2 and first:  # its first start found a wrong
                # setting: restarting cannot help, so the issuer stops as a single
                # process would. A restart that does (a file edited since, for the
                # next rollout) is restarted like any failure: the others serve on.
                wrong_setting = True
                stop.set()
                return
            first = False
            # a process that keeps failing is restarted less and less often (up to
            # every 30 s); one that ran a minute or more again after 1 s
            delay = 1.0 if time.monotonic() - started > 60 else backoff
            backoff = min(delay * 2, 30.0)
            log.error(
                "%s process %d exited with %s; restarting in %.0f s",
                *(role, index, process.returncode, delay),
            )
            with contextlib.suppress(TimeoutError):  # a stop ends the wait
                await asyncio.wait_for(stop.wait(), delay)

    app = IssuerApp(cfg, serve=False, relay=False)
    await _start(app, args.config)
    children = [worker(i) for i in range(cfg.issuer.workers)]
    children.append(worker(cfg.issuer.workers, "relay"))
    await asyncio.gather(*children)
    await app.stop()
    if wrong_setting:
        sys.exit(2)


YOUNG_COLLECTION = 50_000
"""The issuer's young-generation threshold (:func:`settle_collector`): about 3 % of a
serving process's CPU was the collector at CPython's 700 (docs/architecture.md §2b);
at 50,000 a collection comes every 10 to 20 s at 500 licences/s and takes about
20 ms."""


async def _start(app: IssuerApp, paths: list[str]) -> None:
    """Start ``app``; a start-up failure (a PKCS#11 token that does not open, a
    secret file missing, a port taken) ends the process with one line, no traceback."""
    failed = await start_or_explain(app, "services.issuer")
    if failed is not None:
        leave("services.issuer", failed, app.config, paths)
    settle_collector(young=YOUNG_COLLECTION)


async def _main(args: argparse.Namespace) -> None:
    try:
        cfg = load(args.config)
    except CertsealError as exc:  # one line, not a traceback (as every service says it)
        leave("services.issuer", exc, paths=args.config)
    stop = asyncio.Event()
    stop_on_signals(stop)
    if args.role == "all" and cfg.issuer.workers > 0:
        try:  # the serving children share these ports (SO_REUSEPORT): check them
            # first, or each child would fail on a port another process holds
            cfg.issuer.check_child_ports()
            check_listen("issuer.listen", cfg.issuer.listen)
            if cfg.issuer.probe_listen:
                check_listen("issuer.probe_listen", cfg.issuer.probe_listen)
        except CertsealError as exc:
            leave("services.issuer", exc, paths=args.config)
        await _supervise(args, cfg, stop)
        return
    if args.metrics_listen is not None:
        cfg.issuer.metrics_listen = args.metrics_listen
    serving_worker = args.role == "serve"
    if args.role == "relay":  # the outbox relay alone (started by the supervisor)
        app = IssuerApp(cfg, serve=False, background=False, relay=True)
    else:
        app = IssuerApp(cfg, background=not serving_worker, reuse_port=serving_worker)
    app.metrics_optional = args.role != "all"  # a supervised worker keeps working
    await _start(app, args.config)
    await stop.wait()
    await app.stop(grace=5.0)


def main() -> None:
    """Entry point."""
    parser = OneLineParser(prog="python -m services.issuer", lead="services.issuer: ")
    parser.add_argument(
        "--config",
        action="append",
        type=given("a configuration file"),
        help="TOML configuration file; repeat to layer files",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=log_level,
        help="CRITICAL, ERROR, WARNING, INFO or DEBUG, in any case",
    )
    parser.add_argument(
        "--role",
        choices=["all", "serve", "relay"],
        default="all",
        help="serve, relay: a process started by the supervisor",
    )
    # the supervisor's to a child; '' is no endpoint
    parser.add_argument(
        "--metrics-listen", type=blank_means_none, help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    logs.configure(args.log_level)
    try:
        import uvloop

        uvloop.run(_main(args))
    except ImportError:
        asyncio.run(_main(args))


if __name__ == "__main__":
    main()
