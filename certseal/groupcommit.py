"""Group commit: the writes of requests that wait at the same moment go in one
statement, the way PostgreSQL groups commits (``commit_delay``), with no timer and no
added wait at low load.

:class:`GroupQueue` keeps one queue per key. The first request of a key starts a
drain task; while its statement is in flight, the requests that arrive queue, and when
it returns the queue (at most ``max_group`` at a time) goes in the next statement. The
service's ``write_group`` writes a group and settles each request's future
(:func:`settle`); the queue guarantees that

- a request whose caller is gone (its future cancelled) before its group is written is
  left out of it;
- no request waits for ever: if the drain itself fails, every request still queued gets
  that failure (or is cancelled with it).

Used by the issuer (IssueLicence, ``services/issuer/service/groupcommit.py``) and the
seal service (SealDocument, ``services/seal/groupcommit.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from certseal.audit import HELD_REFUSALS
from certseal.errors import CertsealError
from certseal.retries import transient_error

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")


class GroupQueue(Generic[K, T, R]):
    """Per-key queues of requests written in groups by ``write_group(key, group)``.

    ``write_group`` must settle every future of the group it is given (a future left
    pending is settled with an error by nobody: its request would wait until its own
    deadline).
    """

    def __init__(
        self,
        write_group: Callable[[K, list[tuple[T, asyncio.Future[R]]]], Awaitable[None]],
        *,
        max_group: int,
    ):
        self._write_group = write_group
        self._max_group = max(1, max_group)
        self._queues: dict[K, list[tuple[T, asyncio.Future[R]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, key: K, item: T) -> R:
        """Queue ``item`` under ``key`` and wait for its answer.

        Cancelled (the caller gone) before its group is written: left out of it;
        cancelled later: the write goes on in the drain task, answered to no one.
        """
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(key)
        if queue is None:  # nobody writes for this key: this request starts it
            queue = self._queues[key] = []
            task = asyncio.create_task(self._drain(key, queue))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        queue.append((item, future))
        return await future

    async def _drain(self, key: K, queue: list[tuple[T, asyncio.Future[R]]]) -> None:
        # this task was started in one request's context, and writes for them all:
        # a refusal here is no one call's to hold (certseal.audit.HELD_REFUSALS)
        HELD_REFUSALS.set(None)
        group: list[tuple[T, asyncio.Future[R]]] = []
        try:
            await asyncio.sleep(0)  # let the requests of this same moment join
            while queue:
                group = [w for w in queue[: self._max_group] if not w[1].done()]
                del queue[: self._max_group]
                if group:
                    await self._write_group(key, group)
                group = []
        except BaseException as exc:  # never leave a request waiting for ever
            for _, future in [*group, *queue]:
                if future.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            raise
        finally:
            del self._queues[key]


def shared_failure(exc: Exception) -> bool:
    """Whether a group statement's failure is the answer each request would have had
    alone: a :class:`~certseal.errors.CertsealError`, or the database unreachable or
    the transaction aborted (:func:`certseal.retries.transient_error`; nothing
    committed, safe to retry). Any other failure refuses the statement as a whole, and
    each request is then written alone for its own answer."""
    return isinstance(exc, CertsealError) or transient_error(exc) is not None


def settle(future: asyncio.Future[R], outcome: R | BaseException) -> None:
    """Give ``future`` its request's outcome (a value, or the error to raise); a
    future whose caller is gone is left as it is."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
