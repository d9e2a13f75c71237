"""``python -m services.seal --config FILE``: run the seal service until SIGTERM/SIGINT.

The event loop is uvloop's, as in the issuer and the verifier: on asyncio's own
selector loop the seal process spent about a fifth of its samples per SealDocument in
``EpollSelector.select`` and ``Handle._run`` (bench/seal_bench.py, BENCH_PROFILE=1).
"""

from certseal.interrupt import interrupt_ends_the_start

if __name__ == "__main__":  # run, not imported: before the imports below
    interrupt_ends_the_start()

import asyncio

import uvloop

from certseal.process import run_main
from services.config import load
from services.seal.app import SealApp

if __name__ == "__main__":
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    run_main("services.seal", SealApp, load)
