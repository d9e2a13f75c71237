"""atk13: attacks on the gathered usage records (services/verifier/gathering.py).

Each test was a finding (xfail strict until fixed; all fixed): the uses of a request
that is answered must reach the producer within the linger, a graceful stop must
publish them, and requests must not wait for room that never comes. The records go
to the recording producer of tests/verifier/test_gathering.py (the gatherer's own
logic, as there)."""

from __future__ import annotations

import asyncio

from certseal.events import uses_of
from services.verifier.access import Acting
from services.verifier.gathering import UsageGatherer
from tests.verifier.test_gathering import COUNTER, Producer, at
from tests.verifier.test_replay import use


def published(producer: Producer) -> list[str]:
    return [u.identifier for e in producer.events() for u in uses_of(e)]


async def turns(n: int = 10) -> None:
    """Let the loop run ``n`` turns (the gatherer's sender and timer callbacks)."""
    for _ in range(n):
        await asyncio.sleep(0)


async def _a_record_in_flight_and_one_ready(
    producer: Producer, gathered: UsageGatherer
) -> None:
    """Two purposes' records end their window; the first is being sent (the producer
    holds it: a broker slow or away), the second waits behind it."""
    await gathered.add([use(1)], carried=450, purpose="p", acting=COUNTER, now=at(0))
    await gathered.add([use(2)], carried=450, purpose="q", acting=COUNTER, now=at(0))
    await turns()  # window_s=0: the window ends, the sender takes "p"
    assert producer.sent == [] and gathered.waiting == 2


async def test_atk13_uses_gathered_while_a_record_waits_to_be_sent_are_published():
    gate = asyncio.Event()
    producer = Producer(gate)
    gathered = UsageGatherer(group="g", producer=lambda: producer, window_s=0)
    await _a_record_in_flight_and_one_ready(producer, gathered)
    # a request of a third purpose, answered OK while "q" is still ready
    await gathered.add([use(3)], carried=450, purpose="r", acting=COUNTER, now=at(5))
    gate.set()  # the broker is back
    await turns(50)  # far more than the linger of 0 ("the loop's next turn")
    # the worker is stopped gracefully (Faust's on_before_shutdown, then stop_clients)
    async with asyncio.timeout(5):
        await gathered.stop()
    assert sorted(published(producer)) == sorted(use(n).identifier for n in (1, 2, 3))
    assert gathered.waiting == 0


async def test_atk13_a_slow_send_does_not_make_later_requests_wait_for_ever():
    gate = asyncio.Event()
    producer = Producer(gate)
    gathered = UsageGatherer(
        group="g", producer=lambda: producer, window_s=0, max_waiting=4
    )
    await _a_record_in_flight_and_one_ready(producer, gathered)
    # while the producer holds "p", a batch of another purpose is answered (room:
    # 2 of 4 waiting), taking the waiting uses past the bound
    await gathered.add(
        [use(3), use(4), use(5), use(6)],
        carried=1800,
        purpose="r",
        acting=COUNTER,
        now=at(5),
    )
    gate.set()  # the broker is back: "p" and "q" go
    await turns(50)
    # a later request must be answered: its uses go out within the linger
    async with asyncio.timeout(5):
        await gathered.add(
            [use(7)], carried=450, purpose="r", acting=COUNTER, now=at(9)
        )
        await gathered.stop()
    assert len(published(producer)) == 7


class StoppingProducer(Producer):
    """Faust's producer: once the app stopped it, a send raises NotReady."""

    def __init__(self):
        super().__init__()
        self.stopped = False

    async def send(self, *args):
        if self.stopped:
            raise RuntimeError("NotReady: Producer service not yet started")
        await super().send(*args)


async def test_atk13_a_use_answered_after_the_stop_flush_is_published_or_refused():
    producer = StoppingProducer()
    gathered = UsageGatherer(group="g", producer=lambda: producer, window_s=0.2)
    await gathered.add([use(1)], carried=450, purpose="p", acting=COUNTER, now=at(0))
    await gathered.stop()  # Faust's on_before_shutdown (publish_gathered_usage)
    assert published(producer) == [use(1).identifier]
    # the gRPC server still serves: a request is verified and its uses gathered
    try:
        await gathered.add(
            [use(2)], carried=450, purpose="p", acting=COUNTER, now=at(1)
        )
    except Exception:
        refused = True  # the request fails: its caller knows the use is not recorded
    else:
        refused = False
    # Faust flushes and stops its producer; then the gRPC service's stop_clients
    producer.stopped = True
    await gathered.stop()
    assert refused or published(producer) == [use(n).identifier for n in (1, 2)]


class OnePartitionAway(Producer):
    """A producer whose sends for one key wait (its partition's leader is away, or its
    batch is full: aiokafka's add_message waits for the batch to drain) while every
    other key's are taken at once."""

    def __init__(self, away: bytes):
        super().__init__()
        self.away = away
        self.back = asyncio.Event()

    async def send(self, topic, key, value, partition, timestamp, headers):
        if key == self.away:
            await self.back.wait()
        self.sent.append((topic, key, value, dict(headers)))


async def test_atk13_a_partition_that_takes_nothing_holds_no_other_partitions_records():
    producer = OnePartitionAway(away=use(1).lineage.encode())
    gathered = UsageGatherer(group="g", producer=lambda: producer, window_s=0)
    other = Acting("dept:11440300VERIFIERS2", "11440300VERIFIERS2")
    await gathered.add([use(1)], carried=450, purpose="p", acting=COUNTER, now=at(0))
    await gathered.add([use(2)], carried=450, purpose="p", acting=other, now=at(0))
    await turns(50)
    try:
        assert published(producer) == [use(2).identifier]
    finally:
        producer.back.set()
        async with asyncio.timeout(5):
            await gathered.stop()


async def test_atk13_gathered_scans_are_uses_as_docs_events_md_says():
    """atk13 found docs/events.md promising 'every scan at a counter' the one-use form
    that a consumer built before ``uses`` reads. Gathered scans are a record of several
    uses, like a batch: the docs now say so, and that such a consumer must be rebuilt
    (as it already had to be for batches); the reading rule reads every scan."""
    producer = Producer()
    gathered = UsageGatherer(group="g", producer=lambda: producer, window_s=60)
    for n in (1, 2):  # two scans (VerifyCode), one code each
        await gathered.add(
            [use(n)], carried=450, purpose="p", acting=COUNTER, now=at(n)
        )
    await gathered.stop()
    (event,) = producer.events()
    assert event.identifier == "" and len(event.uses) == 2
    assert [u.identifier for u in uses_of(event)] == [
        use(1).identifier,
        use(2).identifier,
    ]
