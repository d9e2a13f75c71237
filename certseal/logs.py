"""Structured (JSON) logging with the request id of the RPC being handled."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from certseal.pauses import PausesSaidFirst

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar(
    "request_id", default=""
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """One plain line per record, for a person at a terminal (``make run``), naming
    the process it comes from as ``NAME[PID]``: ``certseal run`` writes every
    service's lines to one terminal, and the same logger (the outbox relay's, the
    audit sealer's) runs in several of them. NAME is ``CERTSEAL_LOG_NAME`` (the
    run's name for the service, which its own child processes inherit), else
    ``certseal``; the pid tells a service's processes apart (the issuer's serving
    workers and its relay)."""

    def __init__(self) -> None:
        name = os.environ.get("CERTSEAL_LOG_NAME") or "certseal"
        # a name is text on one line: never a format field, never a line break or a
        # terminal's control sequence (one record read as two, colours changed)
        label = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in name)
        label = label.replace("%", "%%")
        super().__init__(
            f"%(asctime)s %(levelname)-7s {label}[%(process)d] %(name)s: %(message)s",
            "%H:%M:%S",
        )


def formatter() -> logging.Formatter:
    """JSON lines, or plain lines when the environment says
    ``CERTSEAL_LOG_FORMAT=text`` (``certseal run`` sets it for its services)."""
    text = os.environ.get("CERTSEAL_LOG_FORMAT") == "text"
    return TextFormatter() if text else JsonFormatter()


def dict_config(level: str = "INFO") -> dict[str, object]:
    """:func:`configure` as a :func:`logging.config.dictConfig` mapping, for a
    framework that sets logging up itself: Faust's worker
    (``Worker(logging_config=...)``) otherwise replaced the verifier's handlers with
    its own coloured format, so its lines were neither JSON nor ``make run``'s."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"certseal": {"()": formatter}},
        "filters": {
            "pauses_first": {"()": PausesSaidFirst},
            "not_said_twice": {"()": NotSaidTwice},
            "reasons_named": {"()": EmptyReasonsNamed},
            "throttled": {"()": Throttled},
            "one_line": {"()": LibraryWarningsOneLine},
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "certseal",
                "filters": [
                    "pauses_first",
                    "not_said_twice",
                    "reasons_named",
                    "throttled",
                    "one_line",
                ],
            }
        },
        "root": {"level": level, "handlers": ["default"]},
        "loggers": {"aiokafka": {"level": "WARNING"}},
    }


_SAID = "certseal_said_by_the_process"


def said_by_the_process(exc: BaseException) -> None:
    """Mark ``exc`` as one its process reports itself (a start-up's bad setting, as
    ``error: <field>: <problem>`` and exit status 2), so that a framework that logs
    every exception it meets (Faust's worker: "Error: ...", with the traceback) does
    not say it first, differently. See :class:`NotSaidTwice`."""
    setattr(exc, _SAID, True)


class NotSaidTwice(logging.Filter):
    """Drops the records of an exception marked by :func:`said_by_the_process`."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not getattr(exc, _SAID, False)


class Throttled(logging.Filter):
    """Passes the first record of each kind (logger, message template, level) of the
    loggers under :data:`THROTTLED` once per ``every_s`` seconds, and says how many
    like it were dropped since. A Kafka client that cannot reach its broker logs
    every failed connection and request: about 170 lines a second from one cut-off
    verifier worker (nu19), which buried what the worker itself said (that its lag is
    unknown, services/verifier/ends.py) and filled disks. ``clock``: monotonic
    seconds (injected by tests)."""

    def __init__(
        self, every_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ):
        super().__init__()
        self._every_s, self._clock = every_s, clock
        self._lock = threading.Lock()
        #: kind -> (when it last passed, records dropped since)
        self._kinds: dict[tuple[str, object, int], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(THROTTLED):
            return True
        kind = (record.name, record.msg, record.levelno)
        now = self._clock()
        with self._lock:
            passed, dropped = self._kinds.get(kind, (-float("inf"), 0))
            if now - passed < self._every_s:
                self._kinds[kind] = (passed, dropped + 1)
                return False
            if len(self._kinds) > 1_000:  # kinds of messages, not of values
                self._kinds.clear()
            self._kinds[kind] = (now, 0)
        if dropped:
            record.msg = (
                f"{record.getMessage()} ({dropped} more like this in the last "
                f"{now - passed:.0f} s not logged)"
            )
            record.args = None
        return True


#: the loggers whose repeated records :class:`Throttled` drops
THROTTLED = ("aiokafka", "kafka")


class EmptyReasonsNamed(logging.Filter):
    """Names by its type an exception a record of the loggers under
    :data:`THROTTLED` quotes as an argument whose text is empty: aiokafka logs
    ``Unable connect to node with id %s: %s`` with the exception it met, and a
    connection that timed out (a broker that hangs) has no text (trial: "Unable
    connect to node with id 1: " said nothing of why). Before :class:`Throttled`,
    which keys on the message's template and may format it."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.name.startswith(THROTTLED) and isinstance(args, tuple):
            record.args = tuple(
                type(arg).__name__
                if isinstance(arg, BaseException) and not str(arg)
                else arg
                for arg in args
            )
        return True


class LibraryWarningsOneLine(logging.Filter):
    """Writes a warning of the loggers under :data:`ONE_LINE` as one line: the
    exception it carries is named after the message, without its traceback.

    pyHanko logs an untrusted signer (a stranger's self-signed signature added to a
    sealed PDF) as a WARNING with two full tracebacks (PathBuildingError, then
    InvalidCertificateError), about 20 lines per VerifyPdf, which an operator reads
    as a crash (trial38): it is an ordinary outcome, answered in the verdict. An
    ERROR keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.exc_info
            and record.levelno < logging.ERROR
            and record.name.startswith(ONE_LINE)
        ):
            exc = record.exc_info[1]
            if exc is not None:
                record.msg = f"{record.getMessage()} ({type(exc).__name__})"
                record.args = None
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


#: the libraries whose warnings :class:`LibraryWarningsOneLine` makes one line
ONE_LINE = ("pyhanko", "pyhanko_certvalidator")


def log_uncaught() -> None:
    """Log an exception that ends a thread, and one Python can only report as
    "Exception ignored in …", as one record with its traceback (``exc`` of a JSON
    line), not as loose lines on stderr that a log shipper splits apart; and every
    warning as one record (logger ``py.warnings``)."""
    log = logging.getLogger("certseal.uncaught")

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "a thread"
        if issubclass(args.exc_type, asyncio.CancelledError):
            # a thread's loop cancelled in the middle of a wait as its process stops
            # (Faust's consumer thread with its broker away, nu21): not a fault, and
            # its 40-line traceback of library frames told the operator nothing
            log.warning("%s stopped while it waited (cancelled)", name)
            return
        exc_info = (args.exc_type, args.exc_value, args.exc_traceback)
        log.error("uncaught exception in %s", name, exc_info=exc_info)  # type: ignore[arg-type]

    def unraisable_hook(unraisable: Any) -> None:
        exc_info = (
            unraisable.exc_type,
            unraisable.exc_value,
            unraisable.exc_traceback,
        )
        what = unraisable.err_msg or "Exception ignored in"
        log.error("%s: %r", what, unraisable.object, exc_info=exc_info)

    threading.excepthook = thread_hook
    sys.unraisablehook = unraisable_hook
    # a warning (e.g. cryptography's on a hostile certificate's serial number, atk17c)
    # is a record of the py.warnings logger, not "<file>:<line>: <Category>: ..." and
    # its source line written to stderr beside the JSON log
    logging.captureWarnings(True)


def configure(level: str = "INFO") -> None:
    """Send logs to stderr as :func:`formatter` says, at ``level``; uncaught
    exceptions of threads too (:func:`log_uncaught`)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter())
    handler.addFilter(PausesSaidFirst())
    handler.addFilter(EmptyReasonsNamed())
    handler.addFilter(Throttled())
    handler.addFilter(LibraryWarningsOneLine())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    log_uncaught()
    logging.getLogger("aiokafka").setLevel("WARNING")
    # pyHanko logs every difference it finds between a sealed revision and a later
    # one as a WARNING with a traceback (SuspiciousModification): for VerifyPdf that is
    # the MODIFIED verdict it answers, with the difference in its detail, not a fault
    logging.getLogger("pyhanko.sign.diff_analysis").setLevel("ERROR")
