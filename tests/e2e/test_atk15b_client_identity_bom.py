"""atk15b: a client identity whose file starts with a byte order mark passes the
start-up check and then fails every call.

fix15 reads the client identities at start (the issuer's toward the seal service,
the seal service's toward a verifier group, the console's, and the CLI's through
``certseal.calls.channel``) with :func:`certseal.tlsfiles.read_tls_identity`, which
drops a leading UTF-8 byte order mark ("as a Windows editor starts a file": gRPC's
PEM reader would not take it). The channel is then made by
:func:`certseal.rpc.secure_channel`, which reads the same three files again with
``Path.read_bytes`` and hands gRPC the mark: the start says nothing, and every call
fails UNAVAILABLE ("failed to connect to all addresses"), which the CLI and the
console report as "is it running?". The server side takes the same files (it uses
the bytes the check returns), so only the calls fail.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from certseal.devpki import DevCA
from certseal.errors import CertsealError
from certseal.rpc import secure_channel
from certseal.tlsfiles import read_tls_identity, section_fields, server_credentials

BOM = b"\xef\xbb\xbf"


def client_files(ca: DevCA, tmp_path: Path, which: str) -> tuple[str, str, str]:
    """The CA, certificate and key files of a client identity, ``which`` of them
    (ca, cert, key) starting with a byte order mark."""
    client = ca.identity("service:issuer")
    files = {"ca": ca.ca_file, "cert": client.cert_file, "key": client.key_file}
    marked = tmp_path / f"{which}-with-bom.pem"
    marked.write_bytes(BOM + Path(files[which]).read_bytes())
    files[which] = marked
    return str(files["ca"]), str(files["cert"]), str(files["key"])


@pytest.mark.parametrize("which", ["ca", "cert", "key"])
async def test_a_client_identity_the_start_check_takes_is_one_the_channel_uses(
    tmp_path, which
):
    ca = DevCA(tmp_path / "pki")
    server = ca.identity("localhost", server=True)
    ca_file, cert_file, key_file = client_files(ca, tmp_path, which)
    try:  # what the issuer, the seal service and the console do at start
        read_tls_identity(ca_file, cert_file, key_file, section_fields("issuer"))
    except CertsealError as exc:  # refused at start, naming the setting: fine too
        assert exc.field == section_fields("issuer")[("ca", "cert", "key").index(which)]
        return
    # ... it was taken: then a call over the channel made from the same files works
    serving = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), serving)
    port = serving.add_secure_port(
        "127.0.0.1:0",
        server_credentials(
            str(ca.ca_file), str(server.cert_file), str(server.key_file)
        ),
    )
    await serving.start()
    try:
        async with secure_channel(
            f"localhost:{port}", ca_file, cert_file, key_file
        ) as channel:
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await serving.stop(None)
