"""``certseal.tlsprobe``: what a server at an address presents to a TLS client, for
saying why a command's call could not go through (atk27: a port that takes a
connection and closes it, or never answers, was called "not TLS gRPC"; Python
3.13's strict X.509 checks refused every dev certificate)."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from certseal.devpki import DevCA
from certseal.tlsprobe import NOT_ISSUED, probe
from tests.kernel.test_cli import _tls_server, unanswered_port


@pytest.fixture
def ca(tmp_path: Path) -> DevCA:
    return DevCA(tmp_path / "tls")


def _der(ca: DevCA) -> bytes:
    return ca._ca_cert.public_bytes(Encoding.DER)


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, int]]:
    """A TCP listener on 127.0.0.1 that takes connections and does nothing."""
    server = socket.create_server(("127.0.0.1", 0))
    yield server, server.getsockname()[1]
    server.close()


def test_a_tls_grpc_server_is_told_apart_from_its_certificates_faults(ca, tmp_path):
    ident = ca.identity("service:x", server=True)
    server, port = _tls_server(
        ca, ident.cert_file.read_bytes(), ident.key_file.read_bytes()
    )
    try:
        assert probe("127.0.0.1", port, _der(ca)).kind == "tls"
        assert probe("localhost", port, _der(ca)).kind == "tls"  # ::1 refuses first
        # another CA of the same name: its signature fails (7); another name: 20
        other = probe("127.0.0.1", port, _der(DevCA(tmp_path / "other")))
        assert other.kind == "unverified" and other.code in NOT_ISSUED, other
    finally:
        server.stop(0)


def test_python_3_13s_strict_checks_do_not_refuse_what_grpc_takes(ca, monkeypatch):
    """Python 3.13's default context sets VERIFY_X509_STRICT, which refuses the
    dev certificates (no key identifiers); gRPC's BoringSSL takes them."""
    made = ssl.create_default_context

    def strict(*args, **kwargs):
        context = made(*args, **kwargs)
        context.verify_flags |= ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_PARTIAL_CHAIN
        return context

    monkeypatch.setattr(ssl, "create_default_context", strict)
    ident = ca.identity("service:x", server=True)
    server, port = _tls_server(
        ca, ident.cert_file.read_bytes(), ident.key_file.read_bytes()
    )
    try:
        assert probe("127.0.0.1", port, _der(ca)).kind == "tls"
    finally:
        server.stop(0)


def test_a_connection_closed_or_never_answered_is_not_called_not_tls(ca, listener):
    server, port = listener

    def close_each() -> None:
        with server.accept()[0]:
            pass

    taker = threading.Thread(target=close_each)
    taker.start()
    assert probe("127.0.0.1", port, _der(ca)).kind == "closed"
    taker.join()
    # taken by the kernel's backlog, never answered (hung, a proxy waiting)
    assert probe("127.0.0.1", port, _der(ca), timeout=0.5).kind == "silent"


def test_something_that_is_not_tls_and_nobody_at_all(ca, listener):
    server, port = listener

    def answer_plain() -> None:
        conn = server.accept()[0]
        with conn:
            conn.recv(1024)
            conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")

    taker = threading.Thread(target=answer_plain)
    taker.start()
    assert probe("127.0.0.1", port, _der(ca)).kind == "not_tls"
    taker.join()
    server.close()
    assert probe("127.0.0.1", port, _der(ca)).kind == "refused"
    assert probe("nosuchhost.invalid", 50051, _der(ca)).kind == "not_found"


def test_an_address_that_lets_the_connection_wait_is_unanswered_not_refused(ca):
    """A listener whose queue is full drops the connection (as a firewall that drops
    packets does): nothing refused it, so it is not said to be down (a CI run was told
    "is certseal running?" of a test's server whose queue a gRPC client had filled)."""
    with unanswered_port() as port:
        assert probe("127.0.0.1", port, _der(ca), timeout=0.5).kind == "unanswered"
