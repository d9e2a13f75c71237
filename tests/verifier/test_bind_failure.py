"""A verifier whose port is taken between the start-up's check and the bind: the
gRPC service names the setting and the address, and stops without a second error
(failed CI once: a port taken in that window ended in an AttributeError on stop)."""

import copy
import socket

import pytest

from certseal.errors import CertsealError
from certseal.metrics import Metrics
from services.verifier.index import Freshness
from services.verifier.server import GrpcService


class _Servicer:
    """What GrpcService.on_stop asks of the Verifier servicer."""

    def __init__(self):
        self.stopped = False

    def shutdown(self) -> None:
        self.stopped = True

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
