"""atk6: a peer address that passes the host:port check but that gRPC reads as
another target scheme (unix:<path>, dns:, ipv4:), not as host:port."""

import pytest

from certseal.errors import CertsealError
from services.verifier.config import VerifierConfig, worker_ordinal


@pytest.mark.parametrize("address", ["unix:50052", "dns:50052", "ipv4:50052"])
def test_a_grpc_scheme_is_not_a_peer_host(address):
    config = VerifierConfig(
        worker="verifier-gz-0",
        group_size=2,
        peers=[address, "verifier-gz-1.verifier-headless-gz:50052"],
    )
    with pytest.raises(CertsealError, match=r"^verifier\.peers: .*host:port"):
        worker_ordinal(config)
