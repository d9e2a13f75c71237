"""The verifier's fetch wait follows the traffic: short while events flow, growing while
none do, short again at the first event."""

import asyncio
import logging

import faust
import pytest
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from services.verifier import transport
from services.verifier.taskstop import VerifierApp
from services.verifier.transport import (
    FETCH_MIN_BYTES,
    AdaptiveFetchWait,
    ConsumerThread,
    use_fetch_wait,
)


def test_the_wait_doubles_while_idle_up_to_the_idle_bound():
    wait = AdaptiveFetchWait(20, 200, patience_ms=0)
    assert wait.wait_ms == 20
    assert [wait.after(False) for _ in range(6)] == [40, 80, 160, 200, 200, 200]


def test_the_short_wait_holds_for_the_patience_after_the_last_event():
    wait = AdaptiveFetchWait(20, 200, patience_ms=1000)  # 50 empty fetches of 20 ms
    assert [wait.after(False) for _ in range(50)] == [20] * 50
    assert wait.after(False) == 40  # the 51st: a second without events
    assert wait.after(False) == 80


def test_the_first_fetch_with_events_returns_to_the_short_wait():
    wait = AdaptiveFetchWait(20, 200, patience_ms=100)
    for _ in range(20):
        wait.after(False)
    assert wait.wait_ms == 200
    assert wait.after(True) == 20
    assert wait.after(True) == 20  # while events flow
    assert [wait.after(False) for _ in range(6)] == [20, 20, 20, 20, 20, 40]


def test_an_idle_bound_below_the_busy_wait_means_no_growth():
    wait = AdaptiveFetchWait(50, 10, patience_ms=0)
    assert [wait.after(False) for _ in range(3)] == [50, 50, 50]


def consumer_thread(name: str) -> tuple[faust.App, ConsumerThread]:
    """A Faust app of the worker's transport (no broker reached) and its consumer
    thread, with the worker's fetch wait (20 ms, 200 ms idle)."""
    app = faust.App(
        name, broker="certseal://127.0.0.1:9", web_enabled=False, store="memory://"
    )
    use_fetch_wait(app, 20, 200)
    thread = app.consumer._thread
    assert isinstance(thread, ConsumerThread)
    return app, thread


async def test_the_worker_consumer_fetches_64_kib_or_waits_the_fetch_wait():
    # every VerifyCode's usage record is read back by this consumer: with
    # fetch_min_bytes 1 it fetched again for every record or two
    app, thread = consumer_thread("certseal-test-fetch")
    consumer = thread._create_worker_consumer(app.transport)
    try:
        assert consumer._fetch_min_bytes == FETCH_MIN_BYTES == 64 * 1024
        assert consumer._fetch_max_wait_ms == 20  # the latency bound when quiet
    finally:
        await consumer.stop()


async def test_a_consumer_thread_whose_stop_fails_still_says_it_has_stopped(caplog):
    # mode tells the worker's stop that the thread has stopped only at the end of a
    # clean ``on_thread_stop``: a failed one left the stop waiting 60 s (trial53 P1)
    _app, thread = consumer_thread("certseal-test-stop-fails")

    async def fails() -> None:
        raise RuntimeError("the consumer's stop failed")

    thread.on_thread_stop = fails  # type: ignore[method-assign]
    with (
        caplog.at_level(logging.ERROR, logger="services.verifier.transport"),
        pytest.raises(RuntimeError),
    ):
        await thread._shutdown_thread()
    await asyncio.wait_for(thread._shutdown.wait(), 5)  # the worker's stop goes on
    assert "the Kafka consumer thread's stop failed" in caplog.text
    assert "the consumer's stop failed" in caplog.text  # the failure itself
    thread.thread_loop.close()


async def test_only_a_kafka_request_left_by_the_stop_is_a_warning(caplog):
    # aiokafka shields its offset commit: given up by the stop, it failed later and
    # asyncio logged "Task exception was never retrieved" with a traceback, an ERROR
    from aiokafka.errors import KafkaConnectionError

    _app, thread = consumer_thread("certseal-test-left-request")
    handler = thread.thread_loop.get_exception_handler()
    assert handler is not None
    left = {"message": "Task exception was never retrieved"}
    with caplog.at_level(logging.WARNING):
        handler(thread.thread_loop, {**left, "exception": KafkaConnectionError("x")})
        handler(thread.thread_loop, {**left, "exception": RuntimeError("a bug")})
    kafka, other = caplog.records
    assert kafka.levelno == logging.WARNING and kafka.exc_info is None
    assert "left by the consumer's stop failed" in kafka.getMessage()
    assert other.levelno == logging.ERROR and other.name == "asyncio"  # as before
    thread.thread_loop.close()


async def test_the_commit_at_the_stop_is_bounded_behind_a_commit_in_flight(monkeypatch):
    # with the broker hanging, the periodic commit hangs too: the stop's commit waits
    # for it, and Faust takes a cancellation of that wait as its end and commits
    # again, outside the bound (the stop waited for the worker's watchdog)
    app, _thread = consumer_thread("certseal-test-commit-in-flight")
    consumer = app.consumer
    monkeypatch.setattr(transport, "COMMIT_ON_STOP_S", 0.1)
    commits, committing = [], asyncio.Event()

    async def hangs(*args: object, **kwargs: object) -> bool:
        commits.append(asyncio.current_task())
        committing.set()
        await asyncio.Event().wait()  # a broker that never answers
        return True

    monkeypatch.setattr(consumer, "force_commit", hangs)
    periodic = asyncio.ensure_future(consumer.commit())
    try:
        await committing.wait()
        async with asyncio.timeout(10):  # the bound is 0.1 s
            await consumer.commit_and_end_transactions()
        assert commits == [periodic]  # the stop started no commit of its own
    finally:
        periodic.cancel()


async def test_the_commit_at_the_stop_follows_a_commit_in_flight_that_ends(
    monkeypatch,
):
    # Faust's own commit returned once the one in flight had ended: the offsets
    # applied since were not committed at the stop, and were read again
    app, _thread = consumer_thread("certseal-test-commit-after")
    consumer = app.consumer
    answer, commits, committing = asyncio.Event(), [], asyncio.Event()

    async def answered(*args: object, **kwargs: object) -> bool:
        commits.append(asyncio.current_task())
        committing.set()
        await answer.wait()
        return True

    monkeypatch.setattr(consumer, "force_commit", answered)
    periodic = asyncio.ensure_future(consumer.commit())
    await committing.wait()
    stop = asyncio.ensure_future(consumer.commit_and_end_transactions())
    await asyncio.sleep(0)  # the stop's commit finds the one in flight
    answer.set()
    async with asyncio.timeout(10):
        await stop
        await periodic
    assert commits == [periodic, stop]  # the stop committed, after the periodic one


async def test_a_flush_at_the_stop_gives_up_and_no_offset_is_committed_after(
    monkeypatch, caplog
):
    # atk56: a licence code verified while the broker hangs leaves its usage record
    # in the producer; Faust's flush at the stop waited for its acknowledgement
    # until the worker's watchdog (25 s, status 1)
    app = VerifierApp(
        "certseal-test-flush-at-stop",
        broker="certseal://127.0.0.1:9",
        web_enabled=False,
        store="memory://",
    )
    use_fetch_wait(app, 20, 200)
    producer = app.producer
    assert isinstance(producer, transport.Producer)
    monkeypatch.setattr(transport, "FLUSH_ON_STOP_S", 0.1)

    async def unanswered() -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(producer, "flush", unanswered)
    commits = []

    async def force_commit(*args: object, **kwargs: object) -> bool:
        commits.append(args)
        return True

    monkeypatch.setattr(app.consumer, "force_commit", force_commit)
    # a rebalance's flush (Faust flushes as partitions are revoked) waits as before:
    # giving its records up would end the process's commits for good
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await app._producer_flush(app.log)
    assert not producer.gave_up
    app._stopped.set()  # the worker stops
    with caplog.at_level(logging.WARNING, logger="services.verifier.transport"):
        async with asyncio.timeout(10):  # the bound is 0.1 s
            await app._producer_flush(app.log)
        assert producer.gave_up
        assert "records were not acknowledged within 0 s of the stop" in caplog.text
        # what the events applied produced may be lost: their offsets stay
        assert await app.consumer._commit({TP("trust", 0): 1}) is False
        await app.consumer.commit_and_end_transactions()
    assert not commits
    assert "offsets are not committed at the stop" in caplog.text


async def test_the_producers_stop_is_bounded(monkeypatch, caplog):
    # aiokafka's stop waits for its requests in flight, which a broker that hangs
    # answers after the request timeout (15 s) at the earliest
    app, _thread = consumer_thread("certseal-test-producer-stop")
    producer = app.producer
    monkeypatch.setattr(transport, "PRODUCER_STOP_S", 0.1)
    ended = asyncio.Event()

    async def unanswered(self: object) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            ended.set()

    monkeypatch.setattr(faust_aiokafka.Producer, "on_stop", unanswered)
    with caplog.at_level(logging.WARNING, logger="services.verifier.transport"):
        async with asyncio.timeout(10):  # the bound is 0.1 s
            await producer.on_stop()
    assert ended.is_set()  # cancelled where it waited
    assert "the producer did not stop within 0 s" in caplog.text
