"""``python -m services.issuer --config FILE``: run the issuer until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import signal

from certseal import logs
from certseal.config import load_config
from services.issuer.app import IssuerApp


async def _main(config_path: str | None) -> None:
    app = IssuerApp(load_config(config_path))
    await app.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await app.stop(grace=5.0)


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m services.issuer")
    parser.add_argument("--config", help="TOML configuration file")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    logs.configure(args.log_level)
    try:
        import uvloop

        uvloop.run(_main(args.config))
    except ImportError:
        asyncio.run(_main(args.config))


if __name__ == "__main__":
    main()
