"""``python -m services.verifier --config FILE --group NAME``: one verifier deployment."""

from __future__ import annotations

from certseal.interrupt import interrupt_ends_the_start

if __name__ == "__main__":  # run, not imported: before the imports below
    interrupt_ends_the_start()
    # a stop asked while the worker started itself again (_rebuild) waited, blocked,
    # across execv: it ends this start now, by the signal (SIGTERM's default)
    import signal as _signal

    _signal.pthread_sigmask(_signal.SIG_UNBLOCK, {_signal.SIGTERM, _signal.SIGINT})

import argparse
import asyncio
import functools
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import uvloop
from aiokafka.errors import KafkaConnectionError
from faust.exceptions import ConsistencyError

from certseal import logs
from certseal.cli_parser import OneLineParser, given
from certseal.config import where_set
from certseal.errors import CertsealError, ErrorKind
from certseal.listen import check_distinct_listens, check_listen
from certseal.metrics import Metrics
from services.config import load
from services.verifier.app import build_servicer, create_app
from services.verifier.broker import broker_cluster_id, partition_mismatches
from services.verifier.config import (
    apply_worker_options,
    check_settings,
    flagged_settings,
    worker_data_dir,
)
from services.verifier.diskindex import (
    FOLDER,
    IndexDamaged,
    drop_old_table,
    drop_unnamed_folder,
)
from services.verifier.domain import FieldRights
from services.verifier.group import PeerServicer
from services.verifier.metrics import (
    index_rebuild_counter,
    unopened_counter,
    usage_counters,
)
from services.verifier.rebuilds import note_rebuild, pending_rebuilds
from services.verifier.replay_store import FOLDER as REPLAY_FOLDER
from services.verifier.replay_store import FolderInUse, prepare_worker_folder
from services.verifier.server import GrpcService
from services.verifier.start_checks import check_files, check_identity
from services.verifier.storage import drop_index
from services.verifier.worker import STOP_SIGNALS, VerifierWorker

#: ``--log-level`` (Faust's names) -> the logging module's
LOG_LEVELS = {
    "crit": "CRITICAL",
    "error": "ERROR",
    "warn": "WARNING",
    "info": "INFO",
    "debug": "DEBUG",
}


def main() -> None:
    """Entry point."""
    parser = OneLineParser(
        prog="python -m services.verifier", lead="services.verifier: "
    )
    parser.add_argument(
        "--config",
        required=True,
        action="append",
        type=given("a configuration file"),
        help="TOML configuration file; repeat to layer files",
    )
    parser.add_argument("--group", help="this deployment's name (its consumer group)")
    parser.add_argument(
        "--worker",
        help="this worker's name within its group (e.g. the pod name), default from "
        "[verifier]; in a partitioned group (--group-size N > 1) it must end in "
        "the worker's ordinal 0..N-1 (verifier-gz-1)",
    )
    parser.add_argument(
        "--group-size",
        type=int,
        help="workers of a partitioned group (the StatefulSet's replicas), default "
        "from [verifier]",
    )
    parser.add_argument(
        "--peers",
        help="the group's workers' addresses by ordinal, comma-separated, or one with "
        "{ordinal} in it; default from [verifier]",
    )
    parser.add_argument(
        "--peer-server-name",
        help="the TLS name on the peers' certificates, default from [verifier]",
    )
    parser.add_argument(
        "--topic-replication-factor",
        type=int,
        help="replicas of the worker's own Faust topics, default from [verifier]",
    )
    parser.add_argument("--listen", help="gRPC address, default from [verifier]")
    parser.add_argument(
        "--data-dir",
        type=given("a folder"),
        help="index folder, default from [verifier]",
    )
    parser.add_argument(
        "--metrics-listen", help="Prometheus address, default from [verifier]"
    )
    parser.add_argument(
        "--probe-listen", help="plaintext health address, default from [verifier]"
    )
    parser.add_argument(
        "--log-level",
        default="warn",
        choices=list(LOG_LEVELS),
    )
    parser.add_argument("--rebuilding", help=argparse.SUPPRESS)  # why, after execv
    args = parser.parse_args()
    try:
        cfg = load(args.config)
        field_rights = FieldRights.parse(cfg.verifier.field_rights)
    except CertsealError as exc:
        _refuse(exc, args)
    apply_worker_options(
        cfg.verifier,
        group=args.group,
        worker=args.worker,
        group_size=args.group_size,
        peers=args.peers,
        peer_server_name=args.peer_server_name,
        topic_replication_factor=args.topic_replication_factor,
    )
    try:
        check_settings(cfg.verifier)  # named verifier.<setting>, as a flag sets it
        identity = check_identity(cfg)
    except CertsealError as exc:
        _refuse(exc, args)
    cfg.verifier.listen = args.listen or cfg.verifier.listen
    cfg.verifier.data_dir = args.data_dir or cfg.verifier.data_dir
    cfg.verifier.metrics_listen = args.metrics_listen or cfg.verifier.metrics_listen
    cfg.verifier.probe_listen = args.probe_listen or cfg.verifier.probe_listen
    try:
        check_files(cfg)
        check_distinct_listens(cfg.verifier, "verifier")  # as the flags left them
    except CertsealError as exc:
        _refuse(exc, args)
    for setting in ("listen", "metrics_listen", "probe_listen"):
        # before Faust starts: a port taken later fails inside its service, with
        # a traceback that names neither the setting nor the address
        address = getattr(cfg.verifier, setting)
        if address:
            try:
                check_listen(f"verifier.{setting}", address)
            except CertsealError as exc:
                _refuse(exc, args)
    data_dir = worker_data_dir(cfg.verifier)
    # Worker threads decoding codes hold the GIL for up to a millisecond at a time;
    # hand it back to the event loop's thread sooner than the default 5 ms.
    sys.setswitchinterval(0.0005)
    # the start-up's own lines (an index dropped, a rebuild) in the services' format,
    # as Faust's worker keeps them once it starts (logging_config below)
    level = LOG_LEVELS[args.log_level]
    logs.configure(level)
    log = logging.getLogger(__name__)
    # a verifier serves RPCs and keeps an index: no outbox, audit chain or sweep
    metrics = Metrics(families=frozenset({"rpc", "index"}))
    # the licence index is only opened here; every block of it is read after SERVING
    # (app.create_app's check_licence_index)
    try:
        cluster = asyncio.run(broker_cluster_id(cfg))
        mismatches = asyncio.run(partition_mismatches(cfg))
    except KafkaConnectionError as exc:  # not a setting of the operator's: exit 1
        print(
            f"error: kafka.bootstrap_servers: the broker does not answer ({exc})",
            file=sys.stderr,
        )
        sys.exit(1)
    if mismatches:
        _bad_input(
            f"error: kafka.topic_partitions: {cfg.kafka.topic_partitions} does not match "
            f"the topics on the broker ({'; '.join(mismatches)}): set it to the count "
            "the topics were made with (changing it means making the topics again)"
        )
    try:
        damaged, _other_cluster = prepare_worker_folder(data_dir, cluster)
    except FolderInUse as exc:
        _in_use(data_dir, str(exc))
    except OSError as exc:  # a folder that cannot be made there (/proc/x, read-only)
        _bad_input(f"error: verifier.data_dir: cannot make or use {data_dir}: {exc}")
    if damaged:
        # The index is derived data: a damaged file costs a rebuild, never a crash loop.
        for folder, reason in damaged:
            log.warning("index table %s is damaged: %s", folder, reason)
        log.warning(
            "index in %s is damaged (%d tables); dropped it, rebuilding it from "
            "the topics",
            data_dir,
            len(damaged),
        )
    # the reason is noted before a drop: a start killed in between still leaves it
    reformat = functools.partial(note_rebuild, data_dir, "format")
    if cfg.verifier.worker and drop_unnamed_folder(
        Path(cfg.verifier.data_dir), cfg.verifier.group, before=reformat
    ):
        # this volume's group ran as one unnamed worker before: its folder is unused
        log.warning(
            "removed the unnamed worker's folder of group %s: this worker is %s",
            cfg.verifier.group,
            data_dir,
        )
    if drop_old_table(data_dir, before=reformat):
        # an index kept by a version before the on-disk licence index: its Faust
        # table is rebuilt as a DiskIndex straight from the licence topic
        log.warning("licence index in %s moves to %s: rebuilding it", data_dir, FOLDER)
    # counted by every start that rebuilds, also when the start that dropped the index
    # did not get as far (services.verifier.rebuilds); cleared once it is built
    rebuilds = index_rebuild_counter(metrics)
    for reason in pending_rebuilds(data_dir):
        rebuilds.labels(reason).inc()
    # The same event loop as every other service process: uvloop's (asyncio's own
    # selector loop cost the verifier about a third of its CPU per VerifyCode).
    # Set before Faust's worker makes its loop.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        state = create_app(cfg)
    except IndexDamaged as damaged_open:  # a damaged block read while opening it
        if args.rebuilding:
            raise
        _rebuild(data_dir, f"damaged ({damaged_open})", "damaged")
        raise  # not reached: no stop signal is noted before Faust's worker runs
    except Exception as exc:  # rocksdict raises a bare Exception("IO error: …")
        if "While lock file" not in str(exc):
            raise
        # another process opened a database of this folder since the check above
        _in_use(data_dir, str(exc).splitlines()[0][:300])

    try:  # a bundle key or certificate that does not do: one line, exit 2
        servicer, log_watch = build_servicer(
            cfg,
            state,
            data_dir=data_dir,
            field_rights=field_rights,
            usage=usage_counters(metrics),
            unopened=unopened_counter(metrics),
        )
    except CertsealError as exc:
        if exc.kind is not ErrorKind.INVALID_ARGUMENT:
            raise
        _refuse(exc, args)
    grpc_service = GrpcService(
        config=cfg,
        servicer=servicer,
        freshness=state.freshness,
        metrics=metrics,
        log_watch=log_watch,
        peer_servicer=PeerServicer(
            state.lookup,
            state.freshness,
            group=cfg.verifier.group,
            identity=identity,
        ),
        index_built=state.feed.built,
    )
    # Faust stops its app before this service: NOT_SERVING from the stop's first step
    state.app.on_before_shutdown.connect(grpc_service.stopping)
    worker = VerifierWorker(
        state.app,
        grpc_service,
        loglevel=level,
        logging_config=logs.dict_config(level),
        # what reaches stderr stays one record (logs.log_uncaught), not a warning
        # per fragment from Faust's redirect of stdout and stderr
        redirect_stdouts=False,
    )
    # Faust's progress spinner sets the root logger to DEBUG so that it spins on every
    # record: that cost 8 % of the worker's CPU in formatting debug records nobody reads.
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    except SystemExit:
        if grpc_service.bind_failure is not None:  # one line, as the check says it
            _bad_input(f"error: {grpc_service.bind_failure}")
        why = _rebuild_reason(state.app)
        if why and not args.rebuilding:
            # The local tables are ahead of their changelog (a kill -9 can leave them
            # so), or RocksDB found a damaged file the start-up check did not read.
            _rebuild(
                data_dir,
                why,
                "inconsistent" if "inconsistent" in why else "damaged",
                stop_signal=lambda: worker.stop_signal,
            )
        raise


def _in_use(data_dir: Path, why: str) -> NoReturn:
    """Another process has a database of this worker's folder open (a worker not yet
    stopped, two workers given one folder): one line naming the setting, exit 1,
    before anything in the folder changed."""
    print(
        f"services.verifier: error: verifier.data_dir: {data_dir} is in use by "
        f"another process ({why}): one worker per folder, started once the previous "
        "one has exited",
        file=sys.stderr,
    )
    sys.exit(1)


def _refuse(exc: CertsealError, args: argparse.Namespace) -> NoReturn:
    """:func:`_bad_input` of a wrong setting; one that one of several ``--config``
    files gives (not a flag) names that file (:func:`certseal.config.where_set`)."""
    field = exc.field or ""
    where = "" if field in flagged_settings(args) else where_set(args.config, field)
    _bad_input(f"error: {exc}{where}")


def _bad_input(message: str) -> NoReturn:
    """Stop on a bad setting: its message on stderr and exit status 2, as the
    ``certseal`` commands and argparse do for bad input; prefixed with the process's
    name, as every other service's start-up error is (certseal.startfail.leave)."""
    print(f"services.verifier: {message}", file=sys.stderr)
    sys.exit(2)


def _rebuild(
    data_dir: Path,
    why: str,
    reason: str,
    *,
    stop_signal: Callable[[], signal.Signals | None] = lambda: None,
) -> None:
    """Drop the index (derived data) and start this worker again, ``--rebuilding
    reason``, to rebuild it from the topics. The replay guard's store stays: the next
    start checks it in full (``prepare_worker_folder``) and drops it only if it is
    damaged itself.

    Returns (the caller exits) instead when ``stop_signal()`` names a signal that
    asked the worker to stop, before or while the index is dropped: a worker told to
    stop never starts again (the next start finds the damage and rebuilds)."""
    log = logging.getLogger(__name__)
    if stop_signal() is None:
        log.warning("index in %s is %s; rebuilding from the topics", data_dir, why)
        note_rebuild(data_dir, reason)
        drop_index(data_dir, keep=(REPLAY_FOLDER,))
    # a stop asked after the look below would be noted by this image and lost with
    # it: the worker started again ran on (CI, once). From here a stop signal ends
    # the process (the OS's default), and one that reaches this thread waits,
    # blocked, across execv for the new image to unblock it first thing (__main__)
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    asked = stop_signal()
    if asked is not None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        log.warning(
            "index in %s is %s; asked to stop (%s): exiting, not starting again; "
            "the next start rebuilds it",
            *(data_dir, why, asked.name),
        )
        return
    os.execv(
        sys.executable,
        [
            sys.executable,
            "-m",
            "services.verifier",
            *_without_rebuilding(sys.argv[1:]),
            "--rebuilding",
            reason,
        ],
    )


def _without_rebuilding(argv: list[str]) -> list[str]:
    """``argv`` without the ``--rebuilding REASON`` of a start before: a second
    rebuild names only its own reason (the parser refuses an option given twice)."""
    kept: list[str] = []
    words = iter(argv)
    for word in words:
        if word == "--rebuilding":
            next(words, None)
        elif not word.startswith("--rebuilding="):
            kept.append(word)
    return kept


def _rebuild_reason(app: Any) -> str:
    """Why the worker's crash calls for a rebuild of the index ('' if it does not)."""
    crashes = [
        getattr(service, "crash_reason", None)
        for service in (app.tables.recovery, app.tables, app)
    ]
    for crash in crashes:
        if isinstance(crash, ConsistencyError):
            return f"inconsistent with its changelog ({crash})"
    for crash in crashes:
        if isinstance(crash, IndexDamaged):  # a damaged block met at run time
            return f"damaged ({str(crash).splitlines()[0][:300]})"
        if crash is not None and str(crash).startswith(("Corruption", "IO error")):
            return f"damaged ({str(crash).splitlines()[0][:300]})"
    return ""


if __name__ == "__main__":
    main()
