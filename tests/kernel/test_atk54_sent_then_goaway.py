"""A change is said "not sent" only when no call of its channel ever went out.

atk54: ``ConnectionWatch`` read the channel's connectivity state after each change of
it, and took a channel never seen READY for one that never connected. A server that
took the call and at once said GOAWAY (a graceful stop: the call it took goes on,
the channel goes IDLE) left the channel READY for less time than the command's event
loop took to look: the command said "no connection ... so the call was not sent" and
settled the change's key, which the server may have made. The clerk, told nothing
was sent, issues again. Here the loop is held (a loaded machine) from the moment the
call's connection is taken until the server has taken the call and said GOAWAY.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest

from certseal import calls
from certseal.cli_keys import command, stop_words
from certseal.devpki import DevCA
from certseal.errors import CertsealError, ErrorKind
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import issuer_pb2_grpc


def _frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    """An HTTP/2 frame (RFC 9113 section 4.1)."""
    head = struct.pack(">I", len(payload))[1:] + bytes([kind, flags])
    return head + struct.pack(">I", stream) + payload


_HEADERS, _SETTINGS, _PING, _GOAWAY = 0x1, 0x4, 0x6, 0x7


class _TakesThenGoesAway:
    """A TLS HTTP/2 server that takes the first connection once ``go`` is set,
    reads a call's HEADERS (``taken``), says GOAWAY naming that stream as the last
    it takes (RFC 9113 section 6.8: the call goes on) and never answers it."""

    def __init__(self, ca: DevCA):
        server = ca.identity("service:certseal", server=True)
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(server.cert_file, server.key_file)
        self._tls.load_verify_locations(ca.ca_file)
        self._tls.verify_mode = ssl.CERT_REQUIRED
        self._tls.set_alpn_protocols(["h2"])
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.target = f"localhost:{self._listener.getsockname()[1]}"
        self.accepted, self.go = threading.Event(), threading.Event()
        self.taken, self.gone_away = threading.Event(), threading.Event()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            raw, _ = self._listener.accept()
        except OSError:
            return
        self._held.append(raw)
        self.accepted.set()
        if not self.go.wait(30):
            return
        try:
            conn = self._tls.wrap_socket(raw, server_side=True)
            self._held.append(conn)
            self._read(conn, 24)  # the client's connection preface
            conn.sendall(_frame(_SETTINGS, 0, 0))
            while True:
                head = self._read(conn, 9)
                kind, flags = head[3], head[4]
                stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
                payload = self._read(conn, int.from_bytes(head[:3], "big"))
                if kind == _SETTINGS and not flags & 1:
                    conn.sendall(_frame(_SETTINGS, 1, 0))
                elif kind == _PING and not flags & 1:
                    conn.sendall(_frame(_PING, 1, 0, payload))
                elif kind == _HEADERS and not self.taken.is_set():
                    self.taken.set()
                    conn.sendall(_frame(_GOAWAY, 0, 0, struct.pack(">II", stream, 0)))
                    self.gone_away.set()
        except (OSError, EOFError):
            return

    @staticmethod
    def _read(conn: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def close(self) -> None:
        self.go.set()
        self._listener.close()
        for conn in self._held:
            with contextlib.suppress(OSError):  # wakes the server's read
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self._thread.join(10)


@pytest.fixture
def cli_config(tmp_path: Path) -> SimpleNamespace:
    ca = DevCA(tmp_path / "ca")
    client = ca.identity("operator:cli")
    return SimpleNamespace(
        ca=ca,
        tls=SimpleNamespace(ca_file=str(ca.ca_file)),
        cli=SimpleNamespace(
            cert_file=str(client.cert_file),
            key_file=str(client.key_file),
            call_timeout_s=1.0,
        ),
    )


def _hold_the_loop(server: _TakesThenGoesAway, channel: grpc.aio.Channel) -> None:
    """The command's event loop held (a loaded machine) while the server takes the
    connection and the call and says GOAWAY, until the channel has taken the GOAWAY:
    the connection was READY only meanwhile."""
    server.go.set()
    assert server.gone_away.wait(30)
    ready, until = grpc.ChannelConnectivity.READY, time.monotonic() + 30
    while channel.get_state() is ready and time.monotonic() < until:
        time.sleep(0.001)


def test_a_change_taken_before_a_goaway_is_not_said_not_sent(cli_config):
    server = _TakesThenGoesAway(cli_config.ca)

    async def suspend(channel):
        request = pb.SuspendLicenceRequest(identifier="1.2.156.3005.2.X", reason="r")
        call = issuer_pb2_grpc.IssuerStub(channel).SuspendLicence(request)
        # the call asked for a connection
        assert await asyncio.to_thread(server.accepted.wait, 30)
        _hold_the_loop(server, channel)
        return await call

    try:
        with command("counter-54") as keys, pytest.raises(CertsealError) as err:
            calls.call_service(cli_config, server.target, suspend, service="issuer")
    finally:
        server.close()
    assert server.taken.is_set()
    assert err.value.kind is ErrorKind.UNAVAILABLE and err.value.field == "issuer"
    assert "took the call and gave no answer within 1 s" in err.value.message, (
        err.value.message
    )
    assert stop_words(keys, interrupted=False) == (
        "SuspendLicence: not known to be done; to be sure it is done once, run the "
        "same command again with --idempotency-key counter-54"
    )
