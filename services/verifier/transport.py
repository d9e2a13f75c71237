"""Faust's aiokafka transport with a configurable consumer fetch wait.

faust-streaming builds its worker consumer with ``fetch_max_wait_ms=1500``; a fetch on
the embedded broker is not woken by new data, so that alone delays every update of the
index by up to 1.5 s. This transport (broker URL scheme ``certseal://``) sets the wait
from ``VerifierConfig.fetch_max_wait_ms`` (set on the app) instead; everything else is Faust's.
"""

from __future__ import annotations

from typing import Any

import aiokafka
from faust.transport import drivers
from faust.transport.drivers import aiokafka as faust_aiokafka

FETCH_WAIT_ATTRIBUTE = "certseal_fetch_max_wait_ms"


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Creates the worker consumer, then sets its fetch wait."""

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = getattr(self.app, FETCH_WAIT_ATTRIBUTE, 1500)
        return consumer


class Consumer(faust_aiokafka.Consumer):
    """Faust's consumer using :class:`ConsumerThread`."""

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with :class:`Consumer`."""

    Consumer = Consumer


def use_fetch_wait(app: Any, fetch_max_wait_ms: int) -> str:
    """Make ``app`` consume with this fetch wait; return the broker URL scheme to use."""
    drivers.TRANSPORTS.data["certseal"] = f"{__name__}:Transport"
    setattr(app, FETCH_WAIT_ATTRIBUTE, fetch_max_wait_ms)
    return "certseal"
