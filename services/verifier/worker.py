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

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

STOP_WITHIN_S = 25.0
"""How long a stop a signal asked for may take before the process exits at once
(``os._exit(1)``): below Kubernetes' default grace period of 30 s, above the gathered
uses' own wait (:data:`services.verifier.gathering.STOP_WAIT_S`, 5 s). A worker's
stop after a crash on its damaged index was seen to hang in Faust's consumer stop
under load (CI, 2026-12-02): a signal must end the process all the same. What an
exit at once loses is what a crash loses: the index is rebuilt from the topics, the
replay guard's store keeps its write-ahead log."""

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
            overdue = threading.Timer(STOP_WITHIN_S, self._overdue, (signum,))
            overdue.daemon = True  # a stop that ends in time ends the process
            overdue.start()

    @staticmethod
    def _overdue(signum: signal.Signals) -> None:
        log.error(
            "asked to stop (%s): the stop did not end within %.0f s; exiting now",
            signum.name,
            STOP_WITHIN_S,
        )
        logging.shutdown()
        os._exit(1)
