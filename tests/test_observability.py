"""Metrics, structured logs with the request id."""

import json
import logging

from prometheus_client import generate_latest

from certseal.logs import REQUEST_ID, JsonFormatter
from tests.conftest import issue_request


async def test_rpc_and_outbox_metrics(issuer, dept):
    await dept.clients.issuer.IssueLicence(issue_request(dept))
    text = generate_latest(issuer.metrics.registry).decode()
    assert 'certseal_rpc_requests_total{code="OK",method="IssueLicence"}' in text
    assert "certseal_rpc_latency_seconds_bucket" in text
    for name in (
        "certseal_outbox_backlog",
        "certseal_outbox_relay_lag_seconds",
        "certseal_outbox_commit_to_publish_seconds_count",
        "certseal_audit_sealed_rows_total",
    ):
        assert name in text


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
