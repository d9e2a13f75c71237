"""A consumer whose broker is gone stops (certseal.kafka.fetches_end_on_stop).

aiokafka's stop cancels each fetch still in flight and awaits it; a fetch waiting in
its retry back-off, as every fetch does once its broker is gone, raised that
CancelledError out of ``stop()``, which never closed the client. A Faust worker's
consumer thread stopped so, and its worker's stop waited 60 s (trial53 P1)."""

from __future__ import annotations

import asyncio
import copy
import logging

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from certseal.events import LICENCE_USAGE
from services.devstack import DevStack
from tests.conftest import log_lines

PARTITIONS = 2
FAILED_FETCH = "Failed fetch messages from"


@pytest.mark.parametrize(
    "made_by_settings", [False, True], ids=["aiokafka", "certseal"]
)
async def test_a_consumer_whose_broker_is_gone_stops(
    config, tmp_path, made_by_settings
):
    cluster = DevStack(tmp_path / "cluster", topic_partitions=PARTITIONS)
    cfg = copy.deepcopy(config)
    cfg.kafka.bootstrap_servers = await cluster.start_broker()
    kafka = cfg.kafka.settings("stop-test")
    options = {"enable_auto_commit": False, "retry_backoff_ms": 10_000}
    consumer = (
        kafka.consumer(**options)
        if made_by_settings
        else AIOKafkaConsumer(**{**kafka.common(), **options})
    )
    try:
        await consumer.start()
        consumer.assign([TopicPartition(LICENCE_USAGE, p) for p in range(PARTITIONS)])
        await consumer.getmany(timeout_ms=200)  # fetching
        with log_lines("aiokafka.consumer.fetcher", logging.ERROR) as said:
            cluster.stop()
            async with asyncio.timeout(30):  # a failed fetch: its back-off follows
                await said.line_with(FAILED_FETCH)
        async with asyncio.timeout(10):  # well inside the back-off of 10 s
            if made_by_settings:
                await consumer.stop()
            else:  # aiokafka's own: this fails if aiokafka mends it
                with pytest.raises(asyncio.CancelledError):
                    await consumer.stop()
    finally:
        cluster.stop()
    # the client closed (its metadata task ended) only by a stop that went through
    assert (consumer._client._sync_task is None) is made_by_settings


async def test_records_given_up_fail_their_sends_and_later_ones_are_taken():
    # atk56: a stop whose broker does not answer gives up what its producer holds
    # (services.verifier.transport.Producer.flush_at_stop), each send told
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaTimeoutError

    from certseal.kafka import give_up_unacknowledged, records_in_flight

    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9")  # never started
    try:
        assert give_up_unacknowledged(producer, "nothing held") == 0
        accumulator = producer._message_accumulator
        tp = TopicPartition(LICENCE_USAGE, 0)
        sent = [await accumulator.add_message(tp, b"k", b"v", timeout=1) for _ in "ab"]
        assert give_up_unacknowledged(producer, "given up") == 2
        for send in sent:
            assert isinstance(send.exception(), KafkaTimeoutError)
        # out of the producer, key and all: never sent (atk57: an empty deque left
        # under its key broke the sender's next drain, IndexError)
        assert tp not in accumulator._batches
        later = await accumulator.add_message(tp, b"k", b"v", timeout=1)
        assert not later.done()  # taken, for the producer's own stop to bound
        # trial55: one sent and unanswered, failed while the sender could still put
        # it back among those waiting, broke the sender (KeyError): only in_flight
        (batch,) = accumulator._batches[tp]
        accumulator._batches[tp].clear()  # as the sender's drain takes it
        accumulator._pending_batches.add(batch)
        assert give_up_unacknowledged(producer, "given up") == 0
        assert not later.done() and batch in accumulator._pending_batches
        # atk57: a stop cut short leaves its sender running: in flight, only counted
        running = asyncio.ensure_future(asyncio.Event().wait())
        producer._sender._sender_task = running
        try:
            assert give_up_unacknowledged(producer, "given up", in_flight=True) == 0
            assert records_in_flight(producer) == 1 and not later.done()
        finally:
            running.cancel()
            await asyncio.wait({running})
        assert give_up_unacknowledged(producer, "given up", in_flight=True) == 1
        assert records_in_flight(producer) == 0
        assert isinstance(later.exception(), KafkaTimeoutError)
    finally:
        await producer.client.close()
        producer._closed = True  # its client closed: never started, nothing more
