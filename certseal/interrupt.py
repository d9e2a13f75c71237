"""Ctrl-C while a service process starts ends it as SIGTERM would, with no traceback.

Python's own SIGINT handler raises KeyboardInterrupt wherever the main thread is, and
a start cut there (its imports, its checks, a verifier's index rebuild) printed a
traceback. Each service's ``__main__`` calls :func:`interrupt_ends_the_start` before
anything else, so until the service sets its own stop handler (its event loop's
``add_signal_handler``, or the Faust worker's) SIGINT takes the OS default: the
process ends at once, exactly as a SIGTERM that comes before those handlers ends it.
What a start writes is safe from such an end by the rules that make it safe from a
kill (docs/architecture.md, "Nothing committed is lost").
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import NoReturn


def interrupt_ends_the_start() -> None:
    """SIGINT to the OS default (end the process) until the service sets its own
    handler; call from the main thread, first thing in a service's ``__main__``."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class _Interrupted:
    """Whether a SIGINT came while the command loaded (see below)."""

    seen = False


def interrupt_exits_quietly() -> None:
    """A Ctrl-C no code caught (one while the ``certseal`` command's modules load or
    its options are read, before its own handling) ends the process with status 130
    and no traceback; any other uncaught exception is printed as before. Call first
    thing in the command's module, then :func:`command_handles_interrupts` when the
    command's own handling begins.

    Python turns a SIGINT into KeyboardInterrupt wherever the main thread is, and while
    modules load that is not always what reaches the top:

    - in a C extension's initialisation it becomes the extension's own error (Cython's
      "ImportError: Failed to import 'zlib.decompress' - cannot initialise module
      strings", grpc's); so while the command loads, SIGINT is recorded before it
      raises, and any exception reaching the top after one ends the process as the
      KeyboardInterrupt would have;
    - in code whose exceptions Python only reports (a weakref or ``__del__`` callback,
      such as the import system's module-lock cleanup) it was printed as "Exception
      ignored in ..." and the command went on as if no key had been pressed;
      ``sys.unraisablehook`` ends those too.

    Hooks of ``sys.excepthook`` and ``sys.unraisablehook`` and a SIGINT handler that
    raises KeyboardInterrupt as Python's own does, so a process that imports the module
    and catches KeyboardInterrupt itself (pytest) is unchanged."""
    previous = sys.excepthook
    previous_unraisable = sys.unraisablehook

    def hook(
        kind: type[BaseException],
        value: BaseException,
        traceback: TracebackType | None,
    ) -> None:
        if issubclass(kind, KeyboardInterrupt) or _Interrupted.seen:
            _exit_130()
        previous(kind, value, traceback)

    def unraisable(report: sys.UnraisableHookArgs) -> None:
        if issubclass(report.exc_type, KeyboardInterrupt):
            _exit_130()
        previous_unraisable(report)

    sys.excepthook = hook
    sys.unraisablehook = unraisable
    if (
        _in_main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    ):
        signal.signal(signal.SIGINT, _loading_interrupted)


def command_handles_interrupts() -> None:
    """The command's own handling has begun: SIGINT is Python's own again (asyncio.run
    then sets its handler, which cancels the running call; the command catches the
    KeyboardInterrupt and exits 130). A Ctrl-C while it loaded that some code swallowed
    ends the process here, before the command does anything."""
    if _Interrupted.seen:
        _exit_130()
    if _in_main_thread() and signal.getsignal(signal.SIGINT) is _loading_interrupted:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _loading_interrupted(signum: int, frame: FrameType | None) -> None:
    _Interrupted.seen = True
    signal.default_int_handler(signum, frame)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _exit_130() -> NoReturn:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(130)  # as a shell reports a command Ctrl-C ended
