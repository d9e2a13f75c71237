"""``python -m services.verifier --config FILE --group NAME``: one verifier deployment."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
from pathlib import Path

from faust.exceptions import ConsistencyError
from faust.worker import Worker

from certseal.errors import CertsealError
from certseal.metrics import Metrics
from services.config import load
from services.verifier.app import (
    GrpcService,
    broker_cluster_id,
    build_servicer,
    create_app,
)
from services.verifier.domain import FieldRights
from services.verifier.storage import prepare_data_dir


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m services.verifier")
    parser.add_argument(
        "--config",
        required=True,
        action="append",
        help="TOML configuration file; repeat to layer files",
    )
    parser.add_argument("--group", help="this deployment's name (its consumer group)")
    parser.add_argument("--listen", help="gRPC address, default from [verifier]")
    parser.add_argument("--data-dir", help="index folder, default from [verifier]")
    parser.add_argument(
        "--metrics-listen", help="Prometheus address, default from [verifier]"
    )
    parser.add_argument(
        "--probe-listen", help="plaintext health address, default from [verifier]"
    )
    parser.add_argument(
        "--log-level",
        default="warn",
        choices=["crit", "error", "warn", "info", "debug"],
    )
    parser.add_argument("--rebuilding", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        cfg = load(args.config)
        field_rights = FieldRights.parse(cfg.verifier.field_rights)
    except CertsealError as exc:
        sys.exit(f"error: {exc}")
    cfg.verifier.group = args.group or cfg.verifier.group
    cfg.verifier.listen = args.listen or cfg.verifier.listen
    cfg.verifier.data_dir = args.data_dir or cfg.verifier.data_dir
    cfg.verifier.metrics_listen = args.metrics_listen or cfg.verifier.metrics_listen
    cfg.verifier.probe_listen = args.probe_listen or cfg.verifier.probe_listen
    data_dir = Path(cfg.verifier.data_dir) / cfg.verifier.group
    prepare_data_dir(data_dir, asyncio.run(broker_cluster_id(cfg)))
    state = create_app(cfg)

    servicer = build_servicer(cfg, state, data_dir=data_dir, field_rights=field_rights)
    grpc_service = GrpcService(
        config=cfg, servicer=servicer, freshness=state.freshness, metrics=Metrics()
    )
    worker = Worker(state.app, grpc_service, loglevel=args.log_level)
    # Faust's progress spinner sets the root logger to DEBUG so that it spins on every
    # record: that cost 8 % of the worker's CPU in formatting debug records nobody reads.
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    except SystemExit:
        reason = state.app.tables.recovery.crash_reason  # type: ignore[attr-defined]
        if isinstance(reason, ConsistencyError) and not args.rebuilding:
            # The local tables are ahead of their changelog (a kill -9 can leave them
            # so). The index is derived data: drop it and rebuild from the topics.
            logging.getLogger(__name__).warning(
                "index in %s is inconsistent with its changelog (%s); rebuilding",
                data_dir,
                reason,
            )
            shutil.rmtree(data_dir, ignore_errors=True)
            os.execv(
                sys.executable,
                [
                    sys.executable,
                    "-m",
                    "services.verifier",
                    *sys.argv[1:],
                    "--rebuilding",
                ],
            )
        raise


if __name__ == "__main__":
    main()
