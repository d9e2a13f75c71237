"""atk14: what a verifier worker's usage metrics and its health say around a stop,
read as an SRE relies on them (services/verifier/gathering.py ``UsageCounters``,
metrics.py ``usage_counters``, server.py ``GrpcService.stopping``, the alert
``CertsealUsageUnpublished`` in deploy/k8s/base/monitoring.yaml and its runbook in
docs/operations.md). The worker's own objects and mode's Signal, as main() wires
them; the producer is the recording one of tests/verifier/test_gathering.py.

Each test was a finding (xfail strict until fixed); each now passes."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiokafka.errors import KafkaTimeoutError
from grpc_health.v1 import health_pb2
from mode import Signal

from certseal.errors import CertsealError, ErrorKind
from certseal.metrics import Metrics
from services.verifier import gathering
from services.verifier.access import Acting
from services.verifier.claims import UsagePublisher
from services.verifier.gathering import MAX_GATHERED_USES, UsageGatherer
from services.verifier.metrics import usage_counters
from services.verifier.server import GrpcService
from services.verifier.service import VerifierService
from tests.verifier.test_gathering import COUNTER, Producer, at
from tests.verifier.test_replay import use

ROOT = Path(__file__).resolve().parents[2]
WAITING = "certseal_verifier_usage_waiting"
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def alert_expression() -> str:
    text = (ROOT / "deploy/k8s/base/monitoring.yaml").read_text()
    (expr,) = re.findall(r"- alert: CertsealUsageUnpublished\n\s+expr: '([^']+)'", text)
    return expr


def waiting_threshold() -> int:
    (threshold,) = re.findall(
        r"max by \(pod\) \(certseal_verifier_usage_waiting\) > (\d+)",
        alert_expression(),
    )
    return int(threshold)


async def turns(n: int = 20) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def _status(service: GrpcService) -> int:
    reply = await service.health.servicer.Check(health_pb2.HealthCheckRequest(), None)
    return reply.status


class _Servicer:
    """What GrpcService.stopping asks of the Verifier servicer."""

    def __init__(self, service: VerifierService):
        self._service = service

    async def publish_gathered_usage(self) -> None:
        await self._service.publish_gathered_usage()


async def _one_wiring() -> tuple[bool, int]:
    """One worker's stop as main() wires it: GrpcService.stopping is Faust's
    on_before_shutdown receiver (health, then the usage flush). The broker is slow
    (the producer holds the flush's send): a request verified meanwhile; whether it
    was refused, and the health then."""
    gate = asyncio.Event()
    producer = Producer(gate)
    service = object.__new__(VerifierService)  # only its usage publisher stops here
    service._usage = UsagePublisher(
        group="g", claims=None, producer=lambda: producer, window_s=60
    )
    grpc_service = GrpcService(
        config=None, servicer=_Servicer(service), freshness=None, metrics=Metrics()
    )
    await grpc_service.health.set_serving(True)
    on_before_shutdown = Signal().with_default_sender(object())  # faust.App's
    on_before_shutdown.connect(grpc_service.stopping)
    await service._usage.publish(
        [use(1)],
        set(),
        sizes=[400],
        carried=450,
        purpose="p",
        acting=COUNTER,
        now=at(0),
    )
    stop = asyncio.create_task(on_before_shutdown.send())  # Faust's App.on_stop
    await turns()
    try:
        await service._usage.publish(
            [use(2)],
            set(),
            sizes=[400],
            carried=450,
            purpose="p",
            acting=COUNTER,
            now=at(5),
        )
    except CertsealError as exc:
        assert exc.kind is ErrorKind.UNAVAILABLE
        refused = True
    else:
        refused = False
    status = await _status(grpc_service)
    gate.set()
    async with asyncio.timeout(10):
        await stop
    return refused, status


async def test_atk14_health_is_not_serving_whenever_a_plain_code_is_refused():
    # 20 workers: in each, mode's Signal calls the two receivers in its set's order
    # (by the bound methods' hashes), not in the order they were connected
    outcomes = [await _one_wiring() for _ in range(20)]
    assert [status for refused, status in outcomes if refused] == [
        NOT_SERVING for refused, _ in outcomes if refused
    ], outcomes


class TakingProducer(Producer):
    """A producer that takes each record into its batch and delivers it later: the
    broker went away after the producer had its metadata (aiokafka keeps a batch up to
    its request timeout, Faust's producer_request_timeout: 1,200 s by default, and
    takes records until a partition's batch is full: producer_max_batch_size, 512 KiB
    for the verifier)."""

    def __init__(self):
        super().__init__()
        self.deliveries: list[asyncio.Future] = []

    async def send(self, topic, key, value, partition, timestamp, headers):
        self.sent.append((topic, key, value, dict(headers)))
        delivery = asyncio.get_running_loop().create_future()
        self.deliveries.append(delivery)
        return delivery


async def test_atk14_uses_not_yet_delivered_are_seen_while_the_broker_is_away():
    metrics = Metrics()
    producer = TakingProducer()
    gathered = UsageGatherer(
        group="g",
        producer=lambda: producer,
        window_s=0,
        counters=usage_counters(metrics),
    )
    for n in range(3):
        await gathered.add(
            [use(n)], carried=450, purpose="p", acting=COUNTER, now=at(n)
        )
        await turns()
    # the broker is away: none of the three records is delivered (nor failed)
    assert len(producer.sent) == 3 and not any(d.done() for d in producer.deliveries)
    waiting = metrics.registry.get_sample_value(WAITING)
    try:
        # docs/operations.md: "A growing usage_waiting is the broker away"; the
        # alert's only signal of a broker away before its deliveries expire
        assert waiting == 3, waiting
    finally:
        for delivery in producer.deliveries:
            delivery.set_result(None)


def oldest_threshold_s() -> float:
    (threshold,) = re.findall(
        r"max by \(pod\) \(certseal_verifier_usage_oldest_waiting_seconds\) > (\d+)",
        alert_expression(),
    )
    return float(threshold)


async def test_atk14_a_healthy_worker_at_the_longest_linger_stays_under_the_alert(
    monkeypatch,
):
    """The alert looks at how long the oldest answered use has waited, not at how
    many wait: a busy worker at the longest linger (5 s) never reaches it while the
    broker takes its records, and a broker that takes none does within the alert's
    threshold."""
    clock = [1000.0]
    monkeypatch.setattr(gathering, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    metrics = Metrics()
    producer = TakingProducer()  # takes every record; delivered when we say
    gathered = UsageGatherer(
        group="g",
        producer=lambda: producer,
        window_s=5.0,  # [verifier] usage_linger_ms = 5000, the most it allows
        counters=usage_counters(metrics),
    )
    oldest = "certseal_verifier_usage_oldest_waiting_seconds"
    threshold = oldest_threshold_s()
    # 21 clerks' 500-code batches within the linger: 10,500 uses waiting
    for clerk in range(21):
        acting = Acting(COUNTER.counter, COUNTER.department, clerk=f"clerk-{clerk}")
        uses = [use(clerk * 1000 + n) for n in range(MAX_GATHERED_USES)]
        await gathered.add(
            uses, carried=450 * len(uses), purpose="p", acting=acting, now=at(clerk)
        )
        clock[0] += 0.2
    assert gathered.waiting == 21 * MAX_GATHERED_USES
    age = metrics.registry.get_sample_value(oldest)
    assert age == pytest.approx(21 * 0.2) and age <= 5.0 < threshold
    gathered._window_ended()  # the linger ends
    await turns()
    assert len(producer.sent) == 21
    for delivery in producer.deliveries:  # the broker acknowledges them
        delivery.set_result(None)
    await turns()
    assert metrics.registry.get_sample_value(oldest) == 0 and gathered.waiting == 0
    # the broker away: a record taken and never acknowledged ages past the threshold
    await gathered.add([use(1)], carried=450, purpose="p", acting=COUNTER, now=at(99))
    gathered._window_ended()
    await turns()
    clock[0] += threshold + 1
    assert metrics.registry.get_sample_value(oldest) == threshold + 1
    producer.deliveries[-1].set_result(None)
    await gathered.stop()


async def test_atk14_a_stop_retries_a_record_in_its_backoff_at_once(monkeypatch):
    # time scaled down: the stop waits 0.5 s where it waits 5 s, a backoff is 1 s
    # where after a few transient failures it is 8 to 10 s (RETRY_S)
    monkeypatch.setattr(gathering, "STOP_WAIT_S", 0.5)
    metrics = Metrics()
    producer = Producer()
    producer.fail, producer.error = 1, KafkaTimeoutError()  # the broker was away
    gathered = UsageGatherer(
        group="g",
        producer=lambda: producer,
        window_s=0,
        counters=usage_counters(metrics),
        retry_s=(1.0, 1.0),
    )
    await gathered.add([use(1)], carried=450, purpose="p", acting=COUNTER, now=at(0))
    await turns()
    assert producer.fail == 0 and producer.sent == []  # it waits for its next try
    # the broker is back; SIGTERM: Faust's on_before_shutdown hands the gathered
    # uses to the producer before it flushes and stops it
    await gathered.stop()
    published = [e.identifier for e in producer.events()]
    for task in list(gathered._sending):  # the process ends: its loop closes
        task.cancel()
    assert published == [use(1).identifier]
