"""Plain codes' uses gathered into fewer usage records (services/verifier/gathering.py):
what one record holds, its time and each later use's own, its bound, what goes apart,
and what a failing or blocked producer does. The records go to a recording producer
here (the gatherer's own logic); tests/e2e/test_usage_gathered.py reads them back
from the real broker."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import pytest
from aiokafka.errors import KafkaTimeoutError

from certseal.errors import CertsealError, ErrorKind
from certseal.events import use_time, uses_of
from certseal.metrics import Metrics
from certseal.timestamps import ts
from certseal.v1 import events_pb2
from services.verifier.access import Acting
from services.verifier.events import NONCES_HEADER, usage_bound
from services.verifier.gathering import UsageGatherer
from services.verifier.metrics import usage_counters
from tests.verifier.test_replay import T0, use

COUNTER = Acting("dept:11440300VERIFIERS1", "11440300VERIFIERS1")


class Producer:
    """Records what is sent; ``gate`` (when given) holds every send until it is set;
    ``fail`` makes the next sends raise ``error``."""

    def __init__(self, gate: asyncio.Event | None = None):
        self.sent: list[tuple] = []
        self.gate = gate
        self.fail = 0
        self.error: Exception = RuntimeError("the record is refused")

    async def send(self, topic, key, value, partition, timestamp, headers):
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            self.fail -= 1
            raise self.error
        self.sent.append((topic, key, value, dict(headers)))

    def events(self) -> list[events_pb2.LicenceUsedEvent]:
        return [events_pb2.LicenceUsedEvent.FromString(s[2]) for s in self.sent]


def gatherer(producer: Producer, **kwargs) -> UsageGatherer:
    return UsageGatherer(group="g", producer=lambda: producer, window_s=60, **kwargs)


def at(ms: int) -> dt.datetime:
    return T0 + dt.timedelta(milliseconds=ms)


async def test_one_counters_requests_in_the_window_are_one_record_each_use_timed():
    producer = Producer()
    gathered = gatherer(producer)
    await gathered.add(
        [use(1), use(2)], carried=900, purpose="p", acting=COUNTER, now=at(0)
    )
    await gathered.add([use(3)], carried=450, purpose="p", acting=COUNTER, now=at(40))
    await gathered.add([use(4)], carried=450, purpose="p", acting=COUNTER, now=at(0))
    assert producer.sent == [] and gathered.waiting == 4  # the window is still open
    await gathered.stop()
    (event,) = producer.events()
    uses = uses_of(event)
    assert [u.identifier for u in uses] == [use(n).identifier for n in (1, 2, 3, 4)]
    assert event.occurred_at == ts(at(0)) and event.counter == COUNTER.counter
    # the first request's uses (and a later one of the same instant) carry no time of
    # their own; the one of 40 ms later does
    assert [u.HasField("occurred_at") for u in uses] == [False, False, True, False]
    assert [use_time(event, u) for u in uses] == [ts(at(t)) for t in (0, 0, 40, 0)]
    assert producer.sent[0][3][NONCES_HEADER] == b"0"
    assert gathered.waiting == 0


async def test_another_purpose_clerk_or_caller_is_another_record():
    producer = Producer()
    gathered = gatherer(producer)
    console = Acting(
        COUNTER.counter, COUNTER.department, clerk="c1", via="service:console"
    )
    other_clerk = Acting(
        COUNTER.counter, COUNTER.department, clerk="c2", via="service:console"
    )
    for n, (purpose, acting) in enumerate(
        [
            ("p", COUNTER),
            ("q", COUNTER),
            ("p", console),
            ("p", other_clerk),
            ("p", COUNTER),
        ]
    ):
        await gathered.add(
            [use(n)], carried=450, purpose=purpose, acting=acting, now=at(n)
        )
    await gathered.stop()
    got = sorted(
        (e.purpose, e.clerk, e.via, [u.identifier for u in uses_of(e)])
        for e in producer.events()
    )
    assert got == sorted(
        [
            ("p", "", "", [use(0).identifier, use(4).identifier]),
            ("q", "", "", [use(1).identifier]),
            ("p", "c1", "service:console", [use(2).identifier]),
            ("p", "c2", "service:console", [use(3).identifier]),
        ]
    )
    # a record of one use reads as it always did: the singular fields
    single = next(e for e in producer.events() if e.purpose == "q")
    assert single.identifier == use(1).identifier and not single.uses


async def test_a_record_holds_at_most_max_uses_and_never_splits_a_request():
    producer = Producer()
    gathered = gatherer(producer, max_uses=3)
    await gathered.add(
        [use(1), use(2)], carried=900, purpose="p", acting=COUNTER, now=at(0)
    )
    await gathered.add(
        [use(3), use(4)], carried=900, purpose="p", acting=COUNTER, now=at(1)
    )
    await asyncio.sleep(0)  # the full record goes without waiting for the window
    await asyncio.sleep(0)
    assert [len(uses_of(e)) for e in producer.events()] == [2]
    await gathered.add(
        [use(n) for n in range(5, 10)],
        carried=2250,
        purpose="p",
        acting=COUNTER,
        now=at(2),
    )
    await gathered.stop()
    assert [len(uses_of(e)) for e in producer.events()] == [2, 2, 5]
    later = producer.events()[1]
    assert later.occurred_at == ts(at(1)) and not later.uses[0].HasField("occurred_at")


async def test_a_gathered_record_is_within_the_sum_of_its_requests_bounds():
    producer = Producer()
    gathered = gatherer(producer)
    carried = [430, 431, 432]
    for n, size in enumerate(carried):
        await gathered.add(
            [use(n)], carried=size, purpose="p", acting=COUNTER, now=at(n)
        )
    await gathered.stop()
    ((_topic, key, value, headers),) = producer.sent
    size = len(key) + len(value) + sum(len(k) + len(v) for k, v in headers.items())
    assert size <= sum(usage_bound(c) for c in carried)
    # and smaller than the three records it replaces
    assert size < sum(usage_bound(c) for c in carried) - 2 * 1024


async def test_a_window_of_zero_sends_at_the_loops_next_turn():
    producer = Producer()
    gathered = UsageGatherer(group="g", producer=lambda: producer, window_s=0)
    await gathered.add([use(1)], carried=450, purpose="p", acting=COUNTER, now=at(0))
    await gathered.add([use(2)], carried=450, purpose="p", acting=COUNTER, now=at(0))
    for _ in range(3):
        await asyncio.sleep(0)
    assert [len(uses_of(e)) for e in producer.events()] == [2]


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def test_a_send_that_fails_is_logged_counted_and_the_next_records_still_go(
    caplog,
):
    metrics = Metrics(families=frozenset())
    producer = Producer()
    producer.fail = 1
    gathered = gatherer(producer, counters=usage_counters(metrics))
    await gathered.add(
        [use(1), use(3)], carried=900, purpose="p", acting=COUNTER, now=at(0)
    )
    await gathered.add([use(2)], carried=450, purpose="q", acting=COUNTER, now=at(0))
    assert sample(metrics, "certseal_verifier_usage_waiting") == 3
    with caplog.at_level(logging.ERROR, logger="services.verifier.gathering"):
        await gathered.stop()
    assert [e.purpose for e in producer.events()] == ["q"]
    assert "a usage record of 2 uses was not published" in caplog.text
    assert gathered.waiting == 0
    assert sample(metrics, "certseal_verifier_usage_waiting") == 0
    unpublished = "certseal_verifier_usage_unpublished_total"
    assert sample(metrics, unpublished, reason="not_sent") == 2
    assert sample(metrics, unpublished, reason="not_delivered") == 0  # a series at 0


async def test_a_producer_that_takes_nothing_makes_requests_wait_for_room():
    gate = asyncio.Event()
    producer = Producer(gate)
    gathered = UsageGatherer(
        group="g", producer=lambda: producer, window_s=0, max_waiting=2
    )
    await gathered.add(
        [use(1), use(2)], carried=900, purpose="p", acting=COUNTER, now=at(0)
    )
    third = asyncio.create_task(
        gathered.add([use(3)], carried=450, purpose="p", acting=COUNTER, now=at(1))
    )
    for _ in range(5):
        await asyncio.sleep(0)
    assert not third.done() and gathered.waiting == 2  # bounded: the third waits
    gate.set()
    async with asyncio.timeout(5):
        await third
    await gathered.stop()
    assert [len(uses_of(e)) for e in producer.events()] == [2, 1]


async def test_a_transient_send_error_is_retried_holding_the_uses(caplog):
    producer = Producer()
    producer.fail, producer.error = 3, KafkaTimeoutError()  # a broker away a while
    gathered = UsageGatherer(
        group="g", producer=lambda: producer, window_s=0, retry_s=(0.0, 0.0)
    )
    await gathered.add([use(1)], carried=450, purpose="p", acting=COUNTER, now=at(0))
    with caplog.at_level(logging.WARNING, logger="services.verifier.gathering"):
        for _ in range(20):
            await asyncio.sleep(0)
    assert [e.purpose for e in producer.events()] == ["p"] and gathered.waiting == 0
    assert caplog.text.count("not sent yet") == 3


async def test_uses_after_the_stop_are_refused_unavailable():
    """Faust stops its producer after on_before_shutdown (the stop) and before the
    gRPC server stops: a request verified meanwhile is refused, never answered with a
    use nobody publishes; one waiting for room is refused too."""
    producer = Producer(asyncio.Event())  # takes nothing: the uses stay waiting
    gathered = UsageGatherer(
        group="g", producer=lambda: producer, window_s=0, max_waiting=1
    )
    await gathered.add([use(1)], carried=450, purpose="p", acting=COUNTER, now=at(0))
    waiting = asyncio.create_task(
        gathered.add([use(2)], carried=450, purpose="p", acting=COUNTER, now=at(1))
    )
    await asyncio.sleep(0)
    stop = asyncio.create_task(gathered.stop())
    with pytest.raises(CertsealError) as refused:
        await waiting
    assert refused.value.kind is ErrorKind.UNAVAILABLE
    with pytest.raises(CertsealError):
        await gathered.add(
            [use(3)], carried=450, purpose="p", acting=COUNTER, now=at(2)
        )
    producer.gate.set()
    await stop
    assert [len(uses_of(e)) for e in producer.events()] == [1]


@pytest.mark.parametrize("window_s", [-1.0, 0.0])
async def test_a_stop_with_nothing_gathered_sends_nothing(window_s):
    producer = Producer()
    gathered = UsageGatherer(group="g", producer=lambda: producer, window_s=window_s)
    await gathered.stop()
    assert producer.sent == []
