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

import pytest
from aiokafka.errors import KafkaTimeoutError
from faust.transport.drivers.aiokafka import Producer as FaustProducer

from certseal.events import uses_of
from certseal.v1 import events_pb2
from services.verifier.gathering import UsageGatherer
from tests.verifier.test_gathering import COUNTER, at
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


@pytest.mark.xfail(
    strict=True,
    reason="atk13b: Faust wraps KafkaTimeoutError in ProducerSendError, which "
    "gathering._transient does not retry: the gathered uses are dropped",
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
