"""``python -m services.seal --config FILE``: run the seal service until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import signal

from certseal import logs
from certseal.config import load_config
from services.seal.app import SealApp


async def _main(args: argparse.Namespace) -> None:
    app = SealApp(load_config(args.config))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await app.start()
    await stop.wait()
    await app.stop()


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m services.seal")
    parser.add_argument("--config", required=True)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    logs.configure(args.log_level)
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
