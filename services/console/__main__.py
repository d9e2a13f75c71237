"""``python -m services.console --config FILE``: serve the counter console."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from certseal import logs
from certseal.config import load_config
from certseal.errors import CertsealError
from services.console.app import ConsoleApp


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m services.console")
    parser.add_argument(
        "--config",
        required=True,
        action="append",
        help="TOML configuration file; repeat to layer files",
    )
    parser.add_argument("--listen", help="HTTPS address, default from [console]")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    logs.configure(args.log_level)
    try:
        config = load_config(args.config)
        app = ConsoleApp(config, listen=args.listen)
    except (CertsealError, OSError, ValueError) as exc:
        sys.exit(f"error: {exc}")

    async def run() -> str:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await app.start()
        except (CertsealError, OSError, ValueError) as exc:
            await app.stop()
            return f"error: {exc}"
        await stop.wait()
        await app.stop()
        return ""

    sys.exit(asyncio.run(run()) or None)


if __name__ == "__main__":
    main()
