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

# ``_signal``: the C module Python itself loaded at start; ``signal`` builds its enums
# first (about 1 ms, in which a Ctrl-C became a traceback out of enum.py: CI,
# 2026-12-05)
import _signal as signal
import contextlib
import os
import sys

# what the command loads before its hook is set is the window in which a Ctrl-C is
# Python's own: the annotations' modules (typing alone takes about 2 ms) are read by
# the type checker only
TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType, TracebackType
    from typing import NoReturn


def interrupt_ends_the_start() -> None:
    """SIGINT to the OS default (end the process) until the service sets its own
    handler; call from the main thread, first thing in a service's ``__main__``."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class _Interrupted:
    """Whether this process is the command (``program``), a SIGINT came while it
    loaded (``seen``), the command has ended on a Ctrl-C (``ended``), and the exit
    status of a command that ended before one (``status``: :func:`command_ended`)."""

    program = seen = ended = False
    status: int | None = None


def command_ended(status: int) -> int:
    """The command has done its work and written what it says of it, and exits
    with ``status``: a Ctrl-C from now on (as the process ends: its channels closed,
    its threads joined, its output flushed) ends it with ``status`` once its output
    is written, not 130 (trial49: a Ctrl-C landing after ``licence issue`` printed
    the new licence made it exit 130, and a script would have issued again). Only in
    the command's own process. Returns ``status``."""
    if _Interrupted.program:
        _Interrupted.status = status
    return status


def runs_as(module: str, *, script: str) -> bool:
    """Whether this process is the command ``module`` is the entry of: ``python -m
    module``, ``python -m`` of its package (whose ``__main__`` imports it), or the
    console script named ``script``; False in a program that merely imports it (a
    test run, the interactive prompt, a library user's program)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None:
        return spec.name in (module, module.rpartition(".")[0] + ".__main__")
    return os.path.basename(sys.argv[0] if sys.argv else "") == script


def interrupt_exits_quietly(program: bool) -> None:
    """In the command's own process (``program``, from :func:`runs_as`): a Ctrl-C no
    code caught (one while its modules load or its options are read, before its own
    handling) ends the process with status 130 and no traceback; any other uncaught
    exception is printed as before. Call first thing in the command's module, and
    :func:`loading_ended` after its imports. A program that only imports the module
    is left as it was (its excepthook, its SIGINT, its clean-up at exit).

    Python turns a SIGINT into KeyboardInterrupt wherever the main thread is, and
    while modules load that is not always what reaches the top:

    - in a C extension's initialisation it becomes the extension's own error
      (Cython's "ImportError: Failed to import 'zlib.decompress' - cannot initialise
      module strings", grpc's); so while the command loads, SIGINT is recorded before
      it raises, and any exception reaching the top after one ends the process as
      the KeyboardInterrupt would have;
    - in code whose exceptions Python only reports (a weakref or ``__del__``
      callback, such as the import system's module-lock cleanup, or the flush of
      standard output at exit) it would be printed as "Exception ignored in ..."
      and the command would go on; ``sys.unraisablehook`` ends those too."""
    if not program:
        return
    _Interrupted.program = True
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
        # a Ctrl-C first, also after the command ended on one: a second one, as the
        # exit's flush waits on a pipe no one reads, ends the wait (atk47 F1)
        if issubclass(report.exc_type, KeyboardInterrupt):
            _exit_130()
        if _Interrupted.ended:  # what the interrupted call left, cleared (below)
            if report.object is sys.stdout or report.object is sys.stderr:
                _exit_130()  # the exit's flush failed: the same Ctrl-C ended the
                # reader (EPIPE); Python would exit 120 (atk47 F2)
            return
        previous_unraisable(report)

    sys.excepthook = hook
    sys.unraisablehook = unraisable
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        with contextlib.suppress(ValueError):  # not the main thread: Python's own
            signal.signal(signal.SIGINT, _loading_interrupted)


def loading_ended() -> None:
    """The command's modules are loaded: SIGINT is Python's own again (asyncio.run
    then sets its handler, which cancels the running call; the command catches the
    KeyboardInterrupt and exits 130). A Ctrl-C while they loaded that some code
    swallowed is raised here, before the command does anything."""
    if signal.getsignal(signal.SIGINT) is not _loading_interrupted:
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)  # set by the main thread
    if _Interrupted.seen:
        raise KeyboardInterrupt


def interrupted() -> int:
    """130, the exit status of a command a Ctrl-C ended; call where the command
    catches the KeyboardInterrupt. In the command's own process, what Python then
    reports as it clears the interrupted call away is not printed: an event loop
    the Ctrl-C cut while it was being made fails in its ``__del__`` ("Exception
    ignored in ... no attribute '_thread_id'"), and the coroutine it was to run is
    "never awaited" (CI, 2026-12-06). The user asked the command to stop; it has."""
    if _Interrupted.program:
        import warnings  # loaded by Python's start: no import happens here

        _Interrupted.ended = True
        warnings.simplefilter("ignore")
        if _Interrupted.status is not None:  # after the command ended
            return _Interrupted.status
    return 130


def reader_gone() -> int:
    """141, the exit status of a command whose standard output's reader went away
    (``| head``, ``| grep -q``): the command's own outcome (a verdict that is not
    VALID) is unknown, so never 0; 141 is a shell's status for a writer SIGPIPE
    ended. Python's own flush at exit would fail again, so the output is discarded."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return 141


def _loading_interrupted(signum: int, frame: FrameType | None) -> None:
    _Interrupted.seen = True
    signal.default_int_handler(signum, frame)


def _exit_130() -> NoReturn:
    """Exit 130 at once, as a shell reports a command Ctrl-C ended, after writing
    what the standard streams hold if they take it now: a stream whose reader is not
    reading (a full pipe: a pager, a busy reader) is not waited for, and a second
    Ctrl-C during a flush that blocks after all ends the wait. A command that had
    ended (:func:`command_ended`) exits with its own status instead, if both
    streams took what they held."""
    written = True
    for stream in (sys.stdout, sys.stderr):
        try:
            if _writable_now(stream.fileno()):
                stream.flush()
            else:
                written = False
        except BaseException:
            written = False
    ended = _Interrupted.status
    os._exit(ended if written and ended is not None else 130)


def _writable_now(fd: int) -> bool:
    import select  # only at the exit: not in what loads before the hook

    _, writable, _ = select.select([], [fd], [], 0)
    return bool(writable)
