"""atk9 (outside review of session 9): does bench/broker_bench.py fail loudly when the
broker it measures is gone, or does it write a figure?

- ``Broker.cpu_s`` of a broker that exited is 0.0 (``proccpu.sample`` skips a pid it
  cannot read), so a figure taken across the broker's death is its CPU before,
  negated: ``idle_consumer_core_by_wait_ms`` would be written as a negative share.
- ``fetch_behind_ms`` of a broker that died during its rounds is None, which the
  results file explains as "the rounds took longer than the step's bound": a dead
  broker is written as a slow one, and the series ends there as if Tansu had hit
  the bound. (In a whole run the step's None is followed by ``consumer.stop()``,
  which after the broker's death raised a bare CancelledError out of aiokafka here,
  so the run happened to die without writing broker.json: loud by accident, and
  naming nothing. The step itself should say the broker is gone.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench import broker_bench
from bench.broker_bench import FETCH_TOPIC, PARTITIONS, Broker, fetch_behind_ms, fill_to
from services.devstack import DevStack


def test_atk9_a_broker_that_exited_has_no_cpu_figure():
    """FINDING (low): the CPU seconds of a process that is gone are 0.0, not an
    error; every broker figure is a difference of two of them."""
    gone = subprocess.Popen([sys.executable, "-c", "sum(range(10**6))"])
    gone.wait()
    try:
        figure = Broker(gone.pid).cpu_s()
    except Exception:  # what a figure of a gone broker should be
        return
    raise AssertionError(f"a broker that exited used {figure} s of CPU")


async def test_atk9_fetch_behind_of_a_broker_that_died_is_an_error(
    tmp_path, monkeypatch
):
    """FINDING (low): the broker dies after the step read its end offsets (the
    broker is this test's own process, killed by its pid). The step returns None,
    which broker.json documents as "the rounds took longer than the step's bound";
    it should fail instead."""
    monkeypatch.setattr(broker_bench, "STEP_S", 3.0)
    stack = DevStack(tmp_path, topic_partitions=PARTITIONS)
    bootstrap = await stack.start_broker()
    consumer = None
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(FETCH_TOPIC, PARTITIONS, 1)])
        finally:
            await admin.close()
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=0
        )
        await producer.start()
        try:
            await fill_to(producer, 3)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=1
        )
        await consumer.start()
        consumer.assign([TopicPartition(FETCH_TOPIC, n) for n in range(PARTITIONS)])
        broker = Broker(stack.broker_pid)
        # alive, the step measures
        assert await fetch_behind_ms(broker, consumer) is not None

        real_end_offsets = consumer.end_offsets

        async def end_offsets_then_the_broker_dies(tps):
            ends = await real_end_offsets(tps)
            assert stack.broker is not None
            stack.broker.kill()
            stack.broker.wait()
            return ends

        monkeypatch.setattr(consumer, "end_offsets", end_offsets_then_the_broker_dies)
        try:
            figure = await fetch_behind_ms(broker, consumer)
        except Exception:  # what the bench should do: fail
            return
        assert figure is not None, "a dead broker's step gave None, not an error"
    finally:
        if consumer is not None:
            try:
                await consumer.stop()
            except BaseException as exc:
                # seen: CancelledError() (see the module's docstring)
                print(f"consumer.stop() after the broker died: {exc!r}")
        stack.stop()


def test_atk9_the_broker_cpu_is_read_finer_than_a_clock_tick():
    """Mended finding (low, honest figures): the broker's CPU was read from /proc in
    clock ticks (10 ms here), as coarse as a whole figure of 400 requests. It is now
    the sum of the threads' schedstat run times: 3 ms of this thread's CPU reads as
    about 3 ms, where ticks read 0 or 10."""
    broker = Broker(os.getpid())
    before = broker.cpu_s()
    start = time.thread_time()
    while time.thread_time() - start < 0.003:
        pass
    spent = broker.cpu_s() - before
    assert 0.002 < spent < 0.009, spent
