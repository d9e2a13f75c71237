"""The seal service's CPU-heavy work kept off the event loop, admitted within bounds.

The seal process's event loop answers health checks, every RPC, the outbox relay and
the audit sealer. Reading and verifying an SES_Signature (DER, SM2/SM3, certificate
paths to the trusted seal CAs), sealing and verifying a PDF (pyHanko), reading, digesting
and zipping an OFD package, and digesting a 60 MiB document must not hold it. Two
pieces, both the event loop's own (no thread touches their counters):

- :class:`Admission`: a request that brings a document takes a ticket for its bytes
  before any heavy work starts. At most ``max_jobs`` heavy requests (over
  :data:`LIGHT_BYTES`) and ``max_bytes`` document bytes are held at once (``[seal]
  max_heavy_jobs`` and ``max_bytes_in_flight``); light requests are bounded by the
  workers' waiting room instead. A request beyond either bound is refused at once with RESOURCE_EXHAUSTED naming the limit (a
  client may try again in a moment). One request alone is always admitted: its size is
  already bounded by ``max_document_bytes``. A ticket is given back when the request
  ends *and* every job it started has finished: a job that outlived its time bound
  still holds its bytes.
- :class:`Workers`: a thread pool of ``workers`` threads with a time bound per job
  (``[seal] job_timeout_s``), and one more thread for light jobs (a request of at most
  :data:`LIGHT_BYTES`: an SES_Signature, a seal, a digest's verification, a picture),
  so that verifying a seal does not wait behind two 60 MiB PDFs. A job past its bound fails with INVALID_ARGUMENT naming
  the input ("took longer than … to process") rather than hanging the call; its thread
  finishes on its own (a thread cannot be killed), keeps its admission ticket until
  then, and counts against the pool's own waiting room (``workers + queue``).

- :class:`ProcessWorkers`: worker processes (pebble) for verifying requests over
  :data:`LIGHT_BYTES` (``[seal] verify_processes``); a job past its time bound has its
  process killed and replaced.

Threads or processes, measured (bench/seal_offload_bench.py; docs/operations.md, "Seal
service: CPU work and admission"): two threads sealing PDFs, verifying PDFs or verifying
SM2 or ECDSA SES_Signatures ran at 0.4 to 2.0 times one thread's rate (mostly holding
the GIL; two runs on a shared machine) and a 1 ms timer on the loop fired 15 to 230 ms
late (p99), against 5.6 to 8.7 ms beside two busy processes. So verification, which needs no key and takes anyone's input, runs in
processes. Sealing stays on threads: it needs the seal's private key, which stays in
the seal process (a worker process would receive it over a pipe). The decoders' own
bounds (size, depth, pixels, entries: issue 13) bound each job's CPU; the time bound is
the last line against a hostile input that still runs long.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import ctypes
import functools
import logging
import multiprocessing
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pebble

from certseal import logs
from certseal.errors import CertsealError, ErrorKind, invalid

T = TypeVar("T")

MIB = 1024 * 1024

LIGHT_BYTES = 1 * MIB
"""A request of at most this many bytes runs its jobs on the light thread."""


class _Ticket:
    """One admitted request: its bytes, and the jobs it started that still run."""

    def __init__(self, admission: Admission, size: int):
        self.admission = admission
        self.size = size
        self.running = 0
        self.ended = False

    def job_started(self) -> None:
        self.running += 1

    def job_finished(self) -> None:
        self.running -= 1
        self._maybe_release()

    def end(self) -> None:
        self.ended = True
        self._maybe_release()

    def _maybe_release(self) -> None:
        if self.ended and not self.running:
            self.admission._release(self)


_TICKET: contextvars.ContextVar[_Ticket | None] = contextvars.ContextVar(
    "seal_admission_ticket", default=None
)


class Admission:
    """Requests with documents admitted within ``max_jobs`` and ``max_bytes``; see the
    module docstring."""

    def __init__(self, *, max_jobs: int, max_bytes: int):
        self.max_jobs = max_jobs
        self.max_bytes = max_bytes
        self._tickets: set[_Ticket] = set()
        self._changed = asyncio.Event()

    @property
    def jobs(self) -> int:
        """Heavy requests (over :data:`LIGHT_BYTES`) admitted and not yet given back."""
        return sum(1 for t in self._tickets if t.size > LIGHT_BYTES)

    @property
    def requests(self) -> int:
        """Requests admitted and not yet given back, light ones too."""
        return len(self._tickets)

    @property
    def bytes(self) -> int:
        """Document bytes of the requests admitted."""
        return sum(t.size for t in self._tickets)

    @contextlib.asynccontextmanager
    async def admit(self, what: str, size: int) -> AsyncIterator[None]:
        """Hold a ticket for ``size`` bytes of ``what`` (an RPC's name) while the block
        runs; nested inside another admitted block, the outer ticket covers it.

        Raises ``CertsealError`` RESOURCE_EXHAUSTED (field ``seal``) when ``size``
        is over :data:`LIGHT_BYTES` and ``max_jobs`` such requests are admitted already, or ``size`` more bytes would pass
        ``max_bytes`` while another request is admitted.
        """
        if _TICKET.get() is not None:
            yield
            return
        heavy = self.jobs
        if size > LIGHT_BYTES and heavy >= self.max_jobs:
            raise self._busy(
                what,
                f"{heavy} heavy requests are in progress; the limit is "
                f"[seal] max_heavy_jobs = {self.max_jobs}",
            )
        held = self.bytes
        if self._tickets and held + size > self.max_bytes:
            raise self._busy(
                what,
                f"{held / MIB:.1f} MiB of documents are in progress and this one is "
                f"{size / MIB:.1f} MiB; the limit is [seal] max_bytes_in_flight = "
                f"{self.max_bytes / MIB:g} MiB",
            )
        ticket = _Ticket(self, size)
        self._tickets.add(ticket)
        self._notify()
        token = _TICKET.set(ticket)
        try:
            yield
        finally:
            _TICKET.reset(token)
            ticket.end()

    @staticmethod
    def _busy(what: str, why: str) -> CertsealError:
        return CertsealError(
            ErrorKind.RESOURCE_EXHAUSTED,
            f"the seal service is busy: {why}; try {what} again in a moment",
            field="seal",
        )

    def _release(self, ticket: _Ticket) -> None:
        self._tickets.discard(ticket)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, holds: Callable[[Admission], bool]) -> None:
        """Return once ``holds(self)`` is true (checked at every admission and
        release): for probes and tests, instead of polling."""
        while not holds(self):
            await self._changed.wait()


def too_long(timeout_s: float) -> str:
    """Why a job past its time bound, ``timeout_s``, is refused: the bound is this
    service's and what a job takes depends on its load, so the same file may pass
    when it is less busy (large49: a PDF that verified VALID on a quiet machine was
    refused under load, in words that read as a fault of the file)."""
    return (
        f"took longer than {timeout_s:g} s to process; the seal service's limit is "
        f"{timeout_s:g} s ([seal] job_timeout_s): a file this large or with this many "
        "seals may pass when the service is less busy, or with the limit raised by "
        "its operator"
    )


class Workers:
    """Worker threads with a time bound per job; see the module docstring."""

    def __init__(self, *, workers: int, queue: int, timeout_s: float):
        self.workers = workers
        self.limit = workers + queue
        self.timeout_s = timeout_s
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="seal-worker"
        )
        self._light = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="seal-light"
        )

    @property
    def in_flight(self) -> int:
        """Jobs submitted whose thread has not finished them (timed-out ones too)."""
        return self._in_flight

    async def run_async(
        self, field: str, fn: Callable[..., Awaitable[T]], *args: Any, **kw: Any
    ) -> T:
        """:meth:`run` for a coroutine function: it runs on a worker thread, on an
        event loop of the thread's own (pyHanko's signing and validation are async)."""
        job = functools.partial(fn, *args, **kw)
        return await self.run(field, _run_coroutine, job)

    async def run(self, field: str, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """``fn(*args, **kw)`` on a worker thread.

        Raises what ``fn`` raises; ``CertsealError`` INVALID_ARGUMENT on ``field``
        when the job runs past ``timeout_s``; RESOURCE_EXHAUSTED when ``workers +
        queue`` jobs are in flight already.
        """
        if self._in_flight >= self.limit:
            raise CertsealError(
                ErrorKind.RESOURCE_EXHAUSTED,
                f"the seal service is busy: {self._in_flight} jobs are in its worker "
                "threads; try again in a moment",
                field="seal",
            )
        job = functools.partial(fn, *args, **kw)
        loop = asyncio.get_running_loop()
        ticket = _TICKET.get()
        self._in_flight += 1
        self._idle.clear()
        if ticket is not None:
            ticket.job_started()
        light = ticket is None or ticket.size <= LIGHT_BYTES
        pool = self._light if light else self._pool
        run = job if light else functools.partial(_trimmed, job)
        future = pool.submit(contextvars.copy_context().run, run)

        def done(_: object) -> None:
            loop.call_soon_threadsafe(self._finished, ticket)

        future.add_done_callback(done)
        try:
            result: T = await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(future)), self.timeout_s
            )
        except TimeoutError:
            raise invalid(field, too_long(self.timeout_s)) from None
        return result

    def _finished(self, ticket: _Ticket | None) -> None:
        self._in_flight -= 1
        if not self._in_flight:
            self._idle.set()
        if ticket is not None:
            ticket.job_finished()

    async def wait_idle(self) -> None:
        """Return once no job is in flight (timed-out ones included)."""
        await self._idle.wait()

    def shutdown(self) -> None:
        """Take no more jobs; running ones finish on their own."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._light.shutdown(wait=False, cancel_futures=True)


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


def _run_coroutine(make: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await make()

    return asyncio.run(main())


def _in_process(fn: Callable[..., T], *args: Any, **kw: Any) -> tuple[str, Any]:
    """``fn(*args, **kw)`` in a worker process, its :class:`CertsealError` as plain
    values (the error's own constructor does not survive pickling)."""
    try:
        return "ok", _trimmed(functools.partial(fn, *args, **kw))
    except CertsealError as exc:
        return "error", (exc.kind.value, exc.message, exc.field)


class ProcessWorkers:
    """Worker processes (pebble) for verification: no key is involved, the input may
    come from anyone, and a job past ``timeout_s`` has its process killed and replaced
    (its memory and CPU come back at once). Workers are forked from a clean server
    process (``forkserver``, never from the seal process with its gRPC threads) that
    has imported the verifiers; each is replaced after ``max_tasks`` jobs."""

    PRELOAD = ("services.seal.domain", "services.seal.pdf", "services.seal.inspect")

    def __init__(
        self, *, workers: int, queue: int, timeout_s: float, max_tasks: int = 200
    ):
        self.workers = workers
        self.limit = workers + queue
        self.timeout_s = timeout_s
        self._in_flight = 0
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(self.PRELOAD))
        # a worker logs as its service does (one JSON line a record, a library's
        # warning without its traceback: certseal.logs), not through logging's
        # last resort, which wrote pyHanko's warnings with their tracebacks
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        self._pool = pebble.ProcessPool(
            max_workers=workers,
            max_tasks=max_tasks,
            context=context,
            initializer=logs.configure,
            initargs=(level,),
        )

    @property
    def in_flight(self) -> int:
        """Jobs submitted and not yet finished or ended."""
        return self._in_flight

    async def run(self, field: str, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """``fn(*args, **kw)`` (module-level, its arguments and result picklable) in
        a worker process.

        Raises what ``fn`` raises as ``CertsealError``; INVALID_ARGUMENT on ``field``
        when the job runs past ``timeout_s`` (its process is killed) or its process
        dies; RESOURCE_EXHAUSTED when ``workers + queue`` jobs are in flight."""
        if self._in_flight >= self.limit:
            raise CertsealError(
                ErrorKind.RESOURCE_EXHAUSTED,
                f"the seal service is busy: {self._in_flight} jobs are in its "
                "verification processes; try again in a moment",
                field="seal",
            )
        loop = asyncio.get_running_loop()
        ticket = _TICKET.get()
        self._in_flight += 1
        if ticket is not None:
            ticket.job_started()
        future = self._pool.schedule(
            _in_process, args=(fn, *args), kwargs=kw, timeout=self.timeout_s
        )

        def done(_: object) -> None:
            loop.call_soon_threadsafe(self._finished, ticket)

        future.add_done_callback(done)
        try:
            outcome, value = await asyncio.wrap_future(future)
        except concurrent.futures.TimeoutError:
            raise invalid(field, too_long(self.timeout_s)) from None
        except pebble.ProcessExpired as exc:
            raise invalid(
                field, f"could not be processed (its worker process stopped: {exc})"
            ) from None
        if outcome == "error":
            kind, message, error_field = value
            raise CertsealError(ErrorKind(kind), message, field=error_field)
        result: T = value
        return result

    def _finished(self, ticket: _Ticket | None) -> None:
        self._in_flight -= 1
        if ticket is not None:
            ticket.job_finished()

    def shutdown(self) -> None:
        """Stop the workers (a running job is ended)."""
        self._pool.stop()


class SealOffload:
    """The seal process's :class:`Admission`, :class:`Workers` and (when
    ``processes``) :class:`ProcessWorkers` together."""

    def __init__(
        self,
        *,
        workers: int = 2,
        queue: int = 16,
        timeout_s: float = 60.0,
        max_jobs: int = 8,
        max_bytes: int = 96 * MIB,
        processes: int = 0,
    ):
        self.admission = Admission(max_jobs=max_jobs, max_bytes=max_bytes)
        self.workers = Workers(workers=workers, queue=queue, timeout_s=timeout_s)
        self.processes = (
            ProcessWorkers(workers=processes, queue=queue, timeout_s=timeout_s)
            if processes
            else None
        )

    def admit(
        self, what: str, size: int
    ) -> contextlib.AbstractAsyncContextManager[None]:
        """See :meth:`Admission.admit`."""
        return self.admission.admit(what, size)

    async def run(self, field: str, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """See :meth:`Workers.run`."""
        return await self.workers.run(field, fn, *args, **kw)

    async def run_async(
        self, field: str, fn: Callable[..., Awaitable[T]], *args: Any, **kw: Any
    ) -> T:
        """See :meth:`Workers.run_async`."""
        return await self.workers.run_async(field, fn, *args, **kw)

    async def verify(
        self, field: str, fn: Callable[..., T], *args: Any, **kw: Any
    ) -> T:
        """Verification work (no key): in a worker process for a heavy request (over
        :data:`LIGHT_BYTES`) when processes are configured, else as :meth:`run`."""
        ticket = _TICKET.get()
        if (
            self.processes is not None
            and ticket is not None
            and ticket.size > LIGHT_BYTES
        ):
            return await self.processes.run(field, fn, *args, **kw)
        return await self.workers.run(field, fn, *args, **kw)

    async def verify_async(
        self, field: str, fn: Callable[..., Awaitable[T]], *args: Any, **kw: Any
    ) -> T:
        """:meth:`verify` for a coroutine function (pyHanko's validation)."""
        return await self.verify(
            field, _run_coroutine, functools.partial(fn, *args, **kw)
        )

    def shutdown(self) -> None:
        """Stop the threads and processes."""
        self.workers.shutdown()
        if self.processes is not None:
            self.processes.shutdown()
