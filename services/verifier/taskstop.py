"""A stop that ends its service's tasks, also one that did not take its cancellation.

mode's stop cancels each task of its service once, then waits for all of them, with no
time limit (``Service._default_stop_futures``). A task that ended the cancellation
without ending itself then held the stop for ever: a library that catches it, or a
cancellation racing a timeout (as CPython's own ``asyncio.wait_for`` did before 3.12).
A verifier interrupted while its start still ran stopped everything but its trust and
directory tables' task, which went on waiting for events the stopped consumer would
never fetch: the stop hung until the
worker's watchdog ended the process (``services.verifier.worker.STOP_WITHIN_S``; CI
2026-12-06, and 3 of 130 interrupted starts under the e2e suite's load).

:class:`EndsItsTasks` cancels what is still running again every :data:`RECANCEL_S`
until every task has ended, saying which task needed it and where it was."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

import faust
from mode import Service
from mode.utils.tracebacks import format_task_stack

RECANCEL_S = 3.0
"""Seconds a stop waits for its cancelled tasks to end before cancelling again those
still running and not in their clean-up (:func:`cleaned_up`); short enough that the
stop still ends well within the watchdog's
:data:`services.verifier.worker.STOP_WITHIN_S`."""

log = logging.getLogger(__name__)
T = TypeVar("T")


async def cancel_until_ended(
    futures: set[asyncio.Future[Any]], every: float = RECANCEL_S
) -> None:
    """Cancel every future of ``futures`` (a set that may grow meanwhile: a start
    that goes on beside its stop adds tasks) and return once all have ended; one
    still running ``every`` seconds after it was cancelled is cancelled again, with a
    warning naming it and where it was. Never raises for the futures' own
    outcomes."""
    cancelled: set[asyncio.Future[Any]] = set()
    while pending := {future for future in futures if not future.done()}:
        for future in pending:
            if future in _CLEANING:
                continue  # its clean-up: waited for, never cut short
            if future in cancelled:
                log.warning(
                    "a task went on after its stop cancelled it; cancelled again: %s",
                    _where(future),
                )
            future.cancel()
        cancelled |= pending
        await asyncio.wait(pending, timeout=every)


#: tasks awaiting their clean-up after their cancellation (:func:`cleaned_up`)
_CLEANING: set[asyncio.Future[Any]] = set()


async def cleaned_up(step: Awaitable[T]) -> T:
    """Await ``step``, the current task's clean-up after its cancellation (the licence
    feed closing its consumer; the presentation store's close, which waits up to 10 s
    for the usage feed's thread), marked as such: :func:`cancel_until_ended` waits for
    it and never cancels it again, which would end the task with its clean-up still
    running (atk44 F3). A clean-up that never ends is the watchdog's
    (:data:`services.verifier.worker.STOP_WITHIN_S`)."""
    task = asyncio.current_task()
    if task is not None:
        _CLEANING.add(task)
    try:
        return await step
    finally:
        _CLEANING.discard(task)


def _where(future: asyncio.Future[Any]) -> str:
    if isinstance(future, asyncio.Task):
        return format_task_stack(future, limit=20)
    return repr(future)


class EndsItsTasks(Service):
    """A mode service (a Faust app among them, as a base class before it) whose
    stop ends its tasks (:func:`cancel_until_ended`) before mode's own stop of
    them, which then finds them ended."""

    async def _stop_futures(self) -> None:
        await cancel_until_ended(self._futures)
        await super()._stop_futures()


class VerifierApp(EndsItsTasks, faust.App):
    """The verifier's Faust app: Faust's own, whose stop ends its tasks and flushes
    its producer within a bound (``Producer.flush_at_stop``,
    services.verifier.transport)."""

    async def _producer_flush(self, logger: Any) -> None:
        """Faust's flush; at the stop, the bounded one that gives up what the broker
        does not acknowledge. Faust flushes at a rebalance too (partitions revoked):
        that flush waits as before, its records still to be delivered, and the
        consumer's commits go on."""
        flush_at_stop = getattr(self._producer, "flush_at_stop", None)
        if flush_at_stop is None or not self.should_stop:
            await super()._producer_flush(logger)
        else:
            await flush_at_stop()
