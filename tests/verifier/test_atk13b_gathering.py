"""atk13b: the gatherer's retry of a transient send error never fires with the
producer the verifier really uses (``state.app.producer``, Faust's aiokafka driver).

Faust's ``Producer.send`` catches every aiokafka ``KafkaError`` and raises
``faust.exceptions.ProducerSendError`` from it: neither a ``KafkaTimeoutError`` nor
``retriable``, so ``gathering._transient`` says False and the record's uses are dropped
(one ERROR line) at the first ``KafkaTimeoutError`` (metadata not available within
``request_timeout_ms``, or no room in the partition's batch: a broker away). The
existing test (tests/verifier/test_gathering.py) raises aiokafka's error directly, which
the real producer never lets through. Faust's own ``send`` runs here; only the aiokafka
producer under it is replaced by one whose first two sends time out, as aiokafka's
does while the broker is away."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

from aiokafka.errors import KafkaTimeoutError
from faust.transport.drivers.aiokafka import Producer as FaustProducer

from certseal.events import uses_of
from certseal.metrics import Metrics
from certseal.v1 import events_pb2
from services.verifier.gathering import UsageGatherer
from services.verifier.metrics import usage_counters
from tests.verifier.test_gathering import COUNTER, at, sample
from tests.verifier.test_replay import use


class AwayAiokafka:
    """aiokafka's producer while the broker is away: ``away`` sends time out."""

    def __init__(self, away: int):
        self.away = away
        self.sent: list[bytes] = []

    async def send(self, topic, value, **_kwargs):
        if self.away:
            self.away -= 1
            raise KafkaTimeoutError()
        self.sent.append(value)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class ThroughFaust:
    """The verifier's producer: Faust's aiokafka driver ``Producer.send`` itself."""

    def __init__(self, inner: AwayAiokafka):
        self._state = SimpleNamespace(
            _ensure_producer=lambda: inner,
            _send_on_produce_message=lambda **_: None,
            allow_headers=True,
            _transaction_producers={},
            _trn_locks={},
        )

    async def send(self, topic, key, value, partition, timestamp, headers):
        return await FaustProducer.send(
            self._state, topic, key, value, partition, timestamp, headers
        )


async def test_a_broker_away_behind_fausts_producer_is_retried_not_lost(caplog):
    inner = AwayAiokafka(away=2)
    gathered = UsageGatherer(
        group="g", producer=lambda: ThroughFaust(inner), window_s=0, retry_s=(0, 0)
    )
    await gathered.add([use(1)], carried=450, purpose="p", acting=COUNTER, now=at(0))
    with caplog.at_level(logging.WARNING, logger="services.verifier.gathering"):
        for _ in range(20):  # the send task's turns (as test_gathering.py)
            await asyncio.sleep(0)
    events = [events_pb2.LicenceUsedEvent.FromString(v) for v in inner.sent]
    assert [len(uses_of(e)) for e in events] == [1], caplog.text
    assert gathered.waiting == 0
    assert "was not published" not in caplog.text


class ExpiringAiokafka:
    """aiokafka's producer while the broker stays away past ``request_timeout_ms``
    (Faust's producer_request_timeout, 1200 s): ``send`` takes the record into a
    batch and returns its delivery future, which the batch's expiry fails later."""

    def __init__(self):
        self.futures: list[asyncio.Future] = []

    async def send(self, topic, value, **_kwargs):
        delivered = asyncio.get_running_loop().create_future()
        self.futures.append(delivered)
        return delivered

    def expire(self) -> None:
        for delivered in self.futures:
            delivered.set_exception(KafkaTimeoutError("batch expired"))


async def test_uses_whose_delivery_fails_are_not_lost_silently(caplog):
    """The module's promise: 'a use that cannot be sent is logged at ERROR (never
    silently)', retried while the error is transient. ``await producer.send(...)``
    only puts the record into aiokafka's batch; its delivery is the future returned,
    which the gatherer never awaits: a batch that expires (KafkaTimeoutError, a
    transient error) loses its uses, and the gatherer counts them sent."""
    inner = ExpiringAiokafka()
    metrics = Metrics(families=frozenset())
    gathered = UsageGatherer(
        group="g",
        producer=lambda: ThroughFaust(inner),
        window_s=0,
        retry_s=(0, 0),
        counters=usage_counters(metrics),
    )
    await gathered.add([use(1)], carried=450, purpose="p", acting=COUNTER, now=at(0))
    with caplog.at_level(logging.WARNING, logger="services.verifier.gathering"):
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(inner.futures) == 1
        inner.expire()
        for _ in range(20):
            await asyncio.sleep(0)
    try:  # either sent again (a second delivery) or named at ERROR as not published
        assert len(inner.futures) == 2 or "was not delivered" in caplog.text
        # this worker's choice: logged and counted, not sent again
        assert (
            sample(metrics, "certseal_verifier_usage_unpublished_total", **NOT_D) == 1
        )
    finally:  # the futures nobody retrieved: no 'never retrieved' noise at exit
        for delivered in inner.futures:
            if delivered.done():
                delivered.exception()


NOT_D = {"reason": "not_delivered"}


class OnePartitionBatch:
    """aiokafka's accumulator for one partition (MessageAccumulator.add_message): a
    record that does not fit the partition's open batch waits until the sender drains
    it; one that fits goes in at once. ``room`` bytes are left in the open batch (the
    rest taken by records the worker's other senders put there)."""

    def __init__(self, room: int):
        self.room = room
        self.batch: list[bytes] = []
        self.partition: list[bytes] = []  # what the broker has, in offset order
        self._drained = asyncio.Event()

    async def send(self, topic, value, **_kwargs):
        while len(value) > self.room:
            await self._drained.wait()
        self.batch.append(value)
        self.room -= len(value)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def drain(self) -> None:
        self.partition += self.batch
        self.batch, self.room = [], 10**9
        self._drained.set()


async def test_two_records_of_one_lineage_reach_their_partition_in_order():
    """Both records are keyed by the lineage of their first use, so both go to one
    partition; before eb112bf one sender sent them one after another. Now each has a
    task: the first, too large for what is left of the partition's open batch, waits
    for the drain while the second, smaller, goes into that batch, so the partition
    holds the later verification first. A reader relying on that order: the sentinel
    of tests/e2e/test_verifier_hostile.py (once it arrives, everything published
    before it on its lineage has); a webhook gets the lineage's later record first."""
    sizes = []
    for n in (3, 1):  # the two records' sizes, measured with the same gatherer
        probe = OnePartitionBatch(room=10**9)
        once = UsageGatherer(
            group="g", producer=lambda p=probe: ThroughFaust(p), window_s=0
        )
        uses = [use(1), *(use(i) for i in range(2, n + 1))]
        await once.add(uses, carried=450 * n, purpose="p", acting=COUNTER, now=at(0))
        await once.stop()
        sizes.append(len(probe.batch[0]))
    big, small = sizes
    assert small + 16 < big
    batch = OnePartitionBatch(room=small + 16)  # at(1) adds its nanos: a few bytes
    gathered = UsageGatherer(
        group="g", producer=lambda: ThroughFaust(batch), window_s=0
    )
    three = [use(1), use(2), use(3)]
    await gathered.add(three, carried=1350, purpose="p", acting=COUNTER, now=at(0))
    for _ in range(10):  # its window ends, its task waits for room
        await asyncio.sleep(0)
    await gathered.add([use(1)], carried=450, purpose="p", acting=COUNTER, now=at(1))
    for _ in range(10):
        await asyncio.sleep(0)
    batch.drain()
    for _ in range(10):
        await asyncio.sleep(0)
    batch.drain()
    await gathered.stop()
    events = [events_pb2.LicenceUsedEvent.FromString(v) for v in batch.partition]
    assert [len(uses_of(e)) for e in events] == [3, 1]
