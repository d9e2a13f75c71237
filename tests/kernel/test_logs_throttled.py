"""Repeated Kafka client records are throttled (certseal.logs.Throttled): a verifier
worker cut off from its broker logged about 170 aiokafka lines a second (nu19)."""

from __future__ import annotations

import io
import logging

import pytest

from certseal.logs import JsonFormatter, Throttled


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def logged():
    """(clock, the lines a handler with the filter wrote, its logger) for a logger
    under aiokafka and one of certseal's."""
    clock, out = _Clock(), io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(Throttled(every_s=10.0, clock=clock))
    loggers = [logging.getLogger("aiokafka.conn"), logging.getLogger("certseal.x")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.propagate = False
    yield clock, out, loggers
    for logger in loggers:
        logger.removeHandler(handler)
        logger.propagate = True


def test_one_record_of_a_kind_per_interval_then_how_many_were_dropped(logged):
    clock, out, (kafka, _) = logged
    for n in range(170):
        kafka.error("Unable connect to node with id %s: %s", 1, f"refused {n}")
    assert out.getvalue().count("\n") == 1
    assert "refused 0" in out.getvalue()
    clock.now += 10.0
    kafka.error("Unable connect to node with id %s: %s", 1, "refused again")
    last = out.getvalue().splitlines()[-1]
    assert "refused again (169 more like this in the last 10 s not logged)" in last


def test_other_kinds_and_other_loggers_pass(logged):
    _clock, out, (kafka, ours) = logged
    kafka.error("Unable connect to node with id %s: %s", 1, "refused")
    kafka.warning("Unable connect to node with id %s: %s", 1, "refused")  # a level
    kafka.error("Got error produce response: %s", "timeout")  # another template
    for _ in range(5):
        ours.warning("the broker has not answered for more than %d s", 5)
    assert out.getvalue().count("\n") == 3 + 5


@pytest.fixture
def hooks():
    """certseal.logs.log_uncaught's hooks installed for one test, then put back."""
    import sys
    import threading

    from certseal.logs import log_uncaught

    kept = (threading.excepthook, sys.unraisablehook)
    log_uncaught()
    yield
    threading.excepthook, sys.unraisablehook = kept
    logging.captureWarnings(False)


def _ends_with(exc: BaseException) -> None:
    import threading

    def run() -> None:
        raise exc

    thread = threading.Thread(target=run, name="ending")
    thread.start()
    thread.join(10)


def test_a_thread_cancelled_as_its_process_stops_is_one_line(hooks, caplog):
    """nu21: Faust's consumer thread, stopped with its broker away, ended in a
    CancelledError: 40 lines of library traceback at every Ctrl-C."""
    import asyncio

    caplog.set_level(logging.WARNING, logger="certseal.uncaught")
    _ends_with(asyncio.CancelledError())
    _ends_with(ValueError("a fault"))
    said = [(r.levelname, r.getMessage(), bool(r.exc_info)) for r in caplog.records]
    assert said == [
        ("WARNING", "ending stopped while it waited (cancelled)", False),
        ("ERROR", "uncaught exception in ending", True),  # a fault keeps its trace
    ]
