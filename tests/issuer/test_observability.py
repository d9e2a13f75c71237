"""Metrics, structured logs with the request id."""

import asyncio
import json
import logging
import time

from prometheus_client import generate_latest

from certseal.logs import REQUEST_ID, JsonFormatter
from tests.conftest import SERVICE_PROCESSES, issue_request


async def test_rpc_and_outbox_metrics(issuer, seal_app, dept):
    """Each figure moves by what one IssueLicence does (names alone exist from start).

    The RPC figures are the issuer's. One relay and one audit sealer lead across every
    PostgreSQL-backed process of the session (the issuer, the seal service, and the
    log or an event feed when a test made one), so their figures are summed over all
    of them: whichever leads publishes the issuer's event.
    """
    registry = issuer.metrics.registry
    relays = [process.metrics.registry for process in list(SERVICE_PROCESSES)]
    assert issuer in SERVICE_PROCESSES and seal_app in SERVICE_PROCESSES

    def value(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    def led(name: str) -> float:
        return sum(r.get_sample_value(name, {}) or 0.0 for r in relays)

    def figures() -> dict[str, float]:
        return {
            "requests": value(
                "certseal_rpc_requests_total", code="OK", method="IssueLicence"
            ),
            "latencies": value(
                "certseal_rpc_latency_seconds_count", method="IssueLicence"
            ),
            "published": led("certseal_outbox_published_events_total"),
            "observed": led("certseal_outbox_commit_to_publish_seconds_count"),
            "sealed": led("certseal_audit_sealed_rows_total"),
        }

    before = figures()
    await dept.clients.issuer.IssueLicence(issue_request(dept))
    after = figures()
    assert after["requests"] - before["requests"] == 1
    assert after["latencies"] - before["latencies"] == 1
    deadline = time.monotonic() + 30
    while (
        after["published"] == before["published"] or after["sealed"] == before["sealed"]
    ):
        assert time.monotonic() < deadline, ("the relay or the sealer never ran", after)
        await asyncio.sleep(0.05)
        after = figures()
    # every published event had its commit-to-publish time observed, once
    assert (
        after["observed"] - before["observed"]
        == after["published"] - before["published"]
    )
    text = generate_latest(registry).decode()
    assert 'certseal_rpc_requests_total{code="OK",method="IssueLicence"}' in text


def test_json_logs_carry_the_request_id():
    token = REQUEST_ID.set("req-42")
    try:
        record = logging.LogRecord(
            "certseal", logging.INFO, __file__, 1, "issued %s", ("x",), None
        )
        entry = json.loads(JsonFormatter().format(record))
    finally:
        REQUEST_ID.reset(token)
    assert entry["request_id"] == "req-42" and entry["msg"] == "issued x"
    assert entry["level"] == "info"
