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
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from certseal.errors import CertsealError, ErrorKind, invalid
from services.seal.admission import (
    _TICKET,
    LIGHT_BYTES,
    MIB,
    Admission,
    _Ticket,
    too_long,
)
from services.seal.processes import (
    ProcessWorkers,
    _trimmed,
)

T = TypeVar("T")


LIGHT_MAX_TASKS = 10_000
"""Jobs a light process runs before it is replaced (its caches are bounded; a new one
costs a fork from the fork server and the trust stores' unpickling, tens of ms)."""


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


def _run_coroutine(make: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await make()

    return asyncio.run(main())


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
        light_processes: int = 0,
    ):
        self.admission = Admission(max_jobs=max_jobs, max_bytes=max_bytes)
        self.workers = Workers(workers=workers, queue=queue, timeout_s=timeout_s)
        self.processes = (
            ProcessWorkers(workers=processes, queue=queue, timeout_s=timeout_s)
            if processes
            else None
        )
        self._light_processes, self._queue = light_processes, queue
        self.light: ProcessWorkers | None = None

    async def start_light(self, install: Callable[..., None], *args: Any) -> None:
        """Start the ``light_processes`` worker processes of light verification jobs
        (none: the light thread runs them, :class:`Workers`), each with
        ``install(*args)`` run once at its start, and wait until they have: what
        every job reads (the trust stores) is sent to a process once, not with each
        job. A first VerifySealedDocument there verifies beside the serving loop
        instead of taking turns with it on one GIL (docs/architecture.md section 4,
        "First verifications in processes")."""
        if self._light_processes and self.light is None:
            self.light = ProcessWorkers(
                workers=self._light_processes,
                queue=self._queue,
                timeout_s=self.workers.timeout_s,
                max_tasks=LIGHT_MAX_TASKS,
                light=True,
                install=install,
                install_args=args,
            )
            try:
                await self.light.start()
            except Exception as exc:  # pebble's own words name no setting (atk58)
                raise invalid(
                    "seal.light_verify_processes",
                    f"its worker processes did not start ({exc or type(exc).__name__}); "
                    "0 verifies on a thread of the seal process instead",
                ) from None

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
        for processes in (self.processes, self.light):
            if processes is not None:
                processes.shutdown()
