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
from types import TracebackType


def interrupt_ends_the_start() -> None:
    """SIGINT to the OS default (end the process) until the service sets its own
    handler; call from the main thread, first thing in a service's ``__main__``."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_exits_quietly() -> None:
    """A Ctrl-C no code caught (one while the ``certseal`` command's modules load or
    its options are read, before its own handling) ends the process with status 130
    and no traceback; any other uncaught exception is printed as before. Call first
    thing in the command's module: a hook of ``sys.excepthook``, so a process that
    catches KeyboardInterrupt itself (pytest, a service) is unchanged."""
    previous = sys.excepthook

    def hook(
        kind: type[BaseException],
        value: BaseException,
        traceback: TracebackType | None,
    ) -> None:
        if not issubclass(kind, KeyboardInterrupt):
            previous(kind, value, traceback)
            return
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(130)  # as a shell reports a command Ctrl-C ended

    sys.excepthook = hook
