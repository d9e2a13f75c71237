"""A process's own pauses, told apart from its dependencies' silence.

A process stopped (SIGSTOP, a debugger, a paused VM or container) or starved of CPU
sees, once it runs again, every broker and database connection late: heartbeats
missed, fetches timed out, answers "not received for N s". Logged alone, those lines
blame the broker or the database for the process's own pause. :class:`PauseWatch`
ticks on a thread of its own, so that an event loop held by work or by a blocking call
is not taken for a pause: its tick comes late only when no thread of the process ran
(the thread needs the GIL for a moment each tick; CPython hands it over within
``sys.getswitchinterval()``), and the process's CPU over the gap tells why:

- little CPU (below :data:`RAN_SHARE` of the gap): the process did not run (stopped
  or starved of CPU);
- otherwise a native call held the GIL all that time.

:meth:`PauseWatch.tick` is pure apart from the clocks it is given (monotonic seconds,
and the process's CPU seconds as ``time.process_time`` counts them: every thread).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: a tick this much later than due is a pause, s
PAUSE_S = 3.0
#: CPU used over a gap, as a share of it, below which the process did not run
RAN_SHARE = 0.25
#: the loggers whose lines are the process's own; any other is a dependency's
OURS = ("certseal", "services")

#: the watches running in this process (:class:`PausesSaidFirst` ticks them)
_RUNNING: weakref.WeakSet[PauseWatch] = weakref.WeakSet()
_RUNNING_LOCK = threading.Lock()


@dataclass(frozen=True)
class Pause:
    """A gap in a process's run: ``seconds`` of wall time past the tick, during which
    the process used ``cpu_seconds`` of CPU; it ended at ``ended`` (monotonic s)."""

    seconds: float
    cpu_seconds: float
    ended: float

    @property
    def stopped(self) -> bool:
        """Whether the process did not run (rather than a native call holding the
        GIL)."""
        return self.cpu_seconds < RAN_SHARE * self.seconds

    def words(self) -> str:
        """What happened, for a log line."""
        if self.stopped:
            why = "it was stopped, e.g. by SIGSTOP or a paused VM, or starved of CPU"
        else:
            why = (
                f"a native call held Python's lock: {self.cpu_seconds:.1f} s of CPU "
                "meanwhile"
            )
        # a native call: the process ran, its Python code did not
        who = "this process" if self.stopped else "this process's Python code"
        return (
            f"{who} did not run for at least {self.seconds:.1f} s ({why}): the "
            "broker's and the database's delays logged with it are this pause, "
            "not theirs"
        )


class PauseWatch:
    """Ticks every ``tick_s`` on a daemon thread (:meth:`start` to :meth:`stop`); a
    tick that comes more than ``pause_s`` late is a :class:`Pause`, logged as a
    WARNING naming ``name``."""

    def __init__(
        self,
        name: str,
        *,
        tick_s: float = 1.0,
        pause_s: float = PAUSE_S,
        clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = time.process_time,
    ):
        self.name = name
        self.tick_s = tick_s
        self._pause_s = pause_s
        self._clock = clock
        self._cpu_clock = cpu_clock
        self._last = clock()
        self._last_cpu = cpu_clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # the thread's ticks and a caller's
        #: the latest pause seen, or None
        self.last: Pause | None = None

    def tick(self) -> Pause | None:
        """Note a tick; the pause since the last one, if there was one. The thread
        ticks; a caller about to blame a dependency for a silence ticks too, as the
        thread may not have run yet since the process ran again."""
        with self._lock:
            now, cpu = self._clock(), self._cpu_clock()
            gap, used = now - self._last, cpu - self._last_cpu
            self._last, self._last_cpu = now, cpu
            if gap - self.tick_s <= self._pause_s:
                return None
            pause = Pause(seconds=gap - self.tick_s, cpu_seconds=used, ended=now)
            self.last = pause
        log.warning("%s: %s", self.name, pause.words())
        return pause

    def paused_within(self, seconds: float) -> Pause | None:
        """The latest pause if it ended at most ``seconds`` ago, else None."""
        last = self.last
        if last is None or self._clock() - last.ended > seconds:
            return None
        return last

    def ran_since(self, pause: Pause) -> float:
        """Seconds this process has run since ``pause`` ended (on the watch's
        clock)."""
        return self._clock() - pause.ended

    def start(self) -> PauseWatch:
        """Tick on a daemon thread until :meth:`stop` (one thread, however often it
        is started); returns self."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._last, self._last_cpu = self._clock(), self._cpu_clock()
        self._thread = threading.Thread(
            target=self._run, name=f"pause-watch {self.name}", daemon=True
        )
        self._thread.start()
        with _RUNNING_LOCK:
            _RUNNING.add(self)
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.tick_s):
            self.tick()

    def stop(self) -> None:
        """End the thread (at once: it waits on an event, not a sleep)."""
        with _RUNNING_LOCK:
            _RUNNING.discard(self)
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class PausesSaidFirst(logging.Filter):
    """A log handler's filter: before a dependency's warning or error (a logger
    outside :data:`OURS`: aiokafka's fetch timed out, Faust's, asyncpg's), every
    running watch ticks, so that a pause the process has just come back from is
    said before the delays it caused, not after them (trial50: aiokafka's
    "Failed fetch messages … RequestTimedOutError" came first, naming no service)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING and not record.name.startswith(OURS):
            with _RUNNING_LOCK:
                watches = list(_RUNNING)
            for watch in watches:
                watch.tick()
        return True
