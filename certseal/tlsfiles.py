"""The PEM files of a TLS identity, read and checked before a server is built.

gRPC and Python's ``ssl`` take the files' bytes and fail late and vaguely on a file
that holds something else: gRPC's server then does not bind (``add_secure_port``
returns 0, which read as "the address cannot be listened on", naming the wrong
setting), and ``ssl`` says ``[SSL] PEM lib``. Each file here is read within
:data:`~certseal.bounds.MAX_SMALL_FILE_BYTES`, parsed with ``cryptography``, and
refused as INVALID_ARGUMENT naming its setting (a wrong setting: exit 2 at start-up).
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from certseal.bounds import MAX_SMALL_FILE_BYTES
from certseal.errors import invalid
from certseal.files import read_regular_file

TLS_FIELDS = ("tls.ca_file", "tls.cert_file", "tls.key_file")
"""The settings of the shared ``[tls]`` identity: CA, certificate, key."""


@dataclass(frozen=True)
class TlsIdentity:
    """The PEM bytes of a CA bundle, a certificate chain and its private key."""

    ca: bytes
    cert: bytes
    key: bytes

    def __repr__(self) -> str:
        return "TlsIdentity(<key withheld>)"


def read_certificates(path: str, field: str) -> tuple[bytes, list[x509.Certificate]]:
    """The bytes of the PEM file at ``path`` and the certificates it holds (at least
    one). INVALID_ARGUMENT (``field``) when it cannot be read or holds none."""
    data = read_regular_file(path, field, MAX_SMALL_FILE_BYTES)
    try:
        return data, x509.load_pem_x509_certificates(data)
    except ValueError:  # its text points outside: the path and the fault say it
        raise invalid(field, f"{path} holds no PEM certificate") from None


def read_key_pair(
    cert_file: str, key_file: str, fields: tuple[str, str]
) -> tuple[bytes, bytes]:
    """The PEM bytes of a certificate chain and of the private key of its first
    certificate. INVALID_ARGUMENT naming ``fields[0]`` when the chain cannot be read or
    holds no certificate, ``fields[1]`` when the key cannot be read, is no unencrypted
    PEM private key (PKCS#8 or the algorithm's own form), or is another certificate's
    key."""
    cert_field, key_field = fields
    cert_pem, chain = read_certificates(cert_file, cert_field)
    key_pem = read_regular_file(key_file, key_field, MAX_SMALL_FILE_BYTES)
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise invalid(
            key_field, f"{key_file} is encrypted; a service reads its key unencrypted"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise invalid(key_field, f"{key_file} holds no PEM private key") from None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != chain[0].public_key().public_bytes(
        der, spki
    ):
        raise invalid(
            key_field,
            f"{key_file} is not the key of the certificate in {cert_field} "
            f"({cert_file})",
        )
    return cert_pem, key_pem


def read_tls_identity(
    ca_file: str,
    cert_file: str,
    key_file: str,
    fields: tuple[str, str, str] = TLS_FIELDS,
) -> TlsIdentity:
    """A CA bundle, a certificate chain and its key, each checked as
    :func:`read_certificates` and :func:`read_key_pair` check them, ``fields`` naming
    the three settings (default ``[tls]``'s)."""
    ca_pem, _ = read_certificates(ca_file, fields[0])
    cert_pem, key_pem = read_key_pair(cert_file, key_file, (fields[1], fields[2]))
    return TlsIdentity(ca_pem, cert_pem, key_pem)


def server_credentials(
    ca_file: str,
    cert_file: str,
    key_file: str,
    fields: tuple[str, str, str] = TLS_FIELDS,
) -> grpc.ServerCredentials:
    """mTLS: the server presents its pair and requires a client certificate from the CA.

    Raises CertsealError(INVALID_ARGUMENT) naming the setting (of ``fields``: CA,
    certificate, key) whose file cannot be read or holds something else
    (:func:`read_tls_identity`)."""
    identity = read_tls_identity(ca_file, cert_file, key_file, fields)
    return grpc.ssl_server_credentials(
        [(identity.key, identity.cert)],
        root_certificates=identity.ca,
        require_client_auth=True,
    )
