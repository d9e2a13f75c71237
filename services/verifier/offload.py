"""CPU-heavy verification work kept off the event loop, in bounded worker pools.

The verifier's event loop answers health checks, every RPC and applies index events
(Faust agents); decoding a scanned code, checking its signature and reading a QR code
from a photo must not hold it. Each :class:`WorkerPool` has a bounded waiting room: a job
beyond ``workers + queue`` in flight is refused at once with RESOURCE_EXHAUSTED, so a
flood costs a refusal, never a growing queue in memory.

Measured (2 CPUs, the bounded decoders of issue 13) to choose threads or processes:

- codes: decoding one takes about 0.6 ms and checking its signature 0.7 to 1 ms (ES256,
  Ed25519) or 6.6 ms (SM2), mostly holding the GIL (the strict CBOR reader is Python),
  but bounded. Jobs are small (8 codes, so a batch takes turns with every other
  request) and the process hands the GIL back every 0.5 ms. With 20 hostile requests
  kept in flight, a valid scan's median was 79 ms on threads and 81 ms on a spawned
  process pool (4 ms alone; the rest is gRPC's own per-request work on the loop, and
  the test client sharing the 2 CPUs), so codes use threads: processes would only pay
  for a decoder that was not bounded.
- images: Pillow decoding a 6,000 × 6,000 PNG took 0.49 s and zxing-cpp reading it
  0.55 s, while the loop's thread was never held more than 18 ms: both release the GIL,
  so images go to a thread pool, which also keeps each image's memory bounded by
  :data:`certseal.bounds.MAX_IMAGE_PIXELS` times the (few) workers.

Images and codes have separate pools, so hostile images cannot take the workers a valid
code needs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any, TypeVar

from certseal.errors import CertsealError, ErrorKind

T = TypeVar("T")


class WorkerPool:
    """A thread pool whose waiting room is bounded; see the module docstring.

    A job counts as in flight from its submission until its thread finishes it, also
    when the caller gave up waiting (a cancelled RPC does not free the thread early).
    """

    def __init__(self, name: str, *, workers: int, queue: int):
        self.name = name
        self.workers = workers
        self.limit = workers + queue
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=f"verifier-{name}"
        )
        self._in_flight = 0

    def warm_up(self) -> None:
        """Start every worker now rather than on the first request."""
        for future in [self._pool.submit(abs, 0) for _ in range(self.workers)]:
            future.result()

    @property
    def in_flight(self) -> int:
        """Jobs submitted and not yet finished."""
        return self._in_flight

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a worker thread; RESOURCE_EXHAUSTED when the pool is full."""
        if self._in_flight >= self.limit:
            raise CertsealError(
                ErrorKind.RESOURCE_EXHAUSTED,
                f"the verifier is busy ({self._in_flight} {self.name} jobs in "
                "progress); try again in a moment",
            )
        loop = asyncio.get_running_loop()
        self._in_flight += 1
        future = self._pool.submit(fn, *args)
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release))
        return await asyncio.wrap_future(future)

    def _release(self) -> None:
        self._in_flight -= 1

    def shutdown(self) -> None:
        """Take no more jobs; the running ones finish on their own."""
        self._pool.shutdown(wait=False, cancel_futures=True)
