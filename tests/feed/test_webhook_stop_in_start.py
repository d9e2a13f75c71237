"""trial74: a Ctrl-C while the feed started logged "Unclosed AIOKafkaConsumer" and
"Unclosed AIOKafkaProducer" for every webhook: a delivery loop stopped (cancelled)
while its Kafka clients started left them unclosed. Both are stopped now, whether the
stop comes during their start or their start fails."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import ssl

from services.feed.signing import RetryPolicy
from services.feed.webhooks import WebhookEngine, WebhookMetrics
from tests.feed.test_webhook_retries import everything, webhook_for


async def _silent_broker() -> tuple[asyncio.Server, asyncio.Event]:
    """A TCP server that takes a connection and never answers: a start that waits."""
    reached = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reached.set()
        await reader.read()  # until the client closes
        writer.close()

    return await asyncio.start_server(hold, "127.0.0.1", 0), reached


def _unclosed(loop: asyncio.AbstractEventLoop) -> list[str]:
    """What the loop is told of clients collected unclosed, from here on."""
    said: list[str] = []
    loop.set_exception_handler(lambda _loop, context: said.append(context["message"]))
    return said


async def _delivery(stack, bootstrap: str):
    kafka = dataclasses.replace(
        stack.config.kafka.settings("test-webhook-stop"),
        bootstrap_servers=bootstrap,
        request_timeout_ms=2000,
    )
    engine = WebhookEngine(
        kafka=kafka,
        ssl_context=ssl.create_default_context(cafile=str(stack.ca.ca_file)),
        retry=RetryPolicy(),
        metrics=WebhookMetrics(),
    )
    return engine.delivery(webhook_for("x", "https://localhost:9/hook"), everything)


async def test_a_delivery_stopped_while_its_clients_start_closes_them(stack):
    server, reached = await _silent_broker()
    loop = asyncio.get_running_loop()
    said = _unclosed(loop)
    try:
        port = server.sockets[0].getsockname()[1]
        delivery = await _delivery(stack, f"127.0.0.1:{port}")
        task = asyncio.create_task(delivery.run(asyncio.Event()))
        async with asyncio.timeout(30):
            await reached.wait()  # the consumer's start is under way
        task.cancel()
        async with asyncio.timeout(30):
            await asyncio.gather(task, return_exceptions=True)
        del delivery, task
        gc.collect()
        await asyncio.sleep(0)  # the finalisers' calls to the handler
        assert not [m for m in said if "Unclosed" in m], said
    finally:
        loop.set_exception_handler(None)
        server.close()


async def test_a_delivery_whose_broker_refuses_closes_its_clients(stack):
    server, _ = await _silent_broker()
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()  # the port now refuses
    loop = asyncio.get_running_loop()
    said = _unclosed(loop)
    try:
        delivery = await _delivery(stack, f"127.0.0.1:{port}")
        async with asyncio.timeout(60):
            outcome = await asyncio.gather(
                delivery.run(asyncio.Event()), return_exceptions=True
            )
        assert isinstance(outcome[0], Exception), outcome  # the broker is away
        del delivery
        gc.collect()
        await asyncio.sleep(0)
        assert not [m for m in said if "Unclosed" in m], said
    finally:
        loop.set_exception_handler(None)
