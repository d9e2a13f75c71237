"""A verifier whose port is taken between the start-up's check and the bind: the
gRPC service names the setting and the address, and stops without a second error
(failed CI once: a port taken in that window ended in an AttributeError on stop)."""

import asyncio
import copy
import datetime as dt
import socket

import pytest
from grpc_health.v1 import health_pb2

from certseal.errors import CertsealError
from certseal.metrics import Metrics
from certseal.v1 import verifier_pb2_grpc
from services.verifier.index import Freshness
from services.verifier.server import VERIFIER, GrpcService


class _Servicer(verifier_pb2_grpc.VerifierServicer):
    """What GrpcService.on_stop asks of the Verifier servicer (every RPC
    unimplemented)."""

    def __init__(self):
        self.stopped = False

    def shutdown(self) -> None:
        self.stopped = True

    async def publish_gathered_usage(self) -> None:
        pass

    async def stop_clients(self) -> None:
        pass


async def test_a_port_taken_after_the_check_is_named_and_stops_cleanly(config):
    cfg = copy.deepcopy(config)
    servicer = _Servicer()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cfg.verifier.listen = f"127.0.0.1:{taken.getsockname()[1]}"
        service = GrpcService(
            config=cfg,
            servicer=servicer,
            freshness=Freshness(),
            metrics=Metrics(families=frozenset({"rpc"})),
        )
        with pytest.raises(CertsealError) as err:
            await service.on_start()
    assert str(err.value) == (
        f"verifier.listen: {cfg.verifier.listen} is already in use (another process "
        "listens there); choose another address in the configuration"
    )
    assert service.bind_failure is err.value
    await service.on_stop()
    assert servicer.stopped


@pytest.fixture
async def listening(config):
    """A GrpcService listening on a free port, its index not recovered yet."""
    cfg = copy.deepcopy(config)
    cfg.verifier.listen = "127.0.0.1:0"
    cfg.verifier.metrics_listen = cfg.verifier.probe_listen = ""
    service = GrpcService(
        config=cfg,
        servicer=_Servicer(),
        freshness=Freshness(),
        metrics=Metrics(families=frozenset({"rpc"})),
    )
    await service.on_start()
    yield service
    await service.on_stop()


async def status(service: GrpcService) -> int:
    request = health_pb2.HealthCheckRequest(service=VERIFIER)
    return (await service.health.servicer.Check(request, None)).status


SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


T0 = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)


async def recovered(service: GrpcService) -> None:
    service._freshness.recovered.set()
    service._freshness.tables_read.set()
    service._freshness.confirm_ends({}, T0, 0.0)  # services.verifier.ends
    await service._serve_when_recovered(service)  # a mode ServiceTask


async def test_a_recovered_worker_whose_tables_are_behind_its_start_is_not_serving(
    listening,
):
    """Recovered, but its trust list and directory have not read to where their
    topics ended at its start (services.verifier.tables): a key revoked meanwhile
    would still be trusted, so no traffic yet; SERVING once they have."""
    listening._freshness.recovered.set()
    serving = asyncio.create_task(listening._serve_when_recovered(listening))
    for _ in range(5):
        await asyncio.sleep(0)  # let it get as far as it can
    assert not serving.done()
    assert await status(listening) == NOT_SERVING
    listening._freshness.tables_read.set()
    listening._freshness.confirm_ends({}, T0, 0.0)
    await asyncio.wait_for(serving, 5)
    assert await status(listening) == SERVING


async def test_a_worker_is_not_serving_before_the_broker_gives_its_end_offsets(
    listening,
):
    """Recovered and read through, but the broker has not yet answered the ask for
    the end offsets its lag is measured against (services.verifier.ends): its lag
    is unknown, so no traffic yet."""
    listening._freshness.recovered.set()
    listening._freshness.tables_read.set()
    serving = asyncio.create_task(listening._serve_when_recovered(listening))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not serving.done()
    assert await status(listening) == NOT_SERVING
    listening._freshness.confirm_ends({}, T0, 0.0)
    await asyncio.wait_for(serving, 5)
    assert await status(listening) == SERVING


async def test_readiness_follows_whether_the_lag_is_known(listening):
    """Cut off from its broker for longer than the bound: out of rotation; the
    broker answering again: back in. Stopping: out for good."""
    await recovered(listening)
    freshness = listening._freshness
    assert freshness.judge_lag(6.0, 5.0)
    await listening._follow_the_lag()
    assert await status(listening) == NOT_SERVING
    freshness.confirm_ends({}, T0, 7.0)
    await listening._follow_the_lag()
    assert await status(listening) == SERVING
    freshness.judge_lag(60.0, 5.0)
    await listening._follow_the_lag()
    await listening.stopping()
    freshness.confirm_ends({}, T0, 61.0)
    await listening._follow_the_lag()
    assert await status(listening) == NOT_SERVING


async def test_a_recovered_worker_serves_until_it_is_stopping(listening):
    assert await status(listening) == NOT_SERVING  # not recovered yet
    await recovered(listening)
    assert await status(listening) == SERVING
    await listening.stopping()  # Faust's on_before_shutdown
    assert await status(listening) == NOT_SERVING


async def test_a_stopping_worker_stays_not_serving_when_its_index_recovers(listening):
    """Faust's on_before_shutdown calls ``stopping`` before its app, producer and
    tables stop (and this service after them): NOT_SERVING from then on, also when the
    index's recovery ends during the stop."""
    await listening.stopping()
    await recovered(listening)
    assert await status(listening) == NOT_SERVING
