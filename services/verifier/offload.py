"""CPU-heavy verification work kept off the event loop, and handed out fairly.

The verifier's event loop answers health checks, every RPC and applies index events
(Faust agents); reading a QR code from a photo, decoding a batch of codes or a large
one, and SM2 checks must not hold it, and one caller's flood must not stand in front
of every other counter. What costs less on the loop than the hop to a thread does run
there, by measured cost (:data:`INLINE_CODE_CHARS`, :data:`INLINE_LIMITS`,
:data:`INLINE_SUITES`): one scanned code of the usual size, its ES256 or Ed25519
check, and a code already decoded or a signature already verified
(services/verifier/caches.py). A text that does not decode within the inline limits
goes to the pool, every time. Three pieces:

- :class:`WorkerPool`: threads for codes. Decoding one takes 0.1 to 0.3 ms (up to 1.9
  ms at the bounds) and checking its signature about 0.1 ms (ES256, Ed25519) or 0.65
  ms (SM2), measured on 2 CPUs at load average 10, mostly holding the GIL (the process
  hands it back every 0.5 ms), so threads cost less than processes here.
- :class:`ProcessWorkerPool`: processes for images. Pillow and zxing-cpp take up to half
  a second of CPU per allowed image (4096 × 4096); in worker processes at a lower CPU
  priority (nice 10) they cannot take the CPU from the loop or from code verification,
  a decode that runs past its time bound is ended by killing its process (a new one
  takes its place), and a worker is replaced after a number of images so that memory
  it held returns to the system.
- :class:`FairGate`: turns of work per caller (per counter identity). A request takes a
  turn for each step of CPU work (a chunk of 8 codes, one image); turns go first to the
  caller with the fewest running, so a counter's single scan runs next even when
  another caller keeps dozens of requests waiting, and each caller has at most a few
  turns running and a bounded number of requests waiting: a flood queues behind
  itself, and beyond its bound it is refused with RESOURCE_EXHAUSTED.

Measured (2 CPUs shared with other work, 20 hostile requests always in flight from one
counter: tests/e2e/test_verifier_hostile.py and ``make bench``): before the turns and the
image processes the loop was 82 % busy with gRPC's and the interceptor's work for the
flood (py-spy), and another counter's valid scan took 20 to 45 times its time alone,
waiting behind every request in flight. With them: 1.3 to 3 times (2 to 3 ms alone, 2.4
to 8 ms under the flood). Two turns per counter instead of one gave 9 to 18 ms: the
flood then kept both code threads busy and the valid scan's jobs waited behind its jobs.

Each pool also has a bounded waiting room of its own: a job beyond ``workers + queue``
in flight is refused at once with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import itertools
import multiprocessing
import os
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pebble

from certseal import cbor
from certseal.bounds import MAX_CODE_CBOR_DEPTH
from certseal.crypto import Suite
from certseal.errors import CertsealError, ErrorKind, invalid

T = TypeVar("T")

INLINE_CODE_CHARS = 1024
"""A request of one code at most this long is decoded on the event loop, not in the
code pool, when its claims are at most :data:`INLINE_LIMITS` (a licence code is about
330 characters). Measured on 2 CPUs at load average 10 (tmp micro-benchmarks, best
of 7): a valid code decodes in 0.1-0.27 ms, the costliest texts within the inline
limits (120 CBOR items in 370 characters, 1,024 random Base45 characters) in 0.4-1.0
ms, about what the loop spends on the gRPC call itself; the two hops to a pool thread
and back that this saves (the GIL handed over, a wake-up through the loop's
self-pipe) cost the worker 0.2-0.3 ms of CPU per code (bench/verifier_bench.py, same
run). A longer code, or claims beyond the inline limits (up to 1.9 ms for 1,024 CBOR
items), is decoded again in full on the pool, in a fair turn as before."""

INLINE_LIMITS = cbor.CborLimits(MAX_CODE_CBOR_DEPTH, 128)
"""The claims a code decoded inline may have: as deep as any code's, at most 128 CBOR
items (a licence code with a dozen fields has about 40)."""

INLINE_SUITES = frozenset({Suite.ES256, Suite.ED25519})
"""Suites whose signature a one-code request checks on the loop: about 0.1 ms each
(OpenSSL through pyca/cryptography); SM2 (gmssl, about 0.65 ms) goes to the pool."""


class WorkerPool:
    """A thread pool whose waiting room is bounded; see the module docstring.

    A job counts as in flight from its submission until its worker finishes it, also
    when the caller gave up waiting (a cancelled RPC does not free the worker early).
    """

    def __init__(self, name: str, *, workers: int, queue: int):
        self.name = name
        self.workers = workers
        self.limit = workers + queue
        self._in_flight = 0
        self._pool = self._executor()

    def _executor(self) -> Any:
        return concurrent.futures.ThreadPoolExecutor(
            max_workers=self.workers, thread_name_prefix=f"verifier-{self.name}"
        )

    def _submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = self._pool.submit(fn, *args)
        return future

    def warm_up(self) -> None:
        """Start every worker now rather than on the first request."""
        for future in [self._submit(abs, 0) for _ in range(self.workers)]:
            future.result()

    @property
    def in_flight(self) -> int:
        """Jobs submitted and not yet finished."""
        return self._in_flight

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a worker; RESOURCE_EXHAUSTED when the pool is full."""
        if self._in_flight >= self.limit:
            raise CertsealError(
                ErrorKind.RESOURCE_EXHAUSTED,
                f"the verifier is busy ({self._in_flight} {self.name} jobs in "
                "progress); try again in a moment",
                field="verifier",
            )
        loop = asyncio.get_running_loop()
        self._in_flight += 1
        future = self._submit(fn, *args)
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release))
        return await asyncio.wrap_future(future)

    def _release(self) -> None:
        self._in_flight -= 1

    def shutdown(self) -> None:
        """Take no more jobs; the running ones finish on their own."""
        self._pool.shutdown(wait=False, cancel_futures=True)


IMAGE_WORKER_NICE = 10
"""How much lower than the verifier's own the image workers' CPU priority is (Linux
nice): with both CPUs decoding images, the loop and code verification still get the
CPU when they need it."""


def _image_worker_start() -> None:
    """In each image worker process, once: a lower CPU priority."""
    os.nice(IMAGE_WORKER_NICE)


def _in_worker(fn: Callable[..., T], *args: Any) -> tuple[str, Any]:
    """``fn(*args)`` in a worker process, its :class:`CertsealError` as plain values
    (the error's own constructor does not survive pickling)."""
    try:
        return "ok", fn(*args)
    except CertsealError as exc:
        return "error", (exc.kind.value, exc.message, exc.field)


class ProcessWorkerPool(WorkerPool):
    """A pool of worker processes (pebble) with a time bound per job.

    Workers are forked from a clean server process (``forkserver``: never from the
    verifier, whose gRPC and Kafka threads a fork would copy) that has imported
    ``preload``. A job running past ``timeout_s`` has its process killed and replaced,
    and fails with INVALID_ARGUMENT naming ``field``; so does a job whose process died.
    Each worker is replaced after ``max_tasks`` jobs.
    """

    def __init__(
        self,
        name: str,
        *,
        workers: int,
        queue: int,
        timeout_s: float,
        field: str,
        preload: tuple[str, ...] = (),
        max_tasks: int = 100,
    ):
        self.timeout_s = timeout_s
        self.field = field
        self._preload = preload
        self._max_tasks = max_tasks
        super().__init__(name, workers=workers, queue=queue)

    def _executor(self) -> Any:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(self._preload))
        return pebble.ProcessPool(
            max_workers=self.workers,
            max_tasks=self._max_tasks,
            initializer=_image_worker_start,
            context=context,
        )

    def _submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = self._pool.submit(
            _in_worker, self.timeout_s, fn, *args
        )
        return future

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker process; see the class docstring for errors."""
        try:
            returned: tuple[str, Any] = await super().run(fn, *args)  # type: ignore[arg-type]
            outcome, value = returned
            if outcome == "error":
                kind, message, field = value
                raise CertsealError(ErrorKind(kind), message, field=field)
            result: T = value
            return result
        except concurrent.futures.TimeoutError:
            raise invalid(
                self.field,
                f"took longer than {self.timeout_s:g} s to read; the limit is "
                f"{self.timeout_s:g} s",
            ) from None
        except pebble.ProcessExpired as exc:
            raise invalid(
                self.field, f"could not be read (its reader stopped: {exc})"
            ) from None

    def shutdown(self) -> None:
        """Stop the workers (a running job is ended)."""
        self._pool.stop()


class FairGate:
    """Turns of CPU work handed out fairly between callers; see the module docstring.

    At most ``slots`` turns run at once and at most ``per_caller`` of one caller's; a
    free slot goes to the waiting caller with the fewest turns running, among equals to
    the one served longest ago. A caller with ``waiting_per_caller`` requests already
    waiting is refused with RESOURCE_EXHAUSTED. The gate is the event loop's own: no
    thread touches it.
    """

    def __init__(
        self, name: str, *, slots: int, per_caller: int, waiting_per_caller: int
    ):
        self.name = name
        self.slots = slots
        self.per_caller = per_caller
        self.waiting_per_caller = waiting_per_caller
        self._running: collections.Counter[str] = collections.Counter()
        self._waiting: dict[str, collections.deque[asyncio.Future[None]]] = {}
        self._served: dict[str, int] = {}
        self._ticket = itertools.count()

    @property
    def running(self) -> int:
        """Turns running now."""
        return sum(self._running.values())

    def waiting(self, caller: str) -> int:
        """Requests of ``caller`` waiting for a turn."""
        return len(self._waiting.get(caller, ()))

    @contextlib.asynccontextmanager
    async def turn(self, caller: str) -> AsyncIterator[None]:
        """Hold one turn for ``caller`` while the block runs."""
        await self._acquire(caller)
        try:
            yield
        finally:
            self._release(caller)

    def _grantable(self, caller: str) -> bool:
        return self.running < self.slots and self._running[caller] < self.per_caller

    async def _acquire(self, caller: str) -> None:
        if not self._waiting.get(caller) and self._grantable(caller):
            self._grant(caller)
            return
        queue = self._waiting.setdefault(caller, collections.deque())
        if len(queue) >= self.waiting_per_caller:
            raise CertsealError(
                ErrorKind.RESOURCE_EXHAUSTED,
                f"{caller} has {len(queue)} {self.name} requests waiting at this "
                "verifier; wait for their answers before sending more",
                field="as",
            )
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # granted, then cancelled
                self._release(caller)
            else:
                queue.remove(future)
                if not queue:
                    del self._waiting[caller]
            raise

    def _grant(self, caller: str) -> None:
        self._running[caller] += 1
        self._served[caller] = next(self._ticket)
        if len(self._served) > 4096:  # forget idle callers: they rank as new ones
            idle = set(self._served) - set(self._running) - set(self._waiting)
            for name in idle:
                del self._served[name]

    def _release(self, caller: str) -> None:
        self._running[caller] -= 1
        if not self._running[caller]:
            del self._running[caller]
        self._dispatch()

    def _dispatch(self) -> None:
        while self.running < self.slots:
            ready = [c for c in self._waiting if self._running[c] < self.per_caller]
            if not ready:
                return
            caller = min(
                ready, key=lambda c: (self._running[c], self._served.get(c, -1))
            )
            queue = self._waiting[caller]
            future = queue.popleft()
            if not queue:
                del self._waiting[caller]
            self._grant(caller)
            future.set_result(None)
