"""The verifier's Faust worker: Faust's own, remembering a signal that asked it to stop,
so that a worker told to stop exits instead of starting itself again to rebuild its
index (:func:`services.verifier.__main__.main`)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from types import FrameType

from faust.worker import Worker
from mode.utils.futures import maybe_cancel

from services.verifier.stoptrace import where_the_stop_waits

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

STOP_WITHIN_S = 25.0
"""How long a stop a signal asked for may take before the process exits at once
(``os._exit(1)``): below Kubernetes' default grace period of 30 s, above the gathered
uses' own wait (:data:`services.verifier.gathering.STOP_WAIT_S`, 5 s). A worker's
stop after a crash on its damaged index was seen to hang in Faust's consumer stop
under load (CI, 2026-12-02): a signal must end the process all the same. What an
exit at once loses is what a crash loses: the index is rebuilt from the topics, the
replay guard's store keeps its write-ahead log."""

SLOW_STOP_S = 10.0
"""After how long a stop says where it waits (a warning), before
:data:`STOP_WITHIN_S` ends the process."""

CUT_WITHIN_S = 5.0
"""How long a stop waits for the start it cuts short to end (its steps unwound) before
it stops the services anyway: within :data:`STOP_WITHIN_S`."""

log = logging.getLogger(__name__)


class VerifierWorker(Worker):
    """Faust's worker, which notes in :attr:`stop_signal` the first SIGTERM or SIGINT,
    also one that arrives after its event loop closed.

    A worker that found its index damaged, or ahead of its changelog, stops and starts
    itself again in the same process (``os.execv``) to rebuild it. A SIGTERM on the
    way (Kubernetes stopping the pod, a test tearing down) must still end the process.
    Faust handles the signal through its event loop while the loop runs; uvloop
    leaves its handler installed when the loop closes, and that handler then drops
    the signal: the started-again worker ran on as if no one had asked it to stop (a
    test waited for it until its timeout, and the worker outlived the test run).
    """

    #: the signal that asked the worker to stop, None while none did
    stop_signal: signal.Signals | None = None
    #: every service has started (the app's tables recovered, its tasks running)
    started_all = False
    #: the task running the stop a signal asked for, once it runs
    _stop_task: asyncio.Task[None] | None = None

    async def on_started(self) -> None:
        self.started_all = True  # from here the start only waits for the stop
        await super().on_started()

    async def _stop_on_signal(self, signum: signal.Signals) -> None:
        """mode's stop on a signal, after the start it cuts short has ended.

        mode stops the services at once, beside a start still going, and cancels
        the start only once the stop is over: meanwhile the start went on against
        what the stop had stopped. Faust's app, its start's loop broken by the stop,
        still started its tasks, after its stop had cancelled its tasks; the licence
        feed then dead-lettered an event through the stopped producer
        (``NotReady('Producer service not yet started')``, "We experienced a
        crash!", exit 1: CI, 2026-12-06); a gRPC server or a producer started after
        its service's stop was left running. So the start is cancelled first, where
        it waits, and the stop then stops what it started, as a stop of a started
        worker does (the consumer's commit, the gathered uses handed to the
        producer, its flush)."""
        self.log.info("Signal received: %s (%s)", signum, signum.value)
        self._stop_task = asyncio.current_task()
        await self._cut_the_start_short()
        await self.stop()
        maybe_cancel(self._starting_fut)

    async def _cut_the_start_short(self) -> None:
        starting = self._starting_fut
        if self.started_all or starting is None or starting.done():
            return
        starting.cancel()
        _, pending = await asyncio.wait({starting}, timeout=CUT_WITHIN_S)
        if pending:  # a step that ignores its cancellation: stopped beside it
            log.warning("the start did not end within %.0f s of its stop", CUT_WITHIN_S)

    async def start(self) -> None:
        """Faust's start; one that a stop a signal asked for cuts short ends as a
        cancelled start, quietly. The stop cancels what the start awaits, and Faust's
        start then failed in its own code (mode's ``stampede`` setting the result of
        a future the stop had cancelled: ``InvalidStateError``, CI 2026-12-05), which
        Faust's worker logged with its traceback and ended with status 1."""
        try:
            await super().start()
        except Exception as exc:
            if self.stop_signal is None:
                raise
            log.warning(
                "start cut short by %s: %s", self.stop_signal.name, exc or repr(exc)
            )
            raise asyncio.CancelledError from None

    def _on_sigterm(self) -> None:  # Faust's handler, while the loop runs
        self._note(signal.SIGTERM)
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        # as Faust's handler, without its "-INT- -INT- ..." line on stderr, a line in
        # no log format (its "Signal received" record says it)
        self._note(signal.SIGINT)
        self._schedule_shutdown(signal.SIGINT)

    def _shutdown_loop(self) -> None:
        # from the last steps of the stop on, a signal is noted here, not left to the
        # closing loop's handler (which drops it once the loop is closed)
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._noted)
        super()._shutdown_loop()

    def _noted(self, signum: int, _frame: FrameType | None) -> None:
        self._note(signal.Signals(signum))

    def _note(self, signum: signal.Signals) -> None:
        if self.stop_signal is None:
            self.stop_signal = signum
            for after, then in (
                (SLOW_STOP_S, self._slow),
                (STOP_WITHIN_S, self._overdue),
            ):
                timer = threading.Timer(after, then, (signum,))
                timer.daemon = True  # a stop that ends in time ends the process
                timer.start()

    def _slow(self, signum: signal.Signals) -> None:
        log.warning(
            "asked to stop (%s): the stop has taken %.0f s; it waits in:\n%s",
            signum.name,
            SLOW_STOP_S,
            self._where_the_stop_waits(),
        )

    def _overdue(self, signum: signal.Signals) -> None:
        log.error(
            "asked to stop (%s): the stop did not end within %.0f s; exiting now. "
            "It waited in:\n%s",
            signum.name,
            STOP_WITHIN_S,
            self._where_the_stop_waits(),
        )
        logging.shutdown()
        os._exit(1)

    def _where_the_stop_waits(self) -> str:
        return where_the_stop_waits(self.loop, self._stop_task)
