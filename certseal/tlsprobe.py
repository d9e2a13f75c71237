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
import time
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
    """What was seen at an address: ``kind`` one of ``refused`` (every address
    refused the connection), ``unanswered`` (no address took a connection, and one
    let it wait until the time was up: a firewall dropping it, a full listen
    queue), ``not_found`` (the name does not exist in DNS),
    ``unresolved`` (DNS could not be asked), ``closed`` (a connection taken, then
    closed before any TLS record: a tunnel or proxy with nothing behind it, a
    service starting), ``silent`` (a connection taken, no answer in time: hung or
    overloaded), ``not_tls`` (it answers, but not TLS), ``not_grpc`` (TLS without
    ``h2``), ``unverified`` (a certificate the CA file does not verify: ``code`` and
    ``detail`` are OpenSSL's), ``tls`` (a TLS ``h2`` server whose certificate
    verifies, or that refused the handshake for want of a client certificate)."""

    kind: str
    code: int = 0
    detail: str = ""


def probe(host: str, port: int, ca_der: bytes, timeout: float = 3.0) -> Seen:
    """Connect to each address of ``host``:``port`` in turn and, at the first that
    takes a connection, make a TLS handshake trusting the CA certificates
    ``ca_der`` (DER, one after another), checking the certificate names ``host``,
    offering ALPN ``h2``, verifying as gRPC's BoringSSL does (not Python 3.13's
    strict X.509 checks, which refuse certificates gRPC takes). Blocking: at most
    ``timeout`` seconds in all, after name resolution."""
    context = ssl.create_default_context(cadata=ca_der)
    context.verify_flags &= ~(ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_PARTIAL_CHAIN)
    context.set_alpn_protocols(["h2"])
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return Seen("not_found" if exc.errno == socket.EAI_NONAME else "unresolved")
    deadline = time.monotonic() + timeout
    for family, kind, proto, _, address in addresses:
        left = deadline - time.monotonic()
        if left <= 0:
            return Seen("unanswered")
        try:
            sock = socket.socket(family, kind, proto)  # no IPv6 here: the next one
        except OSError:
            continue
        sock.settimeout(left)
        try:
            sock.connect(address)
        except TimeoutError:
            sock.close()
            return Seen("unanswered")  # the time is up: no other address is tried
        except OSError:
            sock.close()
            continue
        with sock:
            sock.settimeout(max(deadline - time.monotonic(), 0.1))
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
    except (ssl.SSLEOFError, ConnectionResetError):
        return Seen("closed")
    except TimeoutError:
        return Seen("silent")
    except ssl.SSLError as exc:
        # a record that is no TLS is something else; a TLS server without h2 says
        # so in an alert; another alert (no client certificate offered) is a TLS
        # server that went on
        if exc.reason in _NOT_TLS:
            return Seen("not_tls", detail=str(exc.reason))
        if exc.reason == "TLSV1_ALERT_NO_APPLICATION_PROTOCOL":
            return Seen("not_grpc")
        return Seen("tls", detail=str(exc.reason or ""))
    except OSError:
        return Seen("closed")
