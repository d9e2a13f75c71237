"""``certseal_outbox_relay_leading`` is a relay's own word (atk54): an issuer with
``[issuer] workers`` > 0 runs its relay in a process of its own, and the supervisor,
whose ``/metrics`` the console's issuer card reads (``[console] metrics_sources``),
said 0, "备用 standing by", while that relay process led. A process that runs no
relay now says nothing (the card shows "—"); its relay process says 1 or 0."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from services.config import Config
from services.console.domain import outbox_status
from services.issuer.app import IssuerApp

LEADING = "certseal_outbox_relay_leading"


@pytest.mark.parametrize(
    "roles,says",
    [
        ({}, True),  # workers = 0: one process runs everything, the relay too
        ({"serve": False, "relay": True}, True),  # the relay process
        ({"serve": False, "relay": False}, False),  # the supervisor
        ({"background": False, "relay": False}, False),  # a serving process
    ],
)
def test_only_a_process_running_the_relay_says_whether_it_leads(roles, says):
    app = IssuerApp(Config(), **roles)
    text = generate_latest(app.metrics.registry).decode()
    assert (f"{LEADING} 0.0" in text) is says, text
    assert "certseal_outbox_backlog" in text  # the outbox figures are still told
    status = outbox_status("issuer", "http://127.0.0.1:9464/metrics", text)
    assert status.leading is (False if says else None)
