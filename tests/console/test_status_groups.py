"""A verifier group the console cannot reach (new user nu22, H1): its lag is not
known, it keeps its name, and its chart stays its own. Before, the operator page and
``/api/status`` said "lag 0, 0.0 s" under the group's address for a group frozen for
20 s, and the outage's samples went to another chart key, unmarked once it came back."""

from __future__ import annotations

import datetime as dt

import grpc

from certseal.devstack import free_port
from services.console.domain import GroupStatus, History, PartitionLag
from services.console.status import group_status

NOW = dt.datetime(2026, 12, 3, 13, 0, tzinfo=dt.UTC)


async def test_a_group_that_does_not_answer_has_no_known_lag():
    target = f"127.0.0.1:{free_port()}"  # nobody listens there
    async with grpc.aio.insecure_channel(target) as channel:
        status = await group_status(target, channel)
    assert status.error and not status.serving
    assert status.lag_unknown and status.lag_or_none is None
    shown = status.to_json(NOW)
    assert shown["lag_unknown"] is True
    assert shown["lag_seconds"] is None  # not "0.0 s behind"


def test_a_group_that_stops_answering_keeps_its_name_and_its_chart():
    answered = GroupStatus(
        target="127.0.0.1:50055",
        group="region-demo",
        serving=True,
        partitions=(PartitionLag("t", 0, 9, 10, 0),),
        last_event_time=NOW - dt.timedelta(seconds=12),
    )
    failed = GroupStatus(
        target="127.0.0.1:50055",
        group="",
        serving=False,
        error="DEADLINE_EXCEEDED: Deadline Exceeded",
        lag_unknown=True,
    )
    shown = failed.known_as(answered)
    assert shown.group == "region-demo" and shown.error
    assert shown.lag_seconds(NOW) == 12.0  # the age of its last known event
    assert answered.known_as(None) is answered  # an answer is shown as it is
    assert failed.known_as(None) is failed  # never answered: its address
    history = History(3)
    for status in (answered, shown, answered):
        history.add(NOW, [status], [], {})
    assert [s["lag"] for s in history.samples] == [
        {"region-demo": 0},
        {"region-demo": None},  # the band, on the group's own chart
        {"region-demo": 0},
    ]


def test_a_metrics_source_is_name_and_an_http_url():
    """nu22 M5: 'issuer=127.0.0.1:9464' was taken and its outbox shown down with the
    address alone as the reason; a malformed URL must not be a traceback."""
    import pytest

    from certseal.errors import CertsealError
    from services.console.app import metrics_sources
    from services.console.config import ConsoleConfig

    good = "issuer=http://127.0.0.1:9464/metrics"
    assert metrics_sources(ConsoleConfig(metrics_sources=[good])) == [
        ("issuer", "http://127.0.0.1:9464/metrics")
    ]
    for bad in (
        "issuer=127.0.0.1:9464",
        "a=http://[x",
        "a=http://h:99999/",
        "=http://h/",
    ):
        with pytest.raises(CertsealError) as caught:
            metrics_sources(ConsoleConfig(metrics_sources=[bad]))
        assert caught.value.field == "console.metrics_sources"
