"""The seal service's worker processes for verification (:class:`ProcessWorkers`, pebble;
split from :mod:`services.seal.offload`, which describes where each kind of work runs).

No key is involved in verifying, and the input may come from anyone: a job past its
time bound has its process killed and replaced (its memory and CPU come back at once).
Workers are forked from a clean server process (``forkserver``, never from the seal
process with its gRPC threads) that has imported the verifiers. A pool whose workers
all stopped outside a job (killed by an operator or the kernel's OOM killer) is
replaced at the next job, and the jobs it held fail UNAVAILABLE rather than wait for
ever (atk58); a caller that goes away leaves its job to finish (its process is not
killed for it); a stop ends the workers and waits for them, briefly.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import functools
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import pebble

from certseal import logs
from certseal.errors import CertsealError, ErrorKind, invalid
from services.seal.admission import _TICKET, _Ticket, too_long

T = TypeVar("T")

log = logging.getLogger(__name__)


def _libc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None
    return trim


_MALLOC_TRIM = _libc_trim()


def _trimmed(job: Callable[[], T]) -> T:
    """``job()``, then the memory it freed handed back to the system (glibc's
    ``malloc_trim``): without it, each worker thread's malloc arena and each worker
    process keeps the peak of the largest document it has worked on (measured with
    bench/memory_bench.py: the seal process stayed at 1.4 GiB after three 60 MiB
    requests)."""
    try:
        return job()
    finally:
        if _MALLOC_TRIM is not None:
            _MALLOC_TRIM(0)


def _in_process(fn: Callable[..., T], *args: Any, **kw: Any) -> tuple[str, Any]:
    """``fn(*args, **kw)`` in a worker process, its :class:`CertsealError` as plain
    values (the error's own constructor does not survive pickling); the memory it
    freed handed back (:func:`_trimmed`)."""
    return _outcome(functools.partial(_trimmed, functools.partial(fn, *args, **kw)))


def _in_light_process(fn: Callable[..., T], *args: Any, **kw: Any) -> tuple[str, Any]:
    """:func:`_in_process` for a light job (at most :data:`LIGHT_BYTES` of input): no
    trim, which would cost more than the job frees."""
    return _outcome(functools.partial(fn, *args, **kw))


def _outcome(job: Callable[[], T]) -> tuple[str, Any]:
    try:
        return "ok", job()
    except CertsealError as exc:
        return "error", (exc.kind.value, exc.message, exc.field)


def _start_worker(level: str, install: Callable[..., None] | None, *args: Any) -> None:
    """A worker process's start: logging as the service's, then ``install(*args)``
    (what every job of the pool reads, sent once: :meth:`SealOffload.start_light`)."""
    logs.configure(level)
    if install is not None:
        install(*args)


def _ready() -> None:
    """A job that does nothing: a pool's workers started and installed."""


class ProcessWorkers:
    """Worker processes (pebble) for verification; see the module docstring. Each is
    replaced after ``max_tasks`` jobs; ``light``: jobs of at most
    :data:`~services.seal.admission.LIGHT_BYTES` (no trim after each); ``install``:
    what every worker runs once at its start, with ``install_args``."""

    PRELOAD = ("services.seal.domain", "services.seal.pdf", "services.seal.inspect")

    def __init__(
        self,
        *,
        workers: int,
        queue: int,
        timeout_s: float,
        max_tasks: int = 200,
        light: bool = False,
        install: Callable[..., None] | None = None,
        install_args: tuple[Any, ...] = (),
    ):
        self.workers = workers
        self.limit = workers + queue
        self.timeout_s = timeout_s
        self._in_flight = 0
        self._wrap = _in_light_process if light else _in_process
        self._max_tasks, self._install = max_tasks, (install, *install_args)
        self._jobs: set[concurrent.futures.Future[Any]] = set()  # the pool's, pending
        self._stopped = False
        self._pool = self._new_pool()

    def _new_pool(self) -> pebble.ProcessPool:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(self.PRELOAD))
        # a worker logs as its service does (one JSON line a record, a library's
        # warning without its traceback: certseal.logs), not through logging's
        # last resort, which wrote pyHanko's warnings with their tracebacks
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        return pebble.ProcessPool(
            max_workers=self.workers,
            max_tasks=self._max_tasks,
            context=context,
            initializer=_start_worker,
            initargs=(level, *self._install),
        )

    async def start(self) -> None:
        """Start the workers and wait until each has run its start (a fork server
        first, then the workers: about a second), in a thread: pebble starts them in
        the caller of its first job, which would otherwise be the event loop."""
        jobs = [
            await asyncio.to_thread(self._pool.schedule, _ready)
            for _ in range(self.workers)
        ]
        await asyncio.gather(*map(asyncio.wrap_future, jobs))

    @property
    def in_flight(self) -> int:
        """Jobs submitted and not yet finished or ended."""
        return self._in_flight

    async def run(self, field: str, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """``fn(*args, **kw)`` (module-level, its arguments and result picklable) in
        a worker process.

        Raises what ``fn`` raises as ``CertsealError``; INVALID_ARGUMENT on ``field``
        when the job runs past ``timeout_s`` (its process is killed), waits past
        twice that, or its process dies in it; UNAVAILABLE when the pool had stopped
        (its jobs failed, a new one started) or the service is stopping;
        RESOURCE_EXHAUSTED when ``workers + queue`` jobs are in flight."""
        if self._in_flight >= self.limit:
            raise CertsealError(
                ErrorKind.RESOURCE_EXHAUSTED,
                f"the seal service is busy: {self._in_flight} jobs are in its "
                "verification processes; try again in a moment",
                field="seal",
            )
        future = await self._schedule(fn, args, kw)
        loop = asyncio.get_running_loop()
        ticket = _TICKET.get()
        self._in_flight += 1
        self._jobs.add(future)
        if ticket is not None:
            ticket.job_started()

        def done(_: object) -> None:
            loop.call_soon_threadsafe(self._finished, future, ticket)

        future.add_done_callback(done)
        try:
            # shielded: a caller that goes away leaves the job to finish, where
            # pebble would kill its process (and make the next wait for a new one);
            # bounded: a job queued in a pool that broke would wait for ever
            outcome, value = await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(future)), 2 * self.timeout_s
            )
        except TimeoutError:  # pebble's bound on the job, or ours on its wait
            if not self._pool.active:  # queued in a pool that stopped meanwhile
                self._replace("its workers ended")
                raise _unavailable() from None
            future.cancel()
            raise invalid(field, too_long(self.timeout_s)) from None
        except pebble.ProcessExpired as exc:
            raise invalid(
                field, f"could not be processed (its worker process stopped: {exc})"
            ) from None
        except BrokenProcessPool as exc:
            self._replace(f"{exc}")
            raise _unavailable() from None
        if outcome == "error":
            kind, message, error_field = value
            raise CertsealError(ErrorKind(kind), message, field=error_field)
        result: T = value
        return result

    async def _schedule(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kw: dict[str, Any]
    ) -> concurrent.futures.Future[Any]:
        """The job scheduled; a pool that stopped (pebble's RuntimeError: its workers
        all ended outside a job) replaced first, its new workers started in a
        thread."""

        def schedule() -> concurrent.futures.Future[Any]:
            future: concurrent.futures.Future[Any] = self._pool.schedule(
                self._wrap, args=(fn, *args), kwargs=kw, timeout=self.timeout_s
            )
            return future

        if self._stopped:
            raise _unavailable()
        try:
            return schedule()
        except RuntimeError as exc:
            self._replace(f"{exc}")
        try:
            return await asyncio.to_thread(schedule)
        except RuntimeError:
            raise _unavailable() from None

    def _replace(self, why: str) -> None:
        """A new pool for one that stopped; the jobs it held fail (UNAVAILABLE)."""
        if self._stopped:
            return
        log.warning(
            "the seal service's verification processes stopped (%s): new ones are "
            "started, and the %d jobs they held fail (UNAVAILABLE)",
            why or "no reason given",
            len(self._jobs),
        )
        old, self._pool = self._pool, self._new_pool()
        for job in list(self._jobs):
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                job.set_exception(BrokenProcessPool(why))  # unless it just ended
        self._jobs.clear()
        old.stop()

    def _finished(
        self, future: concurrent.futures.Future[Any], ticket: _Ticket | None
    ) -> None:
        self._in_flight -= 1
        self._jobs.discard(future)
        if ticket is not None:
            ticket.job_finished()

    def shutdown(self, wait_s: float = 2.0) -> None:
        """Stop the workers (a running job is ended) and wait for them to end, at
        most ``wait_s``: pebble's stop alone left them running until this process
        ended (atk58)."""
        self._stopped = True
        self._pool.stop()
        try:
            self._pool.join(wait_s)
        except TimeoutError:
            log.warning(
                "the seal service's verification processes did not end within %s s",
                wait_s,
            )


def _unavailable() -> CertsealError:
    return CertsealError(
        ErrorKind.UNAVAILABLE,
        "the seal service's verification process stopped, or the service is "
        "stopping; try again in a moment",
        field="seal",
    )
