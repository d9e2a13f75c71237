"""A listen address's host is an IP address or a host name (new user nu22, M1):
``http://0.0.0.0:50091``, ``999.1.1.1:50091`` and ``:50091`` passed ``certseal config
check`` and then failed the start ("Name or service not known", grpcio's own "host
must not be empty" line)."""

from __future__ import annotations

import msgspec
import pytest

from certseal.errors import CertsealError
from certseal.listen import (
    check_distinct_listens,
    check_listen_address,
    check_target,
    ports_clash,
    split_listen,
)


@pytest.mark.parametrize(
    "listen",
    [
        "http://0.0.0.0:50091",
        "999.1.1.1:50091",
        ":50091",
        "[]:50091",
        "-host:1",
        "a..b:1",
        "1.2.3:4",
        "[not-v6]:1",
        "::1:50091",  # IPv6 without brackets: gRPC reads it as a name (atk22b F1)
        "fe80::1:50091",
        "x" * 300 + ":1",
    ],
)
def test_a_host_that_is_not_one_is_named(listen):
    with pytest.raises(CertsealError) as caught:
        check_listen_address("issuer.listen", listen)
    assert caught.value.field == "issuer.listen"
    assert "is not an IP address or a host name" in caught.value.message


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [
        ("0.0.0.0:50051", "0.0.0.0", 50051),
        ("[::]:9464", "::", 9464),
        ("[::1]:0", "::1", 0),
        ("localhost:8443", "localhost", 8443),
        (
            "verifier-gz-1.verifier-headless-gz:50052",
            "verifier-gz-1.verifier-headless-gz",
            50052,
        ),
        ("node7.example.:1", "node7.example.", 1),
        ("certseal_verifier_1:50052", "certseal_verifier_1", 50052),  # Compose
        ("[::ffff:127.0.0.1]:1", "::ffff:127.0.0.1", 1),
        (
            "a" * 63 + ("." + "b" * 62) * 3 + ".:1",
            "a" * 63 + ("." + "b" * 62) * 3 + ".",
            1,
        ),
    ],
)
def test_addresses_and_names_pass(listen, host, port):
    assert split_listen(listen) == (host, port)


@pytest.mark.parametrize(
    "target",
    [
        "http://x:1",
        "https://x:1",
        "x:0",
        "x",
        ":50052",
        "x:70000",
        "::1:50052",
        "dns:///x",
        "dns:",
        "unix:",
        # atk26 F9: no channel was made at all, the command named
        "ipv4:garbage",
        "ipv6:1.2.3.4:5",
        "ipv4:10.0.0.1:50052,x",
        "ipv4:10.0.0.1:0",
    ],
)
def test_a_target_that_is_not_host_port_is_named(target):
    """nu22 M5: a target given as a URL or a gRPC scheme was dialled as it stood."""
    with pytest.raises(CertsealError) as caught:
        check_target("console.verifier_targets", target)
    assert caught.value.field == "console.verifier_targets"
    assert "is not host:port" in caught.value.message


@pytest.mark.parametrize(
    "target",
    [
        "seal:50053",
        "127.0.0.1:50052",
        "[::1]:1",
        "verifier_a:50052",
        "dns:///seal:50053",
        "dns:seal:50053",
        "dns://8.8.8.8/seal:50053",
        "ipv4:10.0.0.1:50052",
        "ipv4:10.0.0.1:50052,10.0.0.2:50052",
        "ipv6:[::1]:50052",
        "unix:/run/seal.sock",
    ],
)
def test_a_host_port_or_grpc_target_passes(target):
    """A gRPC target URI dials as well as host:port (atk22b F3: refused after the
    check came in, which a console started before it took)."""
    check_target("issuer.seal_target", target)


@pytest.mark.parametrize("peer", ["dns:///v-1:50052", "unix:50052", "dns:50052"])
def test_a_peer_is_host_port_only(peer):
    """A group's peers are host:port, each worker's by its ordinal: a scheme is not
    one (gRPC read "unix:50052" as the socket ./50052)."""
    with pytest.raises(CertsealError, match="is not host:port"):
        check_target("verifier.peers", peer, schemes=False)


class _Listens(msgspec.Struct):
    listen: str = "127.0.0.1:50051"
    metrics_listen: str = "127.0.0.1:9464"
    probe_listen: str = ""
    seal_target: str = "127.0.0.1:50051"  # dialled, not bound: never compared


@pytest.mark.parametrize(
    ("metrics", "probe", "at_fault", "taken"),
    [
        ("127.0.0.1:50051", "", "x.metrics_listen", "x.listen"),
        ("0.0.0.0:50051", "", "x.metrics_listen", "x.listen"),  # every address
        ("localhost:50051", "", "x.metrics_listen", "x.listen"),  # a name may be it
        ("[::]:50051", "", "x.metrics_listen", "x.listen"),  # dual stack
        ("127.0.0.1:9464", "127.0.0.1:9464", "x.probe_listen", "x.metrics_listen"),
        # IPv4-mapped: the IPv4 address itself (atk23 F1)
        ("[::ffff:127.0.0.1]:50051", "", "x.metrics_listen", "x.listen"),
        ("[::ffff:0.0.0.0]:50051", "", "x.metrics_listen", "x.listen"),
    ],
)
def test_two_listens_of_one_process_on_one_port_are_named(
    metrics, probe, at_fault, taken
):
    """nu22: the start failed on its second bind, blaming another process."""
    section = _Listens(metrics_listen=metrics, probe_listen=probe)
    with pytest.raises(CertsealError) as caught:
        check_distinct_listens(section, "x")
    assert caught.value.field == at_fault
    assert caught.value.message.endswith(
        f"takes the port of {taken} ({getattr(section, taken[2:])}); "
        "give each its own port"
    )


@pytest.mark.parametrize(
    ("listen", "metrics"),
    [
        ("127.0.0.1:50051", "127.0.0.1:9464"),
        ("127.0.0.1:0", "127.0.0.1:0"),  # any free port, twice
        ("10.0.0.1:50051", "10.0.0.2:50051"),  # two addresses of the machine
        ("127.0.0.1:50051", "[::1]:50051"),
        ("127.0.0.1:50051", ""),  # metrics off
        ("not host:port", "127.0.0.1:9464"),  # check_listen_address names it
    ],
)
def test_listens_that_can_all_bind_pass(listen, metrics):
    check_distinct_listens(_Listens(listen=listen, metrics_listen=metrics), "x")


def test_grpc_on_every_ipv4_address_takes_the_ipv6_port_too():
    """atk23b H4: gRPC binds 0.0.0.0 as a dual-stack [::]; a metrics server on
    [::1] at its port failed, blaming another process."""
    assert ports_clash("0.0.0.0:50051", "[::1]:50051")
    assert ports_clash("[::1]:50051", "0.0.0.0:50051")
    assert not ports_clash("127.0.0.1:50051", "[::1]:50051")
    assert not ports_clash("0.0.0.0:50051", "[::1]:50052")
