"""``python -m services.verifier --config FILE --group NAME``: one verifier deployment."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from faust.types import TP
from faust.worker import Worker

from certseal.config import load_config
from certseal.metrics import Metrics
from services.verifier.app import (
    GrpcService,
    broker_cluster_id,
    create_app,
    prepare_data_dir,
)
from services.verifier.servicer import VerifierServicer


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m services.verifier")
    parser.add_argument("--config", required=True)
    parser.add_argument("--group", help="this deployment's name (its consumer group)")
    parser.add_argument("--listen", help="gRPC address, default from [verifier]")
    parser.add_argument("--data-dir", help="index folder, default from [verifier]")
    parser.add_argument(
        "--log-level",
        default="warn",
        choices=["crit", "error", "warn", "info", "debug"],
    )
    args = parser.parse_args()
    cfg = load_config(args.config)
    cfg.verifier.group = args.group or cfg.verifier.group
    cfg.verifier.listen = args.listen or cfg.verifier.listen
    cfg.verifier.data_dir = args.data_dir or cfg.verifier.data_dir
    prepare_data_dir(
        Path(cfg.verifier.data_dir) / cfg.verifier.group,
        asyncio.run(broker_cluster_id(cfg)),
    )
    state = create_app(cfg)

    def high_water(topic: str, partition: int) -> int | None:
        value: int | None = state.app.consumer.highwater(TP(topic, partition))
        return value

    servicer = VerifierServicer(
        group=cfg.verifier.group, state=state, high_water=high_water
    )
    grpc_service = GrpcService(
        config=cfg, servicer=servicer, freshness=state.freshness, metrics=Metrics()
    )
    Worker(state.app, grpc_service, loglevel=args.log_level).execute_from_commandline()


if __name__ == "__main__":
    main()
