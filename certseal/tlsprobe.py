"""What a server at a ``host:port`` presents to a TLS client, looked at directly: for
saying why a gRPC call could not go through. gRPC's own status gives only the last
error of the last address it tried (``localhost`` is ``::1`` and ``127.0.0.1``), so a
refused connection on one address and a failed handshake on the other read
differently from run to run; this looks at every address, in order, the first one
that accepts a connection deciding.

The handshake offers ALPN ``h2`` and no client certificate: a gRPC server over TLS
selects ``h2``, and with TLS 1.3 asks for the client's certificate only after the
client's side of the handshake is done, so what the server presents is seen whatever
it then thinks of the client.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

#: OpenSSL's verification results (``X509_V_ERR_*``) that mean the certificate is
#: not issued by a CA the client trusts (or its signature does not verify)
NOT_ISSUED = frozenset({2, 7, 18, 19, 20, 21})
#: ... that it is not valid now (expired, not yet valid)
NOT_NOW = frozenset({9, 10})
#: ... that it does not name the host dialled (a name, an IP address)
OTHER_HOST = frozenset({62, 64})
#: OpenSSL's reasons for a handshake with something that does not speak TLS
_NOT_TLS = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "UNKNOWN_PROTOCOL",
        "HTTP_REQUEST",
        "PACKET_LENGTH_TOO_LONG",
        "RECORD_LAYER_FAILURE",
    }
)


@dataclass(frozen=True)
class Seen:
    """What was seen at an address: ``kind`` one of ``refused`` (no address took
    a connection), ``not_found`` (the name does not exist in DNS), ``unresolved``
    (DNS could not be asked), ``not_tls`` (it answers, but not TLS), ``not_grpc``
    (TLS without ``h2``), ``unverified`` (a certificate the CA file does not
    verify: ``code`` and ``detail`` are OpenSSL's), ``tls`` (a TLS ``h2`` server
    whose certificate verifies, or that refused the handshake for want of a client
    certificate)."""

    kind: str
    code: int = 0
    detail: str = ""


def probe(host: str, port: int, ca_pem: str, timeout: float = 3.0) -> Seen:
    """Connect to each address of ``host``:``port`` in turn and, at the first that
    takes a connection, make a TLS handshake trusting the CA certificates of
    ``ca_pem`` (PEM text), checking the certificate names ``host``, offering ALPN
    ``h2``. Blocking: at most ``timeout`` seconds an address. Raises
    ``ssl.SSLError`` when ``ca_pem`` holds no certificate OpenSSL reads."""
    context = ssl.create_default_context(cadata=ca_pem)
    context.set_alpn_protocols(["h2"])
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return Seen("not_found" if exc.errno == socket.EAI_NONAME else "unresolved")
    for family, kind, proto, _, address in addresses:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError:
            sock.close()
            continue
        with sock:
            return _handshake(context, sock, host)
    return Seen("refused")


def _handshake(context: ssl.SSLContext, sock: socket.socket, host: str) -> Seen:
    try:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            if tls.selected_alpn_protocol() != "h2":
                return Seen("not_grpc")
            return Seen("tls")
    except ssl.SSLCertVerificationError as exc:
        return Seen("unverified", exc.verify_code, exc.verify_message)
    except ssl.SSLError as exc:
        # an alert after the server's certificate (no client certificate offered)
        # is a TLS server; a record that is no TLS is something else
        if exc.reason in _NOT_TLS or isinstance(exc, ssl.SSLEOFError):
            return Seen("not_tls", detail=str(exc.reason or ""))
        return Seen("tls", detail=str(exc.reason or ""))
    except OSError:  # reset or timed out before any TLS record: not a TLS server
        return Seen("not_tls")
