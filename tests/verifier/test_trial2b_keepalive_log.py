"""trial2b 5: under load ``make run`` printed ``ERROR services.verifier.transport:
[^---ConsumerThread]: Thread keepalive is not responding...`` (mode's check that the
consumer thread's loop answers within 3 s), which nothing explained. It is a
warning certseal words: the consumer thread was slow to answer; verification goes
on."""

import logging

from services.verifier.transport import (
    SLOW_CONSUMER_THREAD,
    ConsumerThread,
)
from tests.verifier.test_transport import consumer_thread


def _thread() -> ConsumerThread:
    return consumer_thread("certseal-test-keepalive")[1]


def test_a_slow_consumer_thread_is_a_warning_saying_what_it_means(caplog):
    thread = _thread()
    with caplog.at_level(logging.DEBUG, logger="services.verifier.transport"):
        thread.log.error("Thread keepalive is not responding...")  # as mode says it
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "keepalive is not responding" not in record.getMessage()
    assert SLOW_CONSUMER_THREAD in record.getMessage()
    assert "verification goes on" in SLOW_CONSUMER_THREAD


def test_any_other_error_of_the_thread_stays_an_error(caplog):
    thread = _thread()
    with caplog.at_level(logging.DEBUG, logger="services.verifier.transport"):
        thread.log.error("Consumer error: %s", "broken")
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert "Consumer error: broken" in record.getMessage()
