"""The seal service's admission of requests with documents (:class:`Admission`; split
from :mod:`services.seal.offload` by size, which describes it and uses it): a request
takes a ticket for its bytes before any heavy work starts, and gives it back when it
has ended and every job it started has finished."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Callable

from certseal.errors import CertsealError, ErrorKind

MIB = 1024 * 1024

LIGHT_BYTES = 1 * MIB
"""A request of at most this many bytes runs its jobs on the light thread (or, for
VerifySealedDocument, in a light process: :meth:`SealOffload.start_light`)."""


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
