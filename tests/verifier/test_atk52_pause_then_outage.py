"""atk52: a verifier whose lag became unknown through its own pause said so (trial49
L8), and said nothing more while the broker stayed silent: an outage that came with
the pause (a paused VM and its broker, a network lost meanwhile) was logged as the
pause alone for as long as it lasted, and the troubleshooting section sends the
reader to what stopped the process, "not at Kafka". The broker still silent
``lag_unknown_after_s`` after the process ran again is now said as the broker's."""

from __future__ import annotations

import copy
import logging

import pytest

from certseal.metrics import Metrics
from certseal.pauses import PauseWatch
from services.verifier.index import Freshness
from services.verifier.server import GrpcService
from tests.verifier.test_bind_failure import SERVING, _Servicer, recovered, status


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def verifier(config):
    """A GrpcService listening, recovered and serving, its pauses watched on a clock
    the test moves (the watch's thread stopped)."""
    cfg = copy.deepcopy(config)
    cfg.verifier.listen = "127.0.0.1:0"
    cfg.verifier.metrics_listen = cfg.verifier.probe_listen = ""
    cfg.verifier.lag_unknown_after_s = 5.0
    service = GrpcService(
        config=cfg,
        servicer=_Servicer(),
        freshness=Freshness(),
        metrics=Metrics(families=frozenset({"rpc"})),
    )
    await service.on_start()
    service._pauses.stop()
    clock = _Clock()
    service._pauses = PauseWatch("verifier test", clock=clock, cpu_clock=lambda: 0.0)
    service.clock = clock  # type: ignore[attr-defined]
    await recovered(service)
    yield service
    await service.on_stop()


def _said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "services.verifier.server"
    ]


async def test_a_broker_silent_after_the_pause_is_said_as_the_brokers(verifier, caplog):
    caplog.set_level(logging.WARNING)
    clock = verifier.clock
    clock.now += 9.0  # stopped for 8 s past its tick
    assert verifier._freshness.judge_lag(9.0, 5.0)  # the broker's last word, 0.0
    await verifier._follow_the_lag()
    assert await status(verifier) != SERVING
    (said,) = _said(caplog)
    assert "after this process's own pause of at least 8.0 s" in said
    for _ in range(5):  # running again, the broker silent: within the bound
        clock.now += 1.0
        await verifier._follow_the_lag()
    assert len(_said(caplog)) == 1
    clock.now += 1.0  # 6 s since it ran again: the broker's own silence
    await verifier._follow_the_lag()
    await verifier._follow_the_lag()  # said once
    assert _said(caplog)[1:] == [
        "verifier default: the broker has not answered for more than 5 s since this "
        "process ran again after its pause (last at 2026-12-03T09:00:00+00:00): the "
        "index's lag is unknown; not ready until it answers"
    ]


async def test_a_broker_answering_after_the_pause_says_nothing_more(verifier, caplog):
    caplog.set_level(logging.WARNING)
    clock = verifier.clock
    clock.now += 9.0
    assert verifier._freshness.judge_lag(9.0, 5.0)
    await verifier._follow_the_lag()
    verifier._freshness.confirm_ends({}, verifier._freshness.lag_measured_at, 10.0)
    await verifier._follow_the_lag()
    assert await status(verifier) == SERVING
    clock.now += 60.0
    await verifier._follow_the_lag()
    said = _said(caplog)
    assert len(said) == 2 and said[1].endswith("the index's lag is known; ready")
